"""Reading uv.lock: versions, revisions and every source kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.lock import (
    Declared,
    Hash,
    LockError,
    Source,
    normalize_specifier,
)
from hatch_lockbundle.uvlock import read_lock

EVERY_SOURCE = """
version = 1
revision = {revision}
requires-python = ">=3.10"

[manifest]
members = ["app", "member"]

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "." }}
dependencies = [
    {{ name = "from-registry" }},
    {{ name = "from-flat", marker = "sys_platform == 'linux'" }},
    {{ name = "from-url" }},
    {{ name = "from-path-wheel" }},
    {{ name = "from-path-sdist" }},
    {{ name = "from-directory" }},
    {{ name = "member", extra = ["fast"] }},
    {{ name = "from-git" }},
]

[package.optional-dependencies]
extra-one = [{{ name = "from-registry" }}]

[package.dev-dependencies]
dev = [{{ name = "from-registry" }}]

[[package]]
name = "from-registry"
version = "2.0"
source = {{ registry = "https://pypi.org/simple" }}
sdist = {{ url = "https://files.example/from_registry-2.0.tar.gz", hash = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", size = 10 }}
wheels = [{{ url = "https://files.example/from_registry-2.0-py3-none-any.whl", hash = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", size = 20 }}]

[[package]]
name = "from-flat"
version = "1.0"
source = {{ registry = "wheels" }}
wheels = [{{ path = "from_flat-1.0-py3-none-any.whl", hash = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" }}]

[[package]]
name = "from-url"
version = "1.0"
source = {{ url = "https://example.com/from_url-1.0-py3-none-any.whl" }}
wheels = [{{ url = "https://example.com/from_url-1.0-py3-none-any.whl", hash = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd" }}]

[[package]]
name = "from-path-wheel"
version = "1.0"
source = {{ path = "vendor/from_path_wheel-1.0-py3-none-any.whl" }}
wheels = [{{ filename = "from_path_wheel-1.0-py3-none-any.whl", hash = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" }}]

[[package]]
name = "from-path-sdist"
version = "1.0"
source = {{ path = "vendor/from_path_sdist-1.0.tar.gz" }}
sdist = {{ hash = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" }}

[[package]]
name = "from-directory"
version = "0.1"
source = {{ directory = "libs/dir" }}

[[package]]
name = "member"
version = "0.2"
source = {{ virtual = "packages/member" }}

[package.optional-dependencies]
fast = []

[[package]]
name = "from-git"
version = "0.3"
source = {{ git = "https://example.com/repo.git?subdirectory=lib&rev=main#0123456789abcdef0123456789abcdef01234567" }}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(text)
    return path


@pytest.mark.parametrize("revision", [1, 2, 3, 4, 5])
def test_reads_every_source_kind_in_every_revision(tmp_path: Path, revision: int) -> None:
    lock = read_lock(write(tmp_path, EVERY_SOURCE.format(revision=revision)))

    kinds = {package.name: package.source.kind for package in lock.packages}
    assert kinds == {
        "app": "editable",
        "from-registry": "registry",
        "from-flat": "registry",
        "from-url": "url",
        "from-path-wheel": "path",
        "from-path-sdist": "path",
        "from-directory": "directory",
        "member": "virtual",
        "from-git": "git",
    }
    assert lock.revision == revision
    assert lock.members == ("app", "member")


def test_reads_dists_edges_extras_and_groups(tmp_path: Path) -> None:
    lock = read_lock(write(tmp_path, EVERY_SOURCE.format(revision=3)))
    app = lock.by_name("app")[0]
    registry = lock.by_name("from-registry")[0]

    assert registry.sdist is not None
    assert registry.sdist.filename == "from_registry-2.0.tar.gz"
    assert registry.sdist.hash == Hash("sha256", "aa" * 32)
    assert registry.wheels[0].size == 20
    assert lock.by_name("from-path-wheel")[0].wheels[0].filename == (
        "from_path_wheel-1.0-py3-none-any.whl"
    )
    assert [edge.name for edge in app.dependency_groups["dev"]] == ["from-registry"]
    assert list(app.optional_dependencies) == ["extra-one"]
    member_edge = next(edge for edge in app.dependencies if edge.name == "member")
    assert member_edge.extras == ("fast",)
    flat_edge = next(edge for edge in app.dependencies if edge.name == "from-flat")
    assert str(flat_edge.marker) == 'sys_platform == "linux"'
    assert lock.by_name("from-flat")[0].source == Source("registry", "wheels")


def test_unsupported_version_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version = 2\nrevision = 1\n")

    with pytest.raises(LockError, match=r"lock `version = 2` is not supported .* reads version 1"):
        read_lock(path)


def test_newer_revision_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version = 1\nrevision = 6\n")

    with pytest.raises(LockError, match=r"`revision = 6` is newer .*revisions 1-5.*upgrade"):
        read_lock(path)


def test_a_lock_without_a_revision_is_revision_one(tmp_path: Path) -> None:
    assert read_lock(write(tmp_path, "version = 1\n")).revision == 1


def test_missing_lock_says_to_run_uv_lock(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"lock file not found; run `uv lock`"):
        read_lock(tmp_path / "uv.lock")


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "version = = 1\n")

    with pytest.raises(LockError, match=r"uv\.lock: not valid TOML"):
        read_lock(path)


def test_malformed_package_names_the_package_and_field(tmp_path: Path) -> None:
    text = 'version = 1\nrevision = 3\n[[package]]\nname = "x"\nversion = "1"\nsource = { registry = 3 }\n'

    with pytest.raises(LockError, match=r"\[\[package\]\] x: `source` must have exactly one of"):
        read_lock(write(tmp_path, text))


def test_invalid_edge_marker_names_the_edge(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "x"\nversion = "1"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        'dependencies = [{ name = "y", marker = "python_version >>> 3" }]\n'
    )

    with pytest.raises(LockError, match=r"x dependencies\[0\]: invalid marker"):
        read_lock(write(tmp_path, text))


@pytest.mark.parametrize(
    "digest", ["sha256:../../etc/passwd", "sha256:abc", "sha256:" + "g" * 64, "sha256"]
)
def test_a_malformed_hash_is_refused(tmp_path: Path, digest: str) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "x"\nversion = "1"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = "https://f.example/x-1-py3-none-any.whl", hash = "{digest}" }}]\n'
    )

    with pytest.raises(LockError, match=r"x wheels\[0\]: hash .* is not of the form"):
        read_lock(write(tmp_path, text))


# -- names that become paths ------------------------------------------------------------------------

HOSTILE_PACKAGE = """version = 1
revision = 3
[[package]]
name = {name}
version = {version}
source = {{ registry = "https://pypi.org/simple" }}
wheels = [{{ url = {url}, hash = "sha256:{digest}" }}]
"""


def hostile(
    name: str = "x", version: str = "1.0", url: str = "https://f.example/x-1.0-py3-none-any.whl"
) -> str:
    return HOSTILE_PACKAGE.format(
        name=json.dumps(name), version=json.dumps(version), url=json.dumps(url), digest="a" * 64
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            hostile(version="0.1.0/../../../../x/victim"),
            "version '0.1.0/../../../../x/victim' is not a valid version",
        ),
        (hostile(name="../../x"), "'../../x' is not a valid package name"),
        (hostile(name="x\x1b[2J"), r"'x\x1b[2J' is not a valid package name"),
        (
            hostile(url="https://f.example/%2E%2E%2Fx-1.0-py3-none-any.whl"),
            "'../x-1.0-py3-none-any.whl' is not a plain file name",
        ),
        (
            hostile(url="https://f.example/x-1.0-py3-none-any.whl%00"),
            r"'x-1.0-py3-none-any.whl\x00' is not a plain file name",
        ),
        (hostile(url="https://f.example/.whl"), "'.whl' is not a plain file name"),
        (hostile(url="https://f.example/c%3A%5Cx.whl"), r"'c:\\x.whl' is not a plain file name"),
        (
            hostile(url="https://f.example/x%1b%5b2J.whl"),
            r"'x\x1b[2J.whl' is not a plain file name",
        ),
    ],
    ids=[
        "version-path",
        "name-path",
        "name-escape",
        "filename-dotdot",
        "filename-nul",
        "filename-hidden",
        "filename-drive",
        "filename-escape",
    ],
)
def test_a_name_version_or_filename_that_would_reach_a_path_is_refused(
    tmp_path: Path, text: str, said: str
) -> None:
    with pytest.raises(LockError) as raised:
        read_lock(write(tmp_path, text))

    assert said in str(raised.value)
    assert str(raised.value).endswith("run `uv lock` to rewrite the lock")


def test_an_edge_to_an_invalid_name_is_refused(tmp_path: Path) -> None:
    text = hostile() + 'dependencies = [{ name = "../y" }]\n'

    with pytest.raises(
        LockError, match=r"x dependencies\[0\]: '\.\./y' is not a valid package name"
    ):
        read_lock(write(tmp_path, text))


@pytest.mark.parametrize("algorithm", ["shake_128", "whirlpool", "crc32"])
def test_a_hash_algorithm_that_cannot_be_checked_is_refused_naming_it(
    tmp_path: Path, algorithm: str
) -> None:
    text = hostile().replace('hash = "sha256:', f'hash = "{algorithm}:')

    with pytest.raises(LockError, match=rf"x wheels\[0\]: hash algorithm `{algorithm}` is not one"):
        read_lock(write(tmp_path, text))


@pytest.mark.parametrize(("algorithm", "weak"), [("md5", True), ("sha1", True), ("sha256", False)])
def test_broken_hash_algorithms_are_weak(algorithm: str, weak: bool) -> None:
    length = {"md5": 32, "sha1": 40, "sha256": 64}[algorithm]
    assert Hash.parse(f"{algorithm}:{'a' * length}", "here").weak is weak


def test_an_ssh_url_keeps_its_user_and_loses_only_a_password(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "x"\nversion = "1"\n'
        'source = { git = "ssh://git@git.example/x.git?rev=main#' + "a" * 40 + '" }\n'
        '[[package]]\nname = "y"\nversion = "1"\n'
        'source = { git = "ssh://git:s3cret@git.example/y.git?rev=main#' + "b" * 40 + '" }\n'
        '[[package]]\nname = "z"\nversion = "1"\n'
        'source = { git = "https://t0ken@git.example/z.git?rev=main#' + "c" * 40 + '" }\n'
    )

    lock = read_lock(write(tmp_path, text))

    locations = [package.source.location for package in lock.packages]
    assert locations[0].startswith("ssh://git@git.example/x.git")
    assert locations[1].startswith("ssh://git@git.example/y.git")
    assert locations[2].startswith("https://git.example/z.git")
    assert "s3cret" not in repr(lock) and "t0ken" not in repr(lock)


def test_only_a_registry_at_a_url_is_a_remote_registry(tmp_path: Path) -> None:
    lock = read_lock(write(tmp_path, EVERY_SOURCE.format(revision=3)))

    remote = {package.name for package in lock.packages if package.source.is_remote_registry}

    # from-flat is a registry too, but a local directory of wheels (`registry = "wheels"`);
    # from-url and from-git are at URLs, but are not registries
    assert remote == {"from-registry"}


def test_a_source_reads_as_its_kind_and_location() -> None:
    assert str(Source("registry", "https://pypi.org/simple")) == (
        "registry = 'https://pypi.org/simple'"
    )


def test_a_hash_reads_as_algorithm_and_lowercase_digest() -> None:
    assert str(Hash.parse("SHA256:" + "AB" * 32, "uv.lock")) == "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("declared", "text"),
    [
        (Declared(canonicalize_name("Name"), ("a", "b"), ">=1"), "name[a,b]>=1"),
        (Declared(canonicalize_name("name")), "name"),
    ],
)
def test_a_declared_requirement_reads_as_name_extras_and_specifier(
    declared: Declared, text: str
) -> None:
    assert str(declared) == text


PACKAGE_X = 'version = 1\nrevision = 3\n[[package]]\nname = "x"\nversion = "1"\n'
REGISTRY = 'source = { registry = "https://pypi.org/simple" }\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 1\npackage = 1\n", r"`package` must be an array of tables"),
        ("version = 1\nrequires-python = 3\n", r"lock: `requires-python` must be a string"),
        ("version = 1\nmanifest = 1\n", r"lock: `manifest` must be a table"),
        (
            "version = 1\n[manifest]\nmembers = [1]\n",
            r"\[manifest\]: `members` must be an array of strings",
        ),
        (
            "version = 1\n[manifest]\nmembers = 'app'\n",
            r"\[manifest\]: `members` must be an array of strings",
        ),
        (PACKAGE_X + 'source = "pypi"\n', r"\[\[package\]\] x: `source` must be an inline table"),
        (PACKAGE_X + REGISTRY + "metadata = 1\n", r"\[\[package\]\] x: `metadata` must be a table"),
        (
            PACKAGE_X + REGISTRY + "dependencies = 1\n",
            r"\[\[package\]\] x dependencies: must be an array of inline tables",
        ),
        (
            PACKAGE_X + REGISTRY + "dependencies = [{ marker = \"os_name == 'nt'\" }]\n",
            r"x dependencies\[0\]: must be an inline table with a string `name`",
        ),
        (
            "version = 1\npackage = [1]\n",
            r"\[\[package\]\] #1: must be a table with a string `name`",
        ),
        (
            'version = 1\n[[package]]\nversion = "1"\n',
            r"\[\[package\]\] #1: must be a table with a string `name`",
        ),
        (PACKAGE_X, r"\[\[package\]\] x: has no `source`"),
        (
            PACKAGE_X + REGISTRY + "wheels = 1\n",
            r"\[\[package\]\] x: `wheels` must be an array of inline tables",
        ),
        (
            PACKAGE_X + REGISTRY + "wheels = [1]\n",
            r"\[\[package\]\] x wheels\[0\]: must be an inline table",
        ),
        (
            PACKAGE_X + REGISTRY + 'sdist = { url = "https://f.example/x-1.tar.gz", hash = 1 }\n',
            r"\[\[package\]\] x sdist: `hash` must be a string",
        ),
        (
            PACKAGE_X + REGISTRY + 'sdist = { url = "https://[x/x-1.tar.gz" }\n',
            r"\[\[package\]\] x sdist: 'https://\[x/x-1.tar.gz' is not a valid URL",
        ),
    ],
    ids=[
        "package",
        "requires-python",
        "manifest",
        "members-item",
        "members",
        "source",
        "metadata",
        "dependencies",
        "edge",
        "package",
        "package-name",
        "no-source",
        "wheels",
        "wheel",
        "hash",
        "url",
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(LockError, match=message):
        read_lock(write(tmp_path, text))


@pytest.mark.parametrize("conflicts", ["5", "[5]", "['x']"])
def test_conflicts_that_are_not_arrays_of_tables_are_ignored(
    tmp_path: Path, conflicts: str
) -> None:
    lock = read_lock(write(tmp_path, f"version = 1\nconflicts = {conflicts}\n"))

    assert lock.conflicts == ()


def test_a_lock_file_that_cannot_be_read_is_an_error_saying_why(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").mkdir()

    with pytest.raises(LockError, match=r"uv\.lock: cannot read the lock file: Is a directory"):
        read_lock(tmp_path / "uv.lock")


def test_a_lock_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_bytes(b"version = 1\n# \xff\n")

    with pytest.raises(LockError, match=r"uv\.lock: not UTF-8 text; run `uv lock`"):
        read_lock(tmp_path / "uv.lock")


def test_a_lock_without_credentials_in_its_urls_has_none(tmp_path: Path) -> None:
    assert read_lock(write(tmp_path, EVERY_SOURCE.format(revision=3))).credentials == {}


def test_credentials_in_a_url_are_kept_by_realm_and_left_out_of_the_url(tmp_path: Path) -> None:
    text = PACKAGE_X + 'source = { registry = "https://user:s3cret@index.example/simple" }\n'

    lock = read_lock(write(tmp_path, text))

    assert list(lock.credentials.values()) == [("user", "s3cret")]
    assert "s3cret" not in lock.packages[0].source.location


TWO_OF_X = (
    'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\nsource = { editable = "." }\n'
    "dependencies = [{edge}]\n"
    '[[package]]\nname = "x"\nversion = "1"\nsource = { registry = "https://one.example/simple" }\n'
    '[[package]]\nname = "x"\nversion = "1"\nsource = { registry = "https://two.example/simple" }\n'
)


def test_an_edge_is_resolved_by_its_source_among_packages_of_one_name_and_version(
    tmp_path: Path,
) -> None:
    edge = '{ name = "x", version = "1", source = { registry = "https://two.example/simple" } }'
    lock = read_lock(write(tmp_path, TWO_OF_X.replace("{edge}", edge)))
    app = lock.by_name("app")[0]

    assert lock.resolve(app.dependencies[0], app).source.location == "https://two.example/simple"


@pytest.mark.parametrize(
    ("edge", "what"),
    [
        ('{ name = "x" }', "several packages"),
        ('{ name = "x", version = "2" }', "no package"),
    ],
)
def test_an_edge_that_matches_no_package_or_several_is_an_error(
    tmp_path: Path, edge: str, what: str
) -> None:
    lock = read_lock(write(tmp_path, TWO_OF_X.replace("{edge}", edge)))
    app = lock.by_name("app")[0]

    with pytest.raises(
        LockError, match=rf"app==1 depends on `x`, but the lock has {what} matching"
    ):
        lock.resolve(app.dependencies[0], app)


def test_a_file_without_a_hash_reads_as_unhashed(tmp_path: Path) -> None:
    text = PACKAGE_X + REGISTRY + 'sdist = { url = "https://f.example/x-1.tar.gz" }\n'

    sdist = read_lock(write(tmp_path, text)).packages[0].sdist

    assert sdist is not None and sdist.hash is None


def test_a_file_name_given_in_the_lock_is_kept_over_the_urls(tmp_path: Path) -> None:
    text = (
        PACKAGE_X
        + REGISTRY
        + 'sdist = { url = "https://f.example/download?id=7", filename = "x-1.tar.gz" }\n'
    )

    sdist = read_lock(write(tmp_path, text)).packages[0].sdist

    assert sdist is not None and sdist.filename == "x-1.tar.gz"


@pytest.mark.parametrize("size", ["true", '"10"'])
def test_a_size_that_is_not_an_integer_is_left_out(tmp_path: Path, size: str) -> None:
    text = (
        PACKAGE_X
        + REGISTRY
        + f'sdist = {{ url = "https://f.example/x-1.tar.gz", size = {size} }}\n'
    )

    sdist = read_lock(write(tmp_path, text)).packages[0].sdist

    assert sdist is not None and sdist.size is None


def test_a_project_of_the_workspace_without_metadata_declares_no_groups(tmp_path: Path) -> None:
    lock = read_lock(write(tmp_path, EVERY_SOURCE.format(revision=3)))

    assert lock.by_name("app")[0].requires_dev == {}


def test_a_package_from_an_index_without_metadata_has_unknown_groups(tmp_path: Path) -> None:
    lock = read_lock(write(tmp_path, EVERY_SOURCE.format(revision=3)))

    assert lock.by_name("from-registry")[0].requires_dev is None


def test_declared_requirements_are_read_normalized_and_malformed_ones_left_out(
    tmp_path: Path,
) -> None:
    text = (
        PACKAGE_X
        + 'source = { editable = "." }\n[package.metadata]\n'
        + 'requires-dist = [{ name = "Foo", extras = ["b", "a"], specifier = ">=2, <3" }, 5]\n'
    )

    package = read_lock(write(tmp_path, text)).packages[0]

    assert package.requires_dist == (Declared(canonicalize_name("foo"), ("a", "b"), "<3,>=2"),)


def test_a_declared_specifier_that_cannot_be_parsed_is_kept_without_spaces() -> None:
    assert normalize_specifier(">= 1 . 0 ;") == ">=1.0;"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:2024/s3cr3t@pypi.example.com/files/a-1.0-py3-none-any.whl",
        "https://user:/s3cr3t@pypi.example.com/files/a-1.0-py3-none-any.whl",
        "https://user:99?s3cr3t@pypi.example.com/files/a-1.0-py3-none-any.whl",
    ],
)
def test_a_url_whose_password_reads_as_a_port_is_refused_without_the_secret(
    tmp_path: Path, url: str
) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "a"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = "{url}", hash = "sha256:{"0" * 64}" }}]\n'
    )

    with pytest.raises(LockbundleError) as raised:
        read_lock(lock)
    assert "is not a valid URL" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def one_package_lock(tmp_path: Path, version: str, url: str) -> Path:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n\n'
        f'[[package]]\nname = "a"\nversion = {json.dumps(version)}\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = {json.dumps(url)}, hash = "sha256:{"0" * 64}" }}]\n'
    )
    return lock


WHEEL_URL = "https://pypi.example.com/files/a-1.0-py3-none-any.whl"


@pytest.mark.parametrize("url", [WHEEL_URL + "?x=\x1b[2J", WHEEL_URL.replace("/files", "/\nfiles")])
def test_a_url_with_a_control_character_is_refused_where_it_is_read(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(LockbundleError) as raised:
        read_lock(one_package_lock(tmp_path, "1.0", url))
    assert "[[package]] a wheels[0]: " in str(raised.value)
    assert "holds a control character" in str(raised.value)


@pytest.mark.parametrize("version", ["1.0\n", " 1.0", "1.0 "])
def test_a_version_with_whitespace_around_it_is_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(LockbundleError, match=r"version '.*' has whitespace around it"):
        read_lock(one_package_lock(tmp_path, version, WHEEL_URL))


def test_a_plain_version_and_url_are_read_as_they_are(tmp_path: Path) -> None:
    (package,) = read_lock(one_package_lock(tmp_path, "1.0", WHEEL_URL)).packages
    assert (package.version, package.wheels[0].url) == ("1.0", WHEEL_URL)
