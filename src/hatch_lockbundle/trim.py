"""Remove files from an installed bundle by gitignore-style patterns, keeping every RECORD true."""

from __future__ import annotations

import configparser
import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

#: ``trim = true``: what a deployment does not run. Only inside packages (``*/**/``), so that a
#: top-level package that happens to be called ``tests`` or ``docs`` is kept.
TRIM_PATTERNS = (
    "*/**/tests/",
    "*/**/test/",
    "*.pyi",
    "py.typed",
    "*/**/docs/",
    "*/**/doc/",
    "*/**/examples/",
)
PYCACHE_PATTERN = "__pycache__/"


def trim_patterns(compile_bytecode: bool) -> list[str]:
    """The preset, plus stray bytecode caches unless bytecode is wanted."""
    return [*TRIM_PATTERNS, *([] if compile_bytecode else [PYCACHE_PATTERN])]


@dataclass(frozen=True)
class Exclusion:
    """What the patterns removed."""

    files: int = 0
    size: int = 0


def exclude_files(root: Path, patterns: Sequence[str], *, protect_entry_points: bool) -> Exclusion:
    """Delete the files of ``root`` that ``patterns`` match and drop them from each RECORD.

    :param root: a target bundle: ``*.dist-info`` at its top, RECORD paths relative to it
    :param patterns: gitignore-style patterns, matched against paths relative to ``root``
    :param protect_entry_points: keep the modules that entry points name (and their packages)
    """
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    protected = _entry_point_modules(root) if protect_entry_points else set()
    removed = 0
    saved = 0
    for dist_info in sorted(root.glob("*.dist-info")):
        record = dist_info / "RECORD"
        if not record.is_file():
            continue
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        kept = []
        for row in rows:
            path = row[0] if row else ""
            relative = os.path.normpath(path).replace(os.sep, "/") if path else ""
            inside_metadata = relative.split("/")[0].endswith(".dist-info")
            if (
                not relative
                or inside_metadata
                or relative in protected
                or not spec.match_file(relative)
            ):
                kept.append(row)
                continue
            file = root / relative
            if file.is_file() and not file.is_symlink():
                saved += file.stat().st_size
                file.unlink()
                removed += 1
        if len(kept) != len(rows):
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(kept)
            # a new file, never a write through: the bundle's RECORD may be a link into the cache
            record.unlink()
            record.write_text(out.getvalue(), encoding="utf-8")
    _remove_empty_directories(root)
    return Exclusion(removed, saved)


def _entry_point_modules(root: Path) -> set[str]:
    """Files an entry point of any distribution imports: its module and the packages above it."""
    files: set[str] = set()
    for entry_points in root.glob("*.dist-info/entry_points.txt"):
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(entry_points.read_text(encoding="utf-8"))
        except configparser.Error:
            continue
        for section in parser.sections():
            for value in parser[section].values():
                module = value.split(":")[0].split("[")[0].strip()
                parts = module.split(".")
                for depth in range(1, len(parts) + 1):
                    package = "/".join(parts[:depth])
                    files.update({f"{package}/__init__.py", f"{package}.py"})
    return files


def _remove_empty_directories(root: Path) -> None:
    for directory, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        path = Path(directory)
        if path != root and not any(path.iterdir()):
            path.rmdir()
