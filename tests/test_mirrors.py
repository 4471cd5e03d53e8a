"""Mirrors for a lock made elsewhere: files locked from an index that is down come from a mirror
with another URL layout (``--mirror``, ``LOCKBUNDLE_MIRRORS``, ``tool.lockbundle.mirrors``), and
the mirror stays out of every output."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from hatch_lockbundle import mirrors as mirrors_module
from hatch_lockbundle.build import _CapturingRunner
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError
from hatch_lockbundle.http import Downloader
from hatch_lockbundle.mirrors import Mirrors, MissingFromMirrorError
from hatch_lockbundle.network import NetworkSettings
from support.bundle import occurrences
from support.cli import lockbundle
from support.consumer import Consumer
from support.environ import Sandbox, describe
from support.index import IndexServer
from support.mirror_index import MirrorIndex
from support.private_index import PASSWORD, USER, secret_needles

# a wheel, and an sdist whose build environment needs hatchling from an index
DEPENDENCIES = ["scriptpkg", "puresdist"]
WHEEL = "scriptpkg-1.0-py3-none-any.whl"


def with_userinfo(url: str) -> str:
    return url.replace("://", f"://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@", 1)


def build(
    sandbox: Sandbox, project: Path, cache: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # uv's own cache starts empty: what a build environment installs must come from an index
    fresh = {"UV_CACHE_DIR": str(cache.parent / "uv-cache"), **(env or {})}
    return lockbundle(sandbox, project, "build", *args, cache=cache, check=False, extra_env=fresh)


def mirror_lines(output: str) -> list[str]:
    """The lines of a build's output that name a mirror it uses."""
    return [line for line in output.splitlines() if line.startswith("Mirror: ")]


@pytest.fixture
def consumer(tmp_path: Path, private_index: IndexServer, sandbox: Sandbox) -> Consumer:
    """A project locked against ``private_index``, with its SBOM on."""
    return Consumer.create(
        tmp_path / "project",
        private_index,
        DEPENDENCIES,
        env=sandbox.environ(),
        settings="sbom = true",
    )


@pytest.fixture
def mirror(private_index: IndexServer) -> Iterator[MirrorIndex]:
    """A mirror of the index's files, in its own layout, wanting credentials."""
    with MirrorIndex(private_index.directory, credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.mark.slow
def test_a_lock_whose_index_is_down_builds_from_a_mirror_with_another_layout(
    consumer: Consumer,
    private_index: IndexServer,
    mirror: MirrorIndex,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    lock_before = consumer.lock.read_bytes()
    private_index.stop()
    cache = tmp_path / "cache"
    mapping = f"{private_index.simple_url}={with_userinfo(mirror.simple_url)}"

    result = build(sandbox, consumer.root, cache, "--layout", "wheelhouse", "--mirror", mapping)

    assert result.returncode == 0, describe(result)
    assert consumer.lock.read_bytes() == lock_before
    # found by name on the mirror's JSON pages (asked for by the Accept header) ...
    served = mirror.pages_served("json", "hatch-lockbundle")
    assert sorted(served) == [
        "/repository/pypi/simple/puresdist/",
        "/repository/pypi/simple/scriptpkg/",
    ]
    # ... and the sdist's build backend installed into its build environment from the mirror
    assert "/repository/pypi/simple/hatchling/" in mirror.requests
    # the mirror, its address and its credentials are in no output and no cache file
    needles = [mirror.url, mirror.url.removeprefix("http://"), *secret_needles()]
    assert occurrences(consumer.root, needles) == {}
    assert occurrences(cache, needles) == {}
    # the build says once where the files come from, without the credentials, and only there
    output = result.stdout + result.stderr
    assert mirror_lines(output) == [
        f"Mirror: files of {private_index.simple_url.rstrip('/')} from {mirror.simple_url}"
    ]
    assert [needle for needle in secret_needles() if needle in output] == []
    others = "".join(line for line in output.splitlines() if not line.startswith("Mirror: "))
    assert [needle for needle in needles if needle in others] == []
    # where the bundle says a file comes from, it names the lock's URL
    wheelhouse = next((consumer.root / "dist").glob("*-wheelhouse"))
    manifest = (wheelhouse / "lockbundle.json").read_text()
    assert json.dumps(private_index.file_url(WHEEL)) in manifest

    plan = lockbundle(
        sandbox,
        consumer.root,
        "plan",
        "--format",
        "json",
        cache=cache,
        extra_env={"LOCKBUNDLE_MIRRORS": mapping},
    )
    assert [needle for needle in needles if needle in plan.stdout + plan.stderr] == []
    assert private_index.file_url(WHEEL) in plan.stdout

    # a mirror that serves no file of this build, all of them in the cache, is not named
    warm = build(sandbox, consumer.root, cache, "--layout", "wheelhouse", "--mirror", mapping)
    assert warm.returncode == 0, describe(warm)
    assert "is up to date" in warm.stderr
    assert mirror_lines(warm.stderr) == []

    # a mirror serves the locked bytes: the same bundle, not rebuilt without it
    private_index.start()
    again = build(sandbox, consumer.root, cache, "--layout", "wheelhouse")

    assert again.returncode == 0, describe(again)
    assert "is up to date" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("other_files", [0, 1], ids=["no-page", "not-on-the-page"])
def test_a_file_the_mirror_lacks_is_an_error_naming_package_file_and_mirror(
    other_files: int,
    consumer: Consumer,
    private_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    private_index.stop()
    if other_files:  # another version of the package: the mirror has a page for it
        (private_index.directory / "scriptpkg-0.9-py3-none-any.whl").write_bytes(b"other")
    with MirrorIndex(
        private_index.directory, credentials=(USER, PASSWORD), hidden=frozenset({WHEEL})
    ) as mirror:
        mapping = f"{private_index.simple_url}={with_userinfo(mirror.simple_url)}"

        result = build(
            sandbox, consumer.root, tmp_path / "cache", env={"LOCKBUNDLE_MIRRORS": mapping}
        )

    output = result.stdout + result.stderr
    assert result.returncode == 1, describe(result)
    assert f"scriptpkg==1.0: the mirror {mirror.simple_url} does not serve {WHEEL}" in output, (
        output
    )
    assert ("lists 1 other file(s)" in output) == bool(other_files), output
    assert "Traceback" not in output
    assert [needle for needle in secret_needles() if needle in output] == []
    assert not (consumer.root / "dist").exists() or not any((consumer.root / "dist").iterdir())


@pytest.mark.slow
def test_a_mapping_that_serves_no_file_is_named_with_the_locks_indexes(
    consumer: Consumer, private_index: IndexServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    private_index.stop()  # the likely mistake: a FROM copied from elsewhere, the lock's index down
    mapping = "https://pypi.org/simple=https://mirror.example/simple/"

    result = build(sandbox, consumer.root, tmp_path / "cache", env={"LOCKBUNDLE_MIRRORS": mapping})

    output = result.stdout + result.stderr
    assert result.returncode == 1, describe(result)
    assert (
        "The mirror mapping from `https://pypi.org/simple` serves no file of this build: the lock "
        f"records its files from `{private_index.simple_url.rstrip('/')}"
    ) in output, output
    assert "Traceback" not in output


@pytest.mark.slow
def test_an_html_only_mirror_from_the_environment_serves_the_files(
    tmp_path: Path, private_index: IndexServer, sandbox: Sandbox
) -> None:
    consumer = Consumer.create(
        tmp_path / "project", private_index, ["scriptpkg"], env=sandbox.environ()
    )
    private_index.stop()
    with MirrorIndex(private_index.directory, html_only=True) as mirror:
        # newline-separated, with a mapping of another index that the lock does not use
        mappings = f"https://example.invalid/simple={mirror.url}/x/\n{private_index.simple_url}={mirror.simple_url}"

        result = build(
            sandbox, consumer.root, tmp_path / "cache", env={"LOCKBUNDLE_MIRRORS": mappings}
        )

    assert result.returncode == 0, describe(result)
    assert mirror.pages_served("html", "hatch-lockbundle") == ["/repository/pypi/simple/scriptpkg/"]
    # the mapping of an index the lock does not use serves nothing: it is not named as a mirror
    assert mirror_lines(result.stderr) == [
        f"Mirror: files of {private_index.simple_url.rstrip('/')} from {mirror.simple_url}"
    ]


@pytest.mark.slow
def test_a_direct_url_file_is_remapped_by_a_url_prefix(
    tmp_path: Path, private_index: IndexServer, sandbox: Sandbox
) -> None:
    consumer = Consumer.create(
        tmp_path / "project",
        private_index,
        [f"scriptpkg @ {private_index.file_url(WHEEL)}"],
        env=sandbox.environ(),
    )
    private_index.stop()
    with MirrorIndex(private_index.directory) as mirror:
        mapping = f"{private_index.url}/files/*={mirror.url}/flat/*"

        result = build(sandbox, consumer.root, tmp_path / "cache", "--mirror", mapping)

    assert result.returncode == 0, describe(result)
    assert mirror.requests == [f"/flat/{WHEEL}"]
    assert mirror_lines(result.stderr) == [
        f"Mirror: files under {private_index.url}/files/ from {mirror.url}/flat/"
    ]


# -- where mappings come from ------------------------------------------------------------------


def mirrors_of(
    table: dict[str, str], environ: str = "", command_line: list[str] | None = None
) -> dict[str, str]:
    """The mirror of each index, as configured in pyproject, the environment and the command line."""
    config = load_and_validate_config(
        {"mirrors": table},
        Path.cwd(),
        overrides={"mirrors": command_line} if command_line else None,
        environ={"LOCKBUNDLE_MIRRORS": environ},
    )
    return {source: mirror.url for source, mirror in Mirrors(config.mirrors).indexes.items()}


def test_the_command_line_wins_over_the_environment_over_pyproject_for_each_index() -> None:
    chosen = mirrors_of(
        {
            "https://a.example/simple": "https://config/a/",
            "https://b.example/simple/": "https://config/b/",
        },
        environ="https://B.example/simple=https://env/b/ https://c.example/simple=https://env/c/",
        command_line=["https://c.example/simple/=https://cli/c/"],
    )

    assert chosen == {
        "https://a.example/simple": "https://config/a/",
        "https://b.example/simple": "https://env/b/",
        "https://c.example/simple": "https://cli/c/",
    }


def test_a_mirror_url_loses_its_credentials_to_the_credential_map() -> None:
    mirrors = Mirrors([("https://pypi.org/simple", "https://bot:t0ken@mirror.example/simple/")])

    assert mirrors.index_url("https://pypi.org/simple/") == "https://mirror.example/simple/"
    assert mirrors.credentials({}) == {"https://mirror.example": ("bot", "t0ken")}


def test_a_named_mirror_takes_its_password_from_uv_index_variables() -> None:
    mirrors = Mirrors([("https://pypi.org/simple", "codeartifact=https://aws@ca.example/simple/")])

    found = mirrors.credentials({"UV_INDEX_CODEARTIFACT_PASSWORD": "tok"})

    assert found == {"https://ca.example": ("aws", "tok")}


def test_a_named_url_prefix_takes_its_password_from_uv_index_variables() -> None:
    mirrors = Mirrors([("https://files.example/*", "corp=https://bot@mirror.example/flat/*")])

    found = mirrors.credentials({"UV_INDEX_CORP_PASSWORD": "tok"})

    assert found == {"https://mirror.example": ("bot", "tok")}


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            "table",
            {"https://pypi.org/simple": "ftp://mirror.example/"},
            "Entry `https://pypi.org/simple` of field `tool.lockbundle.mirrors`: "
            "`ftp://mirror.example/` is not an http or https URL",
        ),
        (
            "table",
            {"https://files.example/*": "https://mirror.example/"},
            "maps a URL prefix on one side only",
        ),
        (
            "command line",
            ["https://pypi.org/simple"],
            "`--mirror`: mirror entry 'https://pypi.org/simple' is not `FROM=TO`",
        ),
        (
            "environ",
            "https://pypi.org/simple",
            "LOCKBUNDLE_MIRRORS: mirror entry 'https://pypi.org/simple' is not `FROM=TO`",
        ),
        (
            "environ",
            "https://a.example/simple=https://m.example/a/,https://b.example/simple=https://m.example/b/",
            "holds two URLs: give one mapping per entry, entries separated by spaces or newlines",
        ),
    ],
)
def test_a_wrong_mapping_is_a_configuration_error(where: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_and_validate_config(
            {"mirrors": value} if where == "table" else {},
            Path.cwd(),
            overrides={"mirrors": value} if where == "command line" else None,
            environ={"LOCKBUNDLE_MIRRORS": str(value)} if where == "environ" else {},
        )

    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("mirror", "refusal"),
    [
        ("https://mirror.example/simple\nDownloaded 1 file", "holds white space or control"),
        ("https://mirror.example/sim\tple/", "holds white space or control"),
        ("https://mirror.example/simple (PyPI itself)", "holds white space or control"),
        ("https://mirror.example/simple\x1b[2J", "holds white space or control"),
        ("https://bot:s3cret@mirror.example/simple?token=S3CRET", "has a query or fragment"),
        ("https://mirror.example/simple#S3CRET", "has a query or fragment"),
        ("https://mirror.example/simple?", "has a query or fragment"),
    ],
)
def test_a_mirror_url_that_would_print_or_fetch_otherwise_than_given_is_refused(
    mirror: str, refusal: str
) -> None:
    """It reaches the build's `Mirror:` line as it is: no forged line, and no token in a query
    (which would also end up before the project's name in its page's URL)."""
    with pytest.raises(ConfigurationError) as raised:
        mirrors_of({}, command_line=[f"https://pypi.org/simple={mirror}"])

    (error,) = raised.value.errors
    assert refusal in error
    assert "S3CRET" not in error and "s3cret" not in error and "\n" not in error.replace("\\n", "")


@pytest.mark.parametrize(
    ("where", "heading"),
    [
        ("table", f"Invalid configuration in {Path.cwd() / 'pyproject.toml'}:"),
        ("command line", "Invalid configuration in the command line:"),
        ("environ", "Invalid configuration in LOCKBUNDLE_MIRRORS:"),
    ],
)
def test_a_wrong_mapping_is_headed_by_where_it_was_given(where: str, heading: str) -> None:
    value = "https://pypi.org/simple=ftp://mirror.example/"
    with pytest.raises(ConfigurationError) as raised:
        load_and_validate_config(
            {"mirrors": dict([value.split("=")])} if where == "table" else {},
            Path.cwd(),
            overrides={"mirrors": [value]} if where == "command line" else None,
            environ={"LOCKBUNDLE_MIRRORS": value} if where == "environ" else {},
        )

    assert str(raised.value).splitlines()[0] == heading


def test_mistakes_in_several_places_are_headed_by_each() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_and_validate_config(
            {"mirrors": {"https://pypi.org/simple": "ftp://mirror.example/"}},
            Path.cwd(),
            environ={"LOCKBUNDLE_MIRRORS": "https://pypi.org/simple"},
        )

    assert str(raised.value).splitlines()[0] == (
        f"Invalid configuration in {Path.cwd() / 'pyproject.toml'} and LOCKBUNDLE_MIRRORS:"
    )


def test_two_mirrors_for_one_index_are_an_error_naming_both() -> None:
    with pytest.raises(ConfigurationError) as raised:
        mirrors_of(
            {},
            command_line=[
                "https://pypi.org/simple=https://one.example/simple/",
                "https://PyPI.org/simple/=corp=https://bot:t0ken@two.example/simple/",
            ],
        )

    assert raised.value.errors == [
        "Entries #1 and #2 of `--mirror` give two different mirrors for "
        "`https://pypi.org/simple`: keep one"
    ]
    assert "t0ken" not in str(raised.value)


def test_the_same_mapping_given_twice_is_one_mapping() -> None:
    twice = "https://pypi.org/simple=https://one.example/simple/"

    assert mirrors_of({}, environ=f"{twice} {twice}") == {
        "https://pypi.org/simple": "https://one.example/simple/"
    }


def test_a_mirror_is_not_part_of_the_stamp() -> None:
    with_mirror = load_and_validate_config(
        {"mirrors": {"https://pypi.org/simple": "https://bot:t0ken@mirror.example/simple/"}},
        Path.cwd(),
        environ={},
    )

    assert "t0ken" not in repr(with_mirror)
    assert repr(with_mirror) == repr(load_and_validate_config({}, Path.cwd(), environ={}))


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("environ", "=https://bot:S3CRET@mirror.example/simple"),
        ("environ", "https://pypi.org/simple=ftp://bot:S3CRET@mirror.example/simple"),
        ("table", {"https://pypi.org/simple": "corp=https://bot:S3CRET@mirror.example/simple/*"}),
        ("table", {"https://bot:S3CRET@files.example/*": "ftp://bot:S3CRET@mirror.example/"}),
    ],
)
def test_a_wrong_mapping_is_reported_without_its_password(where: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_and_validate_config(
            {"mirrors": value} if where == "table" else {},
            Path.cwd(),
            environ={"LOCKBUNDLE_MIRRORS": str(value)} if where == "environ" else {},
        )

    assert "mirror.example" in str(raised.value)
    assert "S3CRET" not in str(raised.value)


def test_a_build_backend_does_not_see_the_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend never downloads from a mirror, and the mirror's URL may hold a password."""
    monkeypatch.setenv(
        "LOCKBUNDLE_MIRRORS", "https://pypi.org/simple=https://bot:S3CRET@mirror.example/simple"
    )
    backend = _CapturingRunner()

    backend([sys.executable, "-c", "import os; print(os.environ.get('LOCKBUNDLE_MIRRORS'))"])

    assert backend.output.strip() == "None"


class CannedMirror:
    """A mirror on 127.0.0.1 answering each project page with a fixed status, headers and body."""

    def __init__(self, pages: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.pages = pages
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = canned.pages.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def __enter__(self) -> CannedMirror:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def locate_on(page: tuple[int, dict[str, str], bytes]) -> str:
    """The error of looking up a wheel of ``demo`` on a mirror answering its page with ``page``."""
    with CannedMirror({"/simple/demo/": page}) as canned:
        mirrors = Mirrors([("https://pypi.org/simple", canned.url)])
        with pytest.raises(MissingFromMirrorError) as raised:
            mirrors.locate(
                Downloader(retries=0, network=NetworkSettings()),
                mirrors.indexes["https://pypi.org/simple"],
                "https://files.example/demo-1.0-py3-none-any.whl",
                "demo",
                "demo 1.0",
            )
    return str(raised.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"files": [', "not valid JSON"),
        (b'{"meta": {}}', "no `files` list"),
        (b"demo-1.0-py3-none-any.whl", "neither JSON nor HTML"),
    ],
)
def test_a_page_that_is_not_a_simple_page_is_reported_unreadable(body: bytes, reason: str) -> None:
    message = locate_on((200, {}, body))

    assert "could not be read as a simple index page" in message and reason in message
    assert "other file(s)" not in message


def test_a_page_past_the_page_bound_is_not_reported_against_the_locks_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mirrors_module, "PAGE_LIMIT", 1000)

    message = locate_on((200, {}, b"<a>" * 1000))

    assert "more than 1000 bytes, the most such an answer may bring" in message
    assert "lock" not in message.partition("The lock records")[0]


def test_a_page_redirecting_to_a_file_url_is_not_called_a_credentials_problem() -> None:
    message = locate_on((302, {"Location": "file:///etc/passwd"}, b""))

    assert "redirected to a 'file' URL; only http and https redirects are followed" in message
    assert "credentials" not in message


def test_a_page_the_mirror_refuses_may_be_a_credentials_problem() -> None:
    assert "missing or wrong credentials" in locate_on((403, {}, b""))
