"""Finding the lock that covers a project (its own, its workspace root's, never an unrelated one),
and comparing it with the project without asking uv (tests/test_staleness.py holds the comparison
against real `uv lock --check`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.lock import Lock
from hatch_lockbundle.project import Project, find_lock, read_project
from hatch_lockbundle.staleness import check_lock_current
from hatch_lockbundle.uvlock import read_lock

WORKSPACE_LOCK = """
version = 1
revision = 3

[manifest]
members = ["api"]

[[package]]
name = "api"
version = "1.0"
source = { editable = "services/api" }
"""


def test_a_member_finds_its_workspace_root_lock(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(WORKSPACE_LOCK)
    member = tmp_path / "services" / "api"
    member.mkdir(parents=True)

    assert find_lock(member, "api").path == tmp_path / "uv.lock"


def test_a_lock_that_does_not_lock_the_project_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(WORKSPACE_LOCK)
    inner = tmp_path / "services" / "api"
    inner.mkdir(parents=True)
    (inner / "uv.lock").write_text(WORKSPACE_LOCK.replace("services/api", "elsewhere"))

    assert find_lock(inner, "api").path == tmp_path / "uv.lock"


def test_an_unreadable_unrelated_lock_above_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("not = [valid")
    workspace = tmp_path / "repo"
    (workspace / "services" / "api").mkdir(parents=True)
    (workspace / "uv.lock").write_text(WORKSPACE_LOCK)

    assert find_lock(workspace / "services" / "api", "api").path == workspace / "uv.lock"


def test_an_unreadable_lock_is_reported_when_nothing_else_locks_the_project(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("not = [valid")

    with pytest.raises(LockbundleError, match=r"uv.lock: not valid TOML"):
        find_lock(tmp_path, "api")


def test_a_lock_of_another_project_says_so(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(WORKSPACE_LOCK)

    with pytest.raises(LockbundleError, match=r"does not lock `web` at .*Run `uv lock`"):
        find_lock(tmp_path, "web")


LOCKS = Path(__file__).parent.parent / "fixtures" / "locks"


def project_copy(tmp_path: Path, fixture: str) -> Path:
    shutil.copytree(LOCKS / fixture, tmp_path / fixture)
    return tmp_path / fixture


@pytest.mark.parametrize(
    ("fixture", "member"),
    [("workspace", "packages/api"), ("workspace", "packages/worker"), ("conflicts", "."),
     ("package-conflicts", "packages/a")],
)  # fmt: skip
def test_locks_written_by_uv_are_current(tmp_path: Path, fixture: str, member: str) -> None:
    root = project_copy(tmp_path, fixture)
    project = read_project(root / member)

    check_statically(read_lock(root / "uv.lock"), project)


def check_statically(lock: Lock, project: Project) -> None:
    check_lock_current(lock, project, uv=lambda: None)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_changed_dependency_makes_the_lock_stale(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    edit(root / "packages" / "api" / "pyproject.toml", '"idna",', '"idna>=3.7", "rich",')

    with pytest.raises(LockbundleError) as caught:
        check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))

    message = str(caught.value)
    assert "uv.lock is out of date with" in message
    assert "dependencies: `idna>=3.7` is declared but not locked" in message
    assert "dependencies: `rich` is declared but not locked" in message
    assert "dependencies: `idna` is locked but no longer declared" in message
    assert "Run `uv lock`" in message and "frozen = true" in message


def test_a_changed_group_makes_the_lock_stale(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "conflicts")
    edit(root / "pyproject.toml", 'dev = ["iniconfig"]', 'dev = ["iniconfig", "pytest"]')

    with pytest.raises(
        LockbundleError, match=r"dependency group `dev`: `pytest` is declared but not locked"
    ):
        check_statically(read_lock(root / "uv.lock"), read_project(root))


def test_dynamic_dependencies_are_not_compared(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    edit(
        root / "packages" / "api" / "pyproject.toml",
        'requires-python = ">=3.10"',
        'requires-python = ">=3.10"\ndynamic = ["dependencies"]',
    )
    edit(root / "packages" / "api" / "pyproject.toml", '"idna",', '"idna>=9",')

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))


def test_another_members_change_is_reported_with_its_file(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    edit(root / "packages" / "worker" / "pyproject.toml", '"six",', '"six>=1.16",')
    api = read_project(root / "packages" / "api")

    with pytest.raises(LockbundleError) as caught:
        check_statically(read_lock(root / "uv.lock"), api)

    worker = root / "packages" / "worker" / "pyproject.toml"
    assert f"uv.lock is out of date with {worker}:" in str(caught.value)
    assert "dependencies: `six>=1.16` is declared but not locked" in str(caught.value)


def test_changes_in_several_files_name_each_file(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    edit(root / "packages" / "worker" / "pyproject.toml", '"six",', '"six>=1.16",')
    edit(root / "packages" / "api" / "pyproject.toml", '"idna",', '"idna>=3.7",')

    with pytest.raises(LockbundleError) as caught:
        check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))

    api = root / "packages" / "api" / "pyproject.toml"
    worker = root / "packages" / "worker" / "pyproject.toml"
    assert f"  - {api}: dependencies: `idna>=3.7` is declared but not locked" in str(caught.value)
    assert f"  - {worker}: dependencies: `six>=1.16` is declared but not locked" in str(
        caught.value
    )


def test_a_specifier_of_a_dependency_redirected_by_the_workspace_root_is_not_compared(
    tmp_path: Path,
) -> None:
    root = project_copy(tmp_path, "workspace")
    # the worker's own source goes: the root's `shared = { workspace = true }` still applies
    edit(root / "packages" / "worker" / "pyproject.toml", "shared = { workspace = true }", "")
    edit(root / "packages" / "worker" / "pyproject.toml", '["shared",', '["shared>=0.3",')

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "worker"))


def test_a_requirement_packaging_cannot_read_leaves_its_list_uncompared(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    # what uv read, and `packaging` cannot: it would be "locked but no longer declared"
    edit(
        root / "uv.lock",
        '    { name = "idna" },\n',
        '    { name = "idna" },\n    { name = "odd" },\n',
    )
    edit(root / "packages" / "api" / "pyproject.toml", '"idna",', '"idna", "odd (>=1",')

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))


def test_a_member_that_cannot_be_read_is_not_compared(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    (root / "packages" / "worker" / "pyproject.toml").unlink()

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))


@pytest.mark.parametrize(
    "declared",
    [">=3.10.0", ">=3.10, !=3.10.1", ">=3.10, >=3.9", ">=3.10, !=3.9.*", ">=3.10, <4, <5"],
)
def test_requires_python_with_the_same_bounds_is_current(tmp_path: Path, declared: str) -> None:
    root = project_copy(tmp_path, "workspace")
    for member in ("api", "shared", "worker"):
        pyproject = root / "packages" / member / "pyproject.toml"
        edit(pyproject, 'requires-python = ">=3.10"', f'requires-python = "{declared}"')
    lock = root / "uv.lock"
    if "<4" in declared:
        edit(lock, 'requires-python = ">=3.10"', 'requires-python = ">=3.10, <4"')

    check_statically(read_lock(lock), read_project(root / "packages" / "api"))


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (">=3.11", ">=3.11"),
        (">3.10", ">3.10"),
        ("~=3.10", ">=3.10, <4"),
        ("==3.11.*", ">=3.11, <3.12"),
        (">=3.10, <3.14", ">=3.10, <3.14"),
    ],
)
def test_requires_python_with_other_bounds_is_stale(
    tmp_path: Path, declared: str, expected: str
) -> None:
    root = project_copy(tmp_path, "workspace")
    shared = root / "packages" / "shared" / "pyproject.toml"
    edit(shared, 'requires-python = ">=3.10"', f'requires-python = "{declared}"')

    with pytest.raises(LockbundleError) as caught:
        check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))

    assert (
        f"requires-python: `{expected}` declared (over the workspace's members), `>=3.10` locked"
        in str(caught.value)
    )


def test_requires_python_is_the_intersection_of_the_members(tmp_path: Path) -> None:
    root = project_copy(tmp_path, "workspace")
    edit(root / "pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.8"')
    edit(
        root / "packages" / "worker" / "pyproject.toml",
        'requires-python = ">=3.10"',
        'requires-python = ">=3.9"',
    )

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))


def test_requires_python_ranges_of_members_that_do_not_meet_are_left_to_uv(tmp_path: Path) -> None:
    # no Python satisfies both: `uv lock` refuses the workspace, and says why better than a
    # comparison of bounds could
    root = project_copy(tmp_path, "workspace")
    edit(root / "packages" / "shared" / "pyproject.toml", '">=3.10"', '">=3.12"')
    edit(root / "packages" / "worker" / "pyproject.toml", '">=3.10"', '">=3.10, <3.11"')

    check_statically(read_lock(root / "uv.lock"), read_project(root / "packages" / "api"))
