"""Checking a lockbundle cache directory from the outside: published entries whole, scraps named.

The cache publishes an entry by renaming a finished temporary sibling into place, so at any moment
an entry at its final path is complete. These helpers check that for each kind of entry the tests
know (``files/``, ``installed/``, ``built*/``, ``build-envs/`` of the running format) and list what interrupted writers
leave behind (temporary siblings), which a build must never use.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from hatch_lockbundle.cache import Cache

# temporary siblings of entries being written: `.<name>.<random>.tmp` / `.part` / `.tmp` files
SCRAP_SUFFIXES = (".tmp", ".part")


def scraps(cache: Path) -> list[str]:
    """Temporary files and directories left in ``cache`` (relative paths), outermost only."""
    found: list[str] = []
    if not cache.exists():
        return found
    for path in sorted(cache.rglob("*")):
        if path.name.endswith(SCRAP_SUFFIXES) and not any(
            parent.name.endswith(SCRAP_SUFFIXES) for parent in path.relative_to(cache).parents
        ):
            found.append(path.relative_to(cache).as_posix())
    return found


def published_problems(cache: Path) -> list[str]:
    """Every published entry of ``cache`` that is not whole, described; empty when all are."""
    entries = Cache(cache).entries
    problems: list[str] = []
    problems += _file_problems(entries / "files")
    problems += _installed_problems(entries / "installed")
    for built in ("built", "built-tree", "built-git"):
        problems += _built_problems(entries / built)
    problems += _environment_problems(entries / "build-envs")
    return problems


def published_files(cache: Path) -> list[Path]:
    """The downloaded files published in ``cache/files`` (never temporary ones)."""
    return _files_under(Cache(cache).entries / "files")


def _files_under(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not _in_scrap(path, root) and not path.name.endswith(".lock")
    )


def _in_scrap(path: Path, root: Path) -> bool:
    relative = path.relative_to(root)
    return any(part.endswith(SCRAP_SUFFIXES) for part in relative.parts)


def _file_problems(root: Path) -> list[str]:
    """``files/<algorithm>/<2 hex>/<rest>/<filename>``: the bytes have that digest."""
    problems = []
    for path in _files_under(root):
        algorithm, head, rest = path.relative_to(root).parts[:3]
        actual = hashlib.new(algorithm, path.read_bytes()).hexdigest()
        if actual != head + rest:
            problems.append(f"{path.relative_to(root.parent)} has {algorithm} {actual}")
    return problems


def _installed_problems(root: Path) -> list[str]:
    """``installed/<2 hex>/<entry>/``: a ``files`` manifest whose every file is in ``tree/``."""
    problems: list[str] = []
    if not root.exists():
        return problems
    for entry in sorted(root.glob("*/*")):
        if _in_scrap(entry, root) or entry.name.endswith(".lock") or not entry.is_dir():
            continue
        manifest = entry / "files"
        if not manifest.is_file():
            problems.append(f"{entry.relative_to(root.parent)} has no manifest")
            continue
        for line in manifest.read_text(encoding="utf-8").splitlines():
            name = line.split(" ", 5)[5]
            if not (entry / "tree" / name).is_file():
                problems.append(f"{entry.relative_to(root.parent)} lacks {name}")
    return problems


def _built_problems(root: Path) -> list[str]:
    """``built*/.../<build key>/``: exactly one wheel, a readable zip."""
    problems: list[str] = []
    if not root.exists():
        return problems
    for wheel_dir in sorted({wheel.parent for wheel in root.rglob("*.whl")}):
        if _in_scrap(wheel_dir, root):
            continue
        wheels = sorted(wheel_dir.glob("*.whl"))
        if len(wheels) != 1:
            problems.append(f"{wheel_dir.relative_to(root.parent)} holds {len(wheels)} wheels")
            continue
        try:
            with zipfile.ZipFile(wheels[0]) as archive:
                bad = archive.testzip()
        except zipfile.BadZipFile as error:
            problems.append(f"{wheels[0].relative_to(root.parent)}: {error}")
            continue
        if bad is not None:
            problems.append(f"{wheels[0].relative_to(root.parent)}: {bad} is corrupt")
    return problems


def _environment_problems(root: Path) -> list[str]:
    """``build-envs/<key>/``: one marked ``ready`` has its interpreter."""
    problems: list[str] = []
    if not root.exists():
        return problems
    for ready in sorted(root.glob("*/ready")):
        if not (ready.parent / "bin" / "python").exists():
            problems.append(f"{ready.parent.relative_to(root.parent)} is ready without a python")
    return problems
