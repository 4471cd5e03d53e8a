"""Ready-to-deploy bundles through the real hatch: deterministic archives, AWS Lambda zips and layers,
exclusions and trimming that keep package metadata truthful, size reports and budgets (issue 5).

The fixture project `lambdaapp` is an AWS Lambda function: the top-level module `handler` (Lambda's
`handler.handler`), the package `lambdaapp` with a console script and an entry-point group of its
own, and dependencies `heavypkg` (tests, stubs, docs and examples inside the package; entry points
whose modules live in `tests/` and `examples/`) and `scriptpkg` (scripts and a data file). Every
bundle is built by the real `hatch build -t lockbundle[:NAME]` with the plugin built from this
working tree, from a lock made by the real `uv lock` against a package index on 127.0.0.1, and run
by a fresh interpreter with nothing installed and only the bundle on `sys.path` (Lambda's task root).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import cache_from_source
from pathlib import Path

import pytest

from support.archives import archive_entries, extract, touch_tree
from support.bundle import distributions, files, snapshot
from support.environ import describe
from support.foreign import expanded, installed_wheel_tags
from support.fresh import FreshPython
from support.hatch import HatchBuild, built_artifact
from support.platform_wheels import NATIVE, extension_modules, machines
from support.projects import MakeProject, set_config
from support.records import distribution_sizes, record_mismatches, records
from support.sizes import file_count, shown_sizes, shows_size, tree_size

pytestmark = pytest.mark.slow

PROJECT = "lambdaapp"
BUNDLE_PREFIX = "lambdaapp-0.1.0"
HATCHLING_DEFAULT_EPOCH = 1580601600  # DESIGN.md: SOURCE_DATE_EPOCH, else hatchling's default
SOURCE_DATE_EPOCH = 1700000000
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest time a zip entry can hold

# What `handler.handler({}, None)` returns when every package of the bundle works.
HANDLER_RESULT = {
    "app": "lambdaapp 0.1.0",
    "greeting": "hello lambda from heavypkg",
    "rows": 400,
    "dependencies": ["heavypkg 1.0", "scriptpkg 1.0"],
    "versions": {"lambdaapp": "0.1.0", "heavypkg": "1.0", "scriptpkg": "1.0"},
}
RUN_HANDLER = (
    "import json, handler\n"
    "print(json.dumps({'file': handler.__file__, 'result': handler.handler({}, None)}))\n"
)

# Every entry point of the bundle's distributions -> what `ep.load()` gives (module, or module:name).
ENTRY_POINTS = {
    "console_scripts:lambdaapp-report": "lambdaapp.cli:main",
    "lambdaapp.plugins:basic": "lambdaapp.plugins:basic",
    "console_scripts:heavypkg-demo": "heavypkg.examples.demo:main",
    "pytest11:heavypkg": "heavypkg.tests.plugin",
    "console_scripts:scriptpkg-hello": "scriptpkg.cli:main",
}
LOAD_ENTRY_POINTS = """\
import importlib.metadata, json, os, types
loaded = {}
for dist in importlib.metadata.distributions(path=[os.environ["PYTHONPATH"]]):
    for ep in dist.entry_points:
        obj = ep.load()
        name = obj.__name__ if isinstance(obj, types.ModuleType) else f"{obj.__module__}:{obj.__qualname__}"
        loaded[f"{ep.group}:{ep.name}"] = name
print(json.dumps(loaded))
"""
# Distribution name -> [[file as `importlib.metadata.files()` lists it, whether it exists], ...]
LIST_FILES = """\
import importlib.metadata, json, os
listed = {}
for dist in importlib.metadata.distributions(path=[os.environ["PYTHONPATH"]]):
    listed[dist.metadata["Name"]] = [[f.as_posix(), f.locate().is_file()] for f in dist.files]
print(json.dumps(listed))
"""


# -- helpers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """A successful ``hatch build``: what hatch printed, the artifact in ``dist/``, its files."""

    result: subprocess.CompletedProcess[str]
    artifact: Path  # the path hatch printed, still in dist/
    tree: Path  # the bundle directory, or where the archive was extracted

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def build(
    hatch_build: HatchBuild,
    project: Path,
    target: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """Build ``target`` in ``project``; an archive is extracted to a directory of its own."""
    result = hatch_build(project, target)
    artifact = built_artifact(result, project)
    if artifact.is_dir():
        return Built(result, artifact, artifact)
    label = re.sub(r"[^\w]+", "-", artifact.name)
    return Built(result, artifact, extract(artifact, tmp_path_factory.mktemp(label)))


def bundle_paths(root: Path) -> set[str]:
    """Relative POSIX paths of every file in a bundle."""
    return {path.relative_to(root).as_posix() for path in files(root)}


def dist_state(project: Path) -> dict[str, str]:
    """Every entry of ``dist/`` (hidden leftovers too) -> sha256 of a file, or a directory snapshot."""
    dist = project / "dist"
    if not dist.is_dir():
        return {}
    return {
        path.name: (
            json.dumps(snapshot(path), sort_keys=True)
            if path.is_dir()
            else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in dist.iterdir()
    }


def run_json(fresh_python: FreshPython, code: str, root: Path) -> object:
    return json.loads(fresh_python.run_code(code, root).stdout)


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle.lower() in line.lower()]


# -- deterministic archives -------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveBuilds:
    """Four builds of a target bundle with ``archive = <fmt>``, each artifact copied aside."""

    fmt: str
    project: Path
    artifact: Path  # where hatch wrote it
    first: Path  # built with an empty lockbundle cache
    second: Path  # rebuilt after every file of the project and of the cache got another mtime
    with_epoch: Path  # rebuilt with SOURCE_DATE_EPOCH set
    with_epoch_0: Path  # rebuilt with SOURCE_DATE_EPOCH=0, before the first time a zip can hold
    touched: int  # files whose mtime changed between the first and second builds


@pytest.fixture(scope="module", params=["zip", "tar.gz"])
def archive_builds(
    request: pytest.FixtureRequest,
    make_project: MakeProject,
    hatch_build: HatchBuild,
    tmp_path_factory: pytest.TempPathFactory,
) -> ArchiveBuilds:
    fmt: str = request.param
    project = make_project(PROJECT)
    set_config(project, f'[tool.lockbundle]\narchive = "{fmt}"\n')
    kept = tmp_path_factory.mktemp(f"target-{fmt.replace('.', '-')}")
    cache = kept / "lockbundle-cache"  # shared by the builds

    def build_copy(label: str, extra_env: dict[str, str] | None = None) -> tuple[Path, Path]:
        # An empty dist/: each build writes its archive anew (an unchanged rebuild may be a no-op).
        shutil.rmtree(project / "dist", ignore_errors=True)
        result = hatch_build(project, "lockbundle", extra_env, cache_dir=cache)
        artifact = built_artifact(result, project)
        copy = kept / label / artifact.name
        copy.parent.mkdir()
        shutil.copy2(artifact, copy)
        return artifact, copy

    _, first = build_copy("first")
    a_year_ago = time.time() - 86400 * 365
    touched = touch_tree(project, a_year_ago) + touch_tree(cache, a_year_ago)
    _, second = build_copy("second")
    _, with_epoch = build_copy("epoch", {"SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)})
    artifact, with_epoch_0 = build_copy("epoch-0", {"SOURCE_DATE_EPOCH": "0"})
    return ArchiveBuilds(fmt, project, artifact, first, second, with_epoch, with_epoch_0, touched)


def test_target_archive_is_named_for_project_version_and_layout(
    archive_builds: ArchiveBuilds,
) -> None:
    assert archive_builds.artifact == (
        archive_builds.project / "dist" / f"{BUNDLE_PREFIX}-target.{archive_builds.fmt}"
    )
    assert archive_builds.artifact.is_file()


def test_target_archive_is_byte_identical_after_every_project_and_cache_mtime_changed(
    archive_builds: ArchiveBuilds,
) -> None:
    assert archive_builds.touched > 10  # the project's sources, its lock, and the cached wheels
    assert archive_builds.first.read_bytes() == archive_builds.second.read_bytes()


def test_target_archive_entries_are_at_the_archive_root(archive_builds: ArchiveBuilds) -> None:
    names = [entry.name for entry in archive_entries(archive_builds.first)]
    assert "handler.py" in names
    assert "lambdaapp/__init__.py" in names
    assert [name for name in names if name.startswith(BUNDLE_PREFIX + "-")] == []


def test_target_archive_entries_carry_hatchlings_default_time(
    archive_builds: ArchiveBuilds,
) -> None:
    times = {entry.mtime for entry in archive_entries(archive_builds.first)}
    assert times == {HATCHLING_DEFAULT_EPOCH}


def test_target_archive_entries_carry_source_date_epoch(archive_builds: ArchiveBuilds) -> None:
    times = {entry.mtime for entry in archive_entries(archive_builds.with_epoch)}
    assert times == {SOURCE_DATE_EPOCH}


def test_zip_entries_before_1980_are_clamped_to_1980_and_tar_entries_are_not(
    archive_builds: ArchiveBuilds,
) -> None:
    times = {entry.mtime for entry in archive_entries(archive_builds.with_epoch_0)}
    assert times == {ZIP_EPOCH_MIN if archive_builds.fmt == "zip" else 0}


def test_target_archive_modes_are_normalised(archive_builds: ArchiveBuilds) -> None:
    entries = {entry.name.rstrip("/"): entry for entry in archive_entries(archive_builds.first)}
    modes = {name: entry.mode for name, entry in entries.items()}
    expected = {
        name: 0o755 if entry.is_dir or name.startswith("bin/") else 0o644
        for name, entry in entries.items()
    }
    assert "bin/lambdaapp-report" in modes
    assert modes == expected


def test_extracted_target_archive_equals_the_target_directory(
    archive_builds: ArchiveBuilds, plain: Built, tmp_path: Path
) -> None:
    extracted = extract(archive_builds.first, tmp_path / "extracted")
    assert snapshot(extracted) == snapshot(plain.tree)


@dataclass(frozen=True)
class TimedBuild:
    built: Built
    started: float
    finished: float


@pytest.fixture(scope="module")
def unreproducible_zip(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> TimedBuild:
    """A zip built with ``tool.hatch.build.reproducible = false`` (and no SOURCE_DATE_EPOCH)."""
    project = make_project(PROJECT)
    set_config(
        project, '[tool.lockbundle]\narchive = "zip"\n\n[tool.hatch.build]\nreproducible = false\n'
    )
    started = time.time()
    built = build(hatch_build, project, "lockbundle", tmp_path_factory)
    return TimedBuild(built, started, time.time())


def test_unreproducible_archive_entries_carry_the_build_time(
    unreproducible_zip: TimedBuild,
) -> None:
    times = {entry.mtime for entry in archive_entries(unreproducible_zip.built.artifact)}
    assert times
    # A zip stores even seconds.
    assert all(
        unreproducible_zip.started - 2 <= t <= unreproducible_zip.finished + 1 for t in times
    )


# -- one project, several named bundles -------------------------------------------------------------

BUNDLES = """\
[tool.lockbundle.bundles.lambda]
preset = "aws-lambda"
architecture = "x86_64"

[tool.lockbundle.bundles.lambda-tar]
preset = "aws-lambda"
archive = "tar.gz"

[tool.lockbundle.bundles.layer]
archive = "zip"
prefix = "python"

[tool.lockbundle.bundles.slim]
exclude = ["bin/", "*.txt"]

[tool.lockbundle.bundles.trimmed]
trim = true

[tool.lockbundle.bundles.trimmed-compiled]
trim = true
compile-bytecode = true
"""


@pytest.fixture(scope="module")
def bundles_project(make_project: MakeProject) -> Path:
    """lambdaapp with the named bundles of :data:`BUNDLES`; each fixture below builds one."""
    project = make_project(PROJECT)
    set_config(project, BUNDLES)
    return project


@pytest.fixture(scope="module")
def plain(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    """The target directory with no exclusions: what the other bundles are compared with."""
    return build(hatch_build, bundles_project, "lockbundle", tmp_path_factory)


@pytest.fixture(scope="module")
def lambda_zip(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:lambda", tmp_path_factory)


@pytest.fixture(scope="module")
def lambda_tar(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:lambda-tar", tmp_path_factory)


@pytest.fixture(scope="module")
def layer(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:layer", tmp_path_factory)


@pytest.fixture(scope="module")
def slim(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:slim", tmp_path_factory)


@pytest.fixture(scope="module")
def trimmed(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:trimmed", tmp_path_factory)


@pytest.fixture(scope="module")
def trimmed_compiled(
    bundles_project: Path, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    return build(hatch_build, bundles_project, "lockbundle:trimmed-compiled", tmp_path_factory)


# -- the aws-lambda preset --------------------------------------------------------------------------


def test_aws_lambda_preset_writes_a_zip(lambda_zip: Built, bundles_project: Path) -> None:
    assert lambda_zip.artifact == bundles_project / "dist" / f"{BUNDLE_PREFIX}-lambda.zip"


def test_aws_lambda_zip_has_the_handler_module_at_its_root(lambda_zip: Built) -> None:
    names = [entry.name for entry in archive_entries(lambda_zip.artifact)]
    assert "handler.py" in names
    assert "lambdaapp/__init__.py" in names
    assert "lambdaapp-0.1.0.dist-info/METADATA" in names
    assert [name for name in names if name.startswith(BUNDLE_PREFIX + "-")] == []


def test_aws_lambda_zip_holds_every_distribution_of_the_target_directory(
    lambda_zip: Built, plain: Built
) -> None:
    assert distributions(lambda_zip.tree) == distributions(plain.tree)


def test_extracted_aws_lambda_zip_runs_the_handler_in_a_fresh_python(
    lambda_zip: Built, fresh_python: FreshPython
) -> None:
    ran = run_json(fresh_python, RUN_HANDLER, lambda_zip.tree)
    assert ran == {"file": str(lambda_zip.tree / "handler.py"), "result": HANDLER_RESULT}


def test_aws_lambda_preset_targets_the_amazon_linux_of_the_running_python(
    lambda_zip: Built,
) -> None:
    """Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), older ones on Amazon Linux 2
    (glibc 2.26); the build log names the target platform."""
    glibc = 34 if sys.version_info >= (3, 12) else 26
    assert f"manylinux_2_{glibc}_x86_64" in lambda_zip.output


def test_explicit_archive_overrides_the_aws_lambda_preset(
    lambda_tar: Built, bundles_project: Path
) -> None:
    assert lambda_tar.artifact == bundles_project / "dist" / f"{BUNDLE_PREFIX}-lambda-tar.tar.gz"
    assert (lambda_tar.tree / "handler.py").is_file()


@pytest.fixture(scope="module")
def lambda_arm64_py312(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    """crossapp (nativepkg wheels for many platforms) with the preset for arm64 and Python 3.12."""
    project = make_project("crossapp")
    set_config(
        project,
        '[tool.lockbundle.bundles.lambda]\npreset = "aws-lambda"\narchitecture = "arm64"\n'
        'python = "3.12"\n',
    )
    return build(hatch_build, project, "lockbundle:lambda", tmp_path_factory)


def test_aws_lambda_preset_for_python_3_12_arm64_installs_amazon_linux_2023_aarch64_wheels(
    lambda_arm64_py312: Built,
) -> None:
    """manylinux_2_34 (glibc of Amazon Linux 2023) is preferred over the 2_28 and 2_17 wheels."""
    assert installed_wheel_tags(lambda_arm64_py312.tree)[NATIVE] == expanded(
        "cp312-cp312-manylinux_2_34_aarch64"
    )
    modules = machines(extension_modules(lambda_arm64_py312.tree), lambda_arm64_py312.tree)
    assert modules and set(modules.values()) == {"ELF aarch64"}


# -- a Lambda layer ---------------------------------------------------------------------------------


def test_layer_zip_has_every_entry_under_python(layer: Built, bundles_project: Path) -> None:
    assert layer.artifact == bundles_project / "dist" / f"{BUNDLE_PREFIX}-layer.zip"
    names = [entry.name for entry in archive_entries(layer.artifact)]
    assert "python/handler.py" in names
    assert [name for name in names if not name.startswith("python/")] == []


def test_layer_python_directory_holds_the_files_of_the_target_directory(
    layer: Built, plain: Built
) -> None:
    assert snapshot(layer.tree / "python") == snapshot(plain.tree)


def test_layer_python_directory_runs_the_handler_in_a_fresh_python(
    layer: Built, fresh_python: FreshPython
) -> None:
    ran = run_json(fresh_python, RUN_HANDLER, layer.tree / "python")
    assert ran == {"file": str(layer.tree / "python" / "handler.py"), "result": HANDLER_RESULT}


# -- exclusions and trimming ------------------------------------------------------------------------

# `exclude = ["bin/", "*.txt"]`: every script, the data file, heavypkg's guide, and nothing in .dist-info.
SLIM_REMOVED = {
    "bin/heavypkg-demo",
    "bin/lambdaapp-report",
    "bin/scriptpkg-hello",
    "bin/scriptpkg-tool",
    "share/scriptpkg/data.txt",
    "heavypkg/docs/guide.txt",
}
# `trim = true`: tests, docs, examples inside packages, and type stubs; not what entry points name.
TRIM_REMOVED = {
    "heavypkg/tests/test_core.py",
    "heavypkg/compat/test/__init__.py",
    "heavypkg/compat/test/test_compat.py",
    "heavypkg/docs/guide.txt",
    "heavypkg/examples/gallery.py",
    "heavypkg/core.pyi",
    "heavypkg/py.typed",
}
# In trimmed directories, but named by entry points (`pytest11`, `heavypkg-demo`), or their packages.
KEPT_FOR_ENTRY_POINTS = {
    "heavypkg/tests/__init__.py",
    "heavypkg/tests/plugin.py",
    "heavypkg/examples/__init__.py",
    "heavypkg/examples/demo.py",
}
REMOVED = {"slim": SLIM_REMOVED, "trimmed": TRIM_REMOVED}
# Directories that the patterns match as a whole.
REMOVED_DIRECTORIES = {
    "slim": {"bin"},
    "trimmed": {"heavypkg/docs", "heavypkg/compat/test"},
}
EXCLUDING = pytest.mark.parametrize("name", sorted(REMOVED))


def test_plain_bundle_holds_every_file_that_exclusions_remove(plain: Built) -> None:
    paths = bundle_paths(plain.tree)
    assert paths >= SLIM_REMOVED | TRIM_REMOVED | KEPT_FOR_ENTRY_POINTS


def test_exclude_removes_exactly_the_files_its_patterns_match(slim: Built, plain: Built) -> None:
    assert bundle_paths(slim.tree) == bundle_paths(plain.tree) - SLIM_REMOVED


def test_exclude_never_removes_dist_info_files(slim: Built, plain: Built) -> None:
    """`*.txt` matches `entry_points.txt`; .dist-info contents stay whatever the patterns."""
    dist_info = {path for path in bundle_paths(plain.tree) if ".dist-info/" in path}
    assert "heavypkg-1.0.dist-info/entry_points.txt" in dist_info
    assert dist_info <= bundle_paths(slim.tree)


def test_trim_removes_tests_stubs_docs_and_examples_inside_packages(
    trimmed: Built, plain: Built
) -> None:
    assert bundle_paths(trimmed.tree) == bundle_paths(plain.tree) - TRIM_REMOVED


def test_trim_keeps_the_modules_entry_points_name_and_their_packages(trimmed: Built) -> None:
    assert bundle_paths(trimmed.tree) >= KEPT_FOR_ENTRY_POINTS


def test_trim_keeps_a_top_level_package_named_tests(trimmed: Built) -> None:
    assert {"tests/__init__.py", "tests/test_heavypkg.py"} <= bundle_paths(trimmed.tree)


@EXCLUDING
def test_excluded_directories_are_gone(
    request: pytest.FixtureRequest, name: str, plain: Built
) -> None:
    bundle: Built = request.getfixturevalue(name)
    assert all((plain.tree / path).is_dir() for path in REMOVED_DIRECTORIES[name])
    assert [path for path in REMOVED_DIRECTORIES[name] if (bundle.tree / path).exists()] == []


@EXCLUDING
def test_excluded_files_are_gone_from_every_record(
    request: pytest.FixtureRequest, name: str
) -> None:
    bundle: Built = request.getfixturevalue(name)
    listed = {row.location for rows in records(bundle.tree).values() for row in rows}
    assert listed & REMOVED[name] == set()


@EXCLUDING
def test_every_record_row_describes_a_file_left_in_the_bundle(
    request: pytest.FixtureRequest, name: str
) -> None:
    bundle: Built = request.getfixturevalue(name)
    assert record_mismatches(bundle.tree) == []


@EXCLUDING
def test_every_file_left_is_listed_in_a_record(request: pytest.FixtureRequest, name: str) -> None:
    bundle: Built = request.getfixturevalue(name)
    listed = {row.location for rows in records(bundle.tree).values() for row in rows}
    assert bundle_paths(bundle.tree) - listed == set()


@EXCLUDING
def test_entry_points_still_load_in_a_fresh_python(
    request: pytest.FixtureRequest, name: str, fresh_python: FreshPython
) -> None:
    bundle: Built = request.getfixturevalue(name)
    assert run_json(fresh_python, LOAD_ENTRY_POINTS, bundle.tree) == ENTRY_POINTS


@EXCLUDING
def test_metadata_files_list_no_excluded_file_and_only_files_that_exist(
    request: pytest.FixtureRequest, name: str, fresh_python: FreshPython
) -> None:
    bundle: Built = request.getfixturevalue(name)
    listed = run_json(fresh_python, LIST_FILES, bundle.tree)
    assert isinstance(listed, dict)
    assert sorted(listed) == ["heavypkg", "lambdaapp", "scriptpkg"]
    paths = {posixpath.normpath(path) for entries in listed.values() for path, _ in entries}
    missing = [path for entries in listed.values() for path, exists in entries if not exists]
    assert paths & REMOVED[name] == set()
    assert missing == []


@EXCLUDING
def test_excluding_bundle_still_runs_the_handler(
    request: pytest.FixtureRequest, name: str, fresh_python: FreshPython
) -> None:
    bundle: Built = request.getfixturevalue(name)
    ran = run_json(fresh_python, RUN_HANDLER, bundle.tree)
    assert isinstance(ran, dict)
    assert ran["result"] == HANDLER_RESULT


def test_trimmed_console_script_of_an_examples_module_runs(
    trimmed: Built, fresh_python: FreshPython
) -> None:
    result = fresh_python.run_script(trimmed.tree / "bin" / "heavypkg-demo")
    assert result.stdout.splitlines() == ["heavypkg 1.0 demo 400"]


def test_trim_keeps_bytecode_when_compile_bytecode_is_on(trimmed_compiled: Built) -> None:
    tree = trimmed_compiled.tree
    modules = [
        path
        for path in bundle_paths(tree)
        if path.endswith(".py")
        and not path.startswith("bin/")
        and path not in KEPT_FOR_ENTRY_POINTS
    ]
    assert "heavypkg/core.py" in modules
    without = [path for path in modules if not Path(cache_from_source(str(tree / path))).is_file()]
    assert without == []


def test_trim_with_compile_bytecode_removes_the_bytecode_of_trimmed_modules(
    trimmed_compiled: Built,
) -> None:
    tree = trimmed_compiled.tree
    left = [
        path
        for path in sorted(TRIM_REMOVED)
        if path.endswith(".py") and Path(cache_from_source(str(tree / path))).exists()
    ]
    assert not (tree / "heavypkg/compat/test").exists()
    assert left == []
    assert record_mismatches(tree) == []


@EXCLUDING
def test_size_report_says_what_exclusions_saved(
    request: pytest.FixtureRequest, name: str, plain: Built
) -> None:
    bundle: Built = request.getfixturevalue(name)
    saved = sum((plain.tree / path).stat().st_size for path in REMOVED[name])
    # RECORD shrinks by the rows of the removed files: allow for it (the removed files weigh ~40 kB)
    lines = [
        line
        for line in bundle.output.splitlines()
        if re.search(r"sav|exclu|trim|remov", line, re.IGNORECASE)
    ]
    assert any(shows_size(line, saved, tolerance=0.03) for line in lines), bundle.output


# -- the size report and budgets --------------------------------------------------------------------


@dataclass(frozen=True)
class Budgets:
    project: Path
    sized: Built  # `archive = "zip"`, no budget: succeeds
    failures: dict[str, subprocess.CompletedProcess[str]]  # budget field -> the build over it
    dist_before: dict[str, dict[str, str]]  # budget field -> dist/ right before that build
    dist_after: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def budgets(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path_factory: pytest.TempPathFactory
) -> Budgets:
    """A zip bundle built once, rebuilt over `max-archive-size`; a directory over `max-size`."""
    project = make_project(PROJECT)
    set_config(project, '[tool.lockbundle.bundles.sized]\narchive = "zip"\n')
    sized = build(hatch_build, project, "lockbundle:sized", tmp_path_factory)
    failures = {}
    before = {}
    after = {}
    for field, config, target in (
        (
            "max-archive-size",
            '[tool.lockbundle.bundles.sized]\narchive = "zip"\nmax-archive-size = "1KB"\n',
            "lockbundle:sized",
        ),
        ("max-size", "[tool.lockbundle]\nmax-size = 1000\n", "lockbundle"),
    ):
        set_config(project, config)
        before[field] = dist_state(project)
        failures[field] = hatch_build(project, target)
        after[field] = dist_state(project)
    return Budgets(project, sized, failures, before, after)


def heaviest_first(output: str, names: list[str]) -> list[str]:
    """``names`` in the order of the first lines that name them with a size (the size table)."""
    order = []
    for line in output.splitlines():
        for name in names:
            if name in line and name not in order and shown_sizes(line):
                order.append(name)
    return order


def test_size_report_gives_the_unpacked_total_and_the_file_count(budgets: Budgets) -> None:
    output = budgets.sized.output
    count = file_count(budgets.sized.tree)
    assert shows_size(output, tree_size(budgets.sized.tree)), output
    assert re.search(rf"(?<![\d.,])({count}|{count:,})\s+files?\b", output), output


def test_size_report_gives_the_archive_size(budgets: Budgets) -> None:
    assert shows_size(budgets.sized.output, budgets.sized.artifact.stat().st_size)


def test_size_report_lists_the_heaviest_distributions_with_their_sizes(budgets: Budgets) -> None:
    output = budgets.sized.output
    sizes = distribution_sizes(budgets.sized.tree)
    heavy = sizes["heavypkg-1.0.dist-info"]
    assert heavy == max(sizes.values())
    assert any(shows_size(line, heavy, tolerance=0.05) for line in lines_with(output, "heavypkg"))
    assert heaviest_first(output, ["heavypkg", "scriptpkg", "lambdaapp"])[0] == "heavypkg"


BUDGETS = pytest.mark.parametrize("field", ["max-size", "max-archive-size"])


@BUDGETS
def test_exceeding_a_budget_fails_the_build_without_a_traceback(
    budgets: Budgets, field: str
) -> None:
    result = budgets.failures[field]
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)


@BUDGETS
def test_exceeding_a_budget_names_the_budget_and_the_actual_size(
    budgets: Budgets, field: str
) -> None:
    output = budgets.failures[field].stdout + budgets.failures[field].stderr
    actual = (
        budgets.sized.artifact.stat().st_size  # the same inputs make the same bytes
        if field == "max-archive-size"
        else tree_size(budgets.sized.tree)
    )
    mentions = [i for i, line in enumerate(output.splitlines()) if field in line]
    assert mentions, output
    first = mentions[0]
    message = "\n".join(output.splitlines()[first : first + 3])
    assert shows_size(message, actual), output


@BUDGETS
def test_exceeding_a_budget_prints_the_size_table(budgets: Budgets, field: str) -> None:
    output = budgets.failures[field].stdout + budgets.failures[field].stderr
    heavy = distribution_sizes(budgets.sized.tree)["heavypkg-1.0.dist-info"]
    assert any(
        shows_size(line, heavy, tolerance=0.05) for line in lines_with(output, "heavypkg")
    ), output
    assert heaviest_first(output, ["heavypkg", "scriptpkg", "lambdaapp"])[0] == "heavypkg", output


@BUDGETS
def test_exceeding_a_budget_leaves_dist_as_it_was(budgets: Budgets, field: str) -> None:
    assert budgets.dist_before[field] == budgets.dist_after[field]
    assert list(budgets.dist_after[field]) == [f"{BUNDLE_PREFIX}-sized.zip"]


@pytest.fixture(scope="module")
def reconfigured_project(make_project: MakeProject) -> Path:
    """lambdaapp, given another configuration by each test."""
    return make_project(PROJECT)


LAMBDA_ZIP_LIMIT = 50 * 2**20


def test_explicit_budget_overrides_the_aws_lambda_preset(
    reconfigured_project: Path, hatch_build: HatchBuild
) -> None:
    set_config(
        reconfigured_project, '[tool.lockbundle]\npreset = "aws-lambda"\nmax-archive-size = "1KB"\n'
    )
    shutil.rmtree(reconfigured_project / "dist", ignore_errors=True)

    result = hatch_build(reconfigured_project)

    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in output, output
    budget_lines = lines_with(output, "max-archive-size")
    assert any(shows_size(line, 1000) for line in budget_lines), output
    assert not any(shows_size(line, LAMBDA_ZIP_LIMIT) for line in budget_lines), output
    assert dist_state(reconfigured_project) == {}


# -- configuration errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field", "words"),
    [
        ('max-size = "lots"', "`tool.lockbundle.max-size`", ["lots"]),
        (
            'preset = "aws-lambda"\narchitecture = "sparc"',
            "`tool.lockbundle.architecture`",
            ["sparc", "x86_64", "arm64"],
        ),
        ('preset = "gcp"', "`tool.lockbundle.preset`", ["gcp", "aws-lambda"]),
    ],
    ids=["malformed-size", "unknown-architecture", "unknown-preset"],
)
def test_configuration_error_names_the_field_and_the_value(
    reconfigured_project: Path, hatch_build: HatchBuild, toml: str, field: str, words: list[str]
) -> None:
    set_config(reconfigured_project, f"[tool.lockbundle]\n{toml}\n")
    shutil.rmtree(reconfigured_project / "dist", ignore_errors=True)

    result = hatch_build(reconfigured_project)

    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in output, output
    assert field in output, output
    for word in words:
        assert word in output, output
    assert dist_state(reconfigured_project) == {}
