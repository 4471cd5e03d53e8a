"""A project whose version is dynamic: its bundles carry the version its wheel is built with.

uv writes no version into the lock for such a project, and its pyproject has none: the version
is the one hatchling computes (here from ``[tool.hatch.version] path``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import lockbundle
from support.environ import Sandbox, describe
from support.hatch import HatchBuild, built_artifact
from support.index import IndexServer
from support.projects import uv_lock

pytestmark = pytest.mark.slow

VERSION = "2.3.4"


@pytest.fixture(scope="module")
def dynamic(
    tmp_path_factory: pytest.TempPathFactory, package_index: IndexServer, sandbox: Sandbox
) -> Path:
    """A hatchling project with ``dynamic = ["version"]``, its version in ``src/dyn/__about__.py``,
    locked by the real uv."""
    project = tmp_path_factory.mktemp("dynamic") / "dyn"
    package = project / "src" / "dyn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__about__.py").write_text(f'__version__ = "{VERSION}"\n')
    (project / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "dyn"
dynamic = ["version"]
requires-python = ">=3.10"
dependencies = ["scriptpkg"]

[tool.hatch.version]
path = "src/dyn/__about__.py"

[[tool.uv.index]]
url = "{package_index.simple_url}"
default = true

[tool.hatch.build.targets.lockbundle]
dependencies = ["hatch-lockbundle"]
"""
    )
    uv_lock(project, env=sandbox.environ())
    assert "version" not in lock_entry(project / "uv.lock", "dyn")
    return project


def lock_entry(lock: Path, name: str) -> str:
    """The text of ``name``'s ``[[package]]`` table in ``lock``."""
    for table in lock.read_text().split("[[package]]"):
        if f'name = "{name}"' in table:
            return table.split("\n[package.", 1)[0]
    raise AssertionError(f"{name} is not in {lock}")


@pytest.mark.parametrize("layout", ["target", "wheelhouse"])
def test_lockbundle_build_names_the_bundle_with_the_built_version(
    dynamic: Path, sandbox: Sandbox, tmp_path: Path, layout: str
) -> None:
    result = lockbundle(
        sandbox, dynamic, "build", "--layout", layout, "-o", str(tmp_path), cache=tmp_path / "c"
    )

    assert Path(result.stdout.strip()).name == f"dyn-{VERSION}-{layout}", describe(result)
    assert (tmp_path / f"dyn-{VERSION}-{layout}").is_dir()


def test_hatch_build_names_the_bundle_with_the_computed_version(
    dynamic: Path, hatch_build: HatchBuild
) -> None:
    bundle = built_artifact(hatch_build(dynamic), dynamic)

    assert bundle.name == f"dyn-{VERSION}-target"
