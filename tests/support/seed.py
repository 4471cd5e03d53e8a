"""The one download from the internet: wheels of the build tooling that the local index must hold."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .compat import tomllib
from .environ import clean_environ, run

# What build backends and hatch's build environment install besides hatch-lockbundle's own
# dependencies (read from pyproject.toml, see `seed_requirements`): hatchling (with packaging,
# pathspec, pluggy, trove-classifiers), setuptools for the C extension fixture, uv_build and
# flit_core for projects of those backends, and the tools an isolated PEP 517 environment may want.
TOOLING_REQUIREMENTS = (
    "hatchling",
    "editables",
    "setuptools",
    "uv_build",
    "flit_core",
    "wheel",
    "pip",
    "tomli",
)

_STAMP = ".complete"


def seed_requirements(pyproject: Path) -> list[str]:
    """:data:`TOOLING_REQUIREMENTS` plus the ``[project] dependencies`` of ``pyproject``."""
    dependencies = tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
    return [*TOOLING_REQUIREMENTS, *dependencies]


def download_seed_wheels(dest: Path, requirements: Sequence[str]) -> Path:
    """Download ``requirements`` and their dependencies as wheels into ``dest``, once.

    A finished download leaves a stamp naming the requirements; with the stamp present and matching,
    nothing is downloaded. Only PyPI is asked, with no pip configuration from the machine.

    :param dest: the directory to fill (created if missing).
    :returns: ``dest``.
    """
    stamp = dest / _STAMP
    wanted = "\n".join(requirements) + "\n"
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
            *requirements,
        ],
        cwd=partial,
        # The CA bundle the machine gives pip is kept: it may be needed to reach PyPI at all.
        env=clean_environ({"PIP_CERT": os.environ["PIP_CERT"]} if "PIP_CERT" in os.environ else {}),
    )
    (partial / _STAMP).write_text(wanted)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest
