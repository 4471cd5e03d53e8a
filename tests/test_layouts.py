"""The Layout interface: each layout takes every wheel as it arrives, and writes the bundle."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import _layout_type
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.config import LAYOUTS
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.fetched import FetchedPlan, FetchedWheel, WheelOrigin
from hatch_lockbundle.installed import entry_of
from hatch_lockbundle.layouts import Layout, LayoutInputs
from hatch_lockbundle.layouts.target_bundle import TargetLayout
from hatch_lockbundle.layouts.wheelhouse import WheelhouseLayout
from hatch_lockbundle.lock import LockedPackage, LockFormat, Source
from hatch_lockbundle.progress import Reporter
from hatch_lockbundle.report import measure
from hatch_lockbundle.select import Artifact, Plan, PlannedPackage
from hatch_lockbundle.target import Target
from support.artifacts import Entry, write_wheel

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def inputs(tmp_path: Path, layout: str) -> LayoutInputs:
    config = load_and_validate_config({}, tmp_path, layout)
    return LayoutInputs(
        config,
        tmp_path,
        "ab" * 32,
        Cache(tmp_path / "cache"),
        PYTHON,
        Reporter.of(print),
        LockFormat.UV_LOCK,
    )


def fetched(wheel: Path, *, known_sha256: bool = False) -> FetchedWheel:
    """``wheel`` as fetch hands it on: a locked registry wheel, downloaded."""
    name, version = wheel.name.split("-")[:2]
    package = LockedPackage(name=name, version=version, source=Source("registry", "x"))  # type: ignore[arg-type]
    planned = PlannedPackage(package, Artifact("wheel", wheel.name), (name,))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest() if known_sha256 else None
    return FetchedWheel(planned, wheel, WheelOrigin.DOWNLOADED, digest)


@pytest.mark.parametrize(
    ("name", "expected"), [("target", TargetLayout), ("wheelhouse", WheelhouseLayout)]
)
def test_the_engine_picks_the_layout_by_its_name(name: str, expected: type[Layout]) -> None:
    assert set(LAYOUTS) == {"target", "wheelhouse"}
    assert _layout_type(name) is expected


def test_a_layout_name_the_engine_does_not_know_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="no layout is called 'zipapp'"):
        _layout_type("zipapp")


def test_the_wheelhouse_layout_checks_each_wheel_as_it_arrives(tmp_path: Path) -> None:
    lying = write_wheel(
        tmp_path, "lying", "1.0", [Entry("lying/__init__.py", b"x = 1\n", claimed=b"x = 2\n")]
    )

    with (
        pytest.raises(LockbundleError, match="lying"),
        WheelhouseLayout(inputs(tmp_path, "wheelhouse")) as layout,
    ):
        layout.take(fetched(lying))


def test_the_wheelhouse_layout_checks_a_wheel_once_per_content(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "honest", "1.0", {"honest/__init__.py": "x = 1\n"})
    arrived = fetched(wheel, known_sha256=True)
    with WheelhouseLayout(inputs(tmp_path, "wheelhouse")) as layout:
        layout.take(arrived)
        # the same content again (by its verified hash): not opened, so not even readable
        wheel.write_bytes(b"not a zip")
        layout.take(arrived)

    with pytest.raises(LockbundleError), WheelhouseLayout(inputs(tmp_path, "wheelhouse")) as layout:
        layout.take(fetched(wheel))  # another content: checked


def as_locked(wheel: FetchedWheel, name: str) -> FetchedWheel:
    """The same file, locked under another name (a lock that lies about whose wheel it is)."""
    package = LockedPackage(name=name, version="1.0", source=Source("registry", "x"))  # type: ignore[arg-type]
    planned = PlannedPackage(package, wheel.planned.artifact, (name,))
    return FetchedWheel(planned, wheel.path, wheel.origin, wheel.sha256)


def test_a_wheel_checked_under_one_name_is_checked_again_under_another(tmp_path: Path) -> None:
    # the same bytes, accepted as `evil` by one lock, must not pass as `good` in the next build
    wheel = fetched(
        write_wheel(tmp_path, "evil", "1.0", {"evil/__init__.py": "x = 1\n"}), known_sha256=True
    )
    with WheelhouseLayout(inputs(tmp_path, "wheelhouse")) as layout:
        layout.take(wheel)

    with (
        pytest.raises(LockbundleError, match="good"),
        WheelhouseLayout(inputs(tmp_path, "wheelhouse")) as layout,
    ):
        layout.take(as_locked(wheel, "good"))


def test_the_mark_of_a_checked_wheel_never_follows_a_link_planted_in_the_cache(
    tmp_path: Path,
) -> None:
    wheel = fetched(
        write_wheel(tmp_path, "honest", "1.0", {"honest/__init__.py": "x = 1\n"}), known_sha256=True
    )
    layout_inputs = inputs(tmp_path, "wheelhouse")
    assert wheel.sha256 is not None
    marker = layout_inputs.cache.inspected(wheel.sha256, wheel.identity)
    marker.parent.mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "created-by-the-build"
    outside.parent.mkdir()
    marker.symlink_to(outside)  # dangling: a build that follows it creates a file outside

    with WheelhouseLayout(layout_inputs) as layout:
        layout.take(wheel)

    assert not outside.exists()
    assert marker.is_file() and not marker.is_symlink()


def test_a_wheel_installed_under_one_name_is_not_reused_under_another(tmp_path: Path) -> None:
    wheel = fetched(
        write_wheel(tmp_path, "evil", "1.0", {"evil/__init__.py": "x = 1\n"}), known_sha256=True
    )
    cache = Cache(tmp_path / "cache")

    assert entry_of(wheel, cache, compile_bytecode=False) != entry_of(
        as_locked(wheel, "good"), cache, compile_bytecode=False
    )


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="installs run alongside fetch from 2 CPUs on"
)
def test_the_target_layout_installs_each_wheel_into_the_cache_as_it_arrives(
    tmp_path: Path,
) -> None:
    wheels = [
        write_wheel(tmp_path, name, "1.0", {f"{name}/__init__.py": f"name = {name!r}\n"})
        for name in ("one", "two")
    ]
    arrived = [fetched(wheel, known_sha256=True) for wheel in wheels]
    with TargetLayout(inputs(tmp_path, "target")) as layout:
        for wheel in arrived:
            layout.take(wheel)
    for wheel in wheels:
        wheel.unlink()  # from now on, only what the installs left in the cache can be used

    with TargetLayout(inputs(tmp_path, "target")) as layout:
        packages = tuple(wheel.planned for wheel in arrived)
        plan = Plan(packages[0].package, Target.current(), packages, (), ())
        layout.write([FetchedPlan(plan, tuple(arrived))], tmp_path / "bundle")

    assert (tmp_path / "bundle" / "one" / "__init__.py").read_text() == "name = 'one'\n"
    assert (tmp_path / "bundle" / "two" / "__init__.py").read_text() == "name = 'two'\n"


def test_a_target_bundle_holding_a_wheels_package_is_measured_by_its_distributions(
    tmp_path: Path,
) -> None:
    # as a target bundle has it: `wheels/` is a package, not a wheelhouse's wheels
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "__init__.py").write_text("x = 1\n")
    dist_info = tmp_path / "wheels-1.0.dist-info"
    dist_info.mkdir()
    record = dist_info / "RECORD"
    record.write_text("wheels/__init__.py,,6\nwheels-1.0.dist-info/RECORD,,\n")

    assert measure(tmp_path).distributions == [("wheels-1.0", 6 + record.stat().st_size)]
