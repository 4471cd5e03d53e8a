"""Which files of an installed bundle its Python code imports, read from the source (never run)."""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: files that are Python code or typing information, not data a module may read beside itself
_CODE_SUFFIXES = (".py", ".pyi", ".pyc")
_STUB_MARKER = "py.typed"


def module_name(path: str) -> str | None:
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


def imported_files(
    root: Path,
    installed: Iterable[str],
    matched: set[str],
    seeds: set[str],
    names: set[str],
) -> dict[str, tuple[str, str]]:
    """The matched files that the modules left in the bundle reach by importing, each with the
    importing file and the module it imports; followed through the modules so kept, until
    nothing more is reached.

    A module is kept with the ``__init__.py`` of its packages, the data files beside it (a module
    reads them by its ``__file__`` or ``importlib.resources``) and its bytecode.

    :param seeds: matched files that are kept all the same (entry-point modules): scanned too
    :param names: the names through which code outside the matched files can import them: of
        each outermost directory the patterns remove whole, and of each removed module
    """
    if not names:
        return {}
    modules: dict[str, list[str]] = {}
    by_directory: dict[str, list[str]] = {}
    for path in installed:
        by_directory.setdefault(path.rpartition("/")[0], []).append(path)
        name = module_name(path)
        if name is not None:
            modules.setdefault(name, []).append(path)
    # files that name none of ``names`` cannot import a matched module, and are not parsed (most
    # of a bundle). Code inside a kept directory may import its siblings by their names alone:
    # it is always parsed.
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
        own = module_name(path)
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


def never_imported(path: str) -> bool:
    """Files Python never loads when importing: stubs and ``__pycache__`` bytecode (only used
    with its source beside it)."""
    name = path.rpartition("/")[2]
    return name == _STUB_MARKER or name.endswith(".pyi") or "__pycache__/" in path


def _is_data(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name != _STUB_MARKER and not name.endswith(_CODE_SUFFIXES) and module_name(path) is None


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
    name = module_name(path) or ""
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
