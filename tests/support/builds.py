"""A ``hatch build`` that must succeed, with its bundle moved away from where it was built."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .environ import describe
from .hatch import HatchBuild, built_artifact
from .projects import set_config


@dataclass(frozen=True)
class Build:
    """A successful ``hatch build``: where it ran, what hatch printed, and the bundle's new home."""

    project: Path
    result: subprocess.CompletedProcess[str]
    artifact: Path  # the path hatch printed, under dist/ (the bundle was there after the build)
    dist_entries: list[str]  # what dist/ held right after the build
    bundle: Path  # the bundle, moved out of dist/ to a directory of its own


def build_and_move(
    hatch_build: HatchBuild,
    project: Path,
    elsewhere: Path,
    target: str = "lockbundle",
    *,
    config: str | None = None,
) -> Build:
    """Build ``project`` and move the bundle to ``elsewhere``, away from where it was built, so
    that nothing of the build's directory can make the bundle work.

    :param config: the lockbundle configuration of this build (see
        :func:`~support.projects.set_config`), for a project that several builds share: ``dist/``
        is emptied first too, so that the build starts from what the configuration says alone.
    """
    if config is not None:
        set_config(project, config)
        shutil.rmtree(project / "dist", ignore_errors=True)
    result = hatch_build(project, target)
    artifact = built_artifact(result, project)
    dist = dist_entries(project)
    bundle = elsewhere / "moved" / artifact.name
    bundle.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(artifact, bundle)
    return Build(project, result, artifact, dist, bundle)


def dist_entries(project: Path) -> list[str]:
    """The names in the project's ``dist/`` (none when there is no ``dist/``)."""
    dist = project / "dist"
    return sorted(path.name for path in dist.iterdir()) if dist.is_dir() else []


def assert_failed_cleanly(result: subprocess.CompletedProcess[str], dist: list[str]) -> str:
    """The build failed the way a user error must: a non-zero exit, no traceback, and nothing
    left in ``dist/``.

    :param dist: what ``dist/`` held right after the build (:func:`dist_entries`)
    :returns: the build's output, to look for the message in
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in output, output
    assert dist == [], output
    return output
