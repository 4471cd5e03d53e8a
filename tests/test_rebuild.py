"""Rebuilds: nothing changed is a no-op; a changed input or an edited bundle is rebuilt."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_lockbundle import parsed_locks
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.parsed_locks import ParsedLocks
from hatch_lockbundle.uvlock import read_lock
from support.projects import MakeProject

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def locked_app(make_project: MakeProject) -> Path:
    return make_project("app")


@pytest.fixture
def app(locked_app: Path, tmp_path: Path) -> Path:
    """The locked app, for one test: tests edit its sources and its bundle, and move its dist/,
    which none may find done by another test, whatever the order they run in."""
    return shutil.copytree(locked_app, tmp_path / "app", ignore=shutil.ignore_patterns("dist"))


def build(project: Path, cache: Path) -> tuple[Path, list[str]]:
    lines: list[str] = []
    bundle = build_bundle(project, project / "dist", cache_dir=cache, log=lines.append)
    return bundle, lines


def test_an_unchanged_rebuild_is_a_no_op(app: Path, tmp_path: Path) -> None:
    bundle, _ = build(app, tmp_path / "cache")
    before = {p: p.stat().st_mtime_ns for p in bundle.rglob("*")}

    again, lines = build(app, tmp_path / "cache")

    assert again == bundle
    assert f"{bundle.name} is up to date" in lines
    assert {p: p.stat().st_mtime_ns for p in bundle.rglob("*")} == before


def test_an_edited_bundle_is_rebuilt(app: Path, tmp_path: Path) -> None:
    bundle, _ = build(app, tmp_path / "cache")
    module = bundle / "app" / "__init__.py"
    original = module.read_bytes()
    module.chmod(0o644)  # bundle files are read-only links into the cache
    module.write_text("broken = True\n")

    _, lines = build(app, tmp_path / "cache")

    assert not any(line.endswith("is up to date") for line in lines)
    # the edit went through the link into the cache, which noticed it
    assert any("has a changed file, `app/__init__.py`" in line for line in lines), lines
    assert module.read_bytes() == original


def test_a_changed_project_source_is_rebuilt(app: Path, tmp_path: Path) -> None:
    bundle, _ = build(app, tmp_path / "cache")
    source = app / "src" / "app" / "__init__.py"
    source.write_text(source.read_text() + "\nCHANGED = 'yes'\n")

    _, lines = build(app, tmp_path / "cache")

    assert any(line.startswith("Building app==0.1.0") for line in lines)
    assert "CHANGED = 'yes'" in (bundle / "app" / "__init__.py").read_text()


def test_an_unchanged_project_is_not_built_again(app: Path, tmp_path: Path) -> None:
    build(app, tmp_path / "cache")
    (app / "dist").rename(tmp_path / "old-dist")  # a fresh output, the same sources

    _, lines = build(app, tmp_path / "cache")

    assert not any(line.startswith("Building") for line in lines)
    assert not any(line.endswith("is up to date") for line in lines)


def test_a_no_op_rebuild_still_sweeps_what_a_killed_build_left(app: Path, tmp_path: Path) -> None:
    bundle, _ = build(app, tmp_path / "cache")
    leftover = bundle.parent / f".{bundle.name}.lb-k1ll3d.tmp"  # no build holds it: a dead one's
    (leftover / "half").mkdir(parents=True)

    _, lines = build(app, tmp_path / "cache")

    assert f"{bundle.name} is up to date" in lines
    assert not leftover.exists()


#: what a build that builds, trims and verifies nothing does not import: the build machinery,
#: trimming and archive extraction are a few percent of a no-op build (issue 18's bound)
NOT_IMPORTED_BY_A_NO_OP = {
    "build",
    "inprocess",
    "extract",
    "git",
    "trim",
    "importcheck",
    "importscan",
}

# through what the `lockbundle` command and the hatch plugin import, not build_bundle's alone
_IMPORTED = """\
import json, sys
from pathlib import Path
import hatch_lockbundle.cli, hatch_lockbundle.plugin
from hatch_lockbundle.bundle import build_bundle
lines = []
build_bundle(Path(sys.argv[1]), Path(sys.argv[1]) / "dist", cache_dir=Path(sys.argv[2]),
             overrides={"trim": True}, log=lines.append)
print(json.dumps({"lines": lines, "modules": sorted(sys.modules)}))
"""


def test_a_no_op_rebuild_imports_no_build_machinery(app: Path, tmp_path: Path) -> None:
    def run() -> dict[str, list[str]]:
        done = subprocess.run(
            [sys.executable, "-c", _IMPORTED, str(app), str(tmp_path / "cache")],
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, list[str]] = json.loads(done.stdout)
        return result

    first = run()  # builds the project, and trims
    again = run()

    def ours(modules: list[str]) -> set[str]:
        return {name.removeprefix("hatch_lockbundle.") for name in modules}

    assert not any(line.endswith("is up to date") for line in first["lines"])
    # the first build imports them (but git: the app has no git source)
    assert ours(first["modules"]) >= NOT_IMPORTED_BY_A_NO_OP - {"git"}
    assert any(line.endswith("is up to date") for line in again["lines"])
    assert ours(again["modules"]) & NOT_IMPORTED_BY_A_NO_OP == set()


# -- the parsed lock, kept in the cache --------------------------------------------------------


def test_a_rebuild_takes_the_parsed_lock_from_the_cache(
    app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(app, tmp_path / "cache")

    def no_decoding(data: bytes, path: Path) -> dict[str, object]:
        raise AssertionError(f"{path} decoded again")

    monkeypatch.setattr(parsed_locks, "decode_document", no_decoding)
    bundle, lines = build(app, tmp_path / "cache")

    assert f"{bundle.name} is up to date" in lines


def test_the_lock_from_the_cache_is_the_lock_parsed(app: Path, tmp_path: Path) -> None:
    locks = ParsedLocks(Cache(tmp_path / "cache"))

    first, again = locks.read(app / "uv.lock"), locks.read(app / "uv.lock")

    # packages compare by identity: their representation says all they hold
    assert repr(first) == repr(again) == repr(read_lock(app / "uv.lock"))
    assert [p.name for p in (Cache(tmp_path / "cache").entries / "locks").iterdir()] != []


def test_a_changed_lock_is_parsed_again(app: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(app, project, ignore=shutil.ignore_patterns("dist"))
    build(project, tmp_path / "cache")
    lock = project / "uv.lock"
    lock.write_text(lock.read_text().replace("version = 1\n", "version = 99\n", 1))

    with pytest.raises(LockbundleError, match="lock `version = 99` is not supported"):
        build(project, tmp_path / "cache")


def test_a_damaged_cached_lock_is_parsed_again(app: Path, tmp_path: Path) -> None:
    bundle, _ = build(app, tmp_path / "cache")
    (entry,) = (Cache(tmp_path / "cache").entries / "locks").iterdir()
    entry.write_bytes(b"not JSON")

    _, lines = build(app, tmp_path / "cache")

    assert f"{bundle.name} is up to date" in lines
    from_cache = ParsedLocks(Cache(tmp_path / "cache")).read(app / "uv.lock")
    assert repr(from_cache) == repr(read_lock(app / "uv.lock"))
    assert entry.read_bytes() != b"not JSON"


class _RunsACommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("touch x",)


@pytest.mark.parametrize(
    "planted",
    [
        # loading this pickle would run `touch x`: a cached lock must never be unpickled
        pytest.param(pickle.dumps(_RunsACommand()), id="pickle"),
        pytest.param(b'{"key": 1, "document": {"version": 1}}', id="another-key"),
        pytest.param(b'{"key": "@KEY@", "document": {"package": 7}}', id="invalid-document"),
        pytest.param(b'["key", "document"]', id="wrong-shape"),
    ],
)
def test_a_planted_cache_entry_runs_nothing_and_the_lock_is_decoded_again(
    planted: bytes, app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locks = ParsedLocks(Cache(tmp_path / "cache"))
    locks.read(app / "uv.lock")
    (entry,) = (Cache(tmp_path / "cache").entries / "locks").iterdir()
    key = json.loads(entry.read_bytes())["key"]
    entry.write_bytes(planted.replace(b"@KEY@", key.encode()))
    monkeypatch.chdir(tmp_path)

    lock = locks.read(app / "uv.lock")

    assert repr(lock) == repr(read_lock(app / "uv.lock"))
    assert not (tmp_path / "x").exists()
    assert json.loads(entry.read_bytes())["key"] == key


def test_a_lock_with_credentials_in_its_urls_is_not_kept_in_the_cache(
    app: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(app, project, ignore=shutil.ignore_patterns("dist"))
    lock_file = project / "uv.lock"
    lock_file.write_text(lock_file.read_text().replace("http://", "http://bot:s3cret@"))

    lock = ParsedLocks(Cache(tmp_path / "cache")).read(lock_file)

    assert lock.credentials and set(lock.credentials.values()) == {("bot", "s3cret")}
    assert "s3cret" not in repr(lock)
    assert not (Cache(tmp_path / "cache").entries / "locks").exists() or not any(
        (Cache(tmp_path / "cache").entries / "locks").iterdir()
    )


@pytest.mark.parametrize("secret_at", ["metadata-url", "ssh-password", "nowhere"])
def test_a_lock_with_a_secret_anywhere_is_not_kept_in_the_cache(
    tmp_path: Path, secret_at: str
) -> None:
    # places whose URLs are not used for downloads: the lock keeps no credentials of them
    url = {
        "metadata-url": "https://bob:s3cret@files.example/x-1.0.tar.gz",
        "ssh-password": "https://files.example/x-1.0.tar.gz",
        "nowhere": "https://files.example/x-1.0.tar.gz",
    }[secret_at]
    git = {
        "metadata-url": "ssh://git@git.example/y.git",
        "ssh-password": "ssh://git:s3cret@git.example/y.git",
        "nowhere": "https://git.example/y.git",
    }[secret_at]
    lock_file = tmp_path / "uv.lock"
    lock_file.write_text(
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1.0"\n'
        'source = { virtual = "." }\n'
        f'[package.metadata]\nrequires-dist = [{{ name = "x", url = "{url}" }}]\n'
        '[[package]]\nname = "y"\nversion = "1.0"\n'
        f'source = {{ git = "{git}?rev=main#{"a" * 40}" }}\n'
    )

    lock = ParsedLocks(Cache(tmp_path / "cache")).read(lock_file)

    cached = [p.read_text() for p in (tmp_path / "cache").rglob("*.json")]
    assert "s3cret" not in repr(lock) or secret_at == "metadata-url"
    assert not any("s3cret" in text for text in cached)
    assert bool(cached) == (secret_at == "nowhere")
