"""Running the real ``lockbundle`` console script of the test environment in the sandbox."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .environ import Sandbox, run

LOCKBUNDLE = Path(sys.executable).parent / "lockbundle"


def lockbundle(
    sandbox: Sandbox,
    cwd: Path,
    *args: str,
    cache: Path,
    check: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``lockbundle <args>`` in ``cwd`` with ``cache`` as ``LOCKBUNDLE_CACHE_DIR``.

    :param check: fail, showing the output, on a non-zero exit.
    :param extra_env: variables added to the sandbox's environment.
    """
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache), **(extra_env or {})})
    return run([LOCKBUNDLE, *args], cwd=cwd, env=env, check=check)
