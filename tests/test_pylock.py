"""PEP 751 ``pylock.toml`` input: reading it with packaging, selecting for a target as the PEP
says, the artifacts and hashes fetch receives, the static staleness check; and the same choices
as real uv and pip make from files those tools write."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.fetch import Fetcher
from hatch_lockbundle.fetched import HashMismatchError
from hatch_lockbundle.indexes import indexes_of
from hatch_lockbundle.pylock import (
    RELOCK,
    PylockError,
    PylockFile,
    is_pylock,
    parse_pylock,
    read_pylock,
)
from hatch_lockbundle.pylock_select import (
    check_requirements,
    select_pylock,
    unsatisfied_requirements,
)
from hatch_lockbundle.select import Plan
from hatch_lockbundle.target import Target
from support.artifacts import write_wheel
from support.environ import Sandbox, run, uv_binary
from support.index import IndexServer
from support.projects import MakeProject, add_to_pyproject, uv_lock
from test_select_vs_uv import SCRIPT_MODULE as GOLDEN_SCRIPT

SHA256 = "ab" * 32
LINUX = Target.for_("3.12", "linux-x86_64")
WINDOWS = Target.for_("3.12", "windows-amd64")
MACOS = Target.for_("3.11", "macos-arm64")

# a lock as `uv export` writes them with `tool.uv.environments`: the environments it covers,
# markers on entries, several wheels each
UNIVERSAL = f"""
lock-version = "1.0"
created-by = "hand"
environments = ["sys_platform == 'linux'", "sys_platform == 'win32'", "sys_platform == 'darwin'"]
requires-python = ">=3.10"
extras = ["cli"]
dependency-groups = ["dev", "docs"]
default-groups = ["dev"]

[[packages]]
name = "native"
version = "1.0"
index = "https://pypi.example/simple"
sdist = {{ url = "https://files.example/native-1.0.tar.gz", hashes = {{ sha256 = "{SHA256}" }} }}
wheels = [
  {{ url = "https://files.example/native-1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }},
  {{ url = "https://files.example/native-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", hashes = {{ sha256 = "{SHA256}" }} }},
  {{ url = "https://files.example/native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", hashes = {{ sha256 = "{SHA256}" }} }},
  {{ url = "https://files.example/native-1.0-cp312-cp312-win_amd64.whl", hashes = {{ sha256 = "{SHA256}" }} }},
]

[[packages]]
name = "winonly"
version = "2.0"
marker = "sys_platform == 'win32'"
wheels = [{{ url = "https://files.example/winonly-2.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]

[[packages]]
name = "clitool"
version = "3.0"
marker = "'cli' in extras"
wheels = [{{ url = "https://files.example/clitool-3.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]

[[packages]]
name = "devtool"
version = "4.0"
marker = "'dev' in dependency_groups"
wheels = [{{ url = "https://files.example/devtool-4.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]

[[packages]]
name = "doctool"
version = "5.0"
marker = "'docs' in dependency_groups"
wheels = [{{ url = "https://files.example/doctool-5.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]
"""

# a lock as `uv pip compile` writes them: no environments, and the markers that held where it
# ran (what did not hold there is not in it)
ONE_ENVIRONMENT = f"""
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.10"

[[packages]]
name = "pure"
version = "1.0"
wheels = [{{ name = "pure-1.0-py3-none-any.whl", url = "https://files.example/pure-1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]

[[packages]]
name = "linuxonly"
version = "1.0"
marker = "sys_platform == 'linux'"
wheels = [{{ url = "https://files.example/linuxonly-1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]
"""

# a lock as `pdm lock` writes them (`lock.format = "pylock"`): `environments` from its lock
# targets, and every entry under a marker of its group, `default` for the project's own
# dependencies (from pdm 2.29, with its `[packages.tool.pdm]` tables)
PDM = f"""
lock-version = "1.0"
requires-python = ">=3.10"
environments = [
    "python_version >= \\"3.10\\"",
]
extras = []
dependency-groups = ["default", "dev"]
default-groups = ["default"]
created-by = "pdm"

[[packages]]
name = "pure"
version = "1.0"
requires-python = ">=3.8"
wheels = [
    {{name = "pure-1.0-py3-none-any.whl",url = "https://files.example/pure-1.0-py3-none-any.whl",hashes = {{sha256 = "{SHA256}"}}}},
]
marker = "\\"default\\" in dependency_groups"

[packages.tool.pdm]
dependencies = []

[[packages]]
name = "linuxonly"
version = "1.0"
wheels = [
    {{name = "linuxonly-1.0-py3-none-any.whl",url = "https://files.example/linuxonly-1.0-py3-none-any.whl",hashes = {{sha256 = "{SHA256}"}}}},
]
marker = "sys_platform == \\"linux\\" and \\"default\\" in dependency_groups"

[[packages]]
name = "devtool"
version = "4.0"
wheels = [
    {{name = "devtool-4.0-py3-none-any.whl",url = "https://files.example/devtool-4.0-py3-none-any.whl",hashes = {{sha256 = "{SHA256}"}}}},
]
marker = "\\"dev\\" in dependency_groups"

[tool.pdm]
strategy = ["inherit_metadata", "static_urls"]

[[tool.pdm.targets]]
requires_python = ">=3.10"
"""


def write(tmp_path: Path, text: str, name: str = "pylock.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, name: str = "pylock.toml") -> PylockFile:
    return read_pylock(write(tmp_path, text, name))


def names(plan: Plan) -> list[str]:
    return [str(planned.name) for planned in plan.packages]


def entry(name: str, body: str) -> str:
    """One more ``[[packages]]`` entry, appended to a lock's text."""
    return f'\n[[packages]]\nname = "{name}"\n{body}\n'


def refusal(tmp_path: Path, text: str, target: Target = LINUX) -> str:
    """The message of the refusal to select from the lock ``text`` for ``target``."""
    with pytest.raises(PylockError) as raised:
        select_pylock(load(tmp_path, text), target, "app")
    return str(raised.value)


def a_wheel(name: str, version: str, extra: str = "") -> str:
    return (
        f'wheels = [{{ url = "https://files.example/{name}-{version}-py3-none-any.whl", '
        f'hashes = {{ sha256 = "{SHA256}" }}{extra} }}]'
    )


# -- reading -----------------------------------------------------------------------------------


def test_the_format_is_told_by_lock_version_not_by_the_file_name(tmp_path: Path) -> None:
    document = tomllib.loads(UNIVERSAL)
    assert is_pylock(document)
    assert not is_pylock(tomllib.loads('version = 1\nrevision = 3\n[[package]]\nname = "x"\n'))
    # hatch lets an environment name its lock file anything
    pylock = load(tmp_path, UNIVERSAL, "requirements-prod.lock")
    assert [entry.written.name for entry in pylock.entries][:2] == ["native", "winonly"]


def test_an_unknown_major_lock_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PylockError) as raised:
        load(tmp_path, UNIVERSAL.replace('lock-version = "1.0"', 'lock-version = "2.0"'))
    message = str(raised.value)
    assert str(tmp_path / "pylock.toml") in message
    assert "`lock-version = '2.0'` is not supported" in message
    assert "upgrade hatch-lockbundle" in message


def test_a_newer_minor_lock_version_is_read_with_a_warning_for_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        pylock = load(tmp_path, UNIVERSAL.replace('lock-version = "1.0"', 'lock-version = "1.7"'))
    assert len(pylock.warnings) == 1
    assert "`lock-version = '1.7'` is newer than 1.0" in pylock.warnings[0]
    # the warning is the caller's to show: nothing is logged behind its back
    assert caplog.records == []
    assert load(tmp_path, UNIVERSAL).warnings == ()


def test_a_malformed_entry_is_refused_naming_the_file_entry_and_field(tmp_path: Path) -> None:
    broken = UNIVERSAL + entry(
        "nohash", 'version = "1.0"\nwheels = [{ url = "https://f/nohash-1.0-py3-none-any.whl" }]'
    )
    with pytest.raises(PylockError) as raised:
        load(tmp_path, broken)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'pylock.toml'}: [[packages]] #6 (nohash), field ")
    assert "`wheels[0].hashes`" in message
    assert "lock again" in message


def test_a_file_that_is_not_toml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(PylockError, match=r"pylock.toml: not valid TOML"):
        load(tmp_path, "lock-version = ")


# -- the target and the lock -------------------------------------------------------------------


def test_requires_python_that_excludes_the_target_is_refused(tmp_path: Path) -> None:
    pylock = load(tmp_path, UNIVERSAL.replace('">=3.10"', '">=3.13"'))
    with pytest.raises(PylockError) as raised:
        select_pylock(pylock, LINUX, "app")
    assert "is locked for Python >=3.13 (`requires-python`), but the target is Python 3.12.0" in (
        str(raised.value)
    )


def test_environments_must_cover_the_target(tmp_path: Path) -> None:
    only_linux = UNIVERSAL.replace(
        "\"sys_platform == 'linux'\", \"sys_platform == 'win32'\", \"sys_platform == 'darwin'\"",
        "\"sys_platform == 'linux'\"",
    )
    pylock = load(tmp_path, only_linux)
    assert "native" in names(select_pylock(pylock, LINUX, "app"))
    with pytest.raises(PylockError) as raised:
        select_pylock(pylock, WINDOWS, "app")
    assert 'is locked for the environments `sys_platform == "linux"` (`environments`)' in str(
        raised.value
    )
    assert "lock again with this target among the environments" in str(raised.value)


def test_a_lock_without_environments_is_refused_for_a_foreign_target_despite_its_markers(
    tmp_path: Path,
) -> None:
    pylock = load(tmp_path, ONE_ENVIRONMENT)
    assert pylock.single_environment
    with pytest.raises(PylockError) as raised:
        select_pylock(pylock, WINDOWS, "app")
    message = str(raised.value)
    assert "does not say which environments it was locked for (it has no `environments`)" in (
        message
    )
    assert "(`tool.uv.environments`, then `uv export --format pylock.toml`)" in message
    assert message.endswith(
        "if the lock was made for the target (`--python-platform`, `--universal`), set "
        "`lock-made-for-target = true`"
    )


def test_a_one_environment_lock_is_read_for_this_machine_or_a_target_vouched_for(
    tmp_path: Path,
) -> None:
    pylock = load(tmp_path, ONE_ENVIRONMENT)
    assert names(select_pylock(pylock, Target.current(), "app")) == ["linuxonly", "pure"]
    assert names(select_pylock(pylock, WINDOWS, "app", made_for_target=True)) == ["pure"]


def test_a_one_environment_lock_with_environments_is_read_for_the_targets_they_cover(
    tmp_path: Path,
) -> None:
    covered = ONE_ENVIRONMENT.replace(
        'created-by = "uv"', 'created-by = "uv"\nenvironments = ["sys_platform == \'win32\'"]'
    )
    assert names(select_pylock(load(tmp_path, covered), WINDOWS, "app")) == ["pure"]


# -- which entries ------------------------------------------------------------------------------


def test_markers_are_evaluated_for_the_target(tmp_path: Path) -> None:
    pylock = load(tmp_path, UNIVERSAL)
    assert names(select_pylock(pylock, LINUX, "app")) == ["devtool", "native"]
    assert names(select_pylock(pylock, WINDOWS, "app")) == ["devtool", "native", "winonly"]


def test_extras_select_the_entries_under_them(tmp_path: Path) -> None:
    plan = select_pylock(load(tmp_path, UNIVERSAL), LINUX, "app", extras=["CLI"])
    assert names(plan) == ["clitool", "devtool", "native"]
    assert plan.extras == ("cli",)


def test_default_groups_apply_unless_groups_are_given_then_exactly_those(tmp_path: Path) -> None:
    pylock = load(tmp_path, UNIVERSAL)
    assert select_pylock(pylock, LINUX, "app").groups == ("dev",)
    assert names(select_pylock(pylock, LINUX, "app", groups=["docs"])) == ["doctool", "native"]
    assert names(select_pylock(pylock, LINUX, "app", groups=[])) == ["native"]


def test_a_pdm_lock_selects_its_default_group_unless_groups_are_given(tmp_path: Path) -> None:
    pylock = load(tmp_path, PDM)
    assert names(select_pylock(pylock, LINUX, "app")) == ["linuxonly", "pure"]
    assert names(select_pylock(pylock, WINDOWS, "app")) == ["pure"]
    # groups asked for replace the default group, which holds the project's dependencies
    assert names(select_pylock(pylock, LINUX, "app", groups=["dev"])) == ["devtool"]
    both = select_pylock(pylock, LINUX, "app", groups=["default", "dev"])
    assert names(both) == ["devtool", "linuxonly", "pure"]


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        ({"extras": ["gui"]}, "declares no extras `gui` (its `extras`: `cli`)"),
        ({"groups": ["test"]}, "declares no dependency-groups `test` (its `dependency-groups`: "),
    ],
)
def test_extras_and_groups_the_lock_does_not_declare_are_refused(
    tmp_path: Path, request_kwargs: dict[str, list[str]], expected: str
) -> None:
    with pytest.raises(PylockError, match="declares no") as raised:
        select_pylock(load(tmp_path, UNIVERSAL), LINUX, "app", **request_kwargs)  # type: ignore[arg-type]
    assert expected in str(raised.value)


def test_extras_are_refused_for_a_lock_that_declares_none(tmp_path: Path) -> None:
    with pytest.raises(PylockError) as raised:
        select_pylock(load(tmp_path, ONE_ENVIRONMENT), Target.current(), "app", extras=["cli"])
    assert "declares no extras `cli` (its `extras`: none)" in str(raised.value)


def test_an_entry_whose_requires_python_excludes_the_target_is_an_error(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "newer", f'version = "1.0"\nrequires-python = ">=3.13"\n{a_wheel("newer", "1.0")}'
    )
    assert "[[packages]] #6 (newer) needs Python >=3.13 (`requires-python`)" in refusal(
        tmp_path, text
    )


def test_two_entries_of_one_name_for_the_target_are_an_error(tmp_path: Path) -> None:
    text = (
        UNIVERSAL
        + entry(
            "forked",
            f'version = "1.0"\nmarker = "python_version < \'3.12\'"\n{a_wheel("forked", "1.0")}',
        )
        + entry(
            "forked",
            f'version = "2.0"\nmarker = "python_version >= \'3.11\'"\n{a_wheel("forked", "2.0")}',
        )
    )
    pylock = load(tmp_path, text)
    assert "forked==2.0" in [p.package.label for p in select_pylock(pylock, LINUX, "app").packages]
    with pytest.raises(PylockError) as raised:
        select_pylock(pylock, MACOS, "app")  # Python 3.11: both markers hold
    assert "[[packages]] #6 (forked) and [[packages]] #7 (forked) both apply" in str(raised.value)


def test_a_marker_that_cannot_be_evaluated_is_refused_naming_the_entry(tmp_path: Path) -> None:
    # `extra` is a variable of package metadata, not of locks (which have `extras`)
    text = UNIVERSAL + entry(
        "odd", f'version = "1.0"\nmarker = "extra == \'cli\'"\n{a_wheel("odd", "1.0")}'
    )
    assert "[[packages]] #6 (odd) `marker`: the marker cannot be evaluated" in refusal(
        tmp_path, text
    )


def test_dependencies_never_select_anything(tmp_path: Path) -> None:
    # `native` names `winonly` as a dependency: on Linux winonly's marker still excludes it;
    # `orphan` is nobody's dependency and is still selected
    text = UNIVERSAL.replace(
        'index = "https://pypi.example/simple"',
        'index = "https://pypi.example/simple"\ndependencies = [{ name = "winonly" }]',
    ) + entry("orphan", f'version = "1.0"\n{a_wheel("orphan", "1.0")}')
    plan = select_pylock(load(tmp_path, text), LINUX, "app")
    assert names(plan) == ["devtool", "native", "orphan"]
    plan = select_pylock(load(tmp_path, text), WINDOWS, "app")
    # on Windows they give the edges and the reasons
    assert plan.edges["native"] == ("winonly",)
    assert {p.name: p.why for p in plan.packages}["winonly"] == ("app", "native", "winonly")


# -- which artifact ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [LINUX, WINDOWS, MACOS, Target.current()],
    ids=["linux-3.12", "windows-3.12", "macos-3.11", "this-machine"],
)
def test_wheels_are_chosen_as_packaging_chooses_them(tmp_path: Path, target: Target) -> None:
    """packaging's own ``Pylock.select`` is the oracle for the entries and the wheel files."""
    text = UNIVERSAL + entry(
        "native2",
        'version = "1.0"\nmarker = "python_version >= \'3.11\'"\nwheels = ['
        + ", ".join(
            f'{{ url = "https://files.example/native2-1.0-{tags}.whl", hashes = {{ sha256 = "{SHA256}" }} }}'
            for tags in (
                "cp311-cp311-macosx_11_0_arm64",
                "cp311-abi3-macosx_11_0_universal2",
                "cp312-cp312-manylinux_2_28_x86_64",
                "py3-none-any",
            )
        )
        + "]",
    )
    pylock = load(tmp_path, text)
    plan = select_pylock(pylock, target, "app")
    model = Pylock.from_dict(tomllib.loads(text))
    expected = {
        str(package.name): getattr(dist, "filename", None)
        for package, dist in model.select(environment=dict(target.environment), tags=target.tags)
    }
    assert {str(p.name): p.artifact.filename for p in plan.packages} == expected


def test_the_sdist_is_chosen_when_no_wheel_fits(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "puresdist",
        f'version = "1.0"\nsdist = {{ url = "https://files.example/puresdist-1.0.tar.gz", hashes = {{ sha256 = "{SHA256}" }} }}',
    )
    artifact = {
        p.name: p.artifact for p in select_pylock(load(tmp_path, text), MACOS, "app").packages
    }
    assert (artifact["puresdist"].kind, artifact["puresdist"].filename) == (
        "sdist",
        "puresdist-1.0.tar.gz",
    )
    # native publishes a pure wheel: that is chosen over its sdist
    assert artifact["native"].filename == "native-1.0-py3-none-any.whl"


def test_no_wheel_for_the_target_and_no_sdist_is_refused_naming_the_entry(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "winbin",
        f'version = "1.0"\nwheels = [{{ url = "https://files.example/winbin-1.0-cp312-cp312-win_amd64.whl", hashes = {{ sha256 = "{SHA256}" }} }}]',
    )
    message = refusal(tmp_path, text)
    assert "[[packages]] #6 (winbin): winbin==1.0: no wheel in the lock fits" in message
    assert "The lock has 1 wheel, for cp312 on win_amd64" in message


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_git_entry_is_built_at_its_pinned_commit(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "gitdep",
        f'vcs = {{ type = "git", url = "https://git.example/gitdep.git", requested-revision = "main", commit-id = "{COMMIT}", subdirectory = "lib" }}',
    )
    artifact = {
        p.name: p.artifact for p in select_pylock(load(tmp_path, text), LINUX, "app").packages
    }
    git = artifact["gitdep"]
    assert (git.kind, git.url, git.commit, git.subdirectory) == (
        "git", "https://git.example/gitdep.git", COMMIT, "lib",
    )  # fmt: skip


def test_a_git_entry_that_cannot_be_checked_out_says_to_lock_again_with_its_tool(
    tmp_path: Path,
) -> None:
    """Not `uv lock`: the remedies of a pylock.toml name the tool that wrote it."""
    repository = tmp_path / "empty.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repository)], check=True)
    path = write(
        tmp_path,
        'lock-version = "1.0"\ncreated-by = "hand"\n'
        + entry(
            "gitdep",
            f'version = "1.0"\nvcs = {{ type = "git", url = "{repository.as_uri()}", '
            f'commit-id = "{COMMIT}" }}',
        ),
    )
    pylock = read_pylock(path)
    plan = select_pylock(pylock, Target.current(), "app")
    fetcher = Fetcher(
        Cache(tmp_path / "cache"), tmp_path / "work", indexes_of(pylock.lock), relock=RELOCK
    )

    with pytest.raises(LockbundleError) as raised:
        fetcher.fetch([plan])

    message = str(raised.value)
    assert f"has no commit {COMMIT}" in message
    assert "Lock again with the tool that wrote it to pin a commit the repository has" in message
    assert "uv lock" not in message


@pytest.mark.parametrize(
    ("vcs", "expected"),
    [
        (
            f'type = "hg", url = "https://hg.example/x", commit-id = "{COMMIT}"',
            "`type = 'hg'`: hatch-lockbundle builds git sources only",
        ),
        (
            'type = "git", url = "https://git.example/x.git", commit-id = "0123abc"',
            "`commit-id = '0123abc'` is not a full commit id",
        ),
    ],
    ids=["not-git", "short-commit"],
)
def test_a_vcs_entry_that_is_not_a_pinned_git_commit_is_refused(
    tmp_path: Path, vcs: str, expected: str
) -> None:
    with pytest.raises(PylockError) as raised:
        load(tmp_path, UNIVERSAL + entry("vcsdep", f"vcs = {{ {vcs} }}"))
    assert f"[[packages]] #6 (vcsdep) vcs: {expected}" in str(raised.value)


def test_a_directory_entry_is_built_from_its_tree_relative_to_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "locks" / "app").mkdir(parents=True)
    write(tmp_path / "locks", UNIVERSAL + entry("app", 'directory = { path = "app" }'))
    # read by a relative path: the tree is where the lock says, wherever the build runs later
    monkeypatch.chdir(tmp_path)
    plan = select_pylock(read_pylock(Path("locks/pylock.toml")), LINUX, "app")
    assert plan.root.name == "app"
    tree = {p.name: p.artifact for p in plan.packages}["app"]
    assert tree.kind == "tree"
    assert tree.path is not None and tree.path.resolve() == (tmp_path / "locks/app").resolve()
    assert tree.path.is_absolute()


def test_the_project_missing_from_the_lock_is_a_root_without_an_artifact(tmp_path: Path) -> None:
    plan = select_pylock(load(tmp_path, UNIVERSAL), LINUX, "My_App")
    assert (plan.root.name, plan.root.source.kind) == ("my-app", "virtual")
    assert "my-app" not in names(plan)
    assert sorted(plan.edges["my-app"]) == names(plan)


@pytest.mark.parametrize(
    ("archive", "kind"),
    [
        ("https://files.example/arch-1.0-py3-none-any.whl", "wheel"),
        ("https://files.example/archive/abc.tar.gz", "sdist"),
    ],
)
def test_an_archive_entry_is_a_wheel_or_a_source_archive_by_its_name(
    tmp_path: Path, archive: str, kind: str
) -> None:
    text = UNIVERSAL + entry(
        "arch", f'archive = {{ url = "{archive}", hashes = {{ sha256 = "{SHA256}" }} }}'
    )
    artifact = {
        p.name: p.artifact for p in select_pylock(load(tmp_path, text), LINUX, "app").packages
    }
    assert (artifact["arch"].kind, artifact["arch"].url) == (kind, archive)


# -- hashes and credentials ----------------------------------------------------------------------


def test_the_strongest_hash_an_entry_offers_is_the_one_checked(tmp_path: Path) -> None:
    strong = "cd" * 64
    hashes = f'md5 = "{"ef" * 16}", sha256 = "{SHA256}", sha512 = "{strong}"'
    wheel = a_wheel("hashed", "1.0").replace(f'sha256 = "{SHA256}"', hashes)
    text = UNIVERSAL + entry("hashed", f'version = "1.0"\n{wheel}')
    artifact = {
        p.name: p.artifact for p in select_pylock(load(tmp_path, text), LINUX, "app").packages
    }
    assert artifact["hashed"].hash is not None
    assert (artifact["hashed"].hash.algorithm, artifact["hashed"].hash.value) == ("sha512", strong)


def test_an_entry_with_only_unknown_hash_algorithms_is_refused(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "odd",
        'version = "1.0"\nwheels = [{ url = "https://f.example/odd-1.0-py3-none-any.whl", hashes = { crc32 = "0000" } }]',
    )
    with pytest.raises(PylockError) as raised:
        load(tmp_path, text)
    assert "[[packages]] #6 (odd) wheels[0]: `hashes` offers 'crc32', none of which" in str(
        raised.value
    )


def test_a_malformed_hash_value_is_refused(tmp_path: Path) -> None:
    text = UNIVERSAL + entry(
        "short",
        'version = "1.0"\nwheels = [{ url = "https://f.example/short-1.0-py3-none-any.whl", hashes = { sha256 = "abc" } }]',
    )
    with pytest.raises(
        PylockError,
        match=r"\(short\) wheels\[0\]: `hashes.sha256`: hash 'sha256:abc' is not of the form",
    ):
        load(tmp_path, text)


def local_wheel_lock(tmp_path: Path, hashes: str) -> Path:
    """A lock of one wheel file beside it, under ``hashes`` (``{algorithm}`` fields: the
    file's own digest)."""
    (tmp_path / "wheels").mkdir(exist_ok=True)
    wheel = write_wheel(tmp_path / "wheels", "localpkg", "1.0", {"localpkg/__init__.py": ""})
    data = wheel.read_bytes()
    digests = {name: hashlib.new(name, data).hexdigest() for name in ("md5", "sha256", "sha512")}
    return write(
        tmp_path,
        'lock-version = "1.0"\ncreated-by = "hand"\n'
        "environments = [\"python_version >= '3'\"]\n"
        + entry(
            "localpkg",
            f'version = "1.0"\nwheels = [{{ path = "wheels/{wheel.name}", hashes = {{ {hashes.format(**digests)} }} }}]',
        ),
    )


def fetch(path: Path, tmp_path: Path) -> Path:
    """The real fetch stage on the plan of the lock at ``path`` for this machine."""
    pylock = read_pylock(path)
    plan = select_pylock(pylock, Target.current(), "app")
    fetcher = Fetcher(Cache(tmp_path / "cache"), tmp_path / "work", indexes_of(pylock.lock))
    return fetcher.fetch([plan])[0].wheels[0].path


def test_fetch_verifies_a_local_wheel_by_the_strongest_hash(tmp_path: Path) -> None:
    good = local_wheel_lock(tmp_path, 'sha256 = "{sha256}", sha512 = "{sha512}"')
    assert fetch(good, tmp_path).name == "localpkg-1.0-py3-none-any.whl"
    # a wrong sha512 beside a right sha256: the sha512 is the one checked
    bad = local_wheel_lock(tmp_path, f'sha256 = "{{sha256}}", sha512 = "{"0" * 128}"')
    with pytest.raises(HashMismatchError, match="expected sha512:0000"):
        fetch(bad, tmp_path)


def test_md5_alone_does_not_satisfy_require_hashes(tmp_path: Path) -> None:
    path = local_wheel_lock(tmp_path, 'md5 = "{md5}"')
    with pytest.raises(LockbundleError, match="only a md5 hash, a broken algorithm"):
        fetch(path, tmp_path)


def test_credentials_in_urls_are_kept_apart_from_the_urls(tmp_path: Path) -> None:
    text = UNIVERSAL.replace(
        "https://files.example/native-1.0-py3", "https://me:s3cret@files.example/native-1.0-py3"
    )
    pylock = load(tmp_path, text)
    assert pylock.lock.credentials == {"https://files.example": ("me", "s3cret")}
    plan = select_pylock(pylock, MACOS, "app")
    url = {p.name: p.artifact.url for p in plan.packages}["native"]
    assert url == "https://files.example/native-1.0-py3-none-any.whl"


# -- hostile input ---------------------------------------------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.sampled_from(["1.0", "2.0", "sha256", "../x", "git", ">=3", "sys_platform == 'linux'", "x-1.0-py3-none-any.whl"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "version", "url", "path", "hashes", "sha256", "wheels", "sdist", "vcs", "type", "commit-id", "directory", "archive", "marker", "requires-python", "index", "dependencies"]),
        children, max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(packages=st.lists(_VALUES, max_size=3), version=st.sampled_from(["1.0", "1.1", "2", 1, "x"]))
def test_a_hostile_lock_is_refused_with_a_message_never_a_traceback(
    tmp_path: Path, packages: list[object], version: object
) -> None:
    document = {"lock-version": version, "created-by": "x", "packages": packages}
    try:
        pylock = parse_pylock(document, tmp_path / "pylock.toml")
        for target in (LINUX, Target.current()):
            select_pylock(pylock, target, "app", groups=())
    except LockbundleError:
        pass


# -- staleness ------------------------------------------------------------------------------------


def test_the_requirements_the_lock_meets_are_not_reported(tmp_path: Path) -> None:
    plan = select_pylock(load(tmp_path, UNIVERSAL), LINUX, "app")
    requirements = ["native>=1", "devtool==4.*", "winonly; sys_platform == 'win32'"]
    assert unsatisfied_requirements(plan, requirements) == []


def test_requirements_missing_from_the_lock_or_at_another_version_are_reported(
    tmp_path: Path,
) -> None:
    plan = select_pylock(load(tmp_path, UNIVERSAL), WINDOWS, "app")
    requirements = [
        "native>=2",
        "absent",
        "clitool; extra == 'cli'",
        "winonly<2; sys_platform == 'win32'",
        "not a requirement!",
    ]
    found = [str(item) for item in unsatisfied_requirements(plan, requirements, extras=["cli"])]
    assert found[:4] == [
        "`native>=2`: the lock has native 1.0",
        "`absent`: not in the lock",
        "`clitool; extra == 'cli'`: not in the lock",
        "`winonly<2; sys_platform == 'win32'`: the lock has winonly 2.0",
    ]
    assert found[4].startswith("`not a requirement!`: not a valid requirement")
    # without the extra, the extra's requirement is not needed
    assert "clitool" not in str(unsatisfied_requirements(plan, requirements[2:3]))


def test_a_lock_that_does_not_meet_the_requirements_is_refused_listing_every_one(
    tmp_path: Path,
) -> None:
    pylock = load(tmp_path, UNIVERSAL)
    plan = select_pylock(pylock, LINUX, "app")
    check_requirements(pylock, plan, ["native"])
    with pytest.raises(PylockError) as raised:
        check_requirements(pylock, plan, ["native>=2", "absent"])
    assert str(raised.value).splitlines()[1:] == [
        "  - `native>=2`: the lock has native 1.0",
        "  - `absent`: not in the lock",
        "Lock again (`hatch env lock`, `uv export`, `pip lock`, `pdm lock`), or set `frozen = true` to "
        "bundle the lock as it is",
    ]


def test_a_requirement_the_lock_holds_outside_the_groups_asked_for_is_reported_as_left_out(
    tmp_path: Path,
) -> None:
    pylock = load(tmp_path, PDM)
    plan = select_pylock(pylock, LINUX, "app", groups=["dev"])
    with pytest.raises(PylockError) as raised:
        check_requirements(pylock, plan, ["pure", "absent"])
    assert str(raised.value).splitlines()[1:3] == [
        f"  - `pure`: in the lock, but its `marker` leaves it out for {LINUX.describe()} with "
        "the dependency groups `dev` and the extras none (ask for the groups and extras it is "
        "locked under)",
        "  - `absent`: not in the lock",
    ]


# -- real locks, real installers ------------------------------------------------------------------

#: targets of the comparisons with uv: the product's platform alias and a Python crossapp allows
TARGETS = [
    ("linux-x86_64", "3.12"),
    ("linux-aarch64", "3.11"),
    ("musllinux-x86_64", "3.12"),
    ("macos-arm64", "3.12"),
    ("windows-amd64", "3.11"),
]

Installed = dict[str, tuple[str | None, str | None]]


@pytest.fixture(scope="module")
def crossapp(make_project: MakeProject) -> Path:
    """The cross-platform fixture project, locked by uv (``nativepkg`` has wheels for every
    platform, ``puresdist`` only an sdist, and markers decide the rest)."""
    return make_project("crossapp")


#: ``tool.uv.environments`` covering every target of :data:`TARGETS`: ``uv export`` writes
#: them into the lock as ``environments``
ENVIRONMENTS = "[tool.uv]\nenvironments = [\"sys_platform == 'linux'\", \"sys_platform == 'darwin'\", \"sys_platform == 'win32'\"]\n"


@pytest.fixture(scope="module")
def crossapp_for_environments(make_project: MakeProject, sandbox: Sandbox) -> Path:
    """crossapp locked by uv for the environments it states (``tool.uv.environments``)."""
    project = make_project("crossapp")
    add_to_pyproject(project, ENVIRONMENTS)
    uv_lock(project, env=sandbox.environ())
    return project


def write_lock(crossapp: Path, tool: str, package_index: IndexServer, sandbox: Sandbox) -> Path:
    """A lock of ``crossapp`` written by the real ``tool``, in the project (pip writes the
    project's path relative to the lock, and refuses one outside it), named as pip and uv
    want a lock to install from: ``pylock.<name>.toml``."""
    out = crossapp / f"pylock.{'-'.join(tool.replace('--', '').split())}.toml"
    index = ["--default-index", package_index.simple_url]
    python = ["--python", sys.executable]
    commands = {
        "uv export": [
            uv_binary(), "export", "--frozen", "--no-editable", "--format", "pylock.toml",
            "-o", out,
        ],
        "uv pip compile --universal": [
            uv_binary(), "pip", "compile", "--universal", "--format", "pylock.toml",
            "pyproject.toml", "-o", out, *index, *python,
        ],
        # what hatch's uv locker runs (`hatch env lock`)
        "uv pip compile": [
            uv_binary(), "pip", "compile", "--generate-hashes", "--format", "pylock.toml",
            "pyproject.toml", "-o", out, *index, *python,
        ],
        "pip lock": [
            sys.executable, "-m", "pip", "lock", "--index-url", package_index.simple_url,
            "-o", out, ".",
        ],
        # pdm's own lock, in PEP 751's format (`lock.format = "pylock"`); `pdm export -f pylock`
        # writes the same through the same converter from a pdm.lock
        "pdm lock": [pdm_binary(), "lock", "--lockfile", out],
    }  # fmt: skip
    env = pdm_environ(sandbox, package_index) if tool == "pdm lock" else sandbox.environ()
    run(commands[tool], cwd=crossapp, env=env)
    return out


def pdm_binary() -> Path:
    """The ``pdm`` of the test environment (a dependency of the dev group)."""
    return Path(sys.executable).parent / "pdm"


def pdm_environ(sandbox: Sandbox, package_index: IndexServer) -> dict[str, str]:
    """The sandbox's environment for pdm: the index on 127.0.0.1, its cache and logs in the
    sandbox (its configuration is there already: ``XDG_CONFIG_HOME``), no update check, this
    interpreter (otherwise pdm makes a ``.venv`` in the project and records it in
    ``.pdm-python``), and locks written as PEP 751 files. The machine's own ``PDM_*``
    settings do not reach it, as :func:`~support.environ.clean_environ` keeps pip's and uv's out."""
    env = {k: v for k, v in sandbox.environ().items() if not k.startswith("PDM_")}
    return {
        **env,
        "PDM_PYPI_URL": package_index.simple_url,
        "PDM_CACHE_DIR": str(sandbox.root / "pdm-cache"),
        "PDM_LOG_DIR": str(sandbox.root / "pdm-log"),
        "PDM_CHECK_UPDATE": "false",
        "PDM_PYTHON": sys.executable,
        "PDM_LOCK_FORMAT": "pylock",
    }


def uv_installs(
    lock: Path,
    crossapp: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    dest: Path,
    platform: str | None = None,
    python: str | None = None,
) -> Installed:
    """What real ``uv pip install --target -r <lock>`` installs: each distribution's version
    and the index's wheel file it came from (None: built from source)."""
    script = GOLDEN_SCRIPT
    foreign = (
        ["--python-platform", script.UV_PLATFORMS[platform], "--python-version", str(python)]
        if platform
        else []
    )
    run(
        [
            uv_binary(), "pip", "install", "--target", dest, "--python", sys.executable,
            *foreign, "--default-index", package_index.simple_url, "-r", lock,
        ],
        cwd=crossapp,
        env=sandbox.environ({"MACOSX_DEPLOYMENT_TARGET": script.MACOS_VERSION}),
    )  # fmt: skip
    return {
        item["name"]: (item["version"], item["wheel"])
        for item in script.installed(dest, package_index.directory)
    }


def planned(plan: Plan) -> Installed:
    """The same for the product's plan (a source tree's version is known once it is built: the
    project's entry has none)."""
    return {
        str(item.name): (
            item.version,
            item.artifact.filename if item.artifact.kind == "wheel" else None,
        )
        for item in plan.packages
    }


def same_choices(ours: Installed, uv: Installed) -> None:
    assert ours.keys() == uv.keys()
    for name, (version, wheel) in ours.items():
        assert (version or uv[name][0], wheel) == uv[name], name


def check_each_target(
    lock: Path,
    project: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
    *,
    made_for_target: bool = False,
) -> None:
    """For each of :data:`TARGETS`, the plan holds what real uv installs from ``lock``."""
    pylock = read_pylock(lock)
    for platform, python in TARGETS:
        target = Target.for_(python, platform)
        plan = select_pylock(pylock, target, "crossapp", made_for_target=made_for_target)
        dest = tmp_path / f"{platform}-{python}"
        uv = uv_installs(lock, project, package_index, sandbox, dest, platform, python)
        same_choices(planned(plan), uv)
        # the wheel files chosen are the target's: nativepkg's differs on each
        chosen = {p.name: p.artifact.filename for p in plan.packages}["nativepkg"]
        assert chosen is not None and target.wheel_rank(chosen) is not None


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["uv export", "pdm lock"])
def test_a_lock_for_stated_environments_selects_what_uv_installs_for_each_target(
    crossapp_for_environments: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
    tool: str,
) -> None:
    """uv's export states `tool.uv.environments`; pdm states the Python versions it locked
    for (every platform), and puts each entry under its dependency group (`'default' in
    dependency_groups`)."""
    project = crossapp_for_environments
    lock = write_lock(project, tool, package_index, sandbox)
    assert read_pylock(lock).model.environments
    check_each_target(lock, project, package_index, sandbox, tmp_path)


@pytest.mark.slow
def test_a_universal_lock_without_environments_is_read_for_other_targets_only_when_vouched_for(
    crossapp: Path, package_index: IndexServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    """``uv pip compile --universal`` states no environments: nothing in the file tells it
    from a lock of one machine's, so another target needs the caller's word."""
    lock = write_lock(crossapp, "uv pip compile --universal", package_index, sandbox)
    with pytest.raises(PylockError, match="does not say which environments"):
        select_pylock(read_pylock(lock), Target.for_("3.12", "windows-amd64"), "crossapp")
    check_each_target(lock, crossapp, package_index, sandbox, tmp_path, made_for_target=True)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["uv pip compile", "pip lock"])
def test_a_one_environment_lock_selects_what_uv_installs_here_and_refuses_other_targets(
    crossapp: Path, package_index: IndexServer, sandbox: Sandbox, tmp_path: Path, tool: str
) -> None:
    lock = write_lock(crossapp, tool, package_index, sandbox)
    pylock = read_pylock(lock)
    assert pylock.single_environment
    plan = select_pylock(pylock, Target.current(), "crossapp")
    same_choices(
        planned(plan), uv_installs(lock, crossapp, package_index, sandbox, tmp_path / "here")
    )
    with pytest.raises(PylockError, match="does not say which environments"):
        select_pylock(pylock, Target.for_("3.12", "macos-arm64"), "crossapp")
