"""User errors through the real `hatch build -t lockbundle`: one clear message, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.hatch import HatchBuild
from support.projects import MakeProject

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(make_project: MakeProject) -> Path:
    return make_project("app")


def set_lockbundle_table(project: Path, table: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().split("\n[tool.lockbundle]\n")[0]
    pyproject.write_text(f"{text}\n[tool.lockbundle]\n{table}\n")


def assert_failed_cleanly(result, project: Path) -> str:  # type: ignore[no-untyped-def]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    dist = project / "dist"
    assert not dist.exists() or list(dist.iterdir()) == []
    return output


def test_every_configuration_error_is_reported_at_once(app: Path, hatch_build: HatchBuild) -> None:
    set_lockbundle_table(app, 'extras = "some"\ncompile-bytecode = "yes"\ncolour = "blue"')

    output = assert_failed_cleanly(hatch_build(app), app)

    assert (
        'Field `tool.lockbundle.extras` must be an array of strings or the string "all"' in output
    )
    assert "Field `tool.lockbundle.compile-bytecode` must be a boolean" in output
    assert "Unknown field `tool.lockbundle.colour`" in output


def test_an_unknown_extra_names_the_extras_that_exist(app: Path, hatch_build: HatchBuild) -> None:
    set_lockbundle_table(app, 'extras = ["featur"]')

    output = assert_failed_cleanly(hatch_build(app), app)

    assert "app==0.1.0 has no extra `featur` in the lock" in output
    assert "`cpu`, `feature`, `gpu`" in output


def test_an_unknown_group_is_an_error(app: Path, hatch_build: HatchBuild) -> None:
    set_lockbundle_table(app, 'groups = ["test"]')

    output = assert_failed_cleanly(hatch_build(app), app)

    assert "app==0.1.0 has no group `test` in the lock (its groups there: `dev`)" in output


def test_a_missing_lock_says_to_run_uv_lock(
    make_project: MakeProject, hatch_build: HatchBuild
) -> None:
    project = make_project("app")
    (project / "uv.lock").unlink()

    output = assert_failed_cleanly(hatch_build(project), project)

    assert "no uv.lock found in" in output
    assert "Run `uv lock` first" in output


def test_an_unusable_cache_directory_is_a_clear_error(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path: Path
) -> None:
    project = make_project("app")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")

    result = hatch_build(project, cache_dir=not_a_directory / "cache")

    output = assert_failed_cleanly(result, project)
    assert f"cannot write or read {not_a_directory / 'cache'}" in output
    assert "LOCKBUNDLE_CACHE_DIR" in output
