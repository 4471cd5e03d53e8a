"""Looking into a target directory: its distributions, files, bytecode and stray build paths."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

Distribution = tuple[NormalizedName, str]


def distributions(target: Path) -> set[Distribution]:
    """``(normalized name, version)`` of every ``*.dist-info`` at the top of ``target``.

    Name and version are read from each ``METADATA``, not guessed from the directory name.
    """
    found: set[Distribution] = set()
    for dist_info in target.glob("*.dist-info"):
        headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        found.add((canonicalize_name(headers["Name"]), headers["Version"]))
    return found


def import_markers(run_code: Callable[[str], str], names: Iterable[str]) -> dict[str, list[str]]:
    """Import the module of every distribution in ``names`` (each fixture package's module has
    its distribution's name and a ``MARKER``, ``"<name> <version>"``) with ``run_code``, which runs
    Python code with the interpreter and paths of the caller's choice and returns its output.

    :returns: module name -> [its MARKER, the file it was imported from]
    """
    code = (
        "import importlib, json\n"
        f"modules = {{name: importlib.import_module(name) for name in {sorted(names)!r}}}\n"
        "print(json.dumps({n: [m.MARKER, m.__file__] for n, m in modules.items()}))\n"
    )
    imported: dict[str, list[str]] = json.loads(run_code(code))
    return imported


def files(root: Path) -> Iterator[Path]:
    """Every file (and symlink) under ``root``, in a stable order."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if Path(directory, d).is_symlink()]):
            yield Path(directory, name)


def installed_layout(target: Path) -> set[str]:
    """Where the files of a target directory are, comparable between installers.

    Relative POSIX paths of the installed files, without the contents of ``.dist-info`` directories
    (each installer writes its own RECORD, INSTALLER and extras), bytecode caches, and uv's ``.lock``.
    """
    layout = set()
    for path in files(target):
        relative = path.relative_to(target)
        if relative.parts[0].endswith(".dist-info") or "__pycache__" in relative.parts:
            continue
        if relative.as_posix() == ".lock":
            continue
        layout.add(relative.as_posix())
    return layout


def occurrences(root: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Files under ``root`` whose bytes (or symlink targets) contain any of ``needles``.

    :returns: relative path -> the needles found in it; empty when there are none.
    """
    encoded = {needle: needle.encode() for needle in needles if needle}
    found: dict[str, list[str]] = {}
    for path in files(root):
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        hits = [needle for needle, raw in encoded.items() if raw in data]
        if hits:
            found[path.relative_to(root).as_posix()] = hits
    return found


def local_direct_urls(target: Path) -> dict[str, str]:
    """``direct_url.json`` files whose URL is a ``file:`` URL: dist-info name -> URL."""
    found = {}
    for direct_url in target.glob("*.dist-info/direct_url.json"):
        url = json.loads(direct_url.read_text(encoding="utf-8")).get("url", "")
        if url.startswith("file:"):
            found[direct_url.parent.name] = url
    return found


def pyc_flags(pyc: Path) -> int:
    """The PEP 552 flags word of a ``.pyc`` header: 0 means timestamp-based, bit 0 hash-based."""
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or symlink target) of every file under ``root``, to detect changes."""
    return {
        path.relative_to(root).as_posix(): (
            "-> " + os.readlink(path)
            if path.is_symlink()
            else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in files(root)
    }
