"""The cache: one module names its entries, versions them, writes them whole, and locks them."""

from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hatch_lockbundle
from hatch_lockbundle.bundle import plan_bundle
from hatch_lockbundle.cache import (
    FORMAT,
    SUBTREES,
    Cache,
    atomic_directory,
    atomic_file,
    discard,
    locked,
    replace_file,
)
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.fetch import Fetcher
from hatch_lockbundle.fetched import WheelOrigin
from hatch_lockbundle.indexes import indexes_of
from hatch_lockbundle.lock import Hash
from hatch_lockbundle.project import read_project
from hatch_lockbundle.staging import hold
from support.projects import MakeProject

SOURCE = Path(hatch_lockbundle.__file__).parent

# -- one module names the subtrees ------------------------------------------------------------------

#: call sites that still name a subtree through the generic ways in (`Cache.directory`,
#: `Cache.file_path`), in modules reworked on other branches at the same time; each goes when its
#: call site moves to the method of its subtree (the cache branch's report lists the replacements)
PENDING: set[tuple[str, str, str]] = set()


def cache_paths_named(source: str, relative: str) -> set[tuple[str, str, str]]:
    """Where the module ``relative`` makes a path inside the cache itself: a call of the
    generic ways in (with the subtree it names), or a path joined onto anything named like a
    cache (``cache.root / "files"``, ``cache_dir / name``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("directory", "file_path"):
                first = node.args[0] if node.args else None
                named = first.value if isinstance(first, ast.Constant) else ""
                found.add((relative, node.func.attr, str(named)))
            elif node.func.attr == "joinpath" and "cache" in ast.unparse(node.func.value).lower():
                found.add((relative, "joinpath", ast.unparse(node)))
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Div)
            and "cache" in ast.unparse(node.left).lower()
        ):
            found.add((relative, "/", ast.unparse(node)))
    return found


def test_no_module_but_the_cache_names_a_place_in_the_cache() -> None:
    found = set()
    for module in sorted(SOURCE.rglob("*.py")):
        if module != SOURCE / "cache.py":
            relative = module.relative_to(SOURCE).as_posix()
            found |= cache_paths_named(module.read_text(encoding="utf-8"), relative)

    assert found - PENDING == set(), "ask cache.Cache for the entry's path (one method a subtree)"
    assert PENDING - found == set(), "a call site moved to its method: take it out of PENDING"


@pytest.mark.parametrize(
    ("line", "seen"),
    [
        ('cache.root / "files"', ("/", "cache.root / 'files'")),
        (
            'self.cache.root.joinpath("locks", name)',
            ("joinpath", "self.cache.root.joinpath('locks', name)"),
        ),
        ('self.cache.directory("stamps", name)', ("directory", "stamps")),
        ("cache_dir / name", ("/", "cache_dir / name")),
    ],
)
def test_the_scan_sees_a_place_in_the_cache_named_outside_it(
    line: str, seen: tuple[str, str]
) -> None:
    assert cache_paths_named(f"where = {line}\n", "planted.py") == {("planted.py", *seen)}


DIGEST = Hash("sha256", "ab" * 32)


def every_entry(cache: Cache, tmp_path: Path) -> dict[str, Path]:
    """One entry of each method, by method."""
    return {
        "downloaded_file": cache.downloaded_file(DIGEST, "a-1-py3-none-any.whl"),
        "inspected": cache.inspected(DIGEST.value, "app 1.0"),
        "built_from_sdist": cache.built_from_sdist(DIGEST, "cp311-cp311-linux_x86_64"),
        "built_from_tree": cache.built_from_tree(tmp_path, "c" * 64, "cp311"),
        "built_from_git": cache.built_from_git("https://host/r", "sub", "D" * 40, "cp311"),
        "build_environment": cache.build_environment('{"requires": []}'),
        "installed": cache.installed(DIGEST.value, "app 1.0", "py3.11"),
        "stamp": cache.stamp(tmp_path / "dist" / "app-1.0-target"),
        "parsed_lock": cache.parsed_lock(tmp_path / "uv.lock"),
    }


def test_every_subtree_has_its_method_and_every_entry_is_under_the_format(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    entries = every_entry(cache, tmp_path)
    under_format = {
        name: path.relative_to(tmp_path / "cache" / f"v{FORMAT}") for name, path in entries.items()
    }

    assert sorted({path.parts[0] for path in under_format.values()}) == sorted(SUBTREES)


def test_an_older_format_has_a_place_of_its_own_for_every_entry(tmp_path: Path) -> None:
    current = every_entry(Cache(tmp_path / "cache"), tmp_path)
    older = every_entry(Cache(tmp_path / "cache", format=FORMAT - 1), tmp_path)

    for name, path in older.items():
        inside = path.relative_to(tmp_path / "cache" / f"v{FORMAT - 1}")
        assert inside == current[name].relative_to(tmp_path / "cache" / f"v{FORMAT}"), name


def test_the_docs_list_every_subtree_of_the_cache() -> None:
    page = (SOURCE.parent.parent / "docs" / "how-it-works.md").read_text(encoding="utf-8")
    section = page.split("### The cache directory", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]

    assert sorted(row.split("`")[1].rstrip("/") for row in rows) == sorted(SUBTREES)


@pytest.mark.slow
def test_what_an_older_format_cached_is_downloaded_and_built_again(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = read_project(make_project("app"))
    config = load_and_validate_config(project.settings, project.root)
    lock, plans = plan_bundle(project, config)

    def fetched(cache: Cache) -> tuple[list[WheelOrigin], list[str]]:
        lines: list[str] = []
        fetcher = Fetcher(cache, tmp_path / "work", indexes_of(lock), log=lines.append)
        (plan,) = fetcher.fetch(plans)
        return [w.origin for w in plan.wheels], lines

    old_origins, old_lines = fetched(Cache(tmp_path / "cache", format=FORMAT - 1))
    origins, lines = fetched(Cache(tmp_path / "cache"))
    warm_origins, warm_lines = fetched(Cache(tmp_path / "cache"))

    def work(lines: list[str]) -> list[str]:
        return sorted(line for line in lines if line.startswith(("Downloading", "Building")))

    assert work(old_lines) != [] and WheelOrigin.CACHED_DOWNLOAD not in old_origins
    assert work(lines) == work(old_lines) and origins == old_origins
    # the cache works at all: what the current format cached is used
    assert work(warm_lines) == [] and WheelOrigin.CACHED_DOWNLOAD in warm_origins


# -- an entry appears whole, and nothing planted is followed -------------------------------------


@pytest.fixture
def predictable_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The first random part a temporary gets is ``guessed``, as if an attacker had guessed it;
    the ones after are random again."""
    real = secrets.token_hex
    given: list[str] = []

    def guessable(length: int | None = None) -> str:
        if not given:
            given.append("guessed")
            return "guessed"
        return real(length)

    monkeypatch.setattr(secrets, "token_hex", guessable)
    yield "guessed"


def plant_links(place: Path, names: list[str], victim: Path) -> list[Path]:
    place.mkdir(parents=True, exist_ok=True)
    links = [place / name for name in names]
    for link in links:
        link.symlink_to(victim)
    return links


def test_an_atomic_file_never_writes_through_a_link_planted_at_its_temporary(
    tmp_path: Path, predictable_names: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    final = tmp_path / "cache" / "stamp.json"
    links = plant_links(
        final.parent, [f".stamp.json.lb-{predictable_names}.tmp", "stamp.json.tmp"], victim
    )

    replace_file(final, b"{}\n")

    assert victim.read_text() == "kept\n"
    assert final.read_bytes() == b"{}\n" and not final.is_symlink()
    assert all(link.is_symlink() for link in links)
    assert sorted(p.name for p in final.parent.iterdir()) == sorted(
        [final.name, *(link.name for link in links)]
    )


def test_an_atomic_directory_never_fills_a_directory_planted_at_its_temporary(
    tmp_path: Path, predictable_names: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    final = tmp_path / "cache" / "built" / "key"
    (link,) = plant_links(final.parent, [f".key.lb-{predictable_names}.tmp"], elsewhere)

    with atomic_directory(final) as staging:
        (staging.entry / "a.whl").write_bytes(b"wheel")

    assert list(elsewhere.iterdir()) == []
    assert link.is_symlink()
    assert [p.name for p in final.iterdir()] == ["a.whl"]


def test_a_failed_atomic_file_leaves_the_previous_content_and_no_temporary(
    tmp_path: Path,
) -> None:
    final = tmp_path / "cache" / "stamp.json"
    replace_file(final, b"previous\n")

    with pytest.raises(OSError, match="disk full"), atomic_file(final) as out:
        out.write(b"half")
        raise OSError("disk full")

    assert final.read_bytes() == b"previous\n"
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_the_first_entry_published_wins(tmp_path: Path) -> None:
    final = tmp_path / "cache" / "built" / "key"

    with atomic_directory(final) as slower:
        (slower.entry / "slower.whl").write_bytes(b"slower")
        with atomic_directory(final) as faster:
            (faster.entry / "faster.whl").write_bytes(b"faster")
        assert [p.name for p in final.iterdir()] == ["faster.whl"]

    assert [p.name for p in final.iterdir()] == ["faster.whl"]
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_a_failed_atomic_directory_publishes_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "cache" / "built" / "key"

    with pytest.raises(RuntimeError), atomic_directory(final) as staging:
        (staging.work / "source.c").write_text("int main;")
        (staging.entry / "half.whl").write_bytes(b"half")
        raise RuntimeError("the build failed")

    assert list(final.parent.iterdir()) == []


def test_a_discarded_entry_is_gone_whole(tmp_path: Path) -> None:
    entry = tmp_path / "cache" / "installed" / "ab" / "cd-py3.11"
    (entry / "tree").mkdir(parents=True)
    (entry / "files").write_text("644 444 1 1 x a.py\n")

    discard(entry)
    discard(entry)  # another build discarded it first: nothing to do

    assert list(entry.parent.iterdir()) == []


# -- the lock -------------------------------------------------------------------------------------

# Holds the cache lock of argv[1] until its input closes.
HOLDER = """
import sys
from pathlib import Path
from hatch_lockbundle.cache import locked

with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_the_lock_excludes_a_second_process_until_the_first_lets_go(tmp_path: Path) -> None:
    entry = tmp_path / "cache" / "build-envs" / "key"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(entry)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        lock_file = entry.with_name("key.lock")

        assert hold(lock_file, wait=False) is None
    finally:
        holder.stdin.close()
        holder.wait()
    taken = hold(lock_file, wait=False)
    assert taken is not None
    os.close(taken)


def test_the_lock_refuses_a_link_planted_at_its_file(tmp_path: Path) -> None:
    entry = tmp_path / "cache" / "build-envs" / "key"
    victim = tmp_path / "created-elsewhere"
    entry.parent.mkdir(parents=True)
    entry.with_name("key.lock").symlink_to(victim)

    with (
        pytest.raises(LockbundleError, match=r"cannot create the lock file .*key\.lock"),
        locked(entry),
    ):
        pytest.fail("locked through a planted link")  # pragma: no cover

    assert not victim.exists()
