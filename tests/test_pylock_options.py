"""Every option from a PEP 751 input: a zip with a prefix, trim, size budgets, the SBOM, and the
``plan`` and ``verify`` commands, on the lock ``uv export`` writes for lambdaapp (a package with
tests and docs inside, a console script), each checked against the same build from its uv.lock."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError
from support.bundle import distributions
from support.cli import lockbundle
from support.environ import Sandbox
from support.index import IndexServer
from support.projects import MakeProject
from test_pylock import write_lock

pytestmark = pytest.mark.slow

PYLOCK = "pylock.uv-export.toml"


@pytest.fixture(scope="module")
def lambdaapp(make_project: MakeProject, package_index: IndexServer, sandbox: Sandbox) -> Path:
    """lambdaapp with its uv.lock and the pylock ``uv export`` writes from it (:data:`PYLOCK`)."""
    project = make_project("lambdaapp")
    write_lock(project, "uv export", package_index, sandbox)
    return project


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def build(project: Path, out: Path, cache: Path, lock: str, **options: object) -> Path:
    """The engine's build of ``project`` from ``lock`` with ``options``; checks the log says
    which lock it read."""
    lines: list[str] = []
    # a lock given on the command line is relative to the working directory, not the project
    overrides = {"lock": str(project / lock), **options}
    bundle = build_bundle(project, out, cache_dir=cache, overrides=overrides, log=lines.append)
    assert any(line.startswith(f"Lock: {project / lock}") for line in lines), lines
    return bundle


def files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def plain(lambdaapp: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The target bundle from the pylock, no option set."""
    return build(lambdaapp, tmp_path_factory.mktemp("plain"), cache, PYLOCK)


def test_a_zip_with_a_prefix_holds_every_file_of_the_bundle_under_it(
    lambdaapp: Path, cache: Path, plain: Path, tmp_path: Path
) -> None:
    archive = build(lambdaapp, tmp_path, cache, PYLOCK, archive="zip", prefix="python")
    assert archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as opened:
        members = {name for name in opened.namelist() if not name.endswith("/")}
    assert members == {f"python/{name}" for name in files(plain)}


def test_trim_removes_from_a_pylock_bundle_what_it_removes_from_a_uv_lock_bundle(
    lambdaapp: Path, cache: Path, plain: Path, tmp_path: Path
) -> None:
    trimmed = build(lambdaapp, tmp_path / "pylock", cache, PYLOCK, trim=True)
    from_uv_lock = build(lambdaapp, tmp_path / "uv", cache, "uv.lock", trim=True)
    assert files(trimmed) < files(plain)
    assert files(trimmed) == files(from_uv_lock)
    assert distributions(trimmed) == distributions(plain)


def test_a_pylock_bundle_over_its_max_size_is_refused(
    lambdaapp: Path, cache: Path, tmp_path: Path
) -> None:
    with pytest.raises(LockbundleError, match=r"over its `max-size` budget"):
        build(lambdaapp, tmp_path / "small", cache, PYLOCK, **{"max-size": 1})
    assert not (tmp_path / "small").exists() or not any((tmp_path / "small").iterdir())
    within = build(lambdaapp, tmp_path / "large", cache, PYLOCK, **{"max-size": "1GB"})
    assert within.is_dir()


def test_the_sbom_of_a_pylock_bundle_lists_its_distributions(
    lambdaapp: Path, cache: Path, plain: Path, tmp_path: Path
) -> None:
    bundle = build(lambdaapp, tmp_path, cache, PYLOCK, sbom=True)
    (sbom,) = tmp_path.glob("*.cdx.json")
    components = json.loads(sbom.read_text())["components"]
    listed = {(canonicalize_name(c["name"]), c["version"]) for c in components}
    assert listed == distributions(bundle) == distributions(plain)


def test_plan_of_a_pylock_names_the_distributions_of_its_bundle(
    lambdaapp: Path, plain: Path, sandbox: Sandbox, cache: Path
) -> None:
    as_json = lockbundle(
        sandbox, lambdaapp, "plan", "--lock", PYLOCK, "--format", "json", cache=cache
    )
    packages = json.loads(as_json.stdout)["packages"]
    assert {package["name"] for package in packages} == {name for name, _ in distributions(plain)}
    # the project, locked as a directory without a version, has its version once it is built
    versioned = {(package["name"], package["version"]) for package in packages}
    assert {package["name"] for package in packages if package["version"] is None} == {"lambdaapp"}
    assert versioned - {("lambdaapp", None)} == distributions(plain) - {("lambdaapp", "0.1.0")}
    as_text = lockbundle(sandbox, lambdaapp, "plan", "--lock", PYLOCK, cache=cache)
    named = {line.split()[0] for line in as_text.stdout.splitlines() if line.strip()}
    assert {name for name, _ in distributions(plain)} <= named


def test_verify_checks_a_pylock_bundle(plain: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    copy = shutil.copytree(plain, tmp_path / "bundle")
    fresh = lockbundle(sandbox, tmp_path, "verify", str(copy), cache=tmp_path, check=False)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    changed = next(path for path in sorted(copy.rglob("*.py")) if path.is_file())
    changed.chmod(0o644)  # bundle files are read-only
    changed.write_text("tampered = True\n")
    tampered = lockbundle(sandbox, tmp_path, "verify", str(copy), cache=tmp_path, check=False)
    assert tampered.returncode == 1
    assert tampered.stdout.splitlines() == [f"changed: {changed.relative_to(copy).as_posix()}"]
