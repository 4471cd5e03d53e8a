"""Remove files from an installed bundle by gitignore-style patterns, keeping every RECORD true
and, when trimming, every module that the code left behind imports."""

from __future__ import annotations

import ast
import configparser
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pathspec

from .errors import LockbundleError
from .report import human

if TYPE_CHECKING:  # progress imports report, which imports this module
    from .progress import Reporter

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
#: how long the import check may take (a package whose import hangs must not hang the build)
IMPORT_CHECK_SECONDS = 300
#: files that are Python code or typing information, not data a module may read beside itself
_CODE_SUFFIXES = (".py", ".pyi", ".pyc")
_STUB_MARKER = "py.typed"


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
        kept[path] = ("an entry point", _module_name(path) or path)
    if keep_imported:
        kept.update(_imported(root, installed, matched, seeds, spec))
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


# -- what the code left in the bundle imports ------------------------------------------------------


def _module_name(path: str) -> str | None:
    """The module a file is (``a/b/c.py``, ``a/b/c/__init__.py``, ``a/b/c.cpython-312-….so``:
    ``a.b.c``), or None for a file that is not a module."""
    directory, _, name = path.rpartition("/")
    stem, dot, suffix = name.partition(".")
    if not dot or not stem.isidentifier():
        return None
    if suffix == "py" or suffix.rpartition(".")[2] in ("so", "pyd"):
        parts = directory.split("/") if directory else []
        if not all(part.isidentifier() for part in parts):
            return None
        return ".".join([*parts, stem]) if stem != "__init__" else ".".join(parts) or None
    return None


def _imported(
    root: Path,
    installed: Iterable[str],
    matched: set[str],
    seeds: set[str],
    spec: pathspec.GitIgnoreSpec,
) -> dict[str, tuple[str, str]]:
    """The matched files that the modules left in the bundle reach by importing, each with the
    importing file and the module it imports; followed through the modules so kept, until
    nothing more is reached.

    A module is kept with the ``__init__.py`` of its packages, the data files beside it (a module
    reads them by its ``__file__`` or ``importlib.resources``) and its bytecode.
    """
    modules: dict[str, list[str]] = {}
    by_directory: dict[str, list[str]] = {}
    for path in installed:
        by_directory.setdefault(path.rpartition("/")[0], []).append(path)
        name = _module_name(path)
        if name is not None:
            modules.setdefault(name, []).append(path)
    # code outside a removed directory can only import a module in it by naming that
    # directory (``from .tests import x``, ``import a.tests.x``), and a removed module by its
    # own name: files that name none of these are not parsed (most of a bundle). Code inside a
    # kept directory may import its siblings by their names alone: it is always parsed.
    names = {_region(path, spec) for path in matched if _module_name(path)}
    if not names:
        return {}
    mentions = re.compile(
        rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(names)) + rb")\b"
    )
    kept: dict[str, tuple[str, str]] = {}
    pending = [path for path in installed if path.endswith(".py") and path not in matched]
    pending += [path for path in seeds if path in matched and path.endswith(".py")]
    scanned: set[str] = set()
    while pending:
        path = pending.pop()
        if path in scanned:
            continue
        scanned.add(path)
        try:
            source = (root / path).read_bytes()
        except OSError:
            continue
        if path not in matched and not mentions.search(source):
            continue
        own = _module_name(path)
        for imported in sorted(_imports_of(source, path) | ({own} if own else set())):
            # the module reached (``from a.b import name`` imports ``a.b``, not ``a.b.name``)
            module = _deepest(imported, modules)
            for target in _files_of(module, modules):
                if target not in matched or target in kept:
                    continue
                kept[target] = (path, module)
                pending.append(target)
                directory = target.rpartition("/")[0]
                for sibling in by_directory.get(directory, ()):
                    if sibling in matched and sibling not in kept and _is_data(sibling):
                        kept[sibling] = (path, module)
                stem = target.rpartition("/")[2].partition(".")[0]
                for cached in by_directory.get(f"{directory}/__pycache__".lstrip("/"), ()):
                    if cached.rpartition("/")[2].startswith(stem + ".") and cached in matched:
                        kept.setdefault(cached, (path, module))
    return kept


def _region(path: str, spec: pathspec.GitIgnoreSpec) -> str:
    """The name of the outermost directory of ``path`` that ``spec`` removes whole, else of the
    module ``path`` is."""
    place = _outermost(path, spec)
    if place.endswith("/"):
        return place.rstrip("/").rpartition("/")[2]
    return (_module_name(path) or "").rpartition(".")[2]


def _never_imported(path: str) -> bool:
    """Files Python never loads when importing: stubs and ``__pycache__`` bytecode (only used
    with its source beside it)."""
    name = path.rpartition("/")[2]
    return name == _STUB_MARKER or name.endswith(".pyi") or "__pycache__/" in path


def _is_data(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name != _STUB_MARKER and not name.endswith(_CODE_SUFFIXES) and _module_name(path) is None


def _deepest(name: str, modules: dict[str, list[str]]) -> str:
    """The longest dotted prefix of ``name`` that is a module of the bundle (or ``name``)."""
    parts = name.split(".")
    for depth in range(len(parts), 0, -1):
        if ".".join(parts[:depth]) in modules:
            return ".".join(parts[:depth])
    return name


def _files_of(module: str, modules: dict[str, list[str]]) -> Iterable[str]:
    """The files importing ``module`` runs: its own and its packages' ``__init__.py``."""
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        yield from modules.get(".".join(parts[:depth]), ())


def _imports_of(source: bytes, path: str) -> set[str]:
    """The modules the Python file ``path`` may import: ``import a.b``, ``from a import b`` (``a``,
    and ``a.b`` when ``b`` is a submodule), relative imports resolved, and string literals given
    to ``importlib.import_module`` or ``__import__``. Wherever they are: in functions,
    ``try`` blocks and ``if TYPE_CHECKING`` too (being generous keeps, never breaks)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and such: not ours to report
            tree = ast.parse(source, path)
    except (SyntaxError, ValueError):  # not Python 3 (templates, Python 2 files): no imports
        return set()
    name = _module_name(path) or ""
    package = name if path.endswith("/__init__.py") else name.rpartition(".")[0]
    found: set[str] = set()
    # import statements are statements (at any depth of blocks): walking statements alone
    # finds them in a fraction of the time a walk of every node takes; the calls need that
    # walk, and only files that name them get it
    nodes: Iterable[ast.AST] = _statements(tree.body)
    if b"import_module" in source or b"__import__" in source:
        nodes = ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            if base is None:
                continue
            if base:
                found.add(base)
            found.update(
                f"{base}.{alias.name}" if base else alias.name
                for alias in node.names
                if alias.name != "*"
            )
        elif (
            isinstance(node, ast.Call)
            and _is_import_call(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            literal = node.args[0].value
            level = len(literal) - len(literal.lstrip("."))
            module = _absolute(literal[level:], level, package)
            if module:
                found.add(module)
    return found


def _statements(body: list[Any]) -> Iterator[ast.AST]:
    """The statements of ``body`` and of every block within them (functions, classes, ``if``,
    ``try``, ``with``, loops, ``match``)."""
    for node in body:
        yield node
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, block, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def _is_import_call(function: ast.expr) -> bool:
    if isinstance(function, ast.Name):
        return function.id in ("import_module", "__import__")
    return isinstance(function, ast.Attribute) and function.attr in ("import_module", "__import__")


def _absolute(module: str, level: int, package: str) -> str | None:
    """``module`` imported ``level`` dots up from ``package``; None if that climbs out."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts) or (level - 1 == len(parts) and not parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


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


# -- the import check ------------------------------------------------------------------------------


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
        relevant = {path for path in paths if not _never_imported(path)}
        packages.extend(sorted(top_level_packages(root, relevant)))
        before = _failing_imports(root, packages, python)

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
    after = _failing_imports(root, packages, python) if before is not None else None
    if before is None or after is None:
        log.warning(
            "The import check of the trimmed bundle could not run (it timed out, or the "
            f"interpreter did not start); import {', '.join(packages)} from the bundle to check it"
        )
        return exclusion
    broken = {name: failure for name, failure in after.items() if name not in before}
    if broken:
        raise LockbundleError(_broken_message(broken, exclusion))
    log.info(f"Import check: the {len(packages)} packages trimmed import as before")
    return exclusion


# Records each failure with the module it missed: ``error.name``, or for ``from p import x``
# of a submodule that is gone, ``p.x`` (Python names only ``p``). Paths in messages are made
# relative to the bundle, whose directory is a staging one while this runs.
_CHECK = """\
import importlib, json, re, sys
root, names, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as error:
        missing = getattr(error, "name", None)
        member = re.match(r"cannot import name '(\\w+)'", str(error))
        if missing and member:
            missing = f"{missing}.{member[1]}"
        message = f"{type(error).__name__}: {error}".replace(root + "/", "")
        failed[name] = [message, missing]
with open(out, "w", encoding="utf-8") as handle:
    json.dump(failed, handle)
"""


def _failing_imports(
    root: Path, packages: Sequence[str], python: str
) -> dict[str, list[str | None]] | None:
    """The ``packages`` that fail to import from ``root`` in a fresh ``python``, each with its
    error and the name of the module it missed; None if the check could not run."""
    if not packages:
        return {}
    with tempfile.TemporaryDirectory(prefix="lockbundle-import-") as work:
        out = Path(work) / "failed.json"
        # -B: nothing written into the bundle (a __pycache__ left there would keep a removed
        # package's directory, and make it importable as a namespace package)
        command = [
            python,
            "-I",
            "-S",
            "-B",
            "-c",
            _CHECK,
            str(root),
            json.dumps(list(packages)),
            str(out),
        ]
        try:
            # output discarded: packages may print on import; what matters is in `out`
            subprocess.run(
                command,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=IMPORT_CHECK_SECONDS,
                check=False,
            )
            failed: dict[str, list[str | None]] = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
    return failed


def top_level_packages(root: Path, paths: Iterable[str]) -> set[str]:
    """The importable packages (or modules) of ``root`` that hold ``paths``: the first dotted
    prefix with an ``__init__.py`` (``google.protobuf`` under the namespace ``google``), or a
    top-level module."""
    packages = set()
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if not all(part.isidentifier() for part in prefix):
                break
            if (root.joinpath(*prefix) / "__init__.py").is_file():
                packages.add(".".join(prefix))
                break
        else:
            name = _module_name(path)
            if name is not None and "." not in name:
                packages.add(name)
    return packages


def _broken_message(broken: dict[str, list[str | None]], exclusion: Exclusion) -> str:
    problems = []
    for name, (error, missing) in sorted(broken.items()):
        problems.append(
            f"`import {name}` fails with {error}\n"
            f"    removed: {_removed_for(name, missing, exclusion)}"
        )
    return (
        "the bundle's exclusions broke imports that worked before files were removed:\n  "
        + "\n  ".join(problems)
        + "\nSet `trim = false` (and list what to remove in `exclude`), or narrow the "
        "`exclude` patterns that removed these files"
    )


def _removed_for(package: str, missing: str | None, exclusion: Exclusion) -> str:
    """The removed files an import failure points at: the missing module's, else the
    directories files were removed from in the package."""
    for name in (missing, package):
        if not name:
            continue
        prefix = name.replace(".", "/")
        places = sorted(
            {
                directory if directory else path
                for path in exclusion.removed
                if path == f"{prefix}.py" or path.startswith(f"{prefix}/")
                for directory in [path.rpartition("/")[0] + "/" if "/" in path else ""]
            }
        )
        if places:
            more = f" and {len(places) - 5} more" if len(places) > 5 else ""
            return ", ".join(places[:5]) + more
    return "nothing of this package (files of another were removed)"
