"""Projects built by other backends than hatchling reach the engine through the ``lockbundle``
command, as the README says: uv_build (``uv init --package``), setuptools and flit."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import lockbundle
from support.environ import Sandbox
from support.fresh import FreshPython
from support.index import IndexServer
from support.projects import uv_lock

pytestmark = pytest.mark.slow

BACKENDS = {
    "uv_build": ('requires = ["uv_build"]\nbuild-backend = "uv_build"', "src"),
    "setuptools": ('requires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"', "src"),
    "flit": ('requires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"', ""),
}


def write_project(root: Path, backend: str, index_url: str) -> Path:
    build_system, package_parent = BACKENDS[backend]
    package = root / package_parent / "service"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'"""A service."""\n\nBACKEND = {backend!r}\n')
    (root / "pyproject.toml").write_text(
        f"[build-system]\n{build_system}\n"
        '[project]\nname = "service"\nversion = "2.1.0"\ndescription = "A service."\n'
        'requires-python = ">=3.10"\ndependencies = ["scriptpkg"]\n'
        f'[[tool.uv.index]]\nurl = "{index_url}"\ndefault = true\n'
    )
    return root


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_project_of_another_backend_is_bundled_by_the_lockbundle_command(
    backend: str,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    project = write_project(tmp_path / "service", backend, package_index.simple_url)
    uv_lock(project, env=sandbox.environ())

    result = lockbundle(sandbox, project, "build", cache=tmp_path / "cache")

    bundle = Path(result.stdout.strip().splitlines()[-1])
    assert bundle == project / "dist" / "service-2.1.0-target"
    assert (bundle / "service-2.1.0.dist-info").is_dir()
    code = "import service, scriptpkg; print(service.BACKEND)"
    assert fresh_python.run_code(code, bundle).stdout.strip() == backend
