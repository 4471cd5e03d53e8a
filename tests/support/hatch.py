"""Running the real ``hatch`` against a project, with its build environment fed by the test index."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .compat import tomllib
from .environ import Sandbox, describe, run

# The `hatch_build` fixture: `(project, target="lockbundle", extra_env=None, *, index_url=None,
# cache_dir=None) -> CompletedProcess`.
HatchBuild = Callable[..., subprocess.CompletedProcess[str]]


class Hatch:
    """``hatch`` subcommands run in a sandbox, installing build dependencies from one index.

    hatch's build environment installs ``build-system.requires`` and the target's ``dependencies``
    (hatchling and hatch-lockbundle) with uv or pip: both are pointed at ``index_url``.
    """

    def __init__(self, sandbox: Sandbox, index_url: str, cache_dir: Path) -> None:
        """
        :param index_url: the simple index holding hatchling and the plugin built from this tree.
        :param cache_dir: the default ``LOCKBUNDLE_CACHE_DIR``.
        """
        self.sandbox = sandbox
        self.index_url = index_url
        self.cache_dir = cache_dir

    def environ(
        self,
        *,
        index_url: str | None = None,
        cache_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        index = index_url or self.index_url
        return self.sandbox.environ(
            {
                "PIP_INDEX_URL": index,
                "UV_INDEX_URL": index,
                "UV_DEFAULT_INDEX": index,
                "LOCKBUNDLE_CACHE_DIR": str(cache_dir or self.cache_dir),
                **(extra_env or {}),
            }
        )

    def run(
        self,
        project: Path,
        *args: str,
        index_url: str | None = None,
        cache_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``hatch <args>`` in ``project``; the result is returned whatever the exit code."""
        env = self.environ(index_url=index_url, cache_dir=cache_dir, extra_env=extra_env)
        return run([sys.executable, "-m", "hatch", *args], cwd=project, env=env, check=False)

    def build(
        self,
        project: Path,
        target: str = "lockbundle",
        extra_env: Mapping[str, str] | None = None,
        *,
        index_url: str | None = None,
        cache_dir: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``hatch build -t <target>`` in ``project``.

        :param index_url: where build dependencies come from (default: the session's index).
        :param cache_dir: ``LOCKBUNDLE_CACHE_DIR`` (default: one cache shared by the session).
        """
        return self.run(
            project,
            "build",
            "-t",
            target,
            index_url=index_url,
            cache_dir=cache_dir,
            extra_env=extra_env,
        )

    def clean(
        self,
        project: Path,
        target: str = "lockbundle",
        extra_env: Mapping[str, str] | None = None,
        *,
        index_url: str | None = None,
        cache_dir: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``hatch clean -t <target>`` in ``project`` (options as for :meth:`build`)."""
        return self.run(
            project,
            "clean",
            "-t",
            target,
            index_url=index_url,
            cache_dir=cache_dir,
            extra_env=extra_env,
        )


def built_artifact(result: subprocess.CompletedProcess[str], project: Path) -> Path:
    """The artifact that ``hatch build`` printed: the last line naming a path in ``dist/``.

    hatch prints artifacts on standard output; standard error is searched only if it did not.
    Fails with the command's output when the build failed or printed no such path.
    """
    assert result.returncode == 0, describe(result)
    dist = (project / "dist").resolve()
    for stream in (result.stdout, result.stderr):
        for line in reversed(stream.splitlines()):
            if not line.strip():
                continue
            path = (project / line.strip()).resolve()  # an absolute line stays absolute
            if path.parent == dist and path.exists():
                return path
    raise AssertionError(f"hatch printed no artifact under {dist}\n{describe(result)}")


def coverage_requirement() -> str | None:
    """``coverage==<the version here>`` when this test run measures coverage across processes.

    It does when ``COVERAGE_PROCESS_START`` (set by CI) or ``COVERAGE_PROCESS_CONFIG`` (set by
    coverage's ``patch = ["subprocess"]`` for the processes it starts) is in the environment.
    """
    if not (os.environ.get("COVERAGE_PROCESS_START") or os.environ.get("COVERAGE_PROCESS_CONFIG")):
        return None
    return f"coverage=={importlib.metadata.version('coverage')}"


def plugin_source(repository: Path, workdir: Path, *, also_requires: str | None) -> Path:
    """The tree to build the test index's hatch-lockbundle wheel from.

    Coverage measures a process only where it is installed (its ``.pth`` file starts it), and the
    plugin runs inside hatch's build environment, which holds only ``build-system.requires`` and
    the target's ``dependencies``. So when coverage is measured, the wheel is built from a copy of
    ``repository`` whose ``[project] dependencies`` also name ``also_requires``: hatch then installs
    coverage next to the plugin. Otherwise the wheel is built from ``repository`` itself.

    :param workdir: an empty directory for the copy.
    """
    if also_requires is None:
        return repository
    copy = workdir / repository.name
    shutil.copytree(repository / "src", copy / "src")
    shutil.copy2(repository / "README.md", copy)
    text = (repository / "pyproject.toml").read_text()
    requiring = text.replace(
        "\ndependencies = [\n", f'\ndependencies = [\n  "{also_requires}",\n', 1
    )
    if also_requires not in tomllib.loads(requiring)["project"]["dependencies"]:
        raise AssertionError(f"no `[project] dependencies` array to add {also_requires} to")
    (copy / "pyproject.toml").write_text(requiring)
    return copy
