"""A fresh interpreter with nothing installed, to run a bundle the way a deployment would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .environ import run

_BASE_PATH = "/usr/bin:/bin"  # for `env` and the shell; holds no python3 that comes first


class FreshPython:
    """A ``python -m venv --without-pip`` environment, and ways to run bundled code with it.

    Code runs with only the bundle added to ``sys.path`` (through ``PYTHONPATH``); scripts run with no
    ``PYTHONPATH`` at all and a ``PATH`` whose first directory holds only ``python3``. Bytecode is
    never written, so running code leaves a bundle as it was.
    """

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        # Inside the venv, so that the interpreter finds `pyvenv.cfg` one level up and stays this
        # venv (a `python3` symlink anywhere else would run the base installation instead).
        self.path_dir = prefix / "only-python3"
        self.workdir = prefix / "workdir"  # an empty working directory: nothing importable there

    @classmethod
    def create(cls, prefix: Path) -> FreshPython:
        """Create the environment at ``prefix`` with the interpreter running the tests."""
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
        fresh = cls(prefix)
        fresh.path_dir.mkdir()
        (fresh.path_dir / "python3").symlink_to(fresh.executable)
        fresh.workdir.mkdir()
        return fresh

    @property
    def executable(self) -> Path:
        return self.prefix / "bin" / "python"

    def _environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": f"{self.path_dir}:{_BASE_PATH}",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            **(extra or {}),
        }

    def run_code(
        self, code: str, bundle: Path, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -c code`` with ``PYTHONPATH`` set to ``bundle`` and nothing else."""
        return run(
            [self.executable, "-c", code],
            cwd=self.workdir,
            env=self._environ({"PYTHONPATH": str(bundle)}),
            check=check,
        )

    def run_script(
        self, script: Path, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Execute ``script`` directly (its shebang decides), with only ``python3`` on ``PATH``."""
        return run([script, *args], cwd=self.workdir, env=self._environ(), check=check)

    def run_python3(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python3`` as found on this environment's ``PATH`` (to check the setup itself)."""
        return run(["python3", *args], cwd=self.workdir, env=self._environ(), check=check)
