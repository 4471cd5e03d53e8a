"""Virtual projects: what plain `uv init` makes (no `[build-system]`, locked as
`source = { virtual = "." }`) and virtual workspace roots, built with the `lockbundle` command.

A virtual project has no wheel: its dependencies are bundled, its own files only through
`include`. A virtual root with nothing to bundle is an error that says what to do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.bundle import distributions
from support.cli import lockbundle
from support.compat import tomllib
from support.environ import Sandbox, describe, run, uv_binary
from support.fresh import FreshPython
from support.index import IndexServer
from support.projects import MakeProject, uv_lock

pytestmark = pytest.mark.slow

NAME = "fn"
HANDLER = """\
import extradep


def handler(event, context):
    return f"{event['greeting']} from {extradep.MARKER}"
"""
CALL_HANDLER = "import handler; print(handler.handler({'greeting': 'hello'}, None))"


def uv_init_project(
    where: Path, sandbox: Sandbox, index: IndexServer, lockbundle_table: str
) -> Path:
    """A project made by the real `uv init --app --no-package` (no build system), depending on
    the fixture package `extradep`, with a Lambda handler `handler.py`, locked by the real uv."""
    run(
        [uv_binary(), "init", "--app", "--no-package", "--vcs", "none", "--no-readme",
         "--no-pin-python", "--name", NAME, "--python", sys.executable, str(where)],
        cwd=where.parent,
        env=sandbox.environ(),
    )  # fmt: skip
    pyproject = where / "pyproject.toml"
    text = pyproject.read_text().replace("dependencies = []", 'dependencies = ["extradep"]')
    pyproject.write_text(
        f'{text}\n[[tool.uv.index]]\nurl = "{index.simple_url}"\ndefault = true\n\n'
        f"{lockbundle_table}"
    )
    (where / "handler.py").write_text(HANDLER)
    uv_lock(where, env=sandbox.environ())
    return where


def build(
    sandbox: Sandbox, project: Path, cache: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return lockbundle(sandbox, project, "build", *args, cache=cache, check=False)


def bundle_of(result: subprocess.CompletedProcess[str]) -> Path:
    assert result.returncode == 0, describe(result)
    return Path(result.stdout.strip().splitlines()[-1])


def virtual_notice(count: int) -> str:
    return (
        f'{NAME}==0.1.0 is a virtual project (uv locks it as `source = {{ virtual = "." }}`: it '
        "has no `[build-system]`, or sets `tool.uv.package = false`): its own code is not a "
        f"package, so the bundle holds its {count} dependencies and none of its files. To ship "
        "its files (a Lambda handler, an app's modules), list them in `tool.lockbundle.include`, "
        'e.g. `include = ["main.py"]`; or add a `[build-system]` to make it a package'
    )


# -- a uv init project with `include` ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lockbundle-cache")


@pytest.fixture(scope="module")
def included(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The uv init project with `include = ["handler.py"]`, and its first build."""
    project = uv_init_project(
        tmp_path_factory.mktemp("included") / NAME,
        sandbox,
        package_index,
        '[tool.lockbundle]\ninclude = ["handler.py"]\n',
    )
    return project, build(sandbox, project, cache)


def test_a_uv_init_project_is_locked_as_virtual(
    included: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, _ = included
    lock = tomllib.loads((project / "uv.lock").read_text())

    (locked,) = [package for package in lock["package"] if package["name"] == NAME]
    assert locked["source"] == {"virtual": "."}
    assert "build-system" not in tomllib.loads((project / "pyproject.toml").read_text())


def test_an_included_handler_runs_from_the_bundle_in_a_fresh_interpreter(
    included: tuple[Path, subprocess.CompletedProcess[str]], fresh_python: FreshPython
) -> None:
    _, result = included

    ran = fresh_python.run_code(CALL_HANDLER, bundle_of(result))

    assert ran.stdout == "hello from extradep 1.0\n"


def test_a_virtual_project_with_include_holds_its_dependencies_and_the_included_file_only(
    included: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = included
    bundle = bundle_of(result)

    assert {str(name) for name, _ in distributions(bundle)} == {"extradep"}
    assert (bundle / "handler.py").is_file()
    assert not (bundle / "main.py").exists()


def test_a_virtual_project_with_include_gets_no_notice(
    included: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = included

    assert "virtual project" not in result.stderr, result.stderr


def test_a_bundle_with_included_files_passes_verify(
    included: tuple[Path, subprocess.CompletedProcess[str]], sandbox: Sandbox, cache: Path
) -> None:
    project, result = included

    verified = lockbundle(sandbox, project, "verify", str(bundle_of(result)), cache=cache)

    assert verified.stdout == ""


def test_an_edited_included_file_rebuilds_the_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
    fresh_python: FreshPython,
) -> None:
    project = uv_init_project(
        tmp_path_factory.mktemp("edited") / NAME,
        sandbox,
        package_index,
        '[tool.lockbundle]\ninclude = ["handler.py"]\n',
    )
    bundle_of(build(sandbox, project, cache))
    unchanged = build(sandbox, project, cache)
    (project / "handler.py").write_text(HANDLER.replace("from {", "again from {"))

    rebuilt = bundle_of(build(sandbox, project, cache))

    assert "is up to date" in unchanged.stderr, describe(unchanged)
    ran = fresh_python.run_code(CALL_HANDLER, rebuilt)
    assert ran.stdout == "hello again from extradep 1.0\n"


def test_included_files_go_under_the_archive_prefix(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
) -> None:
    project = uv_init_project(
        tmp_path_factory.mktemp("layer") / NAME,
        sandbox,
        package_index,
        '[tool.lockbundle]\ninclude = ["handler.py"]\narchive = "zip"\nprefix = "python"\n',
    )

    archive = bundle_of(build(sandbox, project, cache))

    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        assert opened.read("python/handler.py").decode() == HANDLER
    assert "python/extradep/__init__.py" in names
    assert "handler.py" not in names


def test_exclude_and_trim_leave_the_included_files(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
) -> None:
    """`exclude` and `trim` apply to distributions: what `include` names is shipped as asked."""
    project = uv_init_project(
        tmp_path_factory.mktemp("excluded") / NAME,
        sandbox,
        package_index,
        # a pattern naming the included file itself; `*.py` would also break `import extradep`,
        # which the import check after excluding refuses
        '[tool.lockbundle]\ninclude = ["handler.py"]\nexclude = ["handler.py"]\ntrim = true\n',
    )

    bundle = bundle_of(build(sandbox, project, cache))

    assert (bundle / "handler.py").read_text() == HANDLER
    assert (bundle / "extradep" / "__init__.py").exists()


# -- a uv init project without `include` ------------------------------------------------------------


@pytest.fixture(scope="module")
def not_included(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
) -> subprocess.CompletedProcess[str]:
    project = uv_init_project(
        tmp_path_factory.mktemp("not-included") / NAME, sandbox, package_index, ""
    )
    return build(sandbox, project, cache)


def test_a_virtual_project_without_include_is_bundled_with_a_notice(
    not_included: subprocess.CompletedProcess[str],
) -> None:
    assert virtual_notice(1) in not_included.stderr, describe(not_included)


def test_a_virtual_project_without_include_bundles_its_dependencies_only(
    not_included: subprocess.CompletedProcess[str],
) -> None:
    bundle = bundle_of(not_included)

    assert {str(name) for name, _ in distributions(bundle)} == {"extradep"}
    assert sorted(path.name for path in bundle.glob("*.py")) == []


def test_the_notice_is_shown_with_quiet(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: Sandbox,
    package_index: IndexServer,
    cache: Path,
) -> None:
    project = uv_init_project(tmp_path_factory.mktemp("quiet") / NAME, sandbox, package_index, "")

    result = build(sandbox, project, cache, "-q")

    assert virtual_notice(1) in result.stderr, describe(result)


# -- virtual workspace roots ------------------------------------------------------------------------


def test_a_workspace_root_without_project_names_the_members_to_pick(
    make_project: MakeProject, sandbox: Sandbox, cache: Path
) -> None:
    workspace = make_project("workspace")

    result = build(sandbox, workspace, cache)

    assert result.returncode == 1, describe(result)
    assert result.stderr == (
        f"error: {workspace.resolve() / 'pyproject.toml'} is a virtual workspace root (no "
        "`[project]` table): it has nothing of its own to bundle. Pick a workspace member with "
        '`tool.lockbundle.package = "api"` or `--package api` (the members: api, shared, '
        "worker), or build in the member's directory\n"
    )
    assert not (workspace / "dist").exists()


def test_a_workspace_root_without_project_bundles_the_member_named_by_package(
    make_project: MakeProject, sandbox: Sandbox, cache: Path
) -> None:
    workspace = make_project("workspace")
    in_member = bundle_of(build(sandbox, workspace / "packages" / "api", cache))
    kept = workspace / "member-bundle"
    shutil.move(in_member, kept)

    from_root = bundle_of(build(sandbox, workspace, cache, "--package", "api"))

    assert from_root.name == in_member.name
    assert distributions(from_root) == distributions(kept)


def test_a_virtual_workspace_root_with_nothing_to_bundle_is_an_error(
    make_project: MakeProject, sandbox: Sandbox, cache: Path
) -> None:
    workspace = make_project("workspace")
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "root"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        f"dependencies = []\n\n{pyproject.read_text()}"
    )
    uv_lock(workspace, env=sandbox.environ())

    result = build(sandbox, workspace, cache)

    assert result.returncode == 1, describe(result)
    assert result.stderr == (
        'error: root==0.1.0 is a virtual project (uv locks it as `source = { virtual = "." }`: '
        "it has no `[build-system]`, or sets `tool.uv.package = false`), and it has no "
        "dependencies: the bundle would be empty. To bundle something, pick a workspace member "
        'with `tool.lockbundle.package = "api"` or `--package api` (the members: api, shared, '
        "worker); or list the project's own files in `tool.lockbundle.include`\n"
    )
    assert not (workspace / "dist").exists()
