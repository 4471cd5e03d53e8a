"""What is measured: our engine (directly and through ``hatch build``), the by-hand uv recipe, pip.

Each contender owns a :class:`Workspace` (project copy, output, caches, logs) that persists
between its runs, so that a warm run finds the caches its cold run filled and a no-op run finds
the output its warm run wrote.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .environment import Tools, controlled_env
from .measure import Pipeline
from .project import fresh_copy
from .trash import Trash

Case = Literal["cold", "warm", "noop"]
CASES: tuple[Case, ...] = ("cold", "warm", "noop")
CASE_HELP = {
    "cold": "empty caches, fresh project copy and output",
    "warm": "caches filled by the cold run, fresh project copy and output",
    "noop": "the same build again into the existing output, nothing changed",
}

EXPORT = ("export", "--frozen", "--no-editable", "--no-default-groups")

# the engine's log lines go to the run's log, with the seconds since start: where time goes
ENGINE_SCRIPT = """\
import sys, time
from pathlib import Path
start = time.perf_counter()
from hatch_lockbundle.bundle import build_bundle
def log(message): print(f"{time.perf_counter() - start:7.2f} {message}", flush=True)
project, out, cache = map(Path, sys.argv[1:])
build_bundle(project, out, cache_dir=cache, log=log)
"""


@dataclass(frozen=True)
class Context:
    """What every contender's commands refer to."""

    tools: Tools
    #: the local index's base URL, e.g. ``http://127.0.0.1:40123``
    index: str
    #: the project every run starts from (lock rewritten to the index)
    template: Path
    #: a minimal hatch configuration, so that the user's one does not apply
    hatch_config: Path
    #: the interpreter of an environment with the plugin wheel hatch installs too
    engine_python: Path
    #: the interpreter of an environment with the baseline commit's plugin wheel (``--baseline``)
    baseline_python: Path | None = None

    @property
    def simple(self) -> str:
        return f"{self.index}/simple"


@dataclass(frozen=True)
class Workspace:
    root: Path
    #: where resets move the trees they replace (see :mod:`.trash`)
    trash: Trash

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def caches(self) -> Path:
        return self.root / "caches"

    def log(self, case: Case, round_: int) -> Path:
        return self.root / "logs" / f"round{round_}-{case}.log"

    def reset(self, case: Case, template: Path) -> None:
        """Bring the workspace into the state ``case`` starts from."""
        if case == "cold":
            self.trash.discard(self.caches)
        if case != "noop":
            fresh_copy(template, self.project)
            self.trash.discard(self.out)
        self.caches.mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)

    def env(self, context: Context, **settings: str) -> dict[str, str]:
        """The controlled environment with every cache inside this workspace."""
        return controlled_env(
            context.tools,
            UV_CACHE_DIR=str(self.caches / "uv"),
            PIP_CACHE_DIR=str(self.caches / "pip"),
            LOCKBUNDLE_CACHE_DIR=str(self.caches / "lockbundle"),
            HATCH_DATA_DIR=str(self.caches / "hatch-data"),
            HATCH_CACHE_DIR=str(self.caches / "hatch-cache"),
            HATCH_CONFIG=str(context.hatch_config),
            **settings,
        )


class Contender:
    """One way of getting the fixture's locked set into a flat target directory."""

    name: str = ""
    description: str = ""
    cases: tuple[Case, ...] = CASES

    def setup(self, workspace: Workspace, context: Context) -> None:
        """Untimed preparation after a fresh project copy (nothing by default)."""

    def steps(self, workspace: Workspace, context: Context) -> list[Pipeline]:
        raise NotImplementedError

    def env(self, workspace: Workspace, context: Context) -> dict[str, str]:
        return workspace.env(context)

    def output(self, workspace: Workspace) -> Path:
        """The target directory the run produced."""
        return workspace.out / "target"


class Engine(Contender):
    name = "engine"
    description = "build_bundle() in a fresh interpreter, no hatch (plugin wheel in a venv)"

    def steps(self, workspace: Workspace, context: Context) -> list[Pipeline]:
        cache = workspace.caches / "lockbundle"
        python = str(self.python(context))
        command = [python, "-c", ENGINE_SCRIPT, str(workspace.project), str(workspace.out)]
        return [[[*command, str(cache)]]]

    def python(self, context: Context) -> Path:
        return context.engine_python

    def output(self, workspace: Workspace) -> Path:
        return _bundle_in(workspace.out)


class Baseline(Engine):
    """The engine as it was at another commit, run the same way: a change's cost, in one run."""

    name = "baseline"
    description = "the engine of the --baseline commit, run as `engine`"

    def python(self, context: Context) -> Path:
        if context.baseline_python is None:
            raise RuntimeError("the baseline contender needs --baseline COMMIT")
        return context.baseline_python


class Hatch(Contender):
    name = "hatch"
    description = "`hatch build -t lockbundle`, the plugin installed by hatch from the index"

    def steps(self, workspace: Workspace, context: Context) -> list[Pipeline]:
        return [[[str(context.tools.hatch), "build", "-t", "lockbundle"]]]

    def env(self, workspace: Workspace, context: Context) -> dict[str, str]:
        # hatch installs its build environment with uv (or pip): both must use the local index
        simple = context.simple
        return workspace.env(
            context, PIP_INDEX_URL=simple, UV_INDEX_URL=simple, UV_DEFAULT_INDEX=simple
        )

    def output(self, workspace: Workspace) -> Path:
        return _bundle_in(workspace.project / "dist")


class UvRecipe(Contender):
    name = "uv"
    description = "`uv export | uv pip install --target --no-deps -r -`, the by-hand recipe"

    def steps(self, workspace: Workspace, context: Context) -> list[Pipeline]:
        uv = str(context.tools.uv)
        install = [uv, "pip", "install", "--target", str(self.output(workspace)), "--no-deps",
                   "--python", str(context.tools.python), "--index-url", context.simple,
                   "-r", "-"]  # fmt: skip
        return [[[uv, *EXPORT], install]]


class Pip(Contender):
    name = "pip"
    description = "`pip install --target --no-deps --no-compile` from the same export, then `.`"
    cases = ("cold",)

    def setup(self, workspace: Workspace, context: Context) -> None:
        # pip refuses a directory requirement (`.`) in hash-checking mode: the export goes
        # without the project, which is installed by a second command
        subprocess.run(
            [str(context.tools.uv), *EXPORT, "--no-emit-project", "--quiet",
             "-o", str(self._requirements(workspace))],
            cwd=workspace.project, env=self.env(workspace, context), check=True,
        )  # fmt: skip

    def steps(self, workspace: Workspace, context: Context) -> list[Pipeline]:
        # --no-compile: uv and the engine do not write bytecode by default either
        install = [str(context.tools.python), "-m", "pip", "install", "--quiet",
                   "--target", str(self.output(workspace)), "--no-deps", "--no-compile",
                   "--index-url", context.simple]  # fmt: skip
        return [[[*install, "-r", str(self._requirements(workspace))]], [[*install, "."]]]

    def _requirements(self, workspace: Workspace) -> Path:
        return workspace.root / "requirements.txt"


CONTENDERS: dict[str, Contender] = {
    c.name: c for c in (Engine(), Hatch(), UvRecipe(), Pip(), Baseline())
}
#: the contenders run when none are named (the baseline only with ``--baseline``)
DEFAULT_CONTENDERS = ("engine", "hatch", "uv", "pip")


def _bundle_in(directory: Path) -> Path:
    bundles = sorted(directory.glob("*-target"))
    if len(bundles) != 1:
        raise RuntimeError(f"expected one *-target bundle in {directory}, found {bundles}")
    return bundles[0]
