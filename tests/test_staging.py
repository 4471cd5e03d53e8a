"""Temporaries beside outputs: what killed builds leave is swept, what live builds hold is not."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hatch_lockbundle import staging
from hatch_lockbundle.archive import write_archive
from hatch_lockbundle.bundle import replacing
from hatch_lockbundle.cache import replace_file
from hatch_lockbundle.staging import sibling, sweep

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock: nothing is swept")

# A process that makes a temporary beside `final` and holds it until it is killed.
HOLDER = """
import sys
from pathlib import Path
from hatch_lockbundle.staging import sibling

with sibling(Path(sys.argv[1]), sys.argv[2], directory=sys.argv[3] == "directory") as path:
    if path.is_dir():
        (path / "half-written").write_text("x")
    else:
        path.write_text("x")
    print(path.name, flush=True)
    sys.stdin.read()
"""


def leave(dist: Path, name: str, *, directory: bool = True) -> Path:
    """What a killed build leaves: a temporary nobody holds."""
    path = dist / name
    if directory:
        path.mkdir(parents=True)
        (path / "file.py").write_text("x = 1\n")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK half an archive")
    return path


def test_what_killed_builds_of_a_bundle_left_is_swept_and_nothing_else(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    leave(dist, ".app-1.0-target.lb-k1ll3d_a.tmp")
    leave(dist, ".app-1.0-target.lb-k1ll3d_b.old")
    leave(dist, "app-1.0-target")  # the last good bundle
    leave(dist, ".app-1.0-target.zip.lb-k1ll3d_c.tmp", directory=False)  # the archive's
    leave(dist, ".app-1.0-wheelhouse.lb-k1ll3d_d.tmp")  # another bundle's
    leave(dist, ".app-1.0-target.notes")  # not a temporary

    swept = sweep(dist / "app-1.0-target")

    assert sorted(swept) == [".app-1.0-target.lb-k1ll3d_a.tmp", ".app-1.0-target.lb-k1ll3d_b.old"]
    assert sorted(p.name for p in dist.iterdir()) == [
        ".app-1.0-target.notes",
        ".app-1.0-target.zip.lb-k1ll3d_c.tmp",
        ".app-1.0-wheelhouse.lb-k1ll3d_d.tmp",
        "app-1.0-target",
    ]
    assert sweep(dist / "app-1.0-target.zip") == [".app-1.0-target.zip.lb-k1ll3d_c.tmp"]


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_what_a_live_process_holds_is_kept_until_it_dies(tmp_path: Path, kind: str) -> None:
    final = tmp_path / "dist" / "app-1.0-target"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(final), ".tmp", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        held = holder.stdout.readline().strip()

        assert sweep(final) == []
        assert (final.parent / held).exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    assert sweep(final) == [held]
    assert list(final.parent.iterdir()) == []


def test_a_process_keeps_its_own_temporaries(tmp_path: Path) -> None:
    final = tmp_path / "app-1.0-target"
    with sibling(final, ".tmp") as stage:
        assert sweep(final) == []
        assert stage.is_dir()


def test_staging_a_bundle_sweeps_first(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    leave(dist, ".app-1.0-target.lb-k1ll3d_a.tmp")

    with replacing(dist / "app-1.0-target") as stage:
        (stage / "module.py").write_text("")

    assert sorted(p.name for p in dist.iterdir()) == ["app-1.0-target"]


def test_writing_an_archive_sweeps_first(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    leave(dist, ".app-1.0-target.zip.lb-k1ll3d_a.tmp", directory=False)
    content = leave(tmp_path / "layout", "app-1.0-target")

    write_archive(content, dist / "app-1.0-target.zip", "zip", prefix="", epoch=1580601600)

    assert sorted(p.name for p in dist.iterdir()) == ["app-1.0-target.zip"]


# -- how temporaries are made -----------------------------------------------------------------------

# Makes a temporary of each kind beside argv[1] under the umask argv[2] (set before the import,
# as in a build process) and prints their modes.
MODES_UNDER_UMASK = """
import os, stat, sys
os.umask(int(sys.argv[2], 8))
from pathlib import Path
from hatch_lockbundle.staging import sibling

for directory in (True, False):
    with sibling(Path(sys.argv[1]), ".tmp", directory=directory) as path:
        print(oct(stat.S_IMODE(path.lstat().st_mode)))
"""


@pytest.mark.parametrize(
    ("umask", "modes"), [("022", ["0o755", "0o644"]), ("027", ["0o750", "0o640"])]
)
def test_a_temporary_gets_the_mode_the_umask_gives(
    tmp_path: Path, umask: str, modes: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MODES_UNDER_UMASK, str(tmp_path / "app-1.0-target"), umask],
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.split() == modes


# The same, with the umask set after the import, as a caller of the engine may: the umask of the
# moment counts, not the one the process had when the module was imported.
MODES_UNDER_A_LATER_UMASK = """
import os, stat, sys
os.umask(0o022)
from pathlib import Path
from hatch_lockbundle.staging import sibling

os.umask(int(sys.argv[2], 8))
for directory in (True, False):
    with sibling(Path(sys.argv[1]), ".tmp", directory=directory) as path:
        print(oct(stat.S_IMODE(path.lstat().st_mode)))
"""


def test_a_temporary_gets_the_mode_of_the_umask_it_is_made_under(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MODES_UNDER_A_LATER_UMASK, str(tmp_path / "app-1.0-target"), "027"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.split() == ["0o750", "0o640"]


def test_making_a_temporary_never_sets_the_umask_of_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def process_wide(mask: int) -> int:
        raise AssertionError("os.umask sets the umask of every thread, even to read it")

    monkeypatch.setattr(os, "umask", process_wide)

    for directory in (True, False):
        with sibling(tmp_path / "app-1.0-target", ".tmp", directory=directory) as path:
            assert path.exists()


def test_replacing_a_file_replaces_a_link_in_its_place_and_not_what_it_points_to(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    place = tmp_path / "dist" / "app-1.0-target.cdx.json"
    place.parent.mkdir()
    place.symlink_to(victim)

    replace_file(place, b"{}\n")

    assert victim.read_text() == "kept\n"
    assert not place.is_symlink() and place.read_bytes() == b"{}\n"
    assert sorted(p.name for p in place.parent.iterdir()) == [place.name]


def test_a_file_of_the_users_named_like_a_temporary_is_never_swept(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / ".app-1.0-target.previous.old").mkdir()
    (dist / ".app-1.0-target.previous.old" / "keep.txt").write_text("the user's\n")
    leave(dist, ".app-1.0-target.lb-k1ll3d_a.tmp")

    swept = sweep(dist / "app-1.0-target")

    assert swept == [".app-1.0-target.lb-k1ll3d_a.tmp"]
    assert (dist / ".app-1.0-target.previous.old" / "keep.txt").is_file()


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as at a terminal, even when this test run was started
    with SIGINT ignored (a background job of a shell without job control: Python then keeps it
    ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_an_interrupt_while_a_temporary_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, ctrl_c: None
) -> None:
    """Ctrl-C the moment the temporary exists, before its maker has its name: held back until
    the name is known, then removed with the rest."""
    dist = tmp_path / "dist"
    dist.mkdir()
    real = staging._create

    def interrupted_at_once(*args: Any, **kwargs: Any) -> Path:
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # delivered by now, to whichever thread the kernel chose
        return made

    monkeypatch.setattr(staging, "_create", interrupted_at_once)
    # a build has other threads (downloads, installs): the kernel may hand the signal to one
    waiting = threading.Event()
    other = threading.Thread(target=waiting.wait)
    other.start()
    try:
        with (
            pytest.raises(KeyboardInterrupt),
            sibling(dist / "app", ".tmp", directory=kind == "directory"),
        ):
            pytest.fail("the block runs only after the interrupt was delivered")  # pragma: no cover
    finally:
        waiting.set()
        other.join()
    assert list(dist.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_an_error_in_the_block_removes_its_temporary(tmp_path: Path, kind: str) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()

    with (
        pytest.raises(KeyboardInterrupt),
        sibling(dist / "app", ".tmp", directory=kind == "directory") as path,
    ):
        if path.is_dir():
            (path / "half-written").write_text("x")
        raise KeyboardInterrupt
    assert list(dist.iterdir()) == []


def previous_bundle(dist: Path) -> Path:
    final = dist / "app-1.0-target"
    final.mkdir(parents=True)
    (final / "previous.py").write_text("")
    return final


def test_ctrl_c_between_the_two_renames_of_a_swap_leaves_a_whole_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ctrl_c: None
) -> None:
    final = previous_bundle(tmp_path / "dist")
    real = os.replace

    def interrupted_after_parking(source: object, target: object) -> None:
        real(source, target)  # type: ignore[arg-type]
        if source == final:  # the previous bundle is parked: Ctrl-C now
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", interrupted_after_parking)

    with pytest.raises(KeyboardInterrupt), replacing(final) as stage:
        (stage / "new.py").write_text("")
    assert sorted(p.name for p in final.iterdir()) == ["new.py"]
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_a_swap_that_cannot_put_the_new_bundle_in_place_puts_the_previous_one_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = previous_bundle(tmp_path / "dist")
    real = os.replace

    def refusing_the_new_bundle(source: object, target: object) -> None:
        if target == final and os.fspath(source).endswith(".tmp"):
            raise OSError(errno.EBUSY, "busy")
        real(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", refusing_the_new_bundle)

    with pytest.raises(OSError), replacing(final) as stage:
        (stage / "new.py").write_text("")
    assert sorted(p.name for p in final.iterdir()) == ["previous.py"]
    assert [p.name for p in final.parent.iterdir()] == [final.name]
