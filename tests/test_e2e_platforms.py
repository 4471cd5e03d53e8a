"""Bundles for another Python and platform, and named bundle variants, through the real hatch.

The fixture project `crossapp` depends on `nativepkg`, whose wheels for many platforms are fabricated
at session setup (`support.platform_wheels`): each holds an extension module that is only the header
of a shared library for its platform, enough to tell which wheel was installed and for what machine.
On this x86_64 Linux machine (Python 3.11), the tests build:
- target bundles for aarch64, musl, macOS and Windows with Python 3.12, compared with what uv
  installs from the same lock for the same platform
  (`uv export | uv pip install --target --python-platform P --python-version V`);
- foreign builds that cannot succeed (an sdist-only C extension, a platform without wheels);
- a wheelhouse for two platforms, installed here by `uv sync --frozen --offline`;
- two named bundles side by side; and configurations that are errors.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import Marker

from support.archives import extract
from support.builds import Build, assert_failed_cleanly, build_and_move, dist_entries
from support.bundle import distributions, installed_layout
from support.cli import lockbundle
from support.compat import tomllib
from support.environ import Sandbox, describe
from support.foreign import (
    expanded,
    filename_tags,
    foreign_reference_target,
    installed_wheel_tags,
)
from support.hatch import Hatch, HatchBuild, built_artifact
from support.index import IndexServer
from support.platform_wheels import NATIVE, binary_machine, extension_modules, machines
from support.projects import MakeProject, set_config
from support.wheelhouse import (
    Install,
    Server,
    Wheelhouse,
    build_cache_entries,
    build_lines,
    build_wheelhouse,
    nothing_installed,
    site_packages,
)

pytestmark = pytest.mark.slow

THIS_PYTHON = "{}.{}".format(*sys.version_info[:2])
FOREIGN_PYTHON = "3.12"
PROJECT = "crossapp"

# What every bundle of crossapp holds, whatever the target: the project, nativepkg, puresdist.
ALWAYS = {PROJECT, NATIVE, "puresdist"}
MARKER_PACKAGES = {"linuxonly", "winonly", "armonly", "backport"}

ReferenceTarget = Callable[..., Path]


def test_the_foreign_python_is_not_the_running_one() -> None:
    """The tests below build for a Python this machine does not run the build with."""
    assert FOREIGN_PYTHON != THIS_PYTHON
    assert (sys.platform, platform.machine()) == ("linux", "x86_64")


# -- building ---------------------------------------------------------------------------------------


def empty_dist(project: Path) -> None:
    shutil.rmtree(project / "dist", ignore_errors=True)


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def flat_lines(text: str) -> str:
    """Lines joined with spaces: hatch wraps a long message over lines."""
    return " ".join(line.strip() for line in text.splitlines())


def flat(text: str) -> str:
    """Lower case, whitespace collapsed: a message wrapped over lines reads as one."""
    return " ".join(text.split()).lower()


@pytest.fixture(scope="module")
def project(make_project: MakeProject) -> Path:
    """One locked copy of crossapp shared by the module: each build writes its own configuration."""
    return make_project(PROJECT)


@pytest.fixture(scope="module")
def lock(project: Path) -> dict[str, object]:
    return tomllib.loads((project / "uv.lock").read_text())


def locked_wheel_filenames(lock: dict[str, object], name: str) -> list[str]:
    packages = lock["package"]
    assert isinstance(packages, list)
    (package,) = [package for package in packages if package["name"] == name]
    return [Path(wheel["url"]).name for wheel in package.get("wheels", [])]


@pytest.fixture(scope="module")
def uv_foreign_reference(
    project: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> ReferenceTarget:
    """``(python_platform, python_version, extras=()) -> DIR``: uv's install from crossapp's lock."""

    def install(python_platform: str, python_version: str, extras: Sequence[str] = ()) -> Path:
        return foreign_reference_target(
            project,
            tmp_path_factory.mktemp("reference-" + python_platform),
            python_platform=python_platform,
            python_version=python_version,
            index_url=package_index.simple_url,
            extras=extras,
            env=sandbox.environ(),
        )

    return install


def test_fixture_lock_records_every_published_wheel_of_nativepkg(
    lock: dict[str, object], package_index: IndexServer
) -> None:
    files = package_index.projects()[NATIVE]  # type: ignore[index]
    served = {path.name for path in files if path.name.endswith(".whl")}
    assert set(locked_wheel_filenames(lock, NATIVE)) == served
    assert len(served) >= 12


# -- one foreign platform per bundle ----------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """A target the bundle is built for, how uv names it, and what must be chosen for it."""

    id: str
    config: str  # the `[tool.lockbundle]` table
    uv_platform: str  # uv's `--python-platform`
    uv_python: str  # uv's `--python-version`
    native_tags: str  # the nativepkg wheel an installer there prefers (compressed tag set)
    machine: str  # what every extension module in the bundle is built for
    markers_true: set[str] = field(default_factory=set)  # marker packages it gets


PLATFORMS = [
    Platform(
        id="manylinux_2_28_aarch64",
        config='python = "3.12"\nplatforms = ["manylinux_2_28_aarch64"]',
        uv_platform="aarch64-manylinux_2_28",
        uv_python="3.12",
        # manylinux_2_28 before manylinux_2_17, cp312 before abi3; manylinux_2_34 needs a newer glibc.
        native_tags="cp312-cp312-manylinux_2_28_aarch64",
        machine="ELF aarch64",
        markers_true={"linuxonly", "armonly"},
    ),
    Platform(
        id="musllinux-x86_64",
        config='python = "3.12"\nplatforms = ["musllinux-x86_64"]',
        uv_platform="x86_64-unknown-linux-musl",
        uv_python="3.12",
        # musllinux_1_2 before musllinux_1_1, and no manylinux wheel at all.
        native_tags="cp312-cp312-musllinux_1_2_x86_64",
        machine="ELF x86_64",
        markers_true={"linuxonly"},
    ),
    Platform(
        id="macos-arm64",
        config='python = "3.12"\nplatforms = ["macos-arm64"]',
        uv_platform="aarch64-apple-darwin",
        uv_python="3.12",
        # macosx_11_0_arm64 before universal2; the macosx_14_0 wheel is for a newer macOS.
        native_tags="cp312-cp312-macosx_11_0_arm64",
        machine="Mach-O arm64",
        markers_true={"armonly"},
    ),
    Platform(
        id="macosx_13_0_x86_64",
        config='python = "3.12"\nplatforms = ["macosx_13_0_x86_64"]',
        uv_platform="x86_64-apple-darwin",
        uv_python="3.12",
        # The x86_64 wheel before the universal2 one of the same macOS version.
        native_tags="cp312-cp312-macosx_10_9_x86_64",
        machine="Mach-O x86_64",
    ),
    Platform(
        id="windows-x86_64",
        config='python = "3.12.4"\nplatforms = ["windows-x86_64"]',
        uv_platform="x86_64-pc-windows-msvc",
        uv_python="3.12.4",
        native_tags="cp312-cp312-win_amd64",
        machine="PE amd64",
        markers_true={"winonly"},
    ),
]


@dataclass(frozen=True)
class ForeignBuild:
    platform: Platform
    build: Build
    reference: Path

    @property
    def bundle(self) -> Path:
        return self.build.bundle


@pytest.fixture(scope="module", params=PLATFORMS, ids=[p.id for p in PLATFORMS])
def foreign(
    request: pytest.FixtureRequest,
    project: Path,
    hatch_build: HatchBuild,
    uv_foreign_reference: ReferenceTarget,
    tmp_path_factory: pytest.TempPathFactory,
) -> ForeignBuild:
    """A target bundle of crossapp for another platform, and uv's install for that platform."""
    target: Platform = request.param
    build = build_and_move(
        hatch_build,
        project,
        tmp_path_factory.mktemp("bundle-" + target.id),
        "lockbundle",
        config=f"[tool.lockbundle]\n{target.config}\n",
    )
    reference = uv_foreign_reference(target.uv_platform, target.uv_python)
    return ForeignBuild(target, build, reference)


def test_foreign_bundle_holds_the_distributions_uv_installs_for_that_platform(
    foreign: ForeignBuild,
) -> None:
    assert distributions(foreign.bundle) == distributions(foreign.reference)


def test_foreign_bundle_chooses_the_wheel_files_uv_chooses_for_that_platform(
    foreign: ForeignBuild,
) -> None:
    assert installed_wheel_tags(foreign.bundle) == installed_wheel_tags(foreign.reference)


def test_foreign_bundle_chooses_the_first_nativepkg_wheel_in_tag_priority(
    foreign: ForeignBuild,
) -> None:
    assert installed_wheel_tags(foreign.bundle)[NATIVE] == expanded(foreign.platform.native_tags)


def test_foreign_bundle_files_are_where_uv_puts_them(foreign: ForeignBuild) -> None:
    assert installed_layout(foreign.bundle) == installed_layout(foreign.reference)


def test_every_extension_module_of_the_foreign_bundle_is_built_for_its_machine(
    foreign: ForeignBuild,
) -> None:
    modules = machines(extension_modules(foreign.bundle), foreign.bundle)
    assert modules, "no extension module in the bundle"
    assert modules == dict.fromkeys(modules, foreign.platform.machine)


def test_foreign_bundle_evaluates_markers_for_the_target_environment(
    foreign: ForeignBuild,
) -> None:
    names = {str(name) for name, _ in distributions(foreign.bundle)}
    assert names & MARKER_PACKAGES == foreign.platform.markers_true
    assert names >= ALWAYS


def test_pure_sdist_is_built_into_a_pure_wheel_for_the_foreign_target(
    foreign: ForeignBuild,
) -> None:
    assert installed_wheel_tags(foreign.bundle)["puresdist"] == {"py3-none-any"}


def test_foreign_bundle_holds_no_bytecode(foreign: ForeignBuild) -> None:
    assert sorted(foreign.bundle.rglob("*.pyc")) == []


def test_machine_check_tells_this_machines_extensions_apart() -> None:
    """The check above reads real binaries too: this interpreter's own extension modules."""
    import _ctypes  # a compiled module of the standard library on Linux builds of CPython

    assert binary_machine(Path(_ctypes.__file__).read_bytes()) == "ELF x86_64"


# -- no wheel for the target ------------------------------------------------------------------------

# The three ways out, whatever the exact words: a wheelhouse built on a staging machine that matches
# the target, a version that has wheels for it, or another platform.
REMEDIES = (
    r"wheelhouse\b.{0,60}\bstaging machine",
    r"\bversion\b.{0,60}\bwheels\b",
    r"\banother platform\b",
)


def assert_gives_the_remedies(output: str) -> None:
    text = flat(output)
    missing = [remedy for remedy in REMEDIES if not re.search(remedy, text)]
    assert missing == [], output


@dataclass(frozen=True)
class Failure:
    """A failed build, and what ``dist/`` held right after it."""

    result: subprocess.CompletedProcess[str]
    dist_entries: list[str]

    @property
    def output(self) -> str:
        return output_of(self.result)


def build_failure(hatch_build: HatchBuild, project: Path, config: str) -> Failure:
    set_config(project, config)
    empty_dist(project)
    result = hatch_build(project)
    return Failure(result, dist_entries(project))


@pytest.fixture(scope="module")
def c_sdist_failure(project: Path, hatch_build: HatchBuild) -> Failure:
    """crossapp with its extra `c-sdist` (cext, an sdist-only C extension) for aarch64."""
    return build_failure(
        hatch_build,
        project,
        '[tool.lockbundle]\npython = "3.12"\nplatforms = ["manylinux_2_28_aarch64"]\n'
        'extras = ["c-sdist"]\n',
    )


def test_sdist_only_c_extension_fails_the_foreign_build_cleanly(c_sdist_failure: Failure) -> None:
    assert_failed_cleanly(c_sdist_failure.result, c_sdist_failure.dist_entries)


def test_sdist_only_c_extension_error_names_package_version_and_target(
    c_sdist_failure: Failure,
) -> None:
    output = c_sdist_failure.output
    assert re.search(r"\bcext\W{1,3}1\.0\b", output), output
    assert "3.12" in output, output
    assert "manylinux_2_28_aarch64" in output, output


def test_sdist_only_c_extension_error_gives_the_remedies(c_sdist_failure: Failure) -> None:
    assert_gives_the_remedies(c_sdist_failure.output)


@pytest.fixture(scope="module")
def no_fitting_wheel_failure(project: Path, hatch_build: HatchBuild) -> Failure:
    """crossapp for Windows on ARM: nativepkg has wheels, none of them for win_arm64."""
    return build_failure(
        hatch_build, project, '[tool.lockbundle]\npython = "3.12"\nplatforms = ["windows-arm64"]\n'
    )


def test_no_fitting_wheel_fails_the_foreign_build_cleanly(
    no_fitting_wheel_failure: Failure,
) -> None:
    assert_failed_cleanly(no_fitting_wheel_failure.result, no_fitting_wheel_failure.dist_entries)


def test_no_fitting_wheel_error_names_package_version_target_and_remedies(
    no_fitting_wheel_failure: Failure,
) -> None:
    output = no_fitting_wheel_failure.output
    assert re.search(rf"\b{NATIVE}\W{{1,3}}1\.0\b", output), output
    assert "3.12" in output, output
    assert "win_arm64" in output, output
    assert_gives_the_remedies(output)


def test_no_fitting_wheel_error_names_each_python_and_platform_of_the_wheels_once(
    no_fitting_wheel_failure: Failure,
) -> None:
    """Twenty file names, one after the other, hide what a reader looks for: is my platform
    there? (The wheels are those of support.platform_wheels, legacy manylinux names merged.)"""
    assert (
        "The lock has 20 wheels, for cp38-abi3, cp311, cp312 on macosx_10_9_universal2, "
        "macosx_10_9_x86_64, macosx_11_0_arm64, macosx_14_0_arm64, manylinux_2_17_aarch64, "
        "manylinux_2_17_x86_64, manylinux_2_28_aarch64, manylinux_2_28_x86_64, "
        "manylinux_2_34_aarch64, manylinux_2_34_x86_64, musllinux_1_1_aarch64, "
        "musllinux_1_1_x86_64, musllinux_1_2_aarch64, musllinux_1_2_x86_64, win_amd64. "
    ) in no_fitting_wheel_failure.output


def test_no_fitting_wheel_error_lists_no_wheel_file_name(
    no_fitting_wheel_failure: Failure, lock: dict[str, object]
) -> None:
    output = no_fitting_wheel_failure.output
    named = [name for name in locked_wheel_filenames(lock, NATIVE) if name in output]
    assert named == [], output


def test_a_package_without_pure_wheels_is_not_compiled_for_a_foreign_target(
    no_fitting_wheel_failure: Failure,
) -> None:
    """nativepkg publishes an sdist with a C extension: what it compiles here would be for
    x86_64 Linux, never for Windows on ARM, so it is refused before any build."""
    output = no_fitting_wheel_failure.output
    assert f"Building {NATIVE}" not in output, output
    assert "its sdist would be compiled for this machine, not for the target" in output, output


# -- an sdist that does not compile -----------------------------------------------------------------


@pytest.fixture(scope="module")
def failed_compile(project: Path, hatch_build: HatchBuild) -> Failure:
    """crossapp with its extra `needs-lib` (needslib, an sdist-only C extension that does not
    compile: a library header is missing) for aarch64."""
    return build_failure(
        hatch_build,
        project,
        '[tool.lockbundle]\npython = "3.12"\nplatforms = ["manylinux_2_28_aarch64"]\n'
        'extras = ["needs-lib"]\n',
    )


def test_an_sdist_that_fails_to_compile_for_a_foreign_target_fails_cleanly(
    failed_compile: Failure,
) -> None:
    assert_failed_cleanly(failed_compile.result, failed_compile.dist_entries)


def test_an_sdist_that_fails_to_compile_for_a_foreign_target_says_why_and_gives_the_remedies(
    failed_compile: Failure,
) -> None:
    assert (
        "needslib==1.0: no wheel in the lock fits cpython 3.12.0 on manylinux_2_28_aarch64, and "
        "building one here from needslib-1.0.tar.gz failed (had it compiled, it would have been "
        "for this machine, not the target). The lock has no wheel of it. Remedies: build a "
        "wheelhouse on a staging machine that matches the target; lock a version of needslib "
        "that publishes wheels for the target; or bundle for another platform. The last lines "
        "of the build's output:\n"
    ) in failed_compile.output
    assert_gives_the_remedies(failed_compile.output)


def test_an_sdist_that_fails_to_compile_for_a_foreign_target_quotes_the_end_of_its_output(
    failed_compile: Failure,
) -> None:
    quoted = failed_compile.output.split("The last lines of the build's output:\n", 1)[1]
    lines = [line for line in quoted.splitlines() if line.startswith("    ")]
    assert "lockbundle_fixture_missing_library.h" in quoted, failed_compile.output
    assert 0 < len(lines) <= 12, failed_compile.output


# -- a wheelhouse for two platforms -----------------------------------------------------------------

TWO_PLATFORMS = {  # as configured -> uv's --python-platform
    "manylinux_2_28_x86_64": "x86_64-manylinux_2_28",
    "manylinux_2_28_aarch64": "aarch64-manylinux_2_28",
}
ENVIRONMENTS = {  # where a wheelhouse could be installed -> its platform markers
    "linux-x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "linux-ppc64le": {"sys_platform": "linux", "platform_machine": "ppc64le"},
    "linux-i686": {"sys_platform": "linux", "platform_machine": "i686"},
    "macos-arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_machine": "x86_64"},
    "windows-amd64": {"sys_platform": "win32", "platform_machine": "AMD64"},
    "windows-arm64": {"sys_platform": "win32", "platform_machine": "ARM64"},
}
PLATFORM_SYSTEM = {
    "linux": ("Linux", "posix"),
    "darwin": ("Darwin", "posix"),
    "win32": ("Windows", "nt"),
}


def marker_environment(name: str) -> dict[str, str]:
    environment = dict(ENVIRONMENTS[name])
    system, os_name = PLATFORM_SYSTEM[environment["sys_platform"]]
    return {**environment, "platform_system": system, "os_name": os_name}


@pytest.fixture(scope="module")
def two_platform_wheelhouse(
    project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    platforms = ", ".join(f'"{tag}"' for tag in TWO_PLATFORMS)
    return build_wheelhouse(
        hatch_build,
        project,
        tmp_path_factory.mktemp("two-platform-wheelhouse"),
        config=f'[tool.lockbundle]\npython = "{THIS_PYTHON}"\nplatforms = [{platforms}]\n',
    )


@pytest.fixture(scope="module")
def two_platform_references(uv_foreign_reference: ReferenceTarget) -> dict[str, Path]:
    """Configured platform of the two-platform wheelhouse -> uv's install for it."""
    return {
        tag: uv_foreign_reference(uv_platform, THIS_PYTHON)
        for tag, uv_platform in TWO_PLATFORMS.items()
    }


def test_two_platform_wheelhouse_holds_the_wheels_uv_chooses_for_each_platform(
    two_platform_wheelhouse: Wheelhouse, two_platform_references: dict[str, Path]
) -> None:
    expected = {
        (name, tags)
        for reference in two_platform_references.values()
        for name, tags in installed_wheel_tags(reference).items()
    }
    in_wheels = {
        (filename.split("-")[0].lower(), filename_tags(filename))
        for filename in two_platform_wheelhouse.wheels
    }
    assert in_wheels == expected


def test_two_platform_wheelhouse_holds_nativepkg_for_x86_64_and_aarch64(
    two_platform_wheelhouse: Wheelhouse,
) -> None:
    native = [name for name in two_platform_wheelhouse.wheels if name.startswith(f"{NATIVE}-")]
    assert native == [
        # This Python has no cp311 aarch64 wheel: the abi3 one is next in priority.
        f"{NATIVE}-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        f"{NATIVE}-1.0-cp38-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
    ]
    machines_found = set()
    for name in native:
        with zipfile.ZipFile(two_platform_wheelhouse.path / "wheels" / name) as wheel:
            (extension,) = [n for n in wheel.namelist() if n.endswith(".so")]
            machines_found.add(binary_machine(wheel.read(extension)))
    assert machines_found == {"ELF x86_64", "ELF aarch64"}


def test_two_platform_lock_supports_exactly_those_two_platforms(
    two_platform_wheelhouse: Wheelhouse,
) -> None:
    lock = tomllib.loads((two_platform_wheelhouse.path / "uv.lock").read_text())
    markers = [Marker(marker) for marker in lock["supported-markers"]]
    supported = {
        name
        for name in ENVIRONMENTS
        if any(marker.evaluate(marker_environment(name)) for marker in markers)
    }
    assert supported == {"linux-x86_64", "linux-aarch64"}, lock["supported-markers"]


@pytest.fixture(scope="module")
def two_platform_uv_sync(server: Server, two_platform_wheelhouse: Wheelhouse) -> Install:
    """``uv sync --frozen --offline`` on this machine: no index, an empty cache."""
    return server.uv_sync(two_platform_wheelhouse.path)


def test_two_platform_wheelhouse_installs_here_with_uv_sync_offline(
    two_platform_uv_sync: Install, two_platform_references: dict[str, Path]
) -> None:
    assert two_platform_uv_sync.succeeded, describe(two_platform_uv_sync.result)
    reference = two_platform_references["manylinux_2_28_x86_64"]
    assert two_platform_uv_sync.installed == distributions(reference)
    assert build_lines(two_platform_uv_sync.output) == []
    assert build_cache_entries(two_platform_uv_sync.cache) == []


def test_two_platform_uv_sync_here_installs_the_x86_64_wheels(
    two_platform_uv_sync: Install, two_platform_references: dict[str, Path]
) -> None:
    assert two_platform_uv_sync.succeeded, describe(two_platform_uv_sync.result)
    packages = site_packages(two_platform_uv_sync.environment)
    reference = two_platform_references["manylinux_2_28_x86_64"]
    assert installed_wheel_tags(packages) == installed_wheel_tags(reference)
    assert set(machines(extension_modules(packages), packages).values()) == {"ELF x86_64"}


def test_two_platform_wheelhouse_installs_for_aarch64_with_uv_sync_offline(
    server: Server, two_platform_wheelhouse: Wheelhouse, two_platform_references: dict[str, Path]
) -> None:
    install = server.uv_sync(
        two_platform_wheelhouse.path, extra_args=("--python-platform", "aarch64-manylinux_2_28")
    )
    assert install.succeeded, describe(install.result)
    packages = site_packages(install.environment)
    reference = two_platform_references["manylinux_2_28_aarch64"]
    assert installed_wheel_tags(packages) == installed_wheel_tags(reference)
    assert set(machines(extension_modules(packages), packages).values()) == {"ELF aarch64"}


# -- a wheelhouse for another Python -------------------------------------------------------------


@pytest.fixture(scope="module")
def foreign_python_wheelhouse(
    project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Wheelhouse:
    """A wheelhouse of crossapp for this platform and another Python: installing it here is
    installing it with the wrong Python, on any machine (no second interpreter needed)."""
    return build_wheelhouse(
        hatch_build,
        project,
        tmp_path_factory.mktemp("foreign-python-wheelhouse"),
        config=f'[tool.lockbundle]\npython = "{FOREIGN_PYTHON}"\nplatforms = ["linux-x86_64"]\n',
    )


def test_uv_sync_refuses_a_wheelhouse_for_another_python_version(
    server: Server, foreign_python_wheelhouse: Wheelhouse
) -> None:
    install = server.uv_sync(foreign_python_wheelhouse.path)
    assert not install.succeeded, describe(install.result)
    assert f"=={FOREIGN_PYTHON}.*" in install.output
    assert nothing_installed(install)


def test_pylock_install_refuses_a_wheelhouse_for_another_python_version(
    server: Server, foreign_python_wheelhouse: Wheelhouse
) -> None:
    install = server.uv_pip_install_pylock(foreign_python_wheelhouse.path)
    assert not install.succeeded, describe(install.result)
    assert f"=={FOREIGN_PYTHON}.*" in install.output
    assert nothing_installed(install)


# -- named bundles ----------------------------------------------------------------------------------

NAMED_BUNDLES = """
[tool.lockbundle]
python = "3.12"

[tool.lockbundle.bundles.lambda-arm64]
layout = "target"
platforms = ["manylinux_2_28_aarch64"]

[tool.lockbundle.bundles.lambda-x86]
layout = "target"
platforms = ["linux-x86_64"]
archive = "zip"
"""


@dataclass(frozen=True)
class NamedBuilds:
    project: Path
    arm64: Path  # the artifacts, still in dist/
    x86: Path
    dist_after_both: list[str]
    x86_extracted: Path


@pytest.fixture(scope="module")
def named_builds(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> NamedBuilds:
    """Both named bundles of a crossapp of their own, built one after the other."""
    project = make_project(PROJECT)
    set_config(project, NAMED_BUNDLES)
    arm64 = built_artifact(hatch_build(project, "lockbundle:lambda-arm64"), project)
    x86 = built_artifact(hatch_build(project, "lockbundle:lambda-x86"), project)
    extracted = tmp_path_factory.mktemp("lambda-x86")
    extract(x86, extracted)
    return NamedBuilds(project, arm64, x86, dist_entries(project), extracted)


def test_named_bundles_are_written_side_by_side_with_distinct_names(
    named_builds: NamedBuilds,
) -> None:
    assert named_builds.arm64 == (named_builds.project / "dist" / "crossapp-0.1.0-lambda-arm64")
    assert named_builds.arm64.is_dir()
    assert named_builds.x86 == (named_builds.project / "dist" / "crossapp-0.1.0-lambda-x86.zip")
    assert named_builds.dist_after_both == [
        "crossapp-0.1.0-lambda-arm64",
        "crossapp-0.1.0-lambda-x86.zip",
    ]


def test_named_bundle_for_arm64_holds_the_aarch64_wheels_of_the_inherited_python(
    named_builds: NamedBuilds,
) -> None:
    assert installed_wheel_tags(named_builds.arm64)[NATIVE] == expanded(
        "cp312-cp312-manylinux_2_28_aarch64"
    )
    modules = machines(extension_modules(named_builds.arm64), named_builds.arm64)
    assert modules and set(modules.values()) == {"ELF aarch64"}


def test_named_bundle_for_x86_holds_the_x86_64_wheels_of_the_inherited_python(
    named_builds: NamedBuilds,
) -> None:
    root = named_builds.x86_extracted  # a target archive holds the bundle at its top level
    assert installed_wheel_tags(root)[NATIVE] == expanded("cp312-cp312-manylinux_2_28_x86_64")
    modules = machines(extension_modules(root), root)
    assert modules and set(modules.values()) == {"ELF x86_64"}


def test_clean_of_one_named_bundle_leaves_the_other(
    named_builds: NamedBuilds, hatch: Hatch, tmp_path: Path
) -> None:
    # a copy: the other tests of named_builds, before or after this one, read its bundles in dist/
    project = shutil.copytree(named_builds.project, tmp_path / PROJECT, symlinks=True)
    (project / "dist" / "notes.txt").write_text("not hatch-lockbundle's\n")

    first = hatch.clean(project, "lockbundle:lambda-arm64")
    after_first = dist_entries(project)
    second = hatch.clean(project, "lockbundle:lambda-x86")

    assert first.returncode == 0, describe(first)
    assert after_first == ["crossapp-0.1.0-lambda-x86.zip", "notes.txt"]
    assert second.returncode == 0, describe(second)
    assert dist_entries(project) == ["notes.txt"]


def test_clean_of_a_named_bundle_leaves_one_whose_name_ends_the_same(
    make_project: MakeProject, hatch_build: HatchBuild, hatch: Hatch
) -> None:
    """Bundles `x86` and `lambda-x86`: cleaning the first must not remove the second."""
    project = make_project(PROJECT)
    set_config(
        project,
        '[tool.lockbundle.bundles.x86]\nplatforms = ["linux-x86_64"]\n\n'
        '[tool.lockbundle.bundles.lambda-x86]\nplatforms = ["linux-x86_64"]\n',
    )
    for name in ("x86", "lambda-x86"):
        built_artifact(hatch_build(project, f"lockbundle:{name}"), project)
    assert dist_entries(project) == ["crossapp-0.1.0-lambda-x86", "crossapp-0.1.0-x86"]

    result = hatch.clean(project, "lockbundle:x86")

    assert result.returncode == 0, describe(result)
    assert dist_entries(project) == ["crossapp-0.1.0-lambda-x86"]


# -- configuration errors ---------------------------------------------------------------------------


def test_unknown_platform_is_a_configuration_error(project: Path, hatch_build: HatchBuild) -> None:
    set_config(
        project,
        f'[tool.lockbundle]\npython = "{THIS_PYTHON}"\n'
        'platforms = ["manylinux_2_28_aarch64", "linux_x86"]\n',
    )
    empty_dist(project)

    output = assert_failed_cleanly(
        hatch_build(project, "lockbundle:wheelhouse"), dist_entries(project)
    )

    assert (
        "Platform #2 of field `tool.lockbundle.platforms` is not a known platform tag: `linux_x86`"
        in output
    )


def test_a_plain_linux_platform_is_a_configuration_error_naming_the_aliases_meant(
    project: Path, hatch_build: HatchBuild
) -> None:
    set_config(project, '[tool.lockbundle]\nplatforms = ["linux_aarch64"]\n')
    empty_dist(project)

    output = assert_failed_cleanly(hatch_build(project), dist_entries(project))

    assert (
        "Platform #1 of field `tool.lockbundle.platforms`, `linux_aarch64`, accepts no manylinux "
        "or musllinux wheel (only wheels built on one machine): use `linux-aarch64` "
        "(`manylinux_2_28_aarch64`), `musllinux-aarch64` (`musllinux_1_2_aarch64`) for musl "
        "systems such as Alpine, or another manylinux or musllinux tag"
    ) in flat_lines(output)


def test_a_plain_linux_platform_on_the_command_line_is_refused_naming_the_aliases_meant(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    set_config(project, "")
    empty_dist(project)

    result = lockbundle(
        sandbox, project, "build", "--python-platform", "linux_x86_64", cache=tmp_path, check=False
    )

    output = assert_failed_cleanly(result, dist_entries(project))
    assert (
        "Platform #1 of `--python-platform`, `linux_x86_64`, accepts no manylinux or musllinux "
        "wheel (only wheels built on one machine): use `linux-x86_64` (`manylinux_2_28_x86_64`), "
        "`musllinux-x86_64` (`musllinux_1_2_x86_64`) for musl systems such as Alpine, or another "
        "manylinux or musllinux tag"
    ) in output


def test_target_layout_with_two_platforms_is_a_configuration_error(
    project: Path, hatch_build: HatchBuild
) -> None:
    set_config(
        project,
        '[tool.lockbundle]\npython = "3.12"\n'
        'platforms = ["manylinux_2_28_aarch64", "manylinux_2_28_x86_64"]\n',
    )
    empty_dist(project)

    output = assert_failed_cleanly(hatch_build(project, "lockbundle:target"), dist_entries(project))

    assert "`tool.lockbundle.platforms`" in output


def test_compile_bytecode_for_another_python_names_both_versions(
    project: Path, hatch_build: HatchBuild
) -> None:
    set_config(
        project,
        f'[tool.lockbundle]\npython = "{FOREIGN_PYTHON}"\ncompile-bytecode = true\n',
    )
    empty_dist(project)

    output = assert_failed_cleanly(hatch_build(project), dist_entries(project))

    assert "compile-bytecode" in output
    assert FOREIGN_PYTHON in output
    assert THIS_PYTHON in output
