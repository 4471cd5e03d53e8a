"""Mutation testing for the pure stages: change one thing in the code, check that a test fails.

    python scripts/mutate.py select            # one module: one of TESTS's keys, below
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
import contextlib
import copy
import importlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
    "uvlock": ["tests/test_lock.py", "tests/test_select.py", "tests/test_select_vs_uv.py"],
    "select": ["tests/test_select.py", "tests/test_select_vs_uv.py"],
    "artifact": ["tests/test_select.py", "tests/test_select_vs_uv.py"],
    "target": ["tests/test_target.py", "tests/test_select.py", "tests/test_select_vs_uv.py"],
    "config": ["tests/test_config.py"],
    "config_tables": ["tests/test_config.py"],
    "options": ["tests/test_config.py"],
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


def pytest_arguments(module: str, extra: list[str]) -> list[str]:
    files = TESTS[module]
    # hypothesis takes seconds to import; only tests/test_property.py needs its plugin
    plugins = [] if "tests/test_property.py" in files else ["-p", "no:hypothesispytest"]
    return [
        "-x",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *plugins,
        "-m",
        "not slow",
        *files,
        *extra,
    ]


def write_copy(directory: str, module: str, index: int | None) -> None:
    """A copy of the package in ``directory`` with mutation ``index`` of ``module`` applied."""
    copy_root = Path(directory) / "hatch_lockbundle"
    shutil.copytree(PACKAGE, copy_root, ignore=shutil.ignore_patterns("__pycache__"))
    (copy_root / f"{module}.py").write_text(mutated_source(module, index))


class Running:
    """One mutant's test run, in a child process."""

    def __init__(self, mutant: Mutant | None, module: str, fork: bool, extra: list[str]) -> None:
        self.mutant = mutant
        self.started = time.monotonic()
        self.directory = tempfile.mkdtemp(prefix="mutant-")
        self.log = Path(self.directory) / "output.txt"
        write_copy(self.directory, module, None if mutant is None else mutant.index)
        arguments = pytest_arguments(module, extra)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [self.directory, *filter(None, [env.get("PYTHONPATH")])]
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0
        if fork:
            self.pid = _fork_pytest(self.directory, arguments, env, self.log)
        else:
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "pytest", *arguments],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def poll(self) -> int | None:
        """The exit status, or None while it runs."""
        if self.process is not None:
            return self.process.poll()
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        return os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        pid = self.process.pid if self.process is not None else self.pid
        # the child leads its own process group: this also ends what the tests started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
        else:
            os.waitpid(self.pid, 0)

    def finish(self, status: str) -> Outcome:
        output = self.log.read_text(errors="replace") if self.log.exists() else ""
        shutil.rmtree(self.directory, ignore_errors=True)
        return Outcome(self.mutant, status, time.monotonic() - self.started, output)


def _fork_pytest(directory: str, arguments: list[str], env: dict[str, str], log: Path) -> int:
    """Run pytest in a forked child of this process, which has pytest imported already: most
    of a short test run is Python importing pytest and its plugins."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        os.setpgid(0, 0)
        descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(REPO)
        sys.path.insert(0, directory)
        import pytest

        code = int(pytest.main(arguments))
    except BaseException:  # the child must never return into the parent's code
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def preload() -> bool:
    """Import pytest and the libraries the tests use, never hatch_lockbundle, so that forked
    children start warm. False when pytest is not importable here (then: subprocesses)."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        return False
    for name in (
        "_pytest.python",
        "_pytest.fixtures",
        "_pytest.assertion.rewrite",
        "_pytest.terminal",
        "_pytest.junitxml",
        "_pytest.doctest",
        "_pytest.capture",
        "_pytest.tmpdir",
        "_pytest.monkeypatch",
        "_pytest.skipping",
        "packaging.markers",
        "packaging.specifiers",
        "packaging.tags",
        "packaging.utils",
        "packaging.version",
        "installer",
        "pathspec",
        "platformdirs",
        "pyproject_hooks",
        "uv",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if "hatch_lockbundle" in sys.modules:
        sys.exit("mutate: hatch_lockbundle was imported before forking; the mutants would not be")
    return True


def run_all(
    module: str,
    mutants: list[Mutant | None],
    *,
    jobs: int,
    timeout: float,
    fork: bool,
    extra: list[str],
) -> Iterator[Outcome]:
    """Run ``mutants`` (None: the module unmutated), ``jobs`` at a time; outcomes in order."""
    pending = list(enumerate(mutants))
    running: dict[int, Running] = {}
    done: dict[int, Outcome] = {}
    following = 0
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                position, mutant = pending.pop(0)
                running[position] = Running(mutant, module, fork, extra)
            for position, run in list(running.items()):
                code = run.poll()
                if code is None and time.monotonic() - run.started > timeout:
                    run.kill()
                    done[position] = run.finish("timeout")
                elif code is not None:
                    done[position] = run.finish("survived" if code == 0 else "killed")
                else:
                    continue
                del running[position]
            while following in done:
                yield done.pop(following)
                following += 1
            time.sleep(0.05)
    finally:
        for run in running.values():
            run.kill()
            run.finish("killed")


def check_copy_is_imported(fork: bool) -> None:
    """The copy on the path must win over the editable install, or every mutant would survive."""
    directory = tempfile.mkdtemp(prefix="mutant-")
    try:
        shutil.copytree(PACKAGE, Path(directory) / "hatch_lockbundle")
        probe = (
            "import hatch_lockbundle, sys; "
            "sys.exit(0 if hatch_lockbundle.__file__.startswith(sys.argv[1]) else 1)"
        )
        env = dict(os.environ, PYTHONPATH=directory)
        code = subprocess.run([sys.executable, "-c", probe, directory], env=env).returncode
        if fork:
            pid = os.fork()
            if not pid:
                sys.path.insert(0, directory)
                import hatch_lockbundle

                os._exit(0 if hatch_lockbundle.__file__.startswith(directory) else 1)
            code = code or os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if code:
            sys.exit("mutate: the tests would not import the mutated copy of hatch_lockbundle")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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


def _survivor_keys(output: str) -> Iterator[str]:
    """The keys of the ``survived: src/hatch_lockbundle/<module>.py:<line>: in <function>:
    <change>`` lines of an output."""
    for line in output.splitlines():
        prefix, found, rest = line.partition("survived: src/hatch_lockbundle/")
        if not found or prefix.strip():
            continue
        module = rest.partition(".py:")[0]
        function, _, change = rest.partition(": in ")[2].partition(": ")
        yield f"{module}:{function}: {change}"


def _names(function: str, name: str) -> bool:
    """``--function name`` picks ``name``, what is nested in it, and a method by its own name."""
    return function == name or function.startswith(f"{name}.") or function.split(".")[-1] == name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mutation testing of lock, select, target and config: lists surviving mutants."
    )
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"one of {', '.join(TESTS)}")
    parser.add_argument("--module", action="append", default=[], choices=list(TESTS))
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="only mutants in this function (and the functions nested in it); repeatable",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run at a time")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per mutant (default: 4 times the unmutated run, at least 60)",
    )
    parser.add_argument(
        "--threshold", type=int, default=5, help="most survivors a module may have (default 5)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--retry",
        action="append",
        metavar="OUTPUT",
        help="only the survivors listed in OUTPUT, a saved output of this command",
    )
    parser.add_argument(
        "--no-fork",
        action="store_true",
        help="start each run as a new interpreter instead of forking a warm one (slower)",
    )
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
            if not args.function or any(_names(mutant.function, name) for name in args.function)
        ]
        for module in modules
    }
    if args.retry:
        wanted = {key for output in args.retry for key in _survivor_keys(Path(output).read_text())}
        selected = {
            module: [mutant for mutant in mutants if mutant.key in wanted]
            for module, mutants in selected.items()
        }
    if args.list:
        for mutants in selected.values():
            for mutant in mutants:
                print(f"{mutant.where}: in {mutant.function}: {mutant.change}")
        return 0

    fork = hasattr(os, "fork") and not args.no_fork and preload()
    check_copy_is_imported(fork)
    allowed = read_allow_list()
    failed = False
    started = time.monotonic()
    summary = []
    for module, mutants in selected.items():
        module_started = time.monotonic()
        options = {"jobs": args.jobs, "timeout": 3600.0, "fork": fork, "extra": extra}
        baseline = next(run_all(module, [None], **options))
        if baseline.status != "survived":
            print(baseline.output[-3000:])
            sys.exit(f"mutate: the tests of {module} fail without any mutation; fix them first")
        print(f"{module}: {len(mutants)} mutants, {baseline.seconds:.0f} s for an unmutated run")
        # a mutant that loops forever (a walk that no longer marks what it has seen) is stopped
        # here; a loaded machine slows the unmutated run as much as the mutants
        options["timeout"] = args.timeout or max(60.0, 4 * baseline.seconds)
        counts = {"killed": 0, "timeout": 0, "survived": 0, "allowed": 0}
        survivors = []
        outcomes = run_all(module, list(mutants), **options)
        for done, outcome in enumerate(outcomes, 1):
            tried = outcome.mutant
            assert tried is not None
            status = outcome.status
            if status == "survived" and tried.key in allowed:
                status = "allowed"
            counts[status] += 1
            if status == "survived":
                survivors.append(tried)
                print(f"  survived: {tried.where}: in {tried.function}: {tried.change}", flush=True)
            print(f"  [{done}/{len(mutants)}] {status}  ", end="\r", file=sys.stderr, flush=True)
        print(file=sys.stderr)
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
        if not args.function and not args.retry:
            print(f"allow-list entry matches no mutant (remove it): {key}")
    print(f"total {(time.monotonic() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
