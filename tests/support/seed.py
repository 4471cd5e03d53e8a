"""The one download from the internet: wheels of the build tooling that the local index must hold."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .environ import clean_environ, run

# What build backends, hatch's build environment, and hatch-lockbundle itself install: hatchling
# (with packaging, pathspec, pluggy, trove-classifiers), setuptools for the C extension fixture, the
# plugin's own runtime dependencies, and the tools an isolated PEP 517 environment may want.
SEED_REQUIREMENTS = (
    "hatchling",
    "editables",
    "setuptools",
    "wheel",
    "packaging",
    "installer",
    "pyproject-hooks",
    "platformdirs",
    "pip",
    "tomli",
)

_STAMP = ".complete"


def download_seed_wheels(dest: Path) -> Path:
    """Download :data:`SEED_REQUIREMENTS` and their dependencies as wheels into ``dest``, once.

    A finished download leaves a stamp naming the requirements; with the stamp present and matching,
    nothing is downloaded. Only PyPI is asked, with no pip configuration from the machine.

    :param dest: the directory to fill (created if missing).
    :returns: ``dest``.
    """
    stamp = dest / _STAMP
    wanted = "\n".join(SEED_REQUIREMENTS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted and any(dest.glob("*.whl")):
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--only-binary=:all:",
            "--index-url",
            "https://pypi.org/simple",
            "--dest",
            partial,
            *SEED_REQUIREMENTS,
        ],
        cwd=partial,
        env=clean_environ(),
    )
    (partial / _STAMP).write_text(wanted)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest
