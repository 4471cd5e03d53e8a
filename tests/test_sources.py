"""Sources other than an index: git at the locked commit, local directories and wheel files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hatch_lockbundle.build import WheelBuilder
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError
from support.artifacts import Member, sdist_members, write_sdist, write_wheel
from support.environ import Sandbox, run, uv_binary
from support.fresh import FreshPython
from support.git_server import git
from support.index import IndexServer
from support.projects import uv_lock

pytestmark = pytest.mark.slow


def write_package(root: Path, name: str, version: str, value: str) -> Path:
    (root / "src" / name).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.10"\n'
    )
    (root / "src" / name / "__init__.py").write_text(f"VALUE = {value!r}\n")
    return root


@pytest.fixture
def project_with_local_sources(
    tmp_path: Path, package_index: IndexServer, sandbox: Sandbox
) -> Path:
    repo = write_package(tmp_path / "gitdep-repo", "gitdep", "0.5.0", "locked commit")
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "first")

    project = tmp_path / "project"
    write_package(project / "libs" / "localdir", "localdir", "0.2.0", "from a directory")
    wheel_source = write_package(tmp_path / "vendored-src", "vendored", "1.0", "from a wheel file")
    run(
        [uv_binary(), "build", "--wheel", "--out-dir", str(project / "vendor")],
        cwd=wheel_source,
        env=sandbox.environ({"UV_DEFAULT_INDEX": package_index.simple_url}),
    )
    (project / "src" / "app").mkdir(parents=True)
    (project / "src" / "app" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(f"""
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "app"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["gitdep", "localdir", "vendored"]
[[tool.uv.index]]
url = "{package_index.simple_url}"
default = true
[tool.uv.sources]
gitdep = {{ git = "{repo.as_uri()}", branch = "main" }}
localdir = {{ path = "libs/localdir", editable = false }}
vendored = {{ path = "vendor/vendored-1.0-py3-none-any.whl" }}
""")
    uv_lock(project, env=sandbox.environ())
    # a commit after locking: the bundle must still hold the locked one
    (repo / "src" / "gitdep" / "__init__.py").write_text("VALUE = 'a later commit'\n")
    git(repo, "commit", "--quiet", "-am", "second")
    return project


def test_git_directory_and_wheel_file_sources_are_bundled(
    project_with_local_sources: Path,
    tmp_path: Path,
    fresh_python: FreshPython,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = (project_with_local_sources / "uv.lock").read_text()
    assert 'source = { git = "file://' in lock
    assert 'source = { directory = "libs/localdir" }' in lock
    assert 'source = { path = "vendor/vendored-1.0-py3-none-any.whl" }' in lock
    built_here: list[str] = []
    build_here = WheelBuilder._build_here

    def spy(builder: WheelBuilder, source: Path, label: str, out_dir: Path) -> Path | None:
        built_here.append(label)
        return build_here(builder, source, label, out_dir)

    monkeypatch.setattr(WheelBuilder, "_build_here", spy)

    bundle = build_bundle(
        project_with_local_sources, tmp_path / "dist", cache_dir=tmp_path / "cache"
    )
    # the user's own directories build in this process; a git checkout only in isolation
    assert sorted(built_here) == ["app==1.0", "localdir==0.2.0"]

    code = "import gitdep, localdir, vendored; print(gitdep.VALUE, localdir.VALUE, vendored.VALUE, sep='|')"
    result = fresh_python.run_code(code, bundle)
    assert result.stdout.strip() == "locked commit|from a directory|from a wheel file"
    assert (bundle / "gitdep-0.5.0.dist-info").is_dir()


def test_a_local_wheel_that_changed_since_locking_is_refused(
    project_with_local_sources: Path, tmp_path: Path
) -> None:
    wheel = project_with_local_sources / "vendor" / "vendored-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")

    with pytest.raises(
        LockbundleError,
        match=r"vendored==1.0: .*vendored-1.0-py3-none-any.whl does not match the lock: expected sha256:",
    ):
        build_bundle(project_with_local_sources, tmp_path / "dist", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def without_hash_of_local_wheel(project: Path) -> None:
    lock = project / "uv.lock"
    text, count = re.subn(
        r'(\{ filename = "vendored-1\.0-py3-none-any\.whl"), hash = "sha256:[0-9a-f]{64}"',
        r"\1",
        lock.read_text(),
    )
    assert count == 1
    lock.write_text(text)


def test_a_local_wheel_the_lock_records_without_a_hash_is_refused_under_require_hashes(
    project_with_local_sources: Path, tmp_path: Path
) -> None:
    without_hash_of_local_wheel(project_with_local_sources)

    with pytest.raises(LockbundleError) as raised:
        build_bundle(project_with_local_sources, tmp_path / "dist", cache_dir=tmp_path / "cache")
    assert "vendored==1.0: the lock records no hash for " in str(raised.value)
    assert "vendor/vendored-1.0-py3-none-any.whl, so the file cannot be verified" in str(
        raised.value
    )
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_a_local_wheel_without_a_hash_is_accepted_when_hashes_are_not_required(
    project_with_local_sources: Path, tmp_path: Path
) -> None:
    without_hash_of_local_wheel(project_with_local_sources)
    pyproject = project_with_local_sources / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "[tool.lockbundle]\nrequire-hashes = false\n")

    bundle = build_bundle(
        project_with_local_sources, tmp_path / "dist", cache_dir=tmp_path / "cache"
    )
    assert (bundle / "vendored-1.0.dist-info").is_dir()


def test_build_requirements_of_a_lock_without_an_index_come_from_the_projects_index(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock whose packages all come from paths (or git) names no index: the sdist's build
    requirement comes from the project's `[[tool.uv.index]]` with `default = true`, as it would
    for uv, not from PyPI (which the sandbox cannot reach, as an air-gapped network)."""
    helper_files = tmp_path / "helper-index"
    helper_files.mkdir()
    write_wheel(helper_files, "lockbundle_test_build_helper", "1.0", {"helper_mod/__init__.py": ""})
    project = tmp_path / "project"
    (project / "src" / "app").mkdir(parents=True)
    (project / "src" / "app" / "__init__.py").write_text("")
    (project / "vendor").mkdir()
    members = [
        Member(
            member.name,
            member.data.replace(b"requires = []", b'requires = ["lockbundle-test-build-helper"]'),
        )
        for member in sdist_members("sdistdep", "1.0")
    ]
    assert any(b"lockbundle-test-build-helper" in member.data for member in members)
    write_sdist(project / "vendor", "sdistdep", "1.0", members)
    with IndexServer(helper_files) as helper:
        (project / "pyproject.toml").write_text(f"""
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "app"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["sdistdep"]
[[tool.uv.index]]
name = "company"
url = "{helper.simple_url}"
default = true
[tool.uv.sources]
sdistdep = {{ path = "vendor/sdistdep-1.0.tar.gz" }}
""")
        uv_lock(project, env=sandbox.environ())
        assert "registry" not in (project / "uv.lock").read_text()
        for name, value in sandbox.environ().items():
            monkeypatch.setenv(name, value)

        bundle = build_bundle(project, tmp_path / "dist", cache_dir=tmp_path / "cache")

        assert (bundle / "sdistdep" / "__init__.py").is_file()
        assert "/simple/lockbundle-test-build-helper/" in helper.requests
