"""Finding the lock that covers a project: its own, its workspace root's, never an unrelated one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.project import find_lock

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
