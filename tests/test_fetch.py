"""The fetch stage hands each wheel over as soon as it is ready, wheels before builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_lockbundle.bundle import plan_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.config import load_and_validate_config
from hatch_lockbundle.fetch import FetchedWheel, Fetcher, indexes_of
from hatch_lockbundle.project import read_project
from support.projects import MakeProject

pytestmark = pytest.mark.slow


def test_every_wheel_is_handed_over_once_and_downloads_before_builds(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = read_project(make_project("app"))
    config = load_and_validate_config(project.settings, project.root)
    lock, plans = plan_bundle(project, config)
    handed: list[FetchedWheel] = []
    fetcher = Fetcher(Cache(tmp_path / "cache"), tmp_path / "work", indexes_of(lock))

    (wheels,) = fetcher.fetch(plans, ready=handed.append)

    assert sorted(w.path for w in handed) == sorted(w.path for w in wheels)
    kinds = [w.planned.artifact.kind for w in handed]
    assert "wheel" in kinds and "sdist" in kinds and "tree" in kinds
    first_built = next(i for i, kind in enumerate(kinds) if kind != "wheel")
    assert set(kinds[first_built:]) <= {"sdist", "tree", "git"}, kinds
