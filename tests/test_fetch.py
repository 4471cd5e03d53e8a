"""The fetch stage: each plan with its wheels, each wheel handed over once as soon as it is
ready (wheels before builds), and saying how it was obtained."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_lockbundle.bundle import plan_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.fetch import Fetcher
from hatch_lockbundle.fetched import FetchedPlan, FetchedWheel, WheelOrigin
from hatch_lockbundle.indexes import indexes_of
from hatch_lockbundle.lock import Lock
from hatch_lockbundle.project import read_project
from hatch_lockbundle.select import Plan
from support.projects import MakeProject

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_plans(make_project: MakeProject) -> tuple[Lock, list[Plan]]:
    project = read_project(make_project("app"))
    config = load_and_validate_config(project.settings, project.root)
    return plan_bundle(project, config)


def fetch(
    app_plans: tuple[Lock, list[Plan]], cache: Path, work: Path
) -> tuple[list[FetchedPlan], list[FetchedWheel]]:
    lock, plans = app_plans
    handed: list[FetchedWheel] = []
    fetcher = Fetcher(Cache(cache), work, indexes_of(lock))
    return fetcher.fetch(plans, ready=handed.append), handed


def test_every_wheel_is_handed_over_once_and_downloads_before_builds(
    app_plans: tuple[Lock, list[Plan]], tmp_path: Path
) -> None:
    (fetched,), handed = fetch(app_plans, tmp_path / "cache", tmp_path / "work")

    assert sorted(w.path for w in handed) == sorted(w.path for w in fetched.wheels)
    kinds = [w.planned.artifact.kind for w in handed]
    assert "wheel" in kinds and "sdist" in kinds and "tree" in kinds
    first_built = next(i for i, kind in enumerate(kinds) if kind != "wheel")
    assert set(kinds[first_built:]) <= {"sdist", "tree", "git"}, kinds


def test_each_plan_comes_back_with_the_wheel_of_each_of_its_packages(
    app_plans: tuple[Lock, list[Plan]], tmp_path: Path
) -> None:
    _, plans = app_plans

    fetched, _ = fetch(app_plans, tmp_path / "cache", tmp_path / "work")

    assert [each.plan for each in fetched] == plans
    (each,) = fetched
    assert [wheel.planned for wheel in each.wheels] == list(each.plan.packages)
    assert all(wheel.path.name.endswith(".whl") for wheel in each.wheels)


def test_each_wheel_says_how_it_was_obtained(
    app_plans: tuple[Lock, list[Plan]], tmp_path: Path
) -> None:
    def origins(fetched: list[FetchedPlan]) -> dict[str, set[WheelOrigin]]:
        found: dict[str, set[WheelOrigin]] = {}
        for wheel in fetched[0].wheels:
            found.setdefault(wheel.planned.artifact.kind, set()).add(wheel.origin)
        return found

    first, _ = fetch(app_plans, tmp_path / "cache", tmp_path / "work")
    again, _ = fetch(app_plans, tmp_path / "cache", tmp_path / "again")

    assert origins(first) == {
        "wheel": {WheelOrigin.DOWNLOADED},
        "sdist": {WheelOrigin.BUILT_FROM_SDIST},
        "tree": {WheelOrigin.BUILT_FROM_SOURCE_TREE},
    }
    assert origins(again) == {**origins(first), "wheel": {WheelOrigin.CACHED_DOWNLOAD}}
    built = next(w for w in first[0].wheels if w.origin is WheelOrigin.BUILT_FROM_SDIST)
    assert built.describe_origin() == f"built from {built.planned.artifact.filename}"
    assert all(w.origin.built_here == (w.planned.artifact.kind != "wheel") for w in first[0].wheels)
