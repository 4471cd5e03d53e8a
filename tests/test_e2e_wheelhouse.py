"""`hatch build -t lockbundle:wheelhouse` for real, installed the way an air-gapped server does.

Each wheelhouse is built by the real hatch with the plugin built from this working tree, from a lock
made by the real `uv lock` against a package index on 127.0.0.1, then copied away from where it was
built and installed with the commands of its INSTALL.md: `uv sync --frozen --offline`,
`pip install --no-index -r requirements.txt` and `uv pip install --offline -r pylock.toml`, each with
an empty cache, the index URLs pointing at a port that refuses connections and the test index stopped.
What gets installed is compared with what the by-hand recipe (`uv export | uv pip install --target`)
installs from the same lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_wheel_filename

from support.archives import archive_entries, extract
from support.bundle import Distribution, distributions, files, import_markers
from support.compat import tomllib
from support.environ import describe, run, uv_binary
from support.hatch import Hatch, HatchBuild, built_artifact
from support.index import IndexServer
from support.projects import MakeProject, add_to_pyproject
from support.reference import UvReferenceTarget
from support.wheelhouse import (
    PIP_INSTALL,
    UV_PIP_INSTALL_PYLOCK,
    UV_SYNC,
    Install,
    Server,
    Wheelhouse,
    alter_wheel_keeping_its_size,
    build_cache_entries,
    build_lines,
    build_wheelhouse,
    clean_run_environ,
    foreign_platform,
    nothing_installed,
    site_packages,
    text_files,
)

pytestmark = pytest.mark.slow

WHEELHOUSE = "lockbundle:wheelhouse"
THIS_PYTHON = "{}.{}".format(*sys.version_info[:2])
INSTALLERS = ("uv-sync", "pip", "pylock")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_pure(wheel_filename: str) -> bool:
    tags = parse_wheel_filename(wheel_filename)[3]
    return all(tag.abi == "none" and tag.platform == "any" for tag in tags)


def locked_packages(lock: Path) -> dict[tuple[str, str], dict[str, object]]:
    """``(name, version)`` -> ``[[package]]`` table of a lock (a name may be locked twice)."""
    packages = tomllib.loads(lock.read_text())["package"]
    return {(package["name"], package["version"]): package for package in packages}


# -- module-wide fixtures ---------------------------------------------------------------------------


# -- the app: an sdist-only C extension, an sdist-only pure package, a console script ---------------


@pytest.fixture(scope="module")
def app_wheelhouse(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    project = make_project("app")
    return build_wheelhouse(hatch_build, project, tmp_path_factory.mktemp("app-wheelhouse"))


@pytest.fixture(scope="module")
def app_reference(
    app_wheelhouse: Wheelhouse, uv_reference_target: UvReferenceTarget
) -> set[Distribution]:
    """What ``uv export --no-editable | uv pip install --target`` installs from the app's lock."""
    return distributions(uv_reference_target(app_wheelhouse.build.project))


@pytest.fixture(scope="module")
def app_uv_sync(server: Server, app_wheelhouse: Wheelhouse) -> Install:
    return server.uv_sync(app_wheelhouse.path)


@pytest.fixture(scope="module")
def app_pip(server: Server, app_wheelhouse: Wheelhouse) -> Install:
    return server.pip_install(app_wheelhouse.path)


@pytest.fixture(scope="module")
def app_pylock(server: Server, app_wheelhouse: Wheelhouse) -> Install:
    return server.uv_pip_install_pylock(app_wheelhouse.path)


@pytest.fixture(params=INSTALLERS)
def app_install(request: pytest.FixtureRequest) -> Install:
    """The app wheelhouse installed on the server by each of the three documented commands."""
    fixture = {"uv-sync": "app_uv_sync", "pip": "app_pip", "pylock": "app_pylock"}[request.param]
    install: Install = request.getfixturevalue(fixture)
    return install


def test_build_adds_only_the_wheelhouse_to_dist(app_wheelhouse: Wheelhouse) -> None:
    assert (
        app_wheelhouse.build.artifact
        == (app_wheelhouse.build.project / "dist" / "app-0.1.0-wheelhouse").resolve()
    )
    assert app_wheelhouse.build.dist_entries == ["app-0.1.0-wheelhouse"]


def test_wheelhouse_holds_a_wheel_of_every_selected_package(
    app_wheelhouse: Wheelhouse, app_reference: set[Distribution]
) -> None:
    in_wheels = {
        (canonicalize_name(name), str(version))
        for name, version, _, _ in map(parse_wheel_filename, app_wheelhouse.wheels)
    }
    assert in_wheels == app_reference


def test_wheelhouse_holds_the_c_extension_built_for_this_python(
    app_wheelhouse: Wheelhouse,
) -> None:
    (cext,) = [name for name in app_wheelhouse.wheels if name.startswith("cext-")]
    tags = parse_wheel_filename(cext)[3]
    assert not is_pure(cext)
    assert {tag.interpreter for tag in tags} == {f"cp{THIS_PYTHON.replace('.', '')}"}


def test_wheelhouse_text_files_hold_no_path_of_the_build_machine(
    app_wheelhouse: Wheelhouse, build_machine_paths: list[str]
) -> None:
    needles = [*build_machine_paths, str(app_wheelhouse.build.project)]
    found = {}
    for path in text_files(app_wheelhouse.path):
        hits = [needle for needle in needles if needle in path.read_text()]
        if hits:
            found[path.name] = hits
    assert found == {}


def test_install_guide_gives_the_commands_run_here(app_wheelhouse: Wheelhouse) -> None:
    guide = (app_wheelhouse.path / "INSTALL.md").read_text()
    lines = [line.strip() for line in guide.splitlines()]
    assert " ".join(UV_SYNC) in lines
    assert any(line.endswith("/bin/" + " ".join(PIP_INSTALL)) for line in lines), guide
    pylock_command = " ".join(UV_PIP_INSTALL_PYLOCK[:-2])
    assert any(
        line.startswith(pylock_command) and line.endswith(" -r pylock.toml") for line in lines
    ), guide


def test_install_from_the_moved_wheelhouse_succeeds_offline(app_install: Install) -> None:
    assert app_install.succeeded, describe(app_install.result)


def test_install_yields_the_distributions_of_the_uv_recipe(
    app_install: Install, app_reference: set[Distribution]
) -> None:
    assert app_install.installed == app_reference


def test_install_builds_nothing_on_the_server(app_install: Install) -> None:
    assert app_install.succeeded, describe(app_install.result)
    assert build_lines(app_install.output) == []
    assert build_cache_entries(app_install.cache) == []


def test_installed_app_imports_every_distribution(app_install: Install) -> None:
    imported = import_markers(
        lambda code: (
            run(
                [app_install.python, "-c", code],
                cwd=app_install.wheelhouse.parent,
                env=clean_run_environ(),
            ).stdout
        ),
        (name for name, _ in app_install.installed),
    )
    assert {name: marker for name, (marker, _) in imported.items()} == {
        name: f"{name} {version}" for name, version in app_install.installed
    }
    environment = app_install.environment.resolve()
    assert all(Path(file).resolve().is_relative_to(environment) for _, file in imported.values())


def test_installed_console_script_runs_and_imports_the_c_extension(app_install: Install) -> None:
    result = run(
        [app_install.environment / "bin" / "app-hello"],
        cwd=app_install.wheelhouse.parent,
        env=clean_run_environ(),
    )
    assert result.stdout.splitlines() == [
        f"app 0.1.0 console-script {app_install.environment}",
        "cext 1.0",
        "puresdist 1.0",
        "platdep 1.0",
    ]


def test_uv_sync_installs_the_project_from_its_wheel_not_editable(app_uv_sync: Install) -> None:
    packages = site_packages(app_uv_sync.environment)
    assert (packages / "app" / "__init__.py").is_file()
    assert list(packages.glob("*.pth")) == []
    direct_url = json.loads((packages / "app-0.1.0.dist-info" / "direct_url.json").read_text())
    assert "dir_info" not in direct_url
    assert direct_url["url"].endswith("/wheels/app-0.1.0-py3-none-any.whl")


def test_build_detection_sees_uv_building_an_sdist(
    server: Server, package_index: IndexServer, tmp_path: Path
) -> None:
    """The check that nothing is built on the server can fail: uv building cext is noticed."""
    cache = tmp_path / "cache"
    env = server.environ(
        cache,
        {"UV_INDEX_URL": package_index.simple_url, "UV_DEFAULT_INDEX": package_index.simple_url},
    )
    result = run(
        [
            *(uv_binary(), "pip", "install", "--target", tmp_path / "target"),
            *("--python", sys.executable, "--no-binary", "cext", "cext"),
        ],
        cwd=tmp_path,
        env=env,
    )
    assert build_lines(result.stdout + result.stderr) != [], describe(result)
    assert build_cache_entries(cache / "uv") != []


# -- a workspace member ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_wheelhouse(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    """The wheelhouse of ``packages/api`` in a workspace with a virtual root."""
    workspace = make_project("workspace")
    return build_wheelhouse(
        hatch_build,
        workspace / "packages" / "api",
        tmp_path_factory.mktemp("api-wheelhouse"),
        lock=workspace / "uv.lock",
    )


@pytest.fixture(scope="module")
def api_uv_sync(server: Server, api_wheelhouse: Wheelhouse) -> Install:
    return server.uv_sync(api_wheelhouse.path)


def test_member_wheelhouse_is_written_to_the_member_dist(api_wheelhouse: Wheelhouse) -> None:
    assert (
        api_wheelhouse.build.artifact
        == (api_wheelhouse.build.project / "dist" / "api-0.1.0-wheelhouse").resolve()
    )


def test_member_wheelhouse_holds_the_shared_member_as_a_wheel_and_not_worker(
    api_wheelhouse: Wheelhouse,
) -> None:
    names = {str(parse_wheel_filename(name)[0]) for name in api_wheelhouse.wheels}
    assert names == {"api", "shared", "apidep"}


def test_member_lock_installs_the_shared_member_from_its_wheel(api_wheelhouse: Wheelhouse) -> None:
    shared = locked_packages(api_wheelhouse.path / "uv.lock")["shared", "0.1.0"]
    (wheel,) = [name for name in api_wheelhouse.wheels if name.startswith("shared-")]
    assert shared["source"] == {"path": f"wheels/{wheel}"}
    assert shared["wheels"] == [
        {"filename": wheel, "hash": f"sha256:{sha256_of(api_wheelhouse.wheels[wheel])}"}
    ]


def test_member_uv_sync_yields_the_distributions_of_the_uv_recipe(
    api_wheelhouse: Wheelhouse, api_uv_sync: Install, uv_reference_target: UvReferenceTarget
) -> None:
    assert api_uv_sync.succeeded, describe(api_uv_sync.result)
    reference = uv_reference_target(api_wheelhouse.lock.parent, package="api")
    assert api_uv_sync.installed == distributions(reference)
    assert {name for name, _ in api_uv_sync.installed}.isdisjoint({"worker", "workerdep"})


def test_member_uv_sync_builds_nothing_on_the_server(api_uv_sync: Install) -> None:
    assert api_uv_sync.succeeded, describe(api_uv_sync.result)
    assert build_lines(api_uv_sync.output) == []
    assert build_cache_entries(api_uv_sync.cache) == []


def test_member_console_script_runs(api_uv_sync: Install) -> None:
    result = run(
        [api_uv_sync.environment / "bin" / "api-hello"],
        cwd=api_uv_sync.wheelhouse.parent,
        env=clean_run_environ(),
    )
    assert result.stdout.splitlines() == [
        f"api 0.1.0 console-script {api_uv_sync.environment}",
        "shared 0.1.0",
        "apidep 1.0",
    ]


# -- a wheel replaced by another file ---------------------------------------------------------------


@dataclass(frozen=True)
class Tampered:
    """The three installs of a wheelhouse copy in which one wheel was replaced."""

    wheel: str
    locked_sha256: str
    installs: dict[str, Install]


@pytest.fixture(
    scope="module",
    params=["scriptpkg-1.0-py3-none-any.whl", "app-0.1.0-py3-none-any.whl"],
    ids=["downloaded-wheel", "project-wheel"],
)
def tampered(
    request: pytest.FixtureRequest,
    server: Server,
    app_wheelhouse: Wheelhouse,
    tmp_path_factory: pytest.TempPathFactory,
) -> Tampered:
    wheel: str = request.param
    copy = tmp_path_factory.mktemp("tampered") / app_wheelhouse.path.name
    shutil.copytree(app_wheelhouse.path, copy)
    target = copy / "wheels" / wheel
    locked = sha256_of(target)
    size = target.stat().st_size
    alter_wheel_keeping_its_size(target)
    assert target.stat().st_size == size
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None  # still a valid wheel: only the hash tells
    return Tampered(
        wheel=wheel,
        locked_sha256=locked,
        installs={
            "uv-sync": server.uv_sync(copy),
            "pip": server.pip_install(copy),
            "pylock": server.uv_pip_install_pylock(copy),
        },
    )


@pytest.mark.parametrize("installer", INSTALLERS)
def test_replaced_wheel_fails_the_install(tampered: Tampered, installer: str) -> None:
    install = tampered.installs[installer]
    assert not install.succeeded, describe(install.result)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_replaced_wheel_failure_names_the_wheel_and_the_hash_mismatch(
    tampered: Tampered, installer: str
) -> None:
    output = tampered.installs[installer].output
    assert "hash" in output.lower(), output
    assert str(parse_wheel_filename(tampered.wheel)[0]) in output, output
    assert tampered.locked_sha256 in output, output


# -- binary-only -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_only_wheelhouse(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    project = make_project("app")
    add_to_pyproject(project, "[tool.lockbundle]\nbinary-only = true\n")
    return build_wheelhouse(hatch_build, project, tmp_path_factory.mktemp("binary-only"))


@pytest.fixture(scope="module", params=INSTALLERS)
def binary_only_install(
    request: pytest.FixtureRequest, server: Server, binary_only_wheelhouse: Wheelhouse
) -> Install:
    """The binary-only wheelhouse installed by each documented command, the index reachable."""
    install = {
        "uv-sync": server.uv_sync,
        "pip": server.pip_install,
        "pylock": server.uv_pip_install_pylock,
    }[request.param]
    return install(binary_only_wheelhouse.path, index_reachable=True)


def test_binary_only_wheels_are_the_platform_specific_and_built_ones(
    binary_only_wheelhouse: Wheelhouse, app_wheelhouse: Wheelhouse
) -> None:
    expected = {
        name
        for name in app_wheelhouse.wheels
        if not is_pure(name)
        or app_wheelhouse.manifest_entry(str(parse_wheel_filename(name)[0]))["origin"] == "built"
    }
    assert set(binary_only_wheelhouse.wheels) == expected
    names = {str(parse_wheel_filename(name)[0]) for name in expected}
    assert {"cext", "puresdist", "app"} <= names
    assert "scriptpkg" not in names


def test_binary_only_lock_keeps_pure_downloaded_wheels_on_their_index(
    binary_only_wheelhouse: Wheelhouse,
) -> None:
    original = locked_packages(binary_only_wheelhouse.lock)
    rewritten = locked_packages(binary_only_wheelhouse.path / "uv.lock")
    local = {
        (str(name), str(version))
        for name, version, _, _ in map(parse_wheel_filename, binary_only_wheelhouse.wheels)
    }
    remote = {key for key in rewritten if key not in local and key[0] != "app-wheelhouse"}
    assert {name for name, _ in remote} >= {"scriptpkg", "forked", "platdep"}
    for key in remote:
        (locked_wheel,) = original[key]["wheels"]  # type: ignore[misc]
        (written,) = rewritten[key]["wheels"]  # type: ignore[misc]
        assert rewritten[key]["source"] == original[key]["source"], key
        assert (written["url"], written["hash"]) == (locked_wheel["url"], locked_wheel["hash"])


def test_binary_only_requirements_name_the_index_and_the_wheels_dir(
    binary_only_wheelhouse: Wheelhouse, package_index: IndexServer
) -> None:
    lines = (binary_only_wheelhouse.path / "requirements.txt").read_text().splitlines()
    assert f"--index-url {package_index.simple_url}" in lines
    assert "--find-links wheels" in lines
    assert "--no-index" not in lines


def test_binary_only_install_succeeds_with_the_index_reachable(
    binary_only_install: Install,
) -> None:
    assert binary_only_install.succeeded, describe(binary_only_install.result)


def test_binary_only_install_yields_the_same_distributions(
    binary_only_install: Install, app_uv_sync: Install
) -> None:
    assert binary_only_install.installed == app_uv_sync.installed


def test_binary_only_install_builds_nothing_on_the_server(binary_only_install: Install) -> None:
    assert binary_only_install.succeeded, describe(binary_only_install.result)
    assert build_lines(binary_only_install.output) == []
    assert build_cache_entries(binary_only_install.cache) == []


# -- a wrong interpreter or platform -----------------------------------------------------------------


def test_rewritten_lock_names_this_python_and_platform(app_wheelhouse: Wheelhouse) -> None:
    lock = app_wheelhouse.toml("uv.lock")
    assert lock["requires-python"] == f"=={THIS_PYTHON}.*"
    (marker,) = lock["supported-markers"]  # type: ignore[misc]
    assert (
        marker == f"platform_machine == '{platform.machine()}' and sys_platform == '{sys.platform}'"
    )
    assert Marker(marker).evaluate()
    assert not Marker(marker).evaluate({"sys_platform": "win32", "platform_machine": "AMD64"})


def test_uv_sync_refuses_another_platform(server: Server, app_wheelhouse: Wheelhouse) -> None:
    install = server.uv_sync(
        app_wheelhouse.path, extra_args=("--python-platform", foreign_platform())
    )
    assert not install.succeeded, describe(install.result)
    assert "supported environments" in install.output
    assert nothing_installed(install)


def test_pylock_install_refuses_another_platform(
    server: Server, app_wheelhouse: Wheelhouse
) -> None:
    install = server.uv_pip_install_pylock(
        app_wheelhouse.path, extra_args=("--python-platform", foreign_platform())
    )
    assert not install.succeeded, describe(install.result)
    assert "not supported by the lockfile" in install.output
    assert nothing_installed(install)


# -- the manifest -------------------------------------------------------------------------------------


def test_manifest_lists_every_wheel_with_its_sha256(app_wheelhouse: Wheelhouse) -> None:
    wheels = app_wheelhouse.manifest["wheels"]
    assert isinstance(wheels, list)
    listed = {entry["file"]: entry["sha256"] for entry in wheels}
    assert listed == {
        f"wheels/{name}": sha256_of(path) for name, path in app_wheelhouse.wheels.items()
    }


def test_manifest_names_and_versions_match_the_wheel_files(app_wheelhouse: Wheelhouse) -> None:
    wheels = app_wheelhouse.manifest["wheels"]
    assert isinstance(wheels, list)
    for entry in wheels:
        name, version, _, _ = parse_wheel_filename(Path(entry["file"]).name)
        assert (entry["name"], entry["version"]) == (name, str(version))


def test_manifest_says_the_c_extension_was_built_from_its_locked_sdist(
    app_wheelhouse: Wheelhouse,
) -> None:
    sdist = locked_packages(app_wheelhouse.lock)["cext", "1.0"]["sdist"]
    assert isinstance(sdist, dict)
    entry = app_wheelhouse.manifest_entry("cext")
    assert entry["origin"] == "built"
    assert entry["built-from"] == Path(sdist["url"]).name


def test_manifest_says_locked_wheels_were_downloaded_from_their_urls(
    app_wheelhouse: Wheelhouse,
) -> None:
    locked = locked_packages(app_wheelhouse.lock)
    entry = app_wheelhouse.manifest_entry("scriptpkg")
    (wheel,) = locked["scriptpkg", "1.0"]["wheels"]  # type: ignore[misc]
    assert entry["origin"] == "downloaded"
    assert entry["url"] == wheel["url"]
    assert f"sha256:{entry['sha256']}" == wheel["hash"]


def test_manifest_records_the_sha256_of_the_source_lock(app_wheelhouse: Wheelhouse) -> None:
    assert app_wheelhouse.manifest["lock"] == {
        "sha256": sha256_of(app_wheelhouse.lock),
        "format": "uv.lock",
        "path": "uv.lock",
    }


# -- archives ------------------------------------------------------------------------------------------

SOURCE_DATE_EPOCH = 1700000000


@dataclass(frozen=True)
class ArchiveBuilds:
    """Builds of the app with ``archive = <fmt>``; copies of what each build wrote."""

    fmt: str
    project: Path
    archive: Path  # where hatch wrote it (the last build's is still there)
    first: Path
    with_epoch: Path  # built with SOURCE_DATE_EPOCH set

    @property
    def bundle_name(self) -> str:
        return self.archive.name.removesuffix(f".{self.fmt}")


@pytest.fixture(scope="module", params=["tar.gz", "zip"])
def archive_builds(
    request: pytest.FixtureRequest,
    make_project: MakeProject,
    hatch_build: HatchBuild,
    tmp_path_factory: pytest.TempPathFactory,
) -> ArchiveBuilds:
    fmt: str = request.param
    project = make_project("app")
    add_to_pyproject(project, f'[tool.lockbundle]\narchive = "{fmt}"\n')
    kept = tmp_path_factory.mktemp(f"archives-{fmt.replace('.', '-')}")
    cache = kept / "lockbundle-cache"  # shared by the builds: the C extension is built once

    def build(label: str, extra_env: dict[str, str] | None = None) -> tuple[Path, Path]:
        artifact = built_artifact(
            hatch_build(project, WHEELHOUSE, extra_env, cache_dir=cache), project
        )
        copy = kept / label / artifact.name
        copy.parent.mkdir()
        shutil.copy2(artifact, copy)
        return artifact, copy

    _, first = build("first")
    archive, with_epoch = build("epoch", {"SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)})
    return ArchiveBuilds(fmt, project, archive, first, with_epoch)


def test_archive_is_named_for_the_wheelhouse(archive_builds: ArchiveBuilds) -> None:
    assert archive_builds.archive.name == f"app-0.1.0-wheelhouse.{archive_builds.fmt}"
    assert archive_builds.archive.parent == archive_builds.project / "dist"
    assert archive_builds.archive.is_file()


def test_archive_entries_are_all_under_the_bundle_name(archive_builds: ArchiveBuilds) -> None:
    prefix = archive_builds.bundle_name
    names = [entry.name for entry in archive_entries(archive_builds.first)]
    outside = [
        name for name in names if name.rstrip("/") != prefix and not name.startswith(f"{prefix}/")
    ]
    assert outside == []


def test_archive_holds_the_files_of_the_wheelhouse_directory(
    archive_builds: ArchiveBuilds, app_wheelhouse: Wheelhouse, tmp_path: Path
) -> None:
    extracted = extract(archive_builds.first, tmp_path) / archive_builds.bundle_name
    assert [path.relative_to(extracted) for path in files(extracted)] == [
        path.relative_to(app_wheelhouse.path) for path in files(app_wheelhouse.path)
    ]


def test_archive_entries_carry_source_date_epoch(archive_builds: ArchiveBuilds) -> None:
    times = {entry.mtime for entry in archive_entries(archive_builds.with_epoch)}
    assert times == {SOURCE_DATE_EPOCH}


def test_extracted_archive_installs_with_uv_sync_offline(
    archive_builds: ArchiveBuilds, server: Server, app_uv_sync: Install, tmp_path: Path
) -> None:
    extracted = extract(archive_builds.first, tmp_path) / archive_builds.bundle_name
    install = server.uv_sync(extracted)
    assert install.succeeded, describe(install.result)
    assert install.installed == app_uv_sync.installed
    assert build_lines(install.output) == []


def test_clean_removes_the_archive_only(
    archive_builds: ArchiveBuilds, hatch: Hatch, tmp_path: Path
) -> None:
    # a copy: the other tests of archive_builds, before or after this one, read its dist/
    project = shutil.copytree(archive_builds.project, tmp_path / "app", symlinks=True)
    (project / "dist" / "notes.txt").write_text("not hatch-lockbundle's\n")

    result = hatch.clean(project, WHEELHOUSE)

    assert result.returncode == 0, describe(result)
    assert not (project / "dist" / archive_builds.archive.name).exists()
    assert sorted(path.name for path in (project / "dist").iterdir()) == ["notes.txt"]


# -- the same archive from scratch ------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """How one copy of the project is made and built: what may differ between two machines'
    checkouts (or two checkouts on one machine) and must not change a byte of the archive."""

    label: str
    path: Path  # relative to the build's own temporary directory: the checkout's path differs
    umask: int  # of the copy and of the build
    order: str  # the order the project's files are created in: "sorted", "reversed", "shuffled"
    mtime: float | None  # every file's and directory's mtime (None: when it was written)
    cache: str  # the lockbundle cache: "cold" (a new one) or "warm" (the previous build's)


CHECKOUTS = (
    Checkout("first", Path("a/app"), 0o022, "sorted", None, "cold"),
    Checkout("moved", Path("b/somewhere/much/deeper/app-checkout"), 0o077, "reversed", 1e9, "warm"),
    Checkout("group-writable", Path("c/x"), 0o002, "shuffled", 1.7e9 - 86400 * 400, "cold"),
)


@dataclass(frozen=True)
class ScratchBuild:
    """A build in a new checkout, into an empty ``dist/``: the archive it wrote, copied aside."""

    checkout: Checkout
    artifact: Path  # where hatch wrote it
    copy: Path
    output: str  # what hatch printed (both streams)


def project_files(project: Path) -> dict[str, tuple[bytes, bool]]:
    """Relative path -> (content, executable) of a project's files, without ``dist/``."""
    return {
        path.relative_to(project).as_posix(): (path.read_bytes(), os.access(path, os.X_OK))
        for path in files(project)
        if "dist" not in path.relative_to(project).parts
    }


def write_checkout(content: dict[str, tuple[bytes, bool]], root: Path, checkout: Checkout) -> Path:
    """Create the files of ``content`` under ``root / checkout.path`` in the checkout's order,
    with its umask in force, and give them (and their directories) its mtime."""
    project = root / checkout.path
    names = sorted(content)
    if checkout.order == "reversed":
        names.reverse()
    elif checkout.order == "shuffled":  # a fixed order that is neither sorted nor reversed
        names.sort(key=lambda name: hashlib.sha256(name.encode()).digest())
    previous = os.umask(checkout.umask)
    try:
        for name in names:
            data, executable = content[name]
            path = project / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if executable:
                path.chmod(0o777 & ~checkout.umask)
    finally:
        os.umask(previous)
    if checkout.mtime is not None:
        for directory, _, names_here in os.walk(project):
            for name in [*names_here, "."]:
                os.utime(Path(directory, name), (checkout.mtime, checkout.mtime))
    return project


@pytest.fixture(
    scope="module",
    params=[
        ("wheelhouse", "tar.gz"),
        ("wheelhouse", "zip"),
        ("target", "zip"),
        ("target", "tar.gz"),
    ],
    ids="-".join,
)
def scratch_builds(
    request: pytest.FixtureRequest,
    make_project: MakeProject,
    hatch_build: HatchBuild,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[ScratchBuild]:
    """The app with ``archive = <fmt>``, built for one layout once in each of :data:`CHECKOUTS`."""
    layout, fmt = request.param
    locked = make_project("app")
    add_to_pyproject(locked, f'[tool.lockbundle]\narchive = "{fmt}"\n')
    content = project_files(locked)  # the lock included: every checkout builds the same one
    kept = tmp_path_factory.mktemp(f"scratch-{layout}-{fmt.replace('.', '-')}")
    builds: list[ScratchBuild] = []
    cache = kept / "cache-0"
    for number, checkout in enumerate(CHECKOUTS):
        project = write_checkout(content, kept / checkout.label, checkout)
        if checkout.cache == "cold":
            cache = kept / f"cache-{number}"
        assert cache.exists() == (checkout.cache == "warm")
        previous = os.umask(checkout.umask)
        try:
            result = hatch_build(project, f"lockbundle:{layout}", cache_dir=cache)
        finally:
            os.umask(previous)
        artifact = built_artifact(result, project)
        copy = kept / "archives" / checkout.label / artifact.name
        copy.parent.mkdir(parents=True)
        shutil.copyfile(artifact, copy)
        builds.append(ScratchBuild(checkout, artifact, copy, result.stdout + result.stderr))
    return builds


def built_anew(build: ScratchBuild, other: ScratchBuild) -> bool:
    """Whether ``build`` packed its own archive: not up to date, not ``other``'s file."""
    packed = f"Packed {build.artifact.name}" in build.output
    skipped = "is up to date" in build.output
    return packed and not skipped and not os.path.samefile(build.artifact, other.artifact)


def test_rebuilt_archive_is_byte_identical(scratch_builds: list[ScratchBuild]) -> None:
    """Another checkout (path, umask 077, creation order, mtimes), the same warm cache."""
    first, moved, _ = scratch_builds
    assert built_anew(first, moved), first.output
    assert built_anew(moved, first), moved.output
    assert moved.copy.read_bytes() == first.copy.read_bytes()


def test_archive_rebuilt_with_a_cold_cache_is_byte_identical(
    scratch_builds: list[ScratchBuild],
) -> None:
    """Another checkout (path, umask 002, creation order, mtimes) and a cache of its own: every
    sdist is built again."""
    first, _, cold = scratch_builds
    assert built_anew(cold, first), cold.output
    assert cold.copy.read_bytes() == first.copy.read_bytes()
