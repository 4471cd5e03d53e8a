"""PEP 751 ``pylock.toml`` as the bundle's input: which lock is read (``lock``, ``hatch-env``,
``pylock.toml`` beside the project), the project added to what a hatch environment locks, the
static check against the project's requirements, and builds from locks the real tools wrote."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_lockbundle.bundle import build_bundle, plan_bundle
from hatch_lockbundle.config import load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError, LockbundleError
from hatch_lockbundle.hatch_env import hatch_environment
from hatch_lockbundle.project import read_project
from support.bundle import distributions
from support.environ import Sandbox, run, uv_binary
from support.hatch import Hatch, built_artifact
from support.index import IndexServer
from support.projects import MakeProject, set_config
from test_pylock import uv_installs, write_lock

pytestmark = pytest.mark.slow

Build = Callable[..., tuple[Path, list[str]]]


@pytest.fixture(scope="module")
def exported(make_project: MakeProject, package_index: IndexServer, sandbox: Sandbox) -> Path:
    """crossapp with the lock ``uv export`` writes, as ``pylock.uv-export.toml`` (it holds the
    project as a ``directory`` entry without a version); its uv.lock is kept."""
    project = make_project("crossapp")
    write_lock(project, "uv export", package_index, sandbox)
    return project


@pytest.fixture
def crossapp(exported: Path, tmp_path: Path) -> Path:
    """A copy of :func:`exported` for one test, which may edit it."""
    return shutil.copytree(exported, tmp_path / "crossapp", ignore=shutil.ignore_patterns("dist"))


def build(project: Path, cache: Path, **options: object) -> tuple[Path, list[str]]:
    """The engine's build of ``project``, its log lines (warnings among them)."""
    lines: list[str] = []
    bundle = build_bundle(
        project, project / "dist", cache_dir=cache, overrides=options or None, log=lines.append
    )
    return bundle, lines


def test_a_pylock_named_by_lock_is_read_by_its_content_and_bundles_what_uv_installs(
    crossapp: Path, tmp_path: Path, package_index: IndexServer, sandbox: Sandbox
) -> None:
    lock = crossapp / "prod.lock"  # a name that says nothing of its format
    shutil.copyfile(crossapp / "pylock.uv-export.toml", lock)
    set_config(crossapp, '[tool.lockbundle]\nlock = "prod.lock"')
    bundle, lines = build(crossapp, tmp_path / "cache")
    assert f"Lock: {lock} (PEP 751, lock-version 1.0)" in lines
    uv = uv_installs(crossapp / "pylock.uv-export.toml", crossapp, package_index, sandbox, tmp_path / "uv")
    # the project's entry has no version: the bundle is named from the wheel built from it
    assert bundle.name.startswith("crossapp-0.1.0")
    assert {name for name, _ in distributions(bundle)} == {canonicalize_name(n) for n in uv}
    assert ("crossapp", "0.1.0") in distributions(bundle)


def test_pylock_toml_beside_the_project_is_read_when_no_uv_lock_is_found(
    crossapp: Path, tmp_path: Path
) -> None:
    (crossapp / "uv.lock").unlink()
    (crossapp / "pylock.uv-export.toml").rename(crossapp / "pylock.toml")
    project = read_project(crossapp)
    lock, plans = plan_bundle(project, load_and_validate_config(None, crossapp))
    assert lock.path == crossapp / "pylock.toml"
    assert "crossapp" in {planned.name for planned in plans[0].packages}


def test_a_uv_lock_is_read_before_a_pylock_toml_beside_the_project(crossapp: Path) -> None:
    (crossapp / "pylock.uv-export.toml").rename(crossapp / "pylock.toml")
    lock, _ = plan_bundle(read_project(crossapp), load_and_validate_config(None, crossapp))
    assert lock.path == crossapp / "uv.lock"
