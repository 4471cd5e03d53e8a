"""The target layout on hand-made wheels: conflicts, scripts, bytecode, RECORD."""

from __future__ import annotations

import base64
import errno
import gc
import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import installer
import pytest

from hatch_lockbundle import cache as cache_module
from hatch_lockbundle import fingerprint
from hatch_lockbundle.artifact import Artifact
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.destination import (
    FileConflictError,
    TargetDestination,
    scripts_as_uv_writes_them,
)
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.fetched import FetchedWheel
from hatch_lockbundle.install import INSTALLER_NAME, install, install_wheel
from hatch_lockbundle.installed import InstalledManifest, entry_of
from hatch_lockbundle.layouts.target import _BundleFiles, cycle_collection_paused, write_target
from hatch_lockbundle.lock import LockedPackage, Source
from hatch_lockbundle.progress import Reporter
from hatch_lockbundle.report import measure
from hatch_lockbundle.select import PlannedPackage
from hatch_lockbundle.wheelsource import RecordCheckedWheel
from support.artifacts import Entry, write_wheel
from support.consumer import Consumer
from support.environ import Sandbox
from support.index import IndexServer
from support.uv_target import comparable_tree, recorded_paths, uv_install_target


def with_member_replaced(wheel: Path, member: str, data: bytes) -> Path:
    """A copy of ``wheel`` (in a sibling directory) whose ``member`` holds ``data``, RECORD
    unchanged."""
    tampered = wheel.parent / "tampered" / wheel.name
    tampered.parent.mkdir()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(tampered, "w") as out:
        for item in source.infolist():
            out.writestr(item, data if item.filename == member else source.read(item))
    return tampered


def fetched(wheel: Path) -> FetchedWheel:
    name, version = wheel.name.split("-")[:2]
    package = LockedPackage(name=name, version=version, source=Source("registry", "x"))  # type: ignore[arg-type]
    return FetchedWheel(
        PlannedPackage(package, Artifact("wheel", wheel.name), (name,)), wheel, "test"
    )


def run_with_only_python3(
    tmp_path: Path, script: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with no PYTHONPATH and a PATH whose only Python is ``python3``."""
    only_python = tmp_path / "pybin"
    only_python.mkdir(exist_ok=True)
    if not (only_python / "python3").exists():
        (only_python / "python3").symlink_to(sys.executable)
    return subprocess.run(
        [str(script), *args],
        env={"PATH": f"{only_python}{os.pathsep}/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_distributions_writing_one_file_is_an_error_naming_both(tmp_path: Path) -> None:
    first = write_wheel(tmp_path, "alpha", "1.0", {"shared/util.py": "A = 1\n"})
    second = write_wheel(tmp_path, "beta", "2.0", {"shared/util.py": "B = 2\n"})

    with pytest.raises(
        FileConflictError, match=r"alpha==1.0 and beta==2.0 both install `shared/util.py`"
    ):
        write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)


def test_identical_files_may_be_shared(tmp_path: Path) -> None:
    # pkgutil-style namespace packages ship the same __init__.py in every distribution
    init = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    first = write_wheel(tmp_path, "alpha", "1.0", {"ns/__init__.py": init, "ns/a.py": ""})
    second = write_wheel(tmp_path, "beta", "2.0", {"ns/__init__.py": init, "ns/b.py": ""})

    write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)

    assert (tmp_path / "bundle" / "ns" / "__init__.py").read_text() == init
    assert (
        "ns/__init__.py,sha256="
        in (tmp_path / "bundle" / "beta-2.0.dist-info" / "RECORD").read_text()
    )


def test_namespace_directories_may_be_shared(tmp_path: Path) -> None:
    first = write_wheel(tmp_path, "alpha", "1.0", {"ns/a/__init__.py": "A = 1\n"})
    second = write_wheel(tmp_path, "beta", "2.0", {"ns/b/__init__.py": "B = 2\n"})

    write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)

    assert (tmp_path / "bundle" / "ns" / "a" / "__init__.py").exists()
    assert (tmp_path / "bundle" / "ns" / "b" / "__init__.py").exists()


def test_a_wheel_whose_record_does_not_match_is_refused(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "alpha", "1.0", {"alpha.py": "A = 1\n"})
    tampered = with_member_replaced(wheel, "alpha.py", b"A = 2\n")

    with pytest.raises(LockbundleError, match=r"alpha==1.0: .*alpha.py"):
        write_target([fetched(tampered)], tmp_path / "bundle", compile_bytecode=False)


def test_bytecode_is_hash_based_relative_and_recorded(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path, "alpha", "1.0", {"alpha/__init__.py": "def f():\n    raise ValueError\n"}
    )
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=True)

    pyc = Path(importlib.util.cache_from_source(str(bundle / "alpha" / "__init__.py")))
    data = pyc.read_bytes()
    flags = int.from_bytes(data[4:8], "little")
    assert flags & 0b01  # hash-based
    assert flags & 0b10  # checked against the source
    assert str(tmp_path).encode() not in data
    record = (bundle / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert pyc.relative_to(bundle).as_posix() + ",," in record


def test_console_script_runs_from_a_moved_bundle_with_only_python3(tmp_path: Path) -> None:
    files = {
        "alpha/__init__.py": "import sys\ndef main():\n    print('alpha says', sys.argv[1:])\n    return 3\n",
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:main\n",
    }
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)
    moved = tmp_path / "elsewhere" / "app"
    moved.parent.mkdir()
    (tmp_path / "bundle").rename(moved)

    result = run_with_only_python3(tmp_path, moved / "bin" / "alpha-cli", "x")

    assert result.stdout == "alpha says ['x']\n"
    assert result.returncode == 3
    assert "#!/usr/bin/env python3" in (moved / "bin" / "alpha-cli").read_text()


def test_python_shebang_scripts_run_with_the_bundle_on_the_path(tmp_path: Path) -> None:
    files = {
        "alpha/__init__.py": "VALUE = 42\n",
        "alpha-1.0.data/scripts/alpha-tool": "#!python\nimport alpha\nprint('tool', alpha.VALUE)\n",
    }
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "alpha-tool").symlink_to(tmp_path / "bundle" / "bin" / "alpha-tool")

    result = run_with_only_python3(tmp_path, link_dir / "alpha-tool")

    assert result.stdout == "tool 42\n", result.stderr


def test_copy_mode_bundles_can_be_edited_and_editing_one_leaves_the_cache_alone(
    tmp_path: Path,
) -> None:
    # copy mode: the bundle's files are the user's to edit, with no chmod (hardlinked ones are
    # read-only, and an edit made through them anyway is the test below)
    cache = Cache(tmp_path / "cache")
    wheel = write_wheel(tmp_path, "alpha", "1.0", {"alpha/__init__.py": "VALUE = 1\n"})
    first = tmp_path / "first"
    write_target([fetched(wheel)], first, compile_bytecode=False, cache=cache, link_mode="copy")

    (first / "alpha" / "__init__.py").write_text("VALUE = 'edited'\n")
    assert cached_files(tmp_path)["alpha/__init__.py"].read_text() == "VALUE = 1\n"
    second = tmp_path / "second"
    write_target([fetched(wheel)], second, compile_bytecode=False, cache=cache, link_mode="copy")

    assert (second / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"
    assert sorted(p.relative_to(second) for p in second.rglob("*")) == sorted(
        p.relative_to(first) for p in first.rglob("*")
    )


def test_cached_installs_still_refuse_conflicting_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = write_wheel(tmp_path, "alpha", "1.0", {"shared/util.py": "A = 1\n"})
    second = write_wheel(tmp_path, "beta", "2.0", {"shared/util.py": "B = 2\n"})

    with pytest.raises(
        FileConflictError, match=r"alpha==1.0 and beta==2.0 both install `shared/util.py`"
    ):
        write_target(
            [fetched(first), fetched(second)], tmp_path / "b", compile_bytecode=False, cache=cache
        )


def test_cached_installs_keep_scripts_executable_and_bytecode(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    files = {
        "alpha/__init__.py": "def main():\n    return 0\n",
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:main\n",
    }
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=True, cache=cache)

    assert (bundle / "bin" / "alpha-cli").stat().st_mode & 0o111
    pyc = Path(importlib.util.cache_from_source(str(bundle / "alpha" / "__init__.py")))
    assert pyc.exists()
    assert str(tmp_path).encode() not in pyc.read_bytes()


def test_data_files_are_recorded_relative_to_the_bundle_root(tmp_path: Path) -> None:
    files = {"alpha/__init__.py": "", "alpha-1.0.data/data/share/alpha/notes.txt": "notes\n"}
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=False)

    record = (bundle / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert (bundle / "share" / "alpha" / "notes.txt").read_text() == "notes\n"
    assert "\nshare/alpha/notes.txt,sha256=" in record
    assert "./" not in record


COMPRESSIONS = {
    "stored": zipfile.ZIP_STORED,
    "deflated": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}


def varied_files(compression: str) -> dict[str, bytes]:
    """Files that take every way of reading a member: small, empty, and larger than what is
    read in one piece (for stored and deflated members, which the engine reads at once up to
    8 MiB: 9 MiB that deflate cannot shrink below 8 MiB; for others, read a MiB at a time:
    1.5 MiB)."""
    pattern = os.urandom(64 << 10)  # repeats further apart than deflate's 32 KiB window
    return {
        "alpha/__init__.py": b"VALUE = 1\n",
        "alpha/empty.txt": b"",
        "alpha/large.bin": pattern * (144 if compression in ("stored", "deflated") else 24),
    }


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_members_in_every_compression_a_zip_may_use_are_unpacked_whole(
    tmp_path: Path, compression: str
) -> None:
    files = varied_files(compression)
    wheel = write_wheel(tmp_path, "alpha", "1.0", files, compression=COMPRESSIONS[compression])

    write_target(
        [fetched(wheel)], tmp_path / "bundle", compile_bytecode=False, cache=Cache(tmp_path / "c")
    )

    for name, data in files.items():
        assert (tmp_path / "bundle" / name).read_bytes() == data, name


@pytest.mark.parametrize("member", ["alpha/__init__.py", "alpha/large.bin"])
@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_a_member_unlike_its_record_is_refused_in_every_compression(
    tmp_path: Path, compression: str, member: str
) -> None:
    files = varied_files(compression)
    wheel = write_wheel(tmp_path, "alpha", "1.0", files, compression=COMPRESSIONS[compression])
    changed = bytearray(files[member])
    changed[len(changed) // 2] ^= 0xFF  # same size, one byte different
    tampered = with_member_replaced(wheel, member, bytes(changed))

    with pytest.raises(LockbundleError, match=rf"alpha==1.0: refusing .*`{member}`"):
        write_target(
            [fetched(tampered)], tmp_path / "b", compile_bytecode=False, cache=Cache(tmp_path / "c")
        )
    assert not list((tmp_path / "c").glob("installed/*/*/tree"))


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "alpha", "1.0", {"alpha/__init__.py": ""})
    with zipfile.ZipFile(wheel, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alpha/zeros.bin", b"\0" * (100 * 1024 * 1024))
    bundle = tmp_path / "bundle"

    with pytest.raises(
        LockbundleError, match=r"alpha==1.0: refusing .*zeros.bin` expands \d+ times"
    ):
        write_target([fetched(wheel)], bundle, compile_bytecode=False)
    assert not bundle.exists() or list(bundle.iterdir()) == []


def cached_build(tmp_path: Path, bundle: str, **options: object) -> tuple[Path, list[str]]:
    """A bundle of the wheel ``alpha`` through the cache ``tmp_path/cache``, and what it logged."""
    wheel = tmp_path / "alpha-1.0-py3-none-any.whl"
    if not wheel.exists():
        files = {
            "alpha/__init__.py": "VALUE = 1\n",
            "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:main\n",
        }
        write_wheel(tmp_path, "alpha", "1.0", files)
    lines: list[str] = []
    write_target(
        [fetched(wheel)],
        tmp_path / bundle,
        compile_bytecode=False,
        cache=Cache(tmp_path / "cache"),
        log=lines.append,
        **options,  # type: ignore[arg-type]
    )
    return tmp_path / bundle, lines


def cached_files(tmp_path: Path) -> dict[str, Path]:
    """The files of the cached installations, by path inside their tree."""
    installed = Cache(tmp_path / "cache").entries / "installed"
    return {
        path.relative_to(path.parents[len(path.relative_to(tree).parts) - 1]).as_posix(): path
        for tree in installed.glob("*/*/tree")
        for path in tree.rglob("*")
        if path.is_file()
    }


def test_bundle_files_are_read_only_hardlinks_into_the_cache(tmp_path: Path) -> None:
    bundle, _ = cached_build(tmp_path, "bundle")

    cached = cached_files(tmp_path)
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(bundle).as_posix() for p in files) == sorted(cached)
    for path in files:
        assert path.samefile(cached[path.relative_to(bundle).as_posix()])
        assert path.stat().st_mode & 0o222 == 0, f"{path} is writable"
    assert (bundle / "bin" / "alpha-cli").stat().st_mode & 0o111


def test_copy_mode_shares_no_file_with_the_cache(tmp_path: Path) -> None:
    bundle, _ = cached_build(tmp_path, "bundle", link_mode="copy")

    cached = cached_files(tmp_path)
    for path in (p for p in bundle.rglob("*") if p.is_file()):
        assert not path.samefile(cached[path.relative_to(bundle).as_posix()])
        assert path.stat().st_nlink == 1
        assert path.stat().st_mode & 0o200, f"{path} is not writable"
    assert (bundle / "bin" / "alpha-cli").stat().st_mode & 0o111


def _restored_mode(edit: Callable[[Path], object]) -> Callable[[Path], None]:
    """``edit`` as a user who is not root makes it: make the file writable, edit, and put the
    read-only mode back (so that only the edit itself tells)."""

    def edited(path: Path) -> None:
        path.chmod(0o644)
        edit(path)
        path.chmod(0o444)

    return edited


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_restored_mode(lambda p: p.write_text("VALUE = 'edited'\n")), id="content"),
        pytest.param(_restored_mode(lambda p: p.write_text("VALUE = 2\n")), id="same-size"),
        pytest.param(lambda path: path.chmod(0o644), id="mode"),
    ],
)
def test_a_change_made_through_a_link_is_noticed_and_the_wheel_installed_again(
    tmp_path: Path, edit: Callable[[Path], None]
) -> None:
    first, _ = cached_build(tmp_path, "first")
    module = first / "alpha" / "__init__.py"
    edit(module)

    second, lines = cached_build(tmp_path, "second")

    assert (second / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (second / "alpha" / "__init__.py").stat().st_mode & 0o777 == 0o444
    assert any("cached installation" in line and "alpha/__init__.py" in line for line in lines), (
        lines
    )
    assert cached_files(tmp_path)["alpha/__init__.py"].read_text() == "VALUE = 1\n"


def test_a_cache_whose_times_changed_but_not_its_contents_is_used_as_it_is(
    tmp_path: Path,
) -> None:
    # what a CI system's cache restore does (archives that keep whole seconds)
    first, _ = cached_build(tmp_path, "first")
    for path in cached_files(tmp_path).values():
        os.utime(path, ns=(0, 1_000_000_000 * 1_700_000_000))

    second, lines = cached_build(tmp_path, "second")
    third, again = cached_build(tmp_path, "third")

    assert (second / "alpha" / "__init__.py").samefile(first / "alpha" / "__init__.py")
    assert not any("cached installation" in line for line in lines + again), lines + again
    assert (third / "alpha" / "__init__.py").samefile(first / "alpha" / "__init__.py")


def test_cached_installations_of_another_format_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what a change to how wheels are laid out or manifests written must do to older entries
    first, _ = cached_build(tmp_path, "first")
    monkeypatch.setattr(cache_module, "FORMAT", cache_module.FORMAT + 1)

    second, _ = cached_build(tmp_path, "second")

    assert not (second / "alpha" / "__init__.py").samefile(first / "alpha" / "__init__.py")
    assert len(list((tmp_path / "cache").glob("v*/installed/*/*/files"))) == 2


@pytest.mark.parametrize(
    "row", ["../../../outside.py", "alpha/../../../../outside.py"], ids=["leading", "inner"]
)
def test_a_cache_manifest_row_outside_its_entry_is_refused_and_links_nothing_outside(
    tmp_path: Path, row: str
) -> None:
    # a planted row naming a real file outside the entry, with its real mode, size and time
    cached_build(tmp_path, "first")
    (manifest,) = (Cache(tmp_path / "cache").entries / "installed").glob("*/*/files")
    planted = Path(os.path.normpath(manifest.parent / "tree" / row))
    planted.write_text("planted = True\n")
    planted.chmod(0o444)
    status = planted.stat()
    manifest.chmod(0o644)
    with manifest.open("a") as rows:
        rows.write(f"444 444 {status.st_size} {status.st_mtime_ns} {'0' * 64} {row}\n")

    bundle = tmp_path / "a" / "b" / "c" / "second"
    second, lines = cached_build(tmp_path, "a/b/c/second")

    assert any("has a path outside it" in message for message in lines), lines
    assert not Path(os.path.normpath(bundle / row)).exists()
    assert (second / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"


@pytest.mark.parametrize(
    "row", ["leak/key", "leak/keys/key"], ids=["the row's folder", "a folder above the row's"]
)
def test_a_cache_folder_swapped_for_a_link_is_refused_and_links_nothing_outside(
    tmp_path: Path, row: str
) -> None:
    # `leak` is the link; under it, `leak/keys` is a real folder
    cached_build(tmp_path, "first")
    (manifest,) = (Cache(tmp_path / "cache").entries / "installed").glob("*/*/files")
    elsewhere = tmp_path / "elsewhere"
    secret = elsewhere / row.partition("/")[2]
    secret.parent.mkdir(parents=True)
    secret.write_text("secret\n")
    secret.chmod(0o444)
    (manifest.parent / "tree" / "leak").symlink_to(elsewhere, target_is_directory=True)
    status = secret.stat()
    manifest.chmod(0o644)
    with manifest.open("a") as rows:
        rows.write(f"444 444 {status.st_size} {status.st_mtime_ns} {'0' * 64} {row}\n")

    second, lines = cached_build(tmp_path, "second")

    assert any("a folder that is not one, `leak`" in message for message in lines), lines
    assert not (second / "leak").exists()
    assert secret.stat().st_nlink == 1


def test_a_bundle_is_filled_from_the_cache_without_cycle_collection_passes(
    tmp_path: Path,
) -> None:
    # reading the manifests and planning the links make small tuples in no cycle, per file
    cached_build(tmp_path, "first")
    filling = {InstalledManifest.read.__code__, _BundleFiles._plan.__code__}
    passes: list[str] = []

    def note(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe().f_back
        while phase == "start" and frame is not None:
            if frame.f_code in filling:
                passes.append(frame.f_code.co_name)
            frame = frame.f_back

    thresholds = gc.get_threshold()
    gc.callbacks.append(note)
    gc.set_threshold(1)  # were the collector running: a pass at every new object
    try:
        second, _ = cached_build(tmp_path, "second")
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(note)

    assert passes == []
    assert (second / "alpha" / "__init__.py").samefile(tmp_path / "first" / "alpha" / "__init__.py")
    assert gc.isenabled()


def test_the_cycle_collector_runs_again_after_a_failed_bundle(tmp_path: Path) -> None:
    first = write_wheel(tmp_path, "alpha", "1.0", {"shared/util.py": "A = 1\n"})
    second = write_wheel(tmp_path, "beta", "2.0", {"shared/util.py": "B = 2\n"})

    with pytest.raises(FileConflictError):
        write_target(
            [fetched(first), fetched(second)],
            tmp_path / "b",
            compile_bytecode=False,
            cache=Cache(tmp_path / "cache"),
        )

    assert gc.isenabled()


def test_a_cycle_collector_its_caller_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_bundle_is_copied_when_the_cache_cannot_be_linked_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(source: str, target: str) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), source)

    monkeypatch.setattr(os, "link", cross_device)

    bundle, lines = cached_build(tmp_path, "bundle")

    assert (bundle / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"
    assert (bundle / "alpha" / "__init__.py").stat().st_nlink == 1
    assert [line for line in lines if "Cannot hardlink" in line] == [
        "Cannot hardlink from the cache into the bundle (Invalid cross-device link: the cache is "
        "probably on another file system); copying instead. Put the cache on the same file "
        'system (LOCKBUNDLE_CACHE_DIR), or set `link-mode = "copy"`'
    ]


def test_a_file_named_like_a_record_signature_outside_dist_info_is_checked(
    tmp_path: Path,
) -> None:
    # only .dist-info/RECORD.jws and RECORD.p7s go unlisted; elsewhere the name means nothing
    wheel = write_wheel(tmp_path, "alpha", "1.0", {"alpha/RECORD.jws": "honest\n"})
    tampered = with_member_replaced(wheel, "alpha/RECORD.jws", b"tampered\n")

    with pytest.raises(LockbundleError, match=r"alpha==1.0: refusing .*`alpha/RECORD.jws`"):
        write_target(
            [fetched(tampered)], tmp_path / "bundle", compile_bytecode=False,
            cache=Cache(tmp_path / "cache"),
        )  # fmt: skip


def test_a_file_shared_with_different_modes_takes_the_first_distributions_whatever_the_order(
    tmp_path: Path,
) -> None:
    # installs finish in any order; the bundle must not depend on it
    script = "#!/bin/sh\necho shared\n"
    alpha = write_wheel(tmp_path, "alpha", "1.0", {"shared/tool.sh": script})
    (tmp_path / "b").mkdir()
    beta = write_wheel(tmp_path / "b", "beta", "1.0", {"shared/tool.sh": script})
    executable = tmp_path / "x" / alpha.name
    executable.parent.mkdir()
    with zipfile.ZipFile(alpha) as source, zipfile.ZipFile(executable, "w") as out:
        for item in source.infolist():
            if item.filename == "shared/tool.sh":
                item.external_attr = (stat.S_IFREG | 0o755) << 16
            out.writestr(item, source.read(item))
    cache = Cache(tmp_path / "cache")
    wheels = [fetched(executable), fetched(beta)]
    write_target(wheels, tmp_path / "warm-up", compile_bytecode=False, cache=cache)
    trees = []
    for wheel in wheels:
        entry = entry_of(wheel, cache, compile_bytecode=False)
        listing = InstalledManifest(entry).read(Reporter.of(lambda message: None))
        assert listing is not None
        trees.append((entry, listing, wheel.planned.package.label))

    modes = []
    for order in (trees, trees[::-1]):
        bundle = tmp_path / f"bundle-{len(modes)}"
        bundle.mkdir()
        with ThreadPoolExecutor() as directories, ThreadPoolExecutor() as files:
            filling = _BundleFiles(bundle, "hardlink", Reporter.of(print), directories, files)
            for tree in order:  # one at a time, as installs finishing one by one are added
                filling.add([tree])
            filling.finish()
        modes.append(stat.S_IMODE((bundle / "shared" / "tool.sh").stat().st_mode))
        assert filling.linked_exactly
        assert fingerprint.of_files(filling.linked) == fingerprint.scan(bundle)
        by_records = measure(bundle).distributions
        assert measure(bundle, distributions=filling.distributions).distributions == by_records

    assert modes[0] == modes[1]
    assert modes[0] & 0o111, "alpha (first by name) ships it executable"


def test_a_cached_file_deleted_while_a_build_links_it_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    # another process discarding the entry at the wrong moment: the build stops and says why
    cached_build(tmp_path, "warm-up")
    entry = entry_of(
        fetched(tmp_path / "alpha-1.0-py3-none-any.whl"), Cache(tmp_path / "cache"), False
    )
    listing = InstalledManifest(entry).read(Reporter.of(lambda message: None))
    assert listing is not None
    (entry / "tree" / "alpha" / "__init__.py").chmod(0o644)
    (entry / "tree" / "alpha" / "__init__.py").unlink()
    target = tmp_path / "bundle"
    target.mkdir()

    with ThreadPoolExecutor() as directories, ThreadPoolExecutor() as files:
        filling = _BundleFiles(target, "hardlink", Reporter.of(print), directories, files)
        filling.add([(entry, listing, "alpha==1.0")])
        with pytest.raises(LockbundleError, match=r"alpha/__init__.py disappeared .* Build again"):
            filling.finish()


def plain_wheel(directory: Path, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A plain wheel (no ``.data``) with most of what installs differently: an executable,
    console and GUI entry points, an empty file, a non-ASCII name, deep directories, a member
    read in pieces, a name with a redundant ``./``."""
    files: dict[str, bytes] = {
        **varied_files("deflated" if compression == zipfile.ZIP_DEFLATED else "stored"),
        "alpha/sub/deeper/module.py": b"def main():\n    return 0\n",
        "alpha/naïve.txt": "café\n".encode(),
        "alpha/./dotted.txt": b"dotted\n",
        "alpha-1.0.dist-info/entry_points.txt": (
            b"[console_scripts]\nalpha-cli = alpha.sub.deeper.module:main\n"
            b"[gui_scripts]\nalpha-gui = alpha:main\n"
        ),
    }
    wheel = write_wheel(directory, "alpha", "1.0", files, compression=compression)
    # one member executable, as a wheel built on Unix records it
    with zipfile.ZipFile(wheel) as source:
        items = [(item, source.read(item)) for item in source.infolist()]
    with zipfile.ZipFile(wheel, "w") as out:
        for item, data in items:
            if item.filename == "alpha/__init__.py":
                item.external_attr = (stat.S_IFREG | 0o755) << 16
            out.writestr(item, data)
    return wheel


def installed(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        path.relative_to(root).as_posix(): (stat.S_IMODE(path.stat().st_mode), path.read_bytes())
        for path in root.rglob("*")
        if path.is_file()
    }


#: an install() between a wheel source and a destination: installer's own, and ours, whose
#: signature is installer's
Install = Callable[[RecordCheckedWheel, TargetDestination, dict[str, bytes]], None]
INSTALLS: dict[str, Install] = {"installer": installer.install, "lockbundle": install}


def installed_with(
    implementation: Install, wheel: Path, root: Path, read_only: bool
) -> tuple[dict[str, tuple[int, bytes]], dict[str, tuple[int, str]]]:
    """``wheel`` installed by ``implementation`` from the same source into the same
    destination: the files (mode, content), and what the destination noted of each (the mode
    it was installed with, its sha256)."""
    destination = TargetDestination(
        root, {}, False, read_only, name="alpha", distribution="alpha==1.0"
    )
    with zipfile.ZipFile(wheel) as archive:
        source = RecordCheckedWheel(archive, "alpha==1.0")
        implementation(source, destination, {"INSTALLER": INSTALLER_NAME})
    source.check()
    return installed(root), {k: (v[0], v[2]) for k, v in destination.written.items()}


def data_wheel(directory: Path, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A wheel with a file in every ``.data`` scheme installer and uv agree on."""
    files = {
        "alpha/__init__.py": b"",
        "alpha-1.0.data/scripts/tool": b"#!python\nprint(1)\n",
        "alpha-1.0.data/scripts/plain.sh": b"#!/bin/sh\necho 1\n",
        "alpha-1.0.data/data/share/alpha/notes.txt": b"notes\n",
        "alpha-1.0.data/purelib/alpha_extra/__init__.py": b"EXTRA = 1\n",
        "alpha-1.0.data/platlib/alpha_native/__init__.py": b"NATIVE = 1\n",
    }
    return write_wheel(directory, "alpha", "1.0", files, compression=compression)


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("shape", [plain_wheel, data_wheel], ids=["plain", "data"])
def test_wheels_unpack_exactly_as_installer_installs_them(
    tmp_path: Path, compression: int, read_only: bool, shape: Callable[[Path, int], Path]
) -> None:
    wheel = shape(tmp_path, compression)

    results = {
        name: installed_with(implementation, wheel, tmp_path / name, read_only)
        for name, implementation in INSTALLS.items()
    }

    assert results["lockbundle"] == results["installer"]
    assert any(path.startswith("bin/") for path in results["lockbundle"][0])


def test_installing_a_wheel_that_ships_bytecode_warns_of_nothing(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path, "alpha", "1.0", {"alpha/__init__.py": b"", "alpha/__pycache__/x.pyc": b"\0"}
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        destination = TargetDestination(
            tmp_path / "out", {}, False, name="alpha", distribution="alpha==1.0"
        )
        install_wheel(wheel, ("alpha==1.0", "alpha", "1.0"), destination)

    assert (tmp_path / "out" / "alpha" / "__pycache__" / "x.pyc").read_bytes() == b"\0"


def test_headers_go_to_include_and_the_normalized_name_as_uv_puts_them(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    wheel = write_wheel(
        tmp_path,
        "my_dist",
        "1.0",
        [
            Entry("my_dist/__init__.py", b""),
            Entry("my_dist-1.0.data/headers/my_dist.h", b"int x;\n"),
            Entry("my_dist-1.0.data/headers/sub/inner.h", b"int y;\n"),
        ],
        metadata_name="My.Dist",
    )

    ours, uvs = install_both(tmp_path, [wheel], sandbox)

    assert comparable_tree(ours) == comparable_tree(uvs)
    assert "include/my-dist/sub/inner.h" in comparable_tree(ours)
    assert recorded_paths(ours) == recorded_paths(uvs)


@pytest.mark.parametrize("compile_bytecode", [False, True])
def test_bytecode_a_wheel_ships_is_installed_as_uv_installs_it(
    tmp_path: Path, sandbox: Sandbox, compile_bytecode: bool
) -> None:
    # as numpy's wheels ship numpy/distutils/__pycache__/conv_template.cpython-311.pyc
    shipped = importlib.util.cache_from_source("alpha/orphan.py").replace(os.sep, "/")
    wheel = write_wheel(
        tmp_path,
        "alpha",
        "1.0",
        {"alpha/__init__.py": b"", "alpha/mod.py": b"X = 1\n", shipped: b"\0shipped"},
    )

    ours, uvs = install_both(tmp_path, [wheel], sandbox, compile_bytecode=compile_bytecode)

    assert (ours / shipped).read_bytes() == b"\0shipped"
    if compile_bytecode:  # ours also holds the bytecode it compiled, which uv's does not
        compiled = importlib.util.cache_from_source("alpha/mod.py").replace(os.sep, "/")
        assert (ours / compiled).is_file()
        assert set(comparable_tree(ours)) - set(comparable_tree(uvs)) == {
            compiled,
            importlib.util.cache_from_source("alpha/__init__.py").replace(os.sep, "/"),
        }
    else:
        assert comparable_tree(ours) == comparable_tree(uvs)
        assert recorded_paths(ours) == recorded_paths(uvs)


def test_compiled_bytecode_replaces_shipped_bytecode_of_the_same_module_once(
    tmp_path: Path,
) -> None:
    pyc = importlib.util.cache_from_source("alpha/mod.py").replace(os.sep, "/")
    wheel = write_wheel(
        tmp_path,
        "alpha",
        "1.0",
        {"alpha/__init__.py": b"", "alpha/mod.py": b"X = 1\n", pyc: b"stale"},
    )
    cache = Cache(tmp_path / "cache")
    warnings_seen: list[str] = []
    log = Reporter(lambda level, message: warnings_seen.append(message) if level < 0 else None)

    write_target([fetched(wheel)], tmp_path / "first", compile_bytecode=True, cache=cache, log=log)
    write_target([fetched(wheel)], tmp_path / "again", compile_bytecode=True, cache=cache, log=log)

    rows = [
        row.split(",")[0]
        for row in (tmp_path / "again" / "alpha-1.0.dist-info" / "RECORD").read_text().splitlines()
    ]
    assert rows.count(pyc) == 1
    assert (tmp_path / "again" / pyc).read_bytes() != b"stale"
    assert warnings_seen == []  # the cached installation is reused as it is, not "damaged"


def test_pip_scripts_are_named_as_uv_names_them(
    tmp_path: Path, sandbox: Sandbox, seed_wheels: Path
) -> None:
    (pip,) = seed_wheels.glob("pip-*.whl")
    entry_points = (
        "[console_scripts]\nalpha = alpha:main\npip3.9 = alpha:main\npip3.x = alpha:main\n"
        "alpha3.9 = alpha:main\n"
    )
    versioned = write_wheel(
        tmp_path,
        "alpha",
        "1.0",
        {
            "alpha/__init__.py": b"def main(): return 0\n",
            "alpha-1.0.dist-info/entry_points.txt": entry_points,
        },
    )

    ours, uvs = install_both(tmp_path, [pip, versioned], sandbox)

    scripts = sorted(path.name for path in (ours / "bin").iterdir())
    assert scripts == sorted(path.name for path in (uvs / "bin").iterdir())
    assert f"pip3.{sys.version_info.minor}" in scripts and "pip3.9" not in scripts
    assert comparable_tree(ours) == comparable_tree(uvs)


def test_the_versioned_pip_script_names_the_targets_python() -> None:
    scripts = [
        ("pip", "m", "f", "console"),
        ("pip3", "m", "g", "console"),
        ("pip3.8", "m", "h", "console"),
    ]

    named = scripts_as_uv_writes_them(scripts, "3.13")

    assert named == [
        ("pip", "m", "f", "console"),
        ("pip3", "m", "g", "console"),
        ("pip3.13", "m", "g", "console"),
    ]


def test_a_foreign_targets_bundle_gets_its_versions_pip_script(
    tmp_path: Path, seed_wheels: Path
) -> None:
    (pip,) = seed_wheels.glob("pip-*.whl")
    cache = Cache(tmp_path / "cache")

    write_target([fetched(pip)], tmp_path / "native", compile_bytecode=False, cache=cache)
    write_target(
        [fetched(pip)], tmp_path / "other", compile_bytecode=False, cache=cache, python="3.99"
    )

    assert (tmp_path / "other" / "bin" / "pip3.99").is_file()
    assert not (tmp_path / "other" / "bin" / f"pip3.{sys.version_info.minor}").exists()
    assert (tmp_path / "native" / "bin" / f"pip3.{sys.version_info.minor}").is_file()


def test_a_bundle_for_another_python_names_its_pip_script_after_that_python(
    tmp_path: Path, sandbox: Sandbox, seed_wheels: Path
) -> None:
    (pip,) = seed_wheels.glob("pip-*.whl")
    directory = tmp_path / "index"
    directory.mkdir()
    shutil.copy2(pip, directory)
    other = f"3.{sys.version_info.minor + 1}"
    with IndexServer(directory) as index:
        consumer = Consumer.create(tmp_path / "project", index, ["pip"], env=sandbox.environ())

        bundle = build_bundle(
            consumer.root,
            tmp_path / "dist",
            cache_dir=tmp_path / "cache",
            overrides={"python": other},
        )

    assert (bundle / "bin" / f"pip{other}").is_file()
    assert not (bundle / "bin" / f"pip3.{sys.version_info.minor}").exists()


def install_both(
    tmp_path: Path, wheels: list[Path], sandbox: Sandbox, *, compile_bytecode: bool = False
) -> tuple[Path, Path]:
    """``wheels`` installed by the target layout (through the cache) and by real uv."""
    ours = tmp_path / "ours"
    write_target(
        [fetched(wheel) for wheel in wheels],
        ours,
        compile_bytecode=compile_bytecode,
        cache=Cache(tmp_path / "cache"),
    )
    uvs = uv_install_target(wheels, tmp_path / "uv", env=sandbox.environ())
    return ours, uvs


@pytest.mark.parametrize("link_mode", ["hardlink", "copy"])
def test_a_bundle_linked_from_the_cache_is_known_without_looking_at_it(
    tmp_path: Path, link_mode: str
) -> None:
    # the no-op stamp takes the bundle's fingerprint from what was linked: it must be what a
    # walk of the bundle finds, cold and warm, or every rebuild would redo the work
    wheel = plain_wheel(tmp_path)
    cache = Cache(tmp_path / "cache")
    for name in ("cold", "warm"):
        bundle = tmp_path / name
        written = write_target(
            [fetched(wheel)], bundle, compile_bytecode=False, cache=cache, link_mode=link_mode
        )

        if link_mode == "copy":
            assert written.files is None  # copies are new files: only a walk can tell
            continue
        assert written.files is not None and written.distributions is not None
        assert fingerprint.of_files(written.files) == fingerprint.scan(bundle), name
        # and the size report adds up what RECORD says
        from_records = measure(bundle).distributions
        assert measure(bundle, distributions=written.distributions).distributions == from_records
        assert [name for name, _ in from_records] == ["alpha-1.0"]


def test_a_cached_file_retimed_is_reused_whatever_hash_its_wheels_record_uses(
    tmp_path: Path,
) -> None:
    # the manifest keeps sha256 for every file, also when RECORD uses another algorithm, so
    # that a file whose time alone changed (a restored CI cache) is recognised as unchanged
    wheel = write_wheel(tmp_path, "alpha", "1.0", {"alpha/__init__.py": "VALUE = 1\n"})
    with zipfile.ZipFile(wheel) as source:
        items = [(item, source.read(item)) for item in source.infolist()]
    record = (
        "".join(
            f"{item.filename},sha512="
            f"{base64.urlsafe_b64encode(hashlib.sha512(data).digest()).rstrip(b'=').decode()},"
            f"{len(data)}\n"
            for item, data in items
            if not item.filename.endswith("RECORD")
        )
        + "alpha-1.0.dist-info/RECORD,,\n"
    )
    with zipfile.ZipFile(wheel, "w") as out:
        for item, data in items:
            out.writestr(item, record if item.filename.endswith("RECORD") else data)
    cache = Cache(tmp_path / "cache")
    write_target([fetched(wheel)], tmp_path / "first", compile_bytecode=False, cache=cache)
    entry = entry_of(fetched(wheel), cache, compile_bytecode=False)
    os.utime(entry / "tree" / "alpha" / "__init__.py", ns=(10**18, 10**18))
    lines: list[str] = []

    write_target(
        [fetched(wheel)], tmp_path / "second", compile_bytecode=False, cache=cache, log=lines.append
    )

    assert not [line for line in lines if "installing that wheel again" in line], lines
    assert (tmp_path / "second" / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"


@pytest.mark.parametrize(
    ("entry_points", "said"),
    [
        (
            "[console_scripts]\nx = os:system('touch planted')\n",
            "(an entry is not `name = module:attribute`)",
        ),
        ("x = a:b\n", "(File contains no section headers."),
        (
            "[console_scripts]\nx = a:b\nx = a:c\n",
            "option 'x' in section 'console_scripts' already",
        ),
    ],
    ids=["code-in-a-reference", "no-section", "duplicate-name"],
)
def test_a_malformed_entry_points_file_is_an_error_naming_the_distribution(
    tmp_path: Path, entry_points: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = {"alpha/__init__.py": "", "alpha-1.0.dist-info/entry_points.txt": entry_points}
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)

    with pytest.raises(LockbundleError) as raised:
        write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)

    message = str(raised.value)
    assert message.startswith(
        "alpha==1.0: alpha-1.0-py3-none-any.whl has a malformed entry_points.txt"
    )
    assert said in message
    assert not (tmp_path / "planted").exists()


def test_a_member_nested_thousands_of_directories_deep_is_refused(tmp_path: Path) -> None:
    files = {"alpha/__init__.py": "", "alpha/" + "d/" * 2100 + "x.py": "X = 1\n"}
    wheel = write_wheel(tmp_path, "alpha", "1.0", files)

    with pytest.raises(
        LockbundleError, match=r"alpha==1.0: refusing .* nests 2101 directories deep"
    ):
        write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)
