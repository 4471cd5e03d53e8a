"""`include`: the project's own files, checked and copied as they are to the top of a bundle."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from hatch_lockbundle.cli import main
from hatch_lockbundle.errors import ConfigurationError
from hatch_lockbundle.include import (
    INCLUDED_RECORD,
    IncludeError,
    check_included,
    copy_included,
    included_state,
)
from support.environ import describe
from support.hatch import HatchBuild, built_artifact
from support.projects import MakeProject

FIELD = "tool.lockbundle.include"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a handler module and an app package (with a stale bytecode cache)."""
    root = tmp_path / "project"
    (root / "src" / "app" / "__pycache__").mkdir(parents=True)
    (root / "handler.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (root / "src" / "app" / "__init__.py").write_text("NAME = 'app'\n")
    (root / "src" / "app" / "data.json").write_text("{}\n")
    (root / "src" / "app" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A target bundle holding one distribution, `dep`, with its package `dep/` and RECORD."""
    root = tmp_path / "bundle"
    (root / "dep").mkdir(parents=True)
    (root / "dep-1.0.dist-info").mkdir()
    (root / "dep" / "__init__.py").write_text("")
    (root / "dep-1.0.dist-info" / "RECORD").write_text(
        "dep/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
        "dep-1.0.dist-info/RECORD,,\n"
    )
    return root


def files_below(root: Path) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix() for path in root.rglob("*") if not path.is_dir()
    )


# -- checking the entries ---------------------------------------------------------------------------


def test_existing_entries_inside_the_project_pass(project: Path) -> None:
    check_included(project, ["handler.py", "src/app"], FIELD)


def test_an_entry_must_exist(project: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_included(project, ["handler.py", "app"], FIELD)

    assert caught.value.errors == [
        f"Entry #2 of field `tool.lockbundle.include`, `app`, does not exist in {project}"
    ]
    assert str(caught.value).startswith(f"Invalid configuration in {project / 'pyproject.toml'}")


def test_an_entry_that_is_a_dangling_link_does_not_exist(project: Path) -> None:
    (project / "gone.py").symlink_to(project / "nowhere.py")

    with pytest.raises(ConfigurationError) as caught:
        check_included(project, ["gone.py"], FIELD)

    assert caught.value.errors == [
        f"Entry #1 of field `tool.lockbundle.include`, `gone.py`, does not exist in {project}"
    ]


def test_an_entry_that_links_outside_the_project_is_refused(project: Path) -> None:
    outside = project.parent / "elsewhere.py"
    outside.write_text("SECRET = 1\n")
    (project / "settings.py").symlink_to(outside)

    with pytest.raises(ConfigurationError) as caught:
        check_included(project, ["settings.py"], "tool.lockbundle.bundles.fn.include")

    assert caught.value.errors == [
        "Entry #1 of field `tool.lockbundle.bundles.fn.include`, `settings.py`, leads outside the "
        f"project (to {outside}): include only files and directories inside {project}"
    ]


def test_two_entries_cannot_land_on_one_name(project: Path) -> None:
    (project / "other").mkdir()
    (project / "other" / "handler.py").write_text("")

    with pytest.raises(ConfigurationError) as caught:
        check_included(project, ["handler.py", "other/handler.py"], FIELD)

    assert caught.value.errors == [
        "Entries #1 and #2 of field `tool.lockbundle.include` (`handler.py` and "
        "`other/handler.py`) would both be copied to `handler.py` at the top of the bundle: "
        "include their common directory instead"
    ]


# -- copying ----------------------------------------------------------------------------------------


def test_each_entry_lands_at_the_top_of_the_bundle_under_its_own_name(
    project: Path, bundle: Path
) -> None:
    copied = copy_included(project, ["handler.py", "src/app"], bundle)

    assert copied == ["app/__init__.py", "app/data.json", "handler.py"]
    assert (bundle / "handler.py").read_bytes() == (project / "handler.py").read_bytes()
    assert (bundle / "app" / "data.json").read_text() == "{}\n"


def test_bytecode_caches_of_the_build_machine_are_left_out(project: Path, bundle: Path) -> None:
    copy_included(project, ["src/app"], bundle)

    assert not (bundle / "app" / "__pycache__").exists()


def test_an_executable_file_stays_executable(project: Path, bundle: Path) -> None:
    copy_included(project, ["run.sh", "handler.py"], bundle)

    assert (bundle / "run.sh").stat().st_mode & stat.S_IXUSR
    assert not (bundle / "handler.py").stat().st_mode & stat.S_IXUSR


def verify(bundle: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``lockbundle verify BUNDLE``: its exit status, and the problems it prints."""
    capsys.readouterr()
    status = main(["verify", "-q", str(bundle)])
    return status, capsys.readouterr().out


def test_the_included_files_are_listed_in_a_record_that_verify_checks(
    project: Path, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_included(project, ["handler.py", "src/app"], bundle)
    rows = list(csv.reader(io.StringIO((bundle / INCLUDED_RECORD).read_text())))

    assert [row[0] for row in rows] == [
        "app/__init__.py",
        "app/data.json",
        "handler.py",
        INCLUDED_RECORD,
    ]
    assert verify(bundle, capsys) == (0, "")
    (bundle / "handler.py").write_text("changed\n")
    assert verify(bundle, capsys) == (1, "changed: handler.py\n")


def test_a_name_a_distribution_uses_is_a_conflict_naming_both(project: Path, bundle: Path) -> None:
    (project / "dep").mkdir()
    (project / "dep" / "__init__.py").write_text("MINE = 1\n")

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["dep"], bundle)

    assert str(caught.value) == (
        "`include` entry `dep` would be copied to `dep`, which dep 1.0 already installs at the "
        "top of the bundle: rename one of them, or leave it out of `include`"
    )
    assert (bundle / "dep" / "__init__.py").read_text() == ""


def test_an_entry_holding_the_bundle_being_written_is_refused(project: Path) -> None:
    staging = project / "dist" / ".fn-0.1.0-target.tmp"
    staging.mkdir(parents=True)

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["dist"], staging)

    assert str(caught.value) == (
        f"`include` entry `dist` holds the bundle being written ({staging}): include the files "
        "the bundle needs, not the output directory"
    )


def test_a_link_inside_the_project_is_copied_as_the_file_it_leads_to(
    project: Path, bundle: Path
) -> None:
    (project / "src" / "app" / "handler.py").symlink_to(project / "handler.py")

    copy_included(project, ["src/app"], bundle)

    copied = bundle / "app" / "handler.py"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (project / "handler.py").read_bytes()


def test_a_link_leading_outside_the_project_is_refused(project: Path, bundle: Path) -> None:
    outside = project.parent / "secrets"
    outside.mkdir()
    (project / "src" / "app" / "config").symlink_to(outside)

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["src/app"], bundle)

    assert str(caught.value) == (
        f"`include`: `src/app/config` leads outside the project, to {outside}; a bundle must not "
        "depend on files of the build machine: copy the file into the project, or leave it out"
    )


def test_a_dangling_link_is_refused(project: Path, bundle: Path) -> None:
    (project / "src" / "app" / "gone.py").symlink_to("missing.py")

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["src/app"], bundle)

    assert str(caught.value) == (
        "`include`: `src/app/gone.py` is a symbolic link to missing.py, which does not exist: "
        "fix or remove the link"
    )


def test_a_link_to_a_directory_holding_it_is_a_loop(project: Path, bundle: Path) -> None:
    (project / "src" / "app" / "again").symlink_to(project / "src" / "app")

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["src/app"], bundle)

    assert str(caught.value) == (
        f"`include`: `src/app/again` is a symbolic link to {project / 'src' / 'app'}, a "
        "directory that holds it (a loop): remove the link, or include what it leads to"
    )


def test_a_link_that_leads_to_itself_is_a_loop(project: Path, bundle: Path) -> None:
    (project / "src" / "app" / "self").symlink_to("self")

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["src/app"], bundle)

    assert str(caught.value) == "`include`: `src/app/self` is a loop of symbolic links"


def test_a_named_pipe_is_refused(project: Path, bundle: Path) -> None:
    os.mkfifo(project / "src" / "app" / "pipe")

    with pytest.raises(IncludeError) as caught:
        copy_included(project, ["src/app"], bundle)

    assert str(caught.value) == (
        "`include`: `src/app/pipe` is neither a file nor a directory (a socket, pipe or "
        "device): leave it out"
    )


# -- the fingerprint that decides a rebuild ---------------------------------------------------------


def test_the_fingerprint_is_stable_while_nothing_changes(project: Path) -> None:
    assert included_state(project, ["handler.py", "src/app"]) == included_state(
        project, ["handler.py", "src/app"]
    )


def test_the_fingerprint_changes_with_an_included_file(project: Path) -> None:
    before = included_state(project, ["handler.py", "src/app"])
    (project / "src" / "app" / "data.json").write_text('{"changed": true}\n')

    assert included_state(project, ["handler.py", "src/app"]) != before


def test_the_fingerprint_changes_with_a_new_file_in_an_included_directory(project: Path) -> None:
    before = included_state(project, ["src/app"])
    (project / "src" / "app" / "new.py").write_text("")

    assert included_state(project, ["src/app"]) != before


def test_the_fingerprint_ignores_files_that_are_not_included(project: Path) -> None:
    before = included_state(project, ["handler.py"])
    (project / "notes.txt").write_text("not shipped\n")
    (project / "src" / "app" / "__pycache__" / "x.pyc").write_bytes(b"\0")

    assert included_state(project, ["handler.py"]) == before


# -- through the real hatch -------------------------------------------------------------------------


@pytest.mark.slow
def test_hatch_build_copies_included_files_beside_the_project_package(
    make_project: MakeProject, hatch_build: HatchBuild, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("lambdaapp")
    (project / "settings.toml").write_text('stage = "prod"\n')
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write('\n[tool.lockbundle]\ninclude = ["settings.toml"]\n')

    bundle = built_artifact(hatch_build(project), project)

    assert (bundle / "settings.toml").read_text() == 'stage = "prod"\n'
    assert (bundle / "lambdaapp" / "__init__.py").is_file()
    assert verify(bundle, capsys) == (0, "")


@pytest.mark.slow
def test_hatch_build_refuses_an_included_directory_the_project_package_installs(
    make_project: MakeProject, hatch_build: HatchBuild
) -> None:
    project = make_project("lambdaapp")
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write('\n[tool.lockbundle]\ninclude = ["src/lambdaapp"]\n')

    result = hatch_build(project)

    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in output, output
    assert (
        "`include` entry `src/lambdaapp` would be copied to `lambdaapp`, which lambdaapp 0.1.0 "
        "already installs at the top of the bundle: rename one of them, or leave it out of "
        "`include`"
    ) in output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []
