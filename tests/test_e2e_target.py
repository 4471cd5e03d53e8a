"""`hatch build -t lockbundle` for real: target bundles of a uv project and of a workspace member.

Each bundle is built by the real hatch with the plugin built from this working tree, from a lock made
by the real `uv lock` against a package index on 127.0.0.1, and compared with what the by-hand recipe
`uv export --no-editable | uv pip install --target` installs from the same lock.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle.cache import Cache
from support.builds import Build, build_and_move
from support.bundle import (
    distributions,
    files,
    import_markers,
    installed_layout,
    local_direct_urls,
    occurrences,
    pyc_flags,
    snapshot,
)
from support.compat import tomllib
from support.environ import describe
from support.fresh import FreshPython
from support.hatch import Hatch, HatchBuild, built_artifact
from support.index import IndexServer
from support.projects import MakeProject, add_to_pyproject
from support.reference import UvReferenceTarget

pytestmark = pytest.mark.slow


def modules_outside_bin(bundle: Path) -> list[Path]:
    return [
        path
        for path in files(bundle)
        if path.suffix == ".py" and path.relative_to(bundle).parts[0] != "bin"
    ]


# -- a uv project -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_build(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Build:
    """``hatch build -t lockbundle`` in the app project, with no ``[tool.lockbundle]`` at all."""
    return build_and_move(hatch_build, make_project("app"), tmp_path_factory.mktemp("app-bundle"))


def test_build_prints_the_bundle_directory_named_for_project_and_version(app_build: Build) -> None:
    assert app_build.artifact == (app_build.project / "dist" / "app-0.1.0-target").resolve()
    assert app_build.bundle.is_dir()


def test_build_adds_only_the_bundle_to_dist(app_build: Build) -> None:
    assert app_build.dist_entries == ["app-0.1.0-target"]


def test_bundle_distributions_equal_the_uv_recipe(
    app_build: Build, uv_reference_target: UvReferenceTarget
) -> None:
    assert distributions(app_build.bundle) == distributions(uv_reference_target(app_build.project))


def test_bundle_files_are_where_uv_pip_install_target_puts_them(
    app_build: Build, uv_reference_target: UvReferenceTarget
) -> None:
    reference = uv_reference_target(app_build.project)
    assert installed_layout(app_build.bundle) == installed_layout(reference)


def test_bundle_leaves_out_the_dev_group_by_default(app_build: Build) -> None:
    assert "devdep" not in {name for name, _ in distributions(app_build.bundle)}


def test_bundle_holds_the_forked_version_locked_for_the_running_python(app_build: Build) -> None:
    assert {d for d in distributions(app_build.bundle) if d[0] == "forked"} == {("forked", "2.0")}


def test_bundle_holds_the_platform_marker_dependency_for_this_platform_only(
    app_build: Build,
) -> None:
    names = {name for name, _ in distributions(app_build.bundle)}
    assert "linuxonly" in names
    assert "winonly" not in names


def test_bundle_installs_data_files_under_its_root(app_build: Build) -> None:
    assert (app_build.bundle / "share/scriptpkg/data.txt").read_text() == "scriptpkg data 1.0\n"


def test_bundle_holds_no_pth_files(app_build: Build) -> None:
    assert [path for path in files(app_build.bundle) if path.suffix == ".pth"] == []


def test_bundle_holds_no_absolute_path_of_the_build_machine(
    app_build: Build, build_machine_paths: list[str]
) -> None:
    needles = [*build_machine_paths, str(app_build.project)]
    assert occurrences(app_build.bundle, needles) == {}


def test_bundle_has_no_direct_url_to_local_files(app_build: Build) -> None:
    assert local_direct_urls(app_build.bundle) == {}


def test_moved_bundle_imports_every_distribution_in_a_fresh_python(
    app_build: Build, fresh_python: FreshPython
) -> None:
    imported = import_markers(
        lambda code: fresh_python.run_code(code, app_build.bundle).stdout,
        (name for name, _ in distributions(app_build.bundle)),
    )
    assert {name: marker for name, (marker, _) in imported.items()} == {
        name: f"{name} {version}" for name, version in distributions(app_build.bundle)
    }
    assert all(Path(file).is_relative_to(app_build.bundle) for _, file in imported.values())


@pytest.mark.parametrize(
    ("script", "first_line"),
    [
        ("app-hello", "app 0.1.0 console-script"),
        ("scriptpkg-hello", "scriptpkg 1.0 console-script"),
        ("scriptpkg-tool", "scriptpkg 1.0 script-file"),
    ],
)
def test_moved_bundle_runs_its_scripts_with_only_python3_on_path(
    app_build: Build, fresh_python: FreshPython, script: str, first_line: str
) -> None:
    result = fresh_python.run_script(app_build.bundle / "bin" / script)
    assert result.stdout.splitlines()[0] == f"{first_line} {fresh_python.prefix}"


def test_moved_bundle_console_script_imports_the_c_extension(
    app_build: Build, fresh_python: FreshPython
) -> None:
    result = fresh_python.run_script(app_build.bundle / "bin" / "app-hello")
    assert result.stdout.splitlines()[1:] == ["cext 1.0", "puresdist 1.0", "platdep 1.0"]


def test_explicit_target_version_builds_the_same_bundle(
    app_build: Build,
    make_project: MakeProject,
    hatch_build: HatchBuild,
    tmp_path: Path,
) -> None:
    explicit = build_and_move(hatch_build, make_project("app"), tmp_path, "lockbundle:target")
    assert explicit.artifact.name == app_build.artifact.name
    assert distributions(explicit.bundle) == distributions(app_build.bundle)
    assert installed_layout(explicit.bundle) == installed_layout(app_build.bundle)


# -- options: extras, groups, bytecode --------------------------------------------------------------

CONFIGURED = """
[tool.lockbundle]
extras = ["feature", "cpu"]
groups = ["dev"]
compile-bytecode = true
"""


@pytest.fixture(scope="module")
def configured_app_build(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Build:
    """The app built with an extra, a conflicting extra, the dev group and bytecode compilation."""
    project = make_project("app")
    add_to_pyproject(project, CONFIGURED)
    return build_and_move(hatch_build, project, tmp_path_factory.mktemp("configured-bundle"))


def test_configured_bundle_equals_the_uv_recipe_with_the_same_extras_and_groups(
    configured_app_build: Build, uv_reference_target: UvReferenceTarget
) -> None:
    reference = uv_reference_target(
        configured_app_build.project, extras=["feature", "cpu"], groups=["dev"]
    )
    assert distributions(configured_app_build.bundle) == distributions(reference)


def test_named_dev_group_is_bundled(configured_app_build: Build) -> None:
    assert ("devdep", "1.0") in distributions(configured_app_build.bundle)


def test_conflicting_extra_selects_the_version_locked_for_it(configured_app_build: Build) -> None:
    accel = {d for d in distributions(configured_app_build.bundle) if d[0] == "accel"}
    assert accel == {("accel", "1.0")}


def test_compiled_bytecode_is_hash_based_for_every_module(configured_app_build: Build) -> None:
    modules = modules_outside_bin(configured_app_build.bundle)
    assert modules
    for module in modules:
        pyc = Path(importlib.util.cache_from_source(str(module)))
        assert pyc.is_file(), f"no bytecode for {module.relative_to(configured_app_build.bundle)}"
        assert pyc_flags(pyc) != 0, f"{pyc.name} is timestamp-based"


def test_compiled_bytecode_holds_no_absolute_path_of_the_build_machine(
    configured_app_build: Build, build_machine_paths: list[str]
) -> None:
    needles = [*build_machine_paths, str(configured_app_build.project)]
    found = occurrences(configured_app_build.bundle, needles)
    assert {path: hits for path, hits in found.items() if path.endswith(".pyc")} == {}
    assert found == {}


# -- a member of a uv workspace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_build(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Build:
    """``hatch build -t lockbundle`` run in ``packages/api`` of a workspace with a virtual root."""
    workspace = make_project("workspace")
    return build_and_move(
        hatch_build, workspace / "packages" / "api", tmp_path_factory.mktemp("api-bundle")
    )


def test_member_bundle_is_written_to_the_member_dist(api_build: Build) -> None:
    assert api_build.artifact == (api_build.project / "dist" / "api-0.1.0-target").resolve()


def test_member_bundle_equals_the_uv_recipe_for_that_package(
    api_build: Build, uv_reference_target: UvReferenceTarget
) -> None:
    workspace_root = api_build.project.parent.parent
    reference = uv_reference_target(workspace_root, package="api")
    assert distributions(api_build.bundle) == distributions(reference)


def test_member_bundle_excludes_the_other_member_and_its_dependencies(api_build: Build) -> None:
    assert distributions(api_build.bundle) == {
        ("api", "0.1.0"),
        ("shared", "0.1.0"),
        ("apidep", "1.0"),
    }


def test_member_bundle_installs_the_shared_member_as_a_wheel(api_build: Build) -> None:
    assert (api_build.bundle / "shared" / "__init__.py").is_file()
    record = (api_build.bundle / "shared-0.1.0.dist-info" / "RECORD").read_text()
    assert "shared/__init__.py," in record
    assert [path for path in files(api_build.bundle) if path.suffix == ".pth"] == []
    assert local_direct_urls(api_build.bundle) == {}


def test_member_bundle_holds_no_absolute_path_of_the_build_machine(
    api_build: Build, build_machine_paths: list[str]
) -> None:
    needles = [*build_machine_paths, str(api_build.project.parent.parent)]
    assert occurrences(api_build.bundle, needles) == {}


def test_moved_member_bundle_runs_its_console_script(
    api_build: Build, fresh_python: FreshPython
) -> None:
    result = fresh_python.run_script(api_build.bundle / "bin" / "api-hello")
    assert result.stdout.splitlines() == [
        f"api 0.1.0 console-script {fresh_python.prefix}",
        "shared 0.1.0",
        "apidep 1.0",
    ]


def test_workspace_members_build_in_hatchs_environment_without_one_of_their_own(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path: Path
) -> None:
    # hatch's build environment has hatchling, all the members' backend needs: no second one
    member = make_project("workspace") / "packages" / "api"
    cache = tmp_path / "lockbundle-cache"

    result = hatch_build(member, cache_dir=cache)

    bundle = built_artifact(result, member)
    assert (bundle / "shared" / "__init__.py").is_file()
    assert (bundle / "api-0.1.0.dist-info").is_dir()
    output = result.stdout + result.stderr
    assert "Built api==0.1.0" in output and "Built shared==0.1.0" in output
    assert not (Cache(cache).entries / "build-envs").exists()


# -- the cache, the network, and failures -----------------------------------------------------------


def test_second_build_with_the_index_unreachable_succeeds_from_the_cache(
    make_project: MakeProject,
    hatch_build: HatchBuild,
    private_index: IndexServer,
    dead_url: str,
    tmp_path: Path,
) -> None:
    project = make_project("app", index=private_index)
    cache = tmp_path / "lockbundle-cache"
    first = built_artifact(
        hatch_build(project, index_url=private_index.simple_url, cache_dir=cache), project
    )
    online = distributions(first)
    shutil.rmtree(project / "dist")
    private_index.stop()

    second = hatch_build(project, index_url=dead_url, cache_dir=cache)

    assert distributions(built_artifact(second, project)) == online


@dataclass(frozen=True)
class Tampering:
    """Builds made after the index started serving other bytes for one locked wheel."""

    package: str
    url: str
    expected_sha256: str
    actual_sha256: str
    first_project: Path  # never built before
    first_build: subprocess.CompletedProcess[str]
    rebuilt_project: Path  # built successfully before the tampering
    rebuild: subprocess.CompletedProcess[str]
    previous_bundle: dict[str, str]  # snapshot of the good bundle
    previous_dist: list[str]  # dist/ after the good build


@pytest.fixture(scope="module")
def tampering(
    make_project: MakeProject,
    hatch_build: HatchBuild,
    package_index: IndexServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tampering]:
    workdir = tmp_path_factory.mktemp("tampered")
    with package_index.copy_to(workdir / "index-files") as index:
        first_project = make_project("app", index=index)
        rebuilt_project = make_project("app", index=index)
        good = built_artifact(
            hatch_build(rebuilt_project, index_url=index.simple_url, cache_dir=workdir / "cache-0"),
            rebuilt_project,
        )
        previous_bundle = snapshot(good)
        previous_dist = sorted(path.name for path in (rebuilt_project / "dist").iterdir())

        served = index.directory / "scriptpkg-1.0-py3-none-any.whl"
        original = served.read_bytes()
        served.unlink()
        served.write_bytes(original + b"tampered")
        lock = tomllib.loads((first_project / "uv.lock").read_text())
        (locked,) = [package for package in lock["package"] if package["name"] == "scriptpkg"]
        (wheel,) = locked["wheels"]
        assert wheel["hash"] == "sha256:" + hashlib.sha256(original).hexdigest()

        # Fresh caches: the good build cached the real wheel under its hash.
        yield Tampering(
            package="scriptpkg",
            url=wheel["url"],
            expected_sha256=hashlib.sha256(original).hexdigest(),
            actual_sha256=hashlib.sha256(served.read_bytes()).hexdigest(),
            first_project=first_project,
            first_build=hatch_build(
                first_project, index_url=index.simple_url, cache_dir=workdir / "cache-1"
            ),
            rebuilt_project=rebuilt_project,
            rebuild=hatch_build(
                rebuilt_project, index_url=index.simple_url, cache_dir=workdir / "cache-2"
            ),
            previous_bundle=previous_bundle,
            previous_dist=previous_dist,
        )


def test_download_not_matching_the_lock_fails_the_build(tampering: Tampering) -> None:
    assert tampering.first_build.returncode != 0, describe(tampering.first_build)
    assert tampering.rebuild.returncode != 0, describe(tampering.rebuild)


def test_download_not_matching_the_lock_names_package_url_and_both_hashes(
    tampering: Tampering,
) -> None:
    output = tampering.first_build.stdout + tampering.first_build.stderr
    for expected in (
        tampering.package,
        tampering.url,
        tampering.expected_sha256,
        tampering.actual_sha256,
    ):
        assert expected in output, f"{expected!r} missing from the error\n{output}"


def test_download_not_matching_the_lock_is_reported_without_a_traceback(
    tampering: Tampering,
) -> None:
    assert "Traceback" not in tampering.first_build.stdout + tampering.first_build.stderr


def test_download_not_matching_the_lock_leaves_no_bundle(tampering: Tampering) -> None:
    dist = tampering.first_project / "dist"
    assert not dist.exists() or list(dist.iterdir()) == []


def test_download_not_matching_the_lock_leaves_dist_as_it_was_on_a_rebuild(
    tampering: Tampering,
) -> None:
    dist = tampering.rebuilt_project / "dist"
    assert sorted(path.name for path in dist.iterdir()) == tampering.previous_dist


def test_download_not_matching_the_lock_leaves_the_previous_bundle_untouched(
    tampering: Tampering,
) -> None:
    bundle = tampering.rebuilt_project / "dist" / "app-0.1.0-target"
    assert snapshot(bundle) == tampering.previous_bundle


def test_clean_removes_only_the_bundle(
    make_project: MakeProject, hatch: Hatch, hatch_build: HatchBuild
) -> None:
    project = make_project("workspace") / "packages" / "shared"
    bundle = built_artifact(hatch_build(project), project)
    wheel = built_artifact(hatch_build(project, "wheel"), project)
    notes = project / "dist" / "notes.txt"
    notes.write_text("not hatch-lockbundle's\n")

    result = hatch.clean(project)

    assert result.returncode == 0, describe(result)
    assert not bundle.exists()
    assert sorted(path.name for path in (project / "dist").iterdir()) == sorted(
        [wheel.name, notes.name]
    )
