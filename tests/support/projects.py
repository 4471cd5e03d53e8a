"""Fixture projects: copied out of ``fixtures/projects/``, pointed at the test index, locked by uv."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .environ import run, uv_binary

INDEX_URL_PLACEHOLDER = "@INDEX_URL@"

# The `make_project` fixture: `make_project(name, *, index=None, index_url=None, env=None) -> Path`.
MakeProject = Callable[..., Path]


def copy_project(source: Path, dest: Path, index_url: str) -> Path:
    """Copy a fixture project to ``dest`` with the index placeholder replaced in every pyproject.toml.

    :param index_url: the simple-index URL written where the fixtures say ``@INDEX_URL@``.
    :returns: ``dest``.
    """
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("dist", "uv.lock", ".venv"))
    for pyproject in dest.rglob("pyproject.toml"):
        text = pyproject.read_text()
        pyproject.write_text(text.replace(INDEX_URL_PLACEHOLDER, index_url))
    return dest


def uv_lock(project: Path, *, env: Mapping[str, str]) -> Path:
    """Run the real ``uv lock`` in ``project`` (for the running interpreter) and return the lock."""
    run([uv_binary(), "lock", "--python", sys.executable], cwd=project, env=env)
    return project / "uv.lock"


# Where the configuration a test writes starts in a project's pyproject.toml: what follows is the
# test's, replaced whole by the next call.
_WRITTEN_BY_THE_TEST = "\n# -- written by the test --\n"


def set_config(project: Path, toml: str) -> None:
    """Replace what an earlier call appended to the project's pyproject.toml with ``toml`` (a
    ``[tool.lockbundle]`` table, for one), so that a project shared by several builds gets each
    build's configuration and nothing of the one before."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().split(_WRITTEN_BY_THE_TEST)[0]
    pyproject.write_text(f"{text}{_WRITTEN_BY_THE_TEST}{toml}\n")


def add_to_pyproject(project: Path, toml: str) -> None:
    """Append ``toml`` to the project's pyproject.toml, after what is there."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n" + toml)
