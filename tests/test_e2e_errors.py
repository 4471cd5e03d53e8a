"""User errors through the real `hatch build -t lockbundle`: one clear message, no traceback, nothing written."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import os_error_message
from support.builds import assert_failed_cleanly, dist_entries
from support.cli import LOCKBUNDLE, lockbundle
from support.environ import Sandbox, describe, run
from support.hatch import HatchBuild, built_artifact
from support.projects import MakeProject, set_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(make_project: MakeProject) -> Path:
    return make_project("app")


def test_every_configuration_error_is_reported_at_once(app: Path, hatch_build: HatchBuild) -> None:
    set_config(app, '[tool.lockbundle]\nextras = "some"\ncompile-bytecode = "yes"\ncolour = "blue"')

    output = assert_failed_cleanly(hatch_build(app), dist_entries(app))

    assert (
        'Field `tool.lockbundle.extras` must be an array of strings or the string "all"' in output
    )
    assert "Field `tool.lockbundle.compile-bytecode` must be a boolean" in output
    assert "Unknown field `tool.lockbundle.colour`" in output


def test_an_unknown_extra_names_the_extras_that_exist(app: Path, hatch_build: HatchBuild) -> None:
    set_config(app, '[tool.lockbundle]\nextras = ["featur"]')

    output = assert_failed_cleanly(hatch_build(app), dist_entries(app))

    assert "app==0.1.0 has no extra `featur` in the lock" in output
    assert "`cpu`, `feature`, `gpu`" in output


def test_an_unknown_group_is_an_error(app: Path, hatch_build: HatchBuild) -> None:
    set_config(app, '[tool.lockbundle]\ngroups = ["test"]')

    output = assert_failed_cleanly(hatch_build(app), dist_entries(app))

    assert "app==0.1.0 has no group `test` in the lock (its groups there: `dev`)" in output


def test_a_missing_lock_says_to_run_uv_lock(
    make_project: MakeProject, hatch_build: HatchBuild
) -> None:
    project = make_project("app")
    (project / "uv.lock").unlink()

    output = assert_failed_cleanly(hatch_build(project), dist_entries(project))

    assert "no uv.lock found in" in output
    assert "Run `uv lock` first" in output


def test_an_unusable_cache_directory_is_a_clear_error(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    project = make_project("app")

    result = hatch_build(project, cache_dir=not_a_directory / "cache")

    output = assert_failed_cleanly(result, dist_entries(project))
    assert f"cannot use {not_a_directory / 'cache'}" in output
    assert "a file is in the way where a directory must be" in output
    assert "set LOCKBUNDLE_CACHE_DIR to move the cache" in output


# -- links in the project tree ----------------------------------------------------------------------


def test_a_dangling_link_in_the_project_does_not_stop_hatch_build(
    make_project: MakeProject, hatch_build: HatchBuild, tmp_path: Path
) -> None:
    project = make_project("app")
    (project / "docs").mkdir()
    (project / "docs" / "guide.md").symlink_to(tmp_path / "removed-guide.md")

    bundle = built_artifact(hatch_build(project), project)

    assert (bundle / "app" / "__init__.py").is_file()


def test_links_that_loop_in_the_project_do_not_stop_lockbundle_build(
    make_project: MakeProject, sandbox: Sandbox, tmp_path: Path
) -> None:
    project = make_project("app")
    (project / "self").symlink_to(project / "self")
    (project / "src" / "app" / "up").symlink_to(project / "src")

    result = lockbundle(sandbox, project, "build", cache=tmp_path / "cache", check=False)

    assert result.returncode == 0, describe(result)
    assert (project / "dist" / "app-0.1.0-target" / "app" / "__init__.py").is_file()


# -- file system errors, one cause at a time, through the real `lockbundle build` -------------------


@pytest.fixture(scope="module")
def app_for_errors(make_project: MakeProject) -> Path:
    return make_project("app")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the builds below: what fails is the output directory, never the cache."""
    return tmp_path_factory.mktemp("cache")


def build_into(
    sandbox: Sandbox, project: Path, out_dir: Path, cache: Path
) -> subprocess.CompletedProcess[str]:
    return lockbundle(sandbox, project, "build", "-o", str(out_dir), cache=cache, check=False)


def assert_clear_error(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, describe(result)
    assert "Traceback" not in output
    assert output.count("error: ") == 1, output
    return output


#: what each message says: no message may carry another cause's words
CAUSES = {
    errno.ENOENT: "does not exist",
    errno.ENAMETOOLONG: "too long for its file system",
    errno.ENOTDIR: "a file is in the way",
    errno.EACCES: "permission denied",
    errno.ENOSPC: "no space left",
    errno.EROFS: "read-only file system",
}


def assert_only_cause(output: str, cause: int) -> None:
    assert CAUSES[cause] in output
    others = [words for code, words in CAUSES.items() if code != cause and words in output]
    assert others == []


def test_a_name_too_long_is_reported_as_such(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / ("d" * 300)

    output = assert_clear_error(build_into(sandbox, app_for_errors, out_dir, cache))

    assert_only_cause(output, errno.ENAMETOOLONG)
    assert str(out_dir) in output


def test_an_output_directory_under_a_file_is_reported_as_a_file_in_the_way(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes").write_text("")

    result = build_into(sandbox, app_for_errors, tmp_path / "notes" / "dist", cache)

    output = assert_clear_error(result)
    assert_only_cause(output, errno.ENOTDIR)
    assert str(tmp_path / "notes" / "dist") in output


def test_an_output_directory_that_is_a_file_is_reported_as_a_file_in_the_way(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "dist").write_text("")

    output = assert_clear_error(build_into(sandbox, app_for_errors, tmp_path / "dist", cache))

    assert (
        f"cannot create the directory {tmp_path / 'dist'}: a file is in the way, of that very name"
        in output
    )
    assert_only_cause(output, errno.ENOTDIR)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_directory_without_permission_is_reported_as_such(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        result = build_into(sandbox, app_for_errors, locked / "dist", cache)
    finally:
        locked.chmod(0o755)

    output = assert_clear_error(result)
    assert_only_cause(output, errno.EACCES)


def mounting_works() -> bool:
    """Whether this machine lets a process mount a file system of its own (a user and mount
    namespace: ``unshare -rm``), as the tests of a full and a read-only file system need."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


needs_mounting = pytest.mark.skipif(
    sys.platform != "linux" or not mounting_works(),
    reason="needs `unshare -rm` to mount a small file system without root",
)


def build_on_own_mount(
    sandbox: Sandbox, project: Path, mount_point: Path, options: str, cache: Path
) -> subprocess.CompletedProcess[str]:
    """``lockbundle build -o MOUNT/dist`` with a tmpfs mounted at ``mount_point`` (``options``)
    that only this build sees."""
    mount_point.mkdir()
    script = 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"'
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache)})
    command = ["unshare", "-rm", "sh", "-c", script, "sh", options, str(mount_point)]
    command += [str(LOCKBUNDLE), "build", "-o", str(mount_point / "dist")]
    return run(command, cwd=project, env=env, check=False)


@needs_mounting
def test_a_full_file_system_is_reported_as_no_space(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    result = build_on_own_mount(sandbox, app_for_errors, tmp_path / "small", "size=16k", cache)

    output = assert_clear_error(result)
    assert_only_cause(output, errno.ENOSPC)
    assert str(tmp_path / "small" / "dist") in output


@needs_mounting
def test_a_read_only_file_system_is_reported_as_such(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    result = build_on_own_mount(sandbox, app_for_errors, tmp_path / "readonly", "ro", cache)

    output = assert_clear_error(result)
    assert_only_cause(output, errno.EROFS)
    assert str(tmp_path / "readonly" / "dist") in output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_standard_output_is_reported_without_a_traceback(
    app_for_errors: Path, sandbox: Sandbox, cache: Path, tmp_path: Path
) -> None:
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache)})
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [LOCKBUNDLE, "build", "-o", str(tmp_path / "dist")],
            cwd=app_for_errors,
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    # the C library's text for ENOSPC, whichever C library this host has
    assert (
        f"cannot write the result to standard output: {os.strerror(errno.ENOSPC)}" in result.stderr
    )


# -- the message for each cause ---------------------------------------------------------------------


def provoked(action: Callable[[], object]) -> OSError:
    """The OSError that ``action()`` raises."""
    try:
        action()
    except OSError as error:
        return error
    raise AssertionError("no OSError")


def message_for(error: OSError, tmp_path: Path) -> str:
    return os_error_message(error, tmp_path / "cache", tmp_path / "dist")


def test_the_message_for_a_missing_file_says_it_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "dist" / "gone.whl"
    message = message_for(provoked(missing.read_bytes), tmp_path)

    assert message.startswith(f"{missing} does not exist; restore it")
    assert_only_cause(message, errno.ENOENT)
    assert f"It is in the output directory {tmp_path / 'dist'}" in message


def test_the_message_for_a_long_name_says_it_is_too_long(tmp_path: Path) -> None:
    error = provoked(lambda: (tmp_path / ("n" * 300)).mkdir())

    assert_only_cause(message_for(error, tmp_path), errno.ENAMETOOLONG)


def test_the_message_for_a_file_in_the_way_says_so(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("")
    message = message_for(provoked(lambda: (tmp_path / "cache" / "files").mkdir()), tmp_path)

    assert_only_cause(message, errno.ENOTDIR)
    assert "set LOCKBUNDLE_CACHE_DIR to move the cache" in message


def test_the_message_for_a_directory_name_taken_by_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "dist").write_text("")
    error = provoked(lambda: (tmp_path / "dist").mkdir(exist_ok=True))

    assert error.errno == errno.EEXIST
    assert_only_cause(message_for(error, tmp_path), errno.ENOTDIR)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_the_message_for_a_permission_problem_names_the_path(code: int, tmp_path: Path) -> None:
    # root cannot provoke it: the error is made as the system makes it
    path = tmp_path / "dist" / "app-1.0-target"
    message = message_for(OSError(code, os.strerror(code), str(path)), tmp_path)

    assert str(path) in message
    assert "give this user access to it" in message
    assert "space" not in message


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_the_message_for_a_full_device_says_no_space(tmp_path: Path) -> None:
    def write_to_full_device() -> None:
        with open("/dev/full", "wb", buffering=0) as full:
            full.write(b"x")

    error = provoked(write_to_full_device)

    assert error.errno == errno.ENOSPC
    assert_only_cause(message_for(error, tmp_path), errno.ENOSPC)


def test_the_message_for_a_read_only_file_system_says_so(tmp_path: Path) -> None:
    path = tmp_path / "dist"
    message = message_for(OSError(errno.EROFS, os.strerror(errno.EROFS), str(path)), tmp_path)

    assert message.startswith(f"{path} is on a read-only file system; choose a writable")
    assert_only_cause(message, errno.EROFS)


def test_the_message_for_another_cause_gives_the_systems_words(tmp_path: Path) -> None:
    error = OSError(errno.EIO, os.strerror(errno.EIO), str(tmp_path / "x"))

    message = message_for(error, tmp_path)

    assert f"cannot write or read {tmp_path / 'x'}: {os.strerror(errno.EIO)}" in message
    assert "space" not in message


def test_the_message_for_a_move_onto_a_full_directory_gives_the_systems_words(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "inside").mkdir(parents=True)
    error = provoked(lambda: os.rename(tmp_path / "a", tmp_path / "b"))

    message = message_for(error, tmp_path)

    assert f"cannot write or read {tmp_path / 'a'} (moving it to {tmp_path / 'b'})" in message
    assert "a file is in the way" not in message


def test_a_move_onto_a_full_directory_reported_as_existing_is_not_a_file_in_the_way(
    tmp_path: Path,
) -> None:
    # POSIX lets rename() say EEXIST instead of ENOTEMPTY (Linux says the latter)
    source, destination = str(tmp_path / "a"), str(tmp_path / "b")
    error = OSError(errno.EEXIST, os.strerror(errno.EEXIST), source, None, destination)

    message = message_for(error, tmp_path)

    assert f"cannot write or read {source} (moving it to {destination})" in message
    assert "a file is in the way" not in message
