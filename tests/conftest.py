"""Fixtures for testing the real thing: a local index, locked fixture projects, real hatch and uv.

Session setup downloads the build tooling's wheels once (into ``.cache/seed-wheels``, the only
download from the internet), serves them on 127.0.0.1 with the fixture packages and the plugin built
from this working tree, and runs every subprocess in a sandbox that cannot reach anything else.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from support.environ import Sandbox
from support.fresh import FreshPython
from support.hatch import Hatch, HatchBuild, coverage_requirement, plugin_source
from support.index import IndexServer
from support.index import dead_url as _dead_url
from support.packages import build_fixture_packages, uv_build
from support.platform_wheels import publish_platform_packages
from support.projects import MakeProject, copy_project, uv_lock
from support.reference import UvReferenceTarget, reference_target
from support.seed import download_seed_wheels, seed_requirements
from support.wheelhouse import Server

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"


@pytest.fixture(scope="session")
def seed_wheels() -> Path:
    """Wheels of the build tooling and of the plugin's dependencies, downloaded once from PyPI.

    They live in ``.cache/seed-wheels`` and are downloaded again only when the list changes (a new
    dependency in pyproject.toml, for instance).
    """
    requirements = seed_requirements(REPO_ROOT / "pyproject.toml")
    return download_seed_wheels(REPO_ROOT / ".cache" / "seed-wheels", requirements)


@pytest.fixture(scope="session")
def dead_url() -> Iterator[str]:
    """``http://127.0.0.1:<port>/simple/`` on a port that refuses connections, for the session."""
    with _dead_url() as url:
        yield url


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dead_url: str) -> Sandbox:
    """Configuration, caches and temporary files of every tool run by the tests, in one place."""
    return Sandbox(
        root=tmp_path_factory.mktemp("sandbox"),
        offline_proxy=dead_url.removesuffix("/simple/"),
    )


@pytest.fixture(scope="session")
def package_index(
    tmp_path_factory: pytest.TempPathFactory, seed_wheels: Path, sandbox: Sandbox
) -> Iterator[IndexServer]:
    """The session's package index on 127.0.0.1.

    It serves the seed wheels, every package of ``fixtures/packages/`` built as its ``publish``
    setting says, the fabricated platform wheels of ``support.platform_wheels`` (``nativepkg`` for
    many platforms, ``armonly``, ``backport``), and hatch-lockbundle's wheel built from the working
    tree. Build backends for those builds come from this same index.
    """
    directory = tmp_path_factory.mktemp("index-files")
    for wheel in seed_wheels.glob("*.whl"):
        shutil.copy2(wheel, directory)
    publish_platform_packages(directory)
    coverage = coverage_requirement()
    if coverage is not None:  # measured in hatch's build environment too: see `plugin_source`
        wheels = download_seed_wheels(REPO_ROOT / ".cache" / "coverage-wheels", [coverage])
        for wheel in wheels.glob("*.whl"):
            shutil.copy2(wheel, directory)
    with IndexServer(directory) as index:
        env = sandbox.environ({"UV_DEFAULT_INDEX": index.simple_url})
        build_fixture_packages(
            FIXTURES / "packages", tmp_path_factory.mktemp("package-sources"), directory, env=env
        )
        plugin = plugin_source(
            REPO_ROOT, tmp_path_factory.mktemp("plugin-source"), also_requires=coverage
        )
        uv_build(plugin, directory, ("wheel",), env=env)
        yield index


@pytest.fixture
def private_index(tmp_path: Path, package_index: IndexServer) -> Iterator[IndexServer]:
    """An index of its own for one test (to stop, or to serve altered files), with the same dists."""
    with package_index.copy_to(tmp_path / "index-files") as index:
        yield index


@pytest.fixture(scope="session")
def make_project(
    tmp_path_factory: pytest.TempPathFactory, package_index: IndexServer, sandbox: Sandbox
) -> MakeProject:
    """``make_project(name, *, index=None, index_url=None, env=None) -> Path``: a locked copy of
    ``fixtures/projects/<name>``.

    The copy has ``@INDEX_URL@`` replaced by ``index_url`` or the index's URL (default: the
    session's) and a ``uv.lock`` written by the real ``uv lock`` against that index, with ``env``
    added to the sandbox's environment (credentials, for instance).
    """

    def make(
        name: str,
        *,
        index: IndexServer | None = None,
        index_url: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Path:
        index = index or package_index
        project = copy_project(
            FIXTURES / "projects" / name,
            tmp_path_factory.mktemp(name) / name,
            index_url or index.simple_url,
        )
        uv_lock(project, env=sandbox.environ(env))
        return project

    return make


@pytest.fixture(scope="session")
def hatch(
    tmp_path_factory: pytest.TempPathFactory, package_index: IndexServer, sandbox: Sandbox
) -> Hatch:
    """The real ``hatch``: ``hatch.build(project, target, extra_env)``, ``hatch.clean(...)``.

    Its build environment installs hatchling and hatch-lockbundle from the session's index; the
    lockbundle cache is one directory shared by the session unless a test passes ``cache_dir``.
    """
    return Hatch(sandbox, package_index.simple_url, tmp_path_factory.mktemp("lockbundle-cache"))


@pytest.fixture(scope="session")
def hatch_build(hatch: Hatch) -> HatchBuild:
    """``hatch_build(project_dir, target="lockbundle", extra_env=None, *, index_url=None,
    cache_dir=None) -> CompletedProcess``: the real ``hatch build -t <target>``, any exit code."""
    return hatch.build


@pytest.fixture(scope="session")
def uv_reference_target(
    tmp_path_factory: pytest.TempPathFactory, package_index: IndexServer, sandbox: Sandbox
) -> UvReferenceTarget:
    """``uv_reference_target(project_dir, package=None, extras=(), groups=(), *, index=None)``.

    Installs what the lock selects the way users do by hand (``uv export --frozen --no-editable
    --no-default-groups ... | uv pip install --target DIR --no-deps -r -``) and returns ``DIR``.
    """

    def install(
        project: Path,
        package: str | None = None,
        extras: Sequence[str] = (),
        groups: Sequence[str] = (),
        *,
        index: IndexServer | None = None,
    ) -> Path:
        return reference_target(
            project,
            tmp_path_factory.mktemp("reference-target"),
            index_url=(index or package_index).simple_url,
            package=package,
            extras=extras,
            groups=groups,
            env=sandbox.environ(),
        )

    return install


@pytest.fixture(scope="module")
def server(
    sandbox: Sandbox,
    dead_url: str,
    package_index: IndexServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Server:
    """A deployment machine for wheelhouses (:class:`~support.wheelhouse.Server`), one a module."""
    return Server(sandbox, dead_url, package_index, tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> FreshPython:
    """An interpreter with nothing installed (``python -m venv --without-pip``) to run bundles."""
    return FreshPython.create(tmp_path_factory.mktemp("fresh-python") / "venv")


@pytest.fixture(scope="session")
def build_machine_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Absolute paths of this machine that no bundle may contain.

    Every temporary directory of the session (projects, caches, hatch environments, ``TMPDIR``), the
    repository, and the test environment's ``sys.prefix``. Not the base interpreter's prefix: a C
    extension built against a shared-library Python records its library directory (``RUNPATH``),
    which is the toolchain's doing, not the bundler's.
    """
    paths = {
        str(tmp_path_factory.getbasetemp()),
        str(REPO_ROOT),
        sys.prefix,
    }
    return sorted(paths | {str(Path(path).resolve()) for path in paths})
