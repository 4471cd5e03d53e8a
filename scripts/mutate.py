"""Mutation testing for the pure stages: change one thing in the code, check that a test fails.

    python scripts/mutate.py select            # one module: lock, select, target or config
    python scripts/mutate.py lock select -j 2  # several, two mutants at a time
    python scripts/mutate.py select --function _walk --list   # what would be tried, no run

Each mutant is one small change to one function of ``src/hatch_lockbundle/<module>.py`` (a
comparison flipped, ``and``/``or`` swapped, a ``not`` dropped, ``+``/``-`` swapped, a constant
changed, a value returned as ``None``, a ``raise``/``continue``/``break``/``append`` removed, an
``if`` made always true or always false). Message text is left alone: string constants,
f-strings and docstrings are never mutated, so a mutant is about behaviour, not wording.

A mutant is written into a fresh copy of the package in a temporary directory, put first on
``PYTHONPATH`` for a pytest subprocess that runs the module's fast tests (``-x``: the first
failure kills it). ``src/`` is never written to, so an interrupted run cannot leave it mutated.
A mutant survives when every test passes. Survivors that cannot change behaviour (equivalent
mutants) are listed with a reason in ``scripts/mutation-allow.txt``; the others are printed, and
the exit status is 1 when a module has more than ``--threshold`` of them.

Standard library only, so that it runs with the project's interpreter and nothing else.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "hatch_lockbundle"
ALLOW_LIST = Path(__file__).resolve().parent / "mutation-allow.txt"

#: the fast tests that exercise each module; a mutant of the module runs these (``-m "not slow"``),
#: quickest and most telling first, since the first failure ends the run. tests/test_property.py is
#: left out: it takes about a minute (most of a survivor's cost) and, asserting only "a plan or a
#: LockbundleError", it kills few mutants the others let live; add it with --tests to check
TESTS: dict[str, list[str]] = {
    "lock": ["tests/test_lock.py", "tests/test_select.py", "tests/test_select_vs_uv.py"],
    "select": ["tests/test_select.py", "tests/test_select_vs_uv.py"],
    "target": ["tests/test_target.py", "tests/test_select.py", "tests/test_select_vs_uv.py"],
    "config": ["tests/test_config.py"],
}

#: calls whose statement is removed as a mutant: they add to a collection
COLLECTING = {"append", "add", "extend", "update", "setdefault", "insert", "discard", "remove"}

COMPARISON_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    module: str
    function: str
    line: int
    #: ``original → mutated``, in source form; with the function, it names the mutant in the
    #: allow-list (line numbers move when code is added above)
    change: str
    #: the position of this mutation among the module's mutation sites
    index: int

    @property
    def key(self) -> str:
        return f"{self.module}:{self.function}: {self.change}"

    @property
    def where(self) -> str:
        return f"src/hatch_lockbundle/{self.module}.py:{self.line}"


def _short(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 70 else text[:67] + "..."


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
    )


# A site is (node, description, make) where make() returns the replacement node, or None to
# remove a statement (replaced by ``pass``). Sites are listed in a fixed (tree) order, so an
# index names the same mutation in the parent process and when it is applied.
Site = tuple[ast.AST, str, Callable[[], ast.AST | None]]


def _sites_of(node: ast.AST, returns_none: bool) -> Iterator[Site]:
    """The mutations of ``node`` itself (not of its children)."""
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            flipped = COMPARISON_FLIPS.get(type(op))
            if flipped is None:
                continue

            def make(position: int = position, flipped: type[ast.cmpop] = flipped) -> ast.AST:
                new = copy.deepcopy(node)
                new.ops[position] = flipped()
                return new

            yield node, f"`{_short(node)}` → `{_short(make())}`", make
    elif isinstance(node, ast.BoolOp):
        swapped: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And

        def make_bool() -> ast.AST:
            new = copy.deepcopy(node)
            new.op = swapped()
            return new

        yield node, f"`{_short(node)}` → `{_short(make_bool())}`", make_bool
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield node, f"`{_short(node)}` → `{_short(node.operand)}`", lambda: node.operand
    elif (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, (ast.Add, ast.Sub))
        and not _is_text(node.left)
        and not _is_text(node.right)
    ):
        other: type[ast.operator] = ast.Sub if isinstance(node.op, ast.Add) else ast.Add

        def make_arith() -> ast.AST:
            new = copy.deepcopy(node)
            new.op = other()
            return new

        yield node, f"`{_short(node)}` → `{_short(make_arith())}`", make_arith
    elif isinstance(node, ast.Constant) and not _is_text(node):
        value = node.value
        if isinstance(value, bool):
            replacement: bool | int = not value
        elif isinstance(value, int):
            replacement = 1 if value == 0 else (0 if value == 1 else value + 1)
        else:
            return
        yield (
            node,
            f"`{value!r}` → `{replacement!r}`",
            lambda: ast.Constant(value=replacement),
        )
    elif isinstance(node, ast.Return) and node.value is not None and not returns_none:
        returned = node.value
        if isinstance(returned, ast.Constant) and returned.value is None:
            return
        yield (
            node,
            f"`return {_short(returned)}` → `return None`",
            lambda: ast.Return(ast.Constant(None)),
        )
    elif isinstance(node, (ast.Raise, ast.Continue, ast.Break)) or (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr in COLLECTING
    ):
        yield node, f"`{_short(node)}` removed", lambda: None
    elif isinstance(node, ast.If):
        for value in (True, False):

            def make_if(value: bool = value) -> ast.AST:
                new = copy.copy(node)
                new.test = ast.Constant(value=value)
                return new

            yield node, f"`if {_short(node.test)}` → `if {value}`", make_if


def _children(node: ast.AST) -> Iterator[ast.AST]:
    """The children that may be mutated: not annotations, decorators, docstrings or f-strings."""
    for name, value in ast.iter_fields(node):
        if name in ("annotation", "returns", "decorator_list", "type_comment"):
            continue
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            if not isinstance(item, ast.AST):
                continue
            if (
                name == "body"
                and position == 0
                and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and isinstance(item, ast.Expr)
                and _is_text(item.value)
            ):
                continue  # docstring
            if isinstance(item, ast.JoinedStr):
                continue  # message text, and the expressions inside it only shape messages
            yield item


def _returns_none(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return isinstance(function.returns, ast.Constant) and function.returns.value is None


def _walk_sites(tree: ast.Module) -> Iterator[tuple[str, Site]]:
    """Every mutation site inside a function, in tree order, with the function's name."""

    def visit(
        node: ast.AST, function: str | None, returns_none: bool
    ) -> Iterator[tuple[str, Site]]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name if function is None else f"{function}.{node.name}"
            returns_none = _returns_none(node)
        elif isinstance(node, ast.ClassDef):
            function = node.name if function is None else f"{function}.{node.name}"
        elif function is not None and not isinstance(node, ast.ClassDef):
            for site in _sites_of(node, returns_none):
                yield function, site
        for child in _children(node):
            yield from visit(child, function, returns_none)

    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from visit(statement, None, False)


def mutants_of(module: str) -> list[Mutant]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = []
    for index, (function, (node, change, _)) in enumerate(_walk_sites(tree)):
        # a mutant inside a class body but outside any method (a default value) is named for the
        # class; only functions and methods are mutated, see _walk_sites
        found.append(Mutant(module, function, getattr(node, "lineno", 0), change, index))
    return _number_repeats(found)


def _number_repeats(mutants: list[Mutant]) -> list[Mutant]:
    """Give the same change made twice in one function a ``#2``, ``#3`` so that keys are unique."""
    seen: dict[str, int] = {}
    numbered = []
    for mutant in mutants:
        count = seen.get(mutant.key, 0) + 1
        seen[mutant.key] = count
        if count > 1:
            mutant = Mutant(
                mutant.module,
                mutant.function,
                mutant.line,
                f"{mutant.change} #{count}",
                mutant.index,
            )
        numbered.append(mutant)
    return numbered


def mutated_source(module: str, index: int | None) -> str:
    """The module's source with mutation ``index`` applied (None: unchanged, as unparsed)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    if index is not None:
        target, _, make = next(
            site for position, (_, site) in enumerate(_walk_sites(tree)) if position == index
        )
        replacement = make()
        _replace(tree, target, replacement)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _replace(tree: ast.AST, target: ast.AST, replacement: ast.AST | None) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                assert replacement is not None
                setattr(parent, name, ast.copy_location(replacement, target))
                return
            if isinstance(value, list) and any(item is target for item in value):
                position = next(i for i, item in enumerate(value) if item is target)
                new = replacement if replacement is not None else ast.Pass()
                value[position] = ast.copy_location(new, target)
                return
    raise AssertionError(f"mutation site not found: {ast.dump(target)[:80]}")


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant | None
    status: str  # "killed", "survived", "timeout"
    seconds: float
    output: str


def run_tests(module: str, index: int | None, timeout: float, extra: list[str]) -> Outcome:
    """Run the module's fast tests against a copy of the package with mutation ``index``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutant-") as directory:
        copy_root = Path(directory) / "hatch_lockbundle"
        shutil.copytree(PACKAGE, copy_root, ignore=shutil.ignore_patterns("__pycache__"))
        (copy_root / f"{module}.py").write_text(mutated_source(module, index))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [directory, *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            *TESTS[module],
            *extra,
        ]
        try:
            result = subprocess.run(
                command,
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Outcome(None, "timeout", time.monotonic() - started, "")
    # 0: all passed; 5: no test collected (a mutant cannot cause that, but say so if it does)
    status = "survived" if result.returncode == 0 else "killed"
    return Outcome(None, status, time.monotonic() - started, result.stdout + result.stderr)


def check_copy_is_imported() -> None:
    """The copy on PYTHONPATH must win over the editable install, or every mutant would survive."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as directory:
        shutil.copytree(PACKAGE, Path(directory) / "hatch_lockbundle")
        env = dict(os.environ, PYTHONPATH=directory, PYTHONDONTWRITEBYTECODE="1")
        found = subprocess.run(
            [sys.executable, "-c", "import hatch_lockbundle; print(hatch_lockbundle.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not found.startswith(directory):
            sys.exit(f"mutate: the mutated copy is not imported (got {found}); check PYTHONPATH")


def read_allow_list() -> dict[str, str]:
    """``module:function: change | reason`` lines; ``#`` starts a comment line."""
    allowed: dict[str, str] = {}
    if not ALLOW_LIST.exists():
        return allowed
    for number, line in enumerate(ALLOW_LIST.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, separator, reason = line.rpartition(" | ")
        if not separator or not reason.strip():
            sys.exit(f"{ALLOW_LIST}:{number}: expected `module:function: change | reason`")
        allowed[key.strip()] = reason.strip()
    return allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mutation testing of lock, select, target and config: lists surviving mutants."
    )
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"one of {', '.join(TESTS)}")
    parser.add_argument("--module", action="append", default=[], choices=list(TESTS))
    parser.add_argument(
        "--function", action="append", default=[], help="only mutants in this function"
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run at a time")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant")
    parser.add_argument(
        "--threshold", type=int, default=5, help="most survivors a module may have (default 5)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--tests", nargs="+", metavar="FILE", help="test files to run instead of the module's own"
    )
    parser.add_argument(
        "--pytest-args", default="", help="more pytest arguments, e.g. \"-k 'conflict'\""
    )
    args = parser.parse_args(argv)
    modules = list(dict.fromkeys([*args.modules, *args.module])) or list(TESTS)
    unknown = [module for module in modules if module not in TESTS]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}: choose among {', '.join(TESTS)}")
    extra = shlex.split(args.pytest_args)
    if args.tests:
        for module in modules:
            TESTS[module] = args.tests

    selected = {
        module: [
            mutant
            for mutant in mutants_of(module)
            if not args.function
            or mutant.function in args.function
            or mutant.function.split(".")[-1] in args.function
        ]
        for module in modules
    }
    if args.list:
        for mutants in selected.values():
            for mutant in mutants:
                print(f"{mutant.where}: in {mutant.function}: {mutant.change}")
        return 0

    check_copy_is_imported()
    allowed = read_allow_list()
    failed = False
    started = time.monotonic()
    summary = []
    for module, mutants in selected.items():
        module_started = time.monotonic()
        baseline = run_tests(module, None, args.timeout, extra)
        if baseline.status != "survived":
            print(baseline.output[-3000:])
            sys.exit(f"mutate: the tests of {module} fail without any mutation; fix them first")
        print(f"{module}: {len(mutants)} mutants, {baseline.seconds:.0f} s for an unmutated run")

        def one(mutant: Mutant, module: str = module) -> Outcome:
            outcome = run_tests(module, mutant.index, args.timeout, extra)
            return Outcome(mutant, outcome.status, outcome.seconds, "")

        counts = {"killed": 0, "timeout": 0, "survived": 0, "allowed": 0}
        survivors = []
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for done, outcome in enumerate(pool.map(one, mutants), 1):
                tried = outcome.mutant
                assert tried is not None
                status = outcome.status
                if status == "survived" and tried.key in allowed:
                    status = "allowed"
                counts[status] += 1
                if status == "survived":
                    survivors.append(tried)
                    print(f"  survived: {tried.where}: in {tried.function}: {tried.change}")
                print(f"  [{done}/{len(mutants)}] {status}", end="\r", file=sys.stderr, flush=True)
        minutes = (time.monotonic() - module_started) / 60
        line = (
            f"{module}: {len(mutants)} mutants, {counts['killed']} killed, "
            f"{counts['timeout']} timed out, {counts['allowed']} equivalent (allow-list), "
            f"{counts['survived']} survived ({minutes:.1f} min)"
        )
        summary.append(line)
        summary.extend(f"  {m.where}: in {m.function}: {m.change}" for m in survivors)
        if counts["survived"] > args.threshold:
            failed = True
    unused = [
        key
        for key in allowed
        if key.split(":")[0] in selected
        and not any(mutant.key == key for mutants in selected.values() for mutant in mutants)
    ]
    print()
    for line in summary:
        print(line)
    for key in unused:
        if not args.function:
            print(f"allow-list entry matches no mutant (remove it): {key}")
    print(f"total {(time.monotonic() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
