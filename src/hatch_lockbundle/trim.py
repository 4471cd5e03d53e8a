"""Remove files from an installed bundle by gitignore-style patterns, keeping every RECORD true.

When trimming, every module that the code left behind imports is kept (:mod:`.importscan`), and
the packages touched must import as before (:mod:`.importcheck`).
"""

from __future__ import annotations

import configparser
import csv
import io
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from .errors import LockbundleError
from .importcheck import broken_message, failing_imports, top_level_packages
from .importscan import imported_files, module_name, never_imported
from .progress import Reporter
from .report import human

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
class Kept:
    """Files the patterns matched that stay, and why: a module left in the bundle imports them."""

    #: the directory (ending in ``/``) or file kept, relative to the bundle
    path: str
    files: int
    #: the file whose import keeps them, and the module it imports
    importer: str
    module: str

    def describe(self) -> str:
        count = f" ({self.files} files)" if self.path.endswith("/") else ""
        return f"{self.path}{count}: {self.importer} imports {self.module}"


@dataclass(frozen=True)
class Exclusion:
    """What the patterns removed, and what they matched but was kept."""

    files: int = 0
    size: int = 0
    #: each file removed, relative to the bundle, with its size
    removed: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    kept: tuple[Kept, ...] = ()
    #: what was removed, by the outermost directory a pattern removed (``/``-ended), or by file
    #: where a pattern matched files: the number of files and their size
    places: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def kept_files(self) -> int:
        return sum(kept.files for kept in self.kept)


def exclude_files(
    root: Path,
    patterns: Sequence[str],
    *,
    protect_entry_points: bool,
    keep_imported: bool = False,
    before_removing: Callable[[set[str]], None] | None = None,
) -> Exclusion:
    """Delete the files of ``root`` that ``patterns`` match and drop them from each RECORD.

    :param root: a target bundle: ``*.dist-info`` at its top, RECORD paths relative to it
    :param patterns: gitignore-style patterns, matched against paths relative to ``root``
    :param protect_entry_points: keep the modules that entry points name (and their packages)
    :param keep_imported: keep every module that a module left in the bundle imports (found by
        reading their ``import`` statements and ``importlib.import_module`` calls, until nothing
        more is reached), with the data files beside it and its bytecode
    :param before_removing: called with the files about to be removed, before any is
    """
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    rows_of: dict[Path, list[list[str]]] = {}
    matched: set[str] = set()
    installed: list[str] = []
    for dist_info in sorted(root.glob("*.dist-info")):
        record = dist_info / "RECORD"
        if not record.is_file():
            continue
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        rows_of[record] = rows
        for row in rows:
            relative = _relative(row)
            if not relative or relative.split("/")[0].endswith(".dist-info"):
                continue
            installed.append(relative)
            if spec.match_file(relative):
                matched.add(relative)
    seeds = _entry_point_modules(root) if protect_entry_points else set()
    kept: dict[str, tuple[str, str]] = {}
    for path in seeds & matched:
        kept[path] = ("an entry point", module_name(path) or path)
    if keep_imported:
        # code outside a removed directory can only import a module in it by naming that
        # directory (``from .tests import x``, ``import a.tests.x``), and a removed module by
        # its own name
        names = {_region(path, spec) for path in matched if module_name(path)}
        kept.update(imported_files(root, installed, matched, seeds, names))
    if before_removing is not None:
        before_removing(matched - kept.keys())
    removed: dict[str, int] = {}
    for record, rows in rows_of.items():
        remaining = []
        for row in rows:
            relative = _relative(row)
            if relative not in matched or relative in kept:
                remaining.append(row)
                continue
            file = root / relative
            if file.is_file() and not file.is_symlink():
                removed[relative] = file.stat().st_size
                file.unlink()
        if len(remaining) != len(rows):
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(remaining)
            # a new file, never a write through: the bundle's RECORD may be a link into the cache
            record.unlink()
            record.write_text(out.getvalue(), encoding="utf-8")
    _remove_empty_directories(root)
    places: dict[str, tuple[int, int]] = {}
    for path, size in removed.items():
        place = _outermost(path, spec)
        count, total = places.get(place, (0, 0))
        places[place] = (count + 1, total + size)
    return Exclusion(len(removed), sum(removed.values()), removed, _group(kept, spec), places)


def _outermost(path: str, spec: pathspec.GitIgnoreSpec) -> str:
    """The outermost directory of ``path`` that ``spec`` removes whole (``/``-ended), else
    ``path`` itself."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        directory = "/".join(parts[:depth]) + "/"
        if spec.match_file(directory):
            return directory
    return path


def _relative(row: list[str]) -> str:
    path = row[0] if row else ""
    return os.path.normpath(path).replace(os.sep, "/") if path else ""


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


def _region(path: str, spec: pathspec.GitIgnoreSpec) -> str:
    """The name of the outermost directory of ``path`` that ``spec`` removes whole, else of the
    module ``path`` is."""
    place = _outermost(path, spec)
    if place.endswith("/"):
        return place.rstrip("/").rpartition("/")[2]
    return (module_name(path) or "").rpartition(".")[2]


def _group(kept: dict[str, tuple[str, str]], spec: pathspec.GitIgnoreSpec) -> tuple[Kept, ...]:
    """What was kept, a line per directory a pattern would have removed whole (with the first
    reason found in it), or per file."""
    places: dict[str, list[str]] = {}
    for path in sorted(kept):
        places.setdefault(_outermost(path, spec), []).append(path)
    groups = []
    for place, paths in sorted(places.items()):
        importer, module = kept[paths[0]]
        where = place if place.endswith("/") and len(paths) > 1 else paths[0]
        groups.append(Kept(where, len(paths), importer, module))
    return tuple(groups)


def _remove_empty_directories(root: Path) -> None:
    for directory, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        path = Path(directory)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def trim_bundle(
    root: Path,
    patterns: Sequence[str],
    *,
    trim: bool,
    check_imports: bool,
    log: Reporter,
    python: str = sys.executable,
) -> Exclusion:
    """Apply ``exclude`` and (``trim``) the trim preset's ``patterns`` to the bundle at ``root``,
    saying what was removed (``-v``) and what was kept and why.

    :param trim: the preset is among the patterns: keep entry-point modules and every module the
        remaining code imports
    :param check_imports: ``root`` is for the running interpreter, ``python``: import the
        top-level packages the exclusion touches before and after it, in a fresh interpreter
        (``-I -S``: only the standard library and the bundle); a package that imported before
        and fails after is an error. One that fails before too (a missing optional dependency,
        settings it needs) is not the exclusion's doing, and is left alone.
    """
    packages: list[str] = []
    before: dict[str, list[str | None]] | None = None

    def check_before(paths: set[str]) -> None:
        nonlocal before
        # stubs and bytecode caches are never imported: removing them cannot break an import
        # (which spares the check most packages, whose py.typed trimming removes)
        relevant = {path for path in paths if not never_imported(path)}
        packages.extend(sorted(top_level_packages(root, relevant)))
        before = failing_imports(root, packages, python)

    exclusion = exclude_files(
        root,
        patterns,
        protect_entry_points=trim,
        keep_imported=trim,
        before_removing=check_before if check_imports else None,
    )
    for place, (count, size) in sorted(exclusion.places.items()):
        files = f"{count} files, " if place.endswith("/") else ""
        log.detail(f"Removed {place} ({files}{human(size)})")
    for kept in exclusion.kept:
        log.info(f"Trim kept {kept.describe()}")
    if not check_imports or not packages:
        return exclusion
    after = failing_imports(root, packages, python) if before is not None else None
    if before is None or after is None:
        log.warning(
            "The import check of the trimmed bundle could not run (it timed out, or the "
            f"interpreter did not start); import {', '.join(packages)} from the bundle to check it"
        )
        return exclusion
    broken = {name: failure for name, failure in after.items() if name not in before}
    if broken:
        raise LockbundleError(broken_message(broken, exclusion.removed))
    log.info(f"Import check: the {len(packages)} packages trimmed import as before")
    return exclusion
