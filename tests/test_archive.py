"""Deterministic archives: same files, same bytes, whatever the mtimes; one prefix; normal modes."""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import struct
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import hatch_lockbundle.archive as archive_module
from hatch_lockbundle.archive import (
    DEFAULT_EPOCH,
    DEFAULT_LEVEL,
    TAR_CHECKS,
    UNPACK_FLOOR,
    UNPACK_RATIO,
    TarChecks,
    UnsafeArchiveError,
    archive_epoch,
    extract_safely,
    unpack_budget,
    write_archive,
)
from hatch_lockbundle.build import BuildError, WheelBuilder
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.config import load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError
from hatch_lockbundle.outputs import is_marked
from support.projects import MakeProject


def make_tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "data.txt").write_text("data\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o775)
    (root / "pkg" / "__init__.py").chmod(0o600)
    return root


def touch_everything(root: Path, when: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (when, when))


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_same_files_give_the_same_bytes_whatever_the_mtimes(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    first = write_archive(tree, tmp_path / f"one.{fmt}", fmt, "bundle", DEFAULT_EPOCH)
    touch_everything(tree, 1_700_000_000)
    second = write_archive(tree, tmp_path / f"two.{fmt}", fmt, "bundle", DEFAULT_EPOCH)

    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_changed_file_changes_the_archive(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    first = write_archive(tree, tmp_path / f"one.{fmt}", fmt, "bundle", DEFAULT_EPOCH).read_bytes()
    (tree / "pkg" / "sub" / "data.txt").write_text("other\n")

    assert (
        write_archive(tree, tmp_path / f"two.{fmt}", fmt, "bundle", DEFAULT_EPOCH).read_bytes()
        != first
    )


def test_tar_entries_are_sorted_prefixed_owned_by_root_with_normal_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.tar.gz", "tar.gz", "bundle", 1234567890)

    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == ["bundle", *sorted(names[1:])]
    assert all(name == "bundle" or name.startswith("bundle/") for name in names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "", "", 1234567890)
    }
    modes = {m.name: m.mode for m in members}
    assert modes["bundle/bin/tool"] == 0o755
    assert modes["bundle/pkg/__init__.py"] == 0o644
    assert modes["bundle/pkg"] == 0o755


def test_zip_entries_are_unix_with_normal_modes_and_clamped_times(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.zip", "zip", "python", 0)

    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
    assert all(info.filename.startswith("python/") for info in infos)
    assert {info.create_system for info in infos} == {3}
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert modes["python/bin/tool"] == 0o755
    assert modes["python/pkg/__init__.py"] == 0o644


def test_source_date_epoch_sets_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert archive_epoch() == 1700000000
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert archive_epoch() == DEFAULT_EPOCH


def test_a_failed_archive_leaves_nothing_behind(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "link").symlink_to(tree / "bin" / "tool")
    out = tmp_path / "out"

    with pytest.raises(Exception, match=r"refusing to archive symlink"):
        write_archive(tree, out / "a.zip", "zip", "bundle", DEFAULT_EPOCH)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_without_a_prefix_entries_are_at_the_top(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / f"a.{fmt}", fmt, "", DEFAULT_EPOCH)

    if fmt == "zip":
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
    else:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
    assert "pkg/__init__.py" in names
    assert "bin/tool" in names


def test_a_nested_prefix_gets_its_directory_entries(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.zip", "zip", "opt/app", DEFAULT_EPOCH)

    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
    assert names[:2] == ["opt/", "opt/app/"]
    assert all(name.startswith("opt/") for name in names)


def test_a_failed_check_keeps_the_archive_out(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    out = tmp_path / "out"

    def refuse(path: Path) -> None:
        raise ValueError(f"too big: {path.stat().st_size}")

    with pytest.raises(ValueError, match=r"too big"):
        write_archive(tree, out / "a.zip", "zip", "", DEFAULT_EPOCH, check=refuse)
    assert list(out.iterdir()) == []


# -- packing on every core: the bytes depend on the files and the level only ----------------------


def make_big_tree(root: Path, *, reverse: bool = False) -> Path:
    """Files of every size class: empty, small, several blocks of text, incompressible, non-ASCII
    and executable; made in reverse order when asked (the order must not show)."""
    words = [b"alpha ", b"beta ", b"gamma\n", b"delta ", b"epsilon "]
    text = b"".join(words[(i * 7919) % 5] for i in range(700_000))  # ~4 MiB: several blocks
    noise = os.urandom(1_500_000)
    contents: list[tuple[str, bytes, int]] = [
        ("pkg/__init__.py", b"", 0o644),
        ("pkg/module.py", b"x = 1\n" * 500, 0o644),
        ("pkg/data/text.txt", text, 0o644),
        ("pkg/data/noise.bin", noise, 0o644),
        ("pkg/data/small-noise.bin", noise[:5000], 0o644),
        ("pkg/données/é.txt", "é\n".encode(), 0o644),
        ("bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
    ]
    for name, data, mode in reversed(contents) if reverse else contents:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    return root


@pytest.fixture(scope="module")
def big_trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same files twice, made in opposite orders."""
    first = make_big_tree(tmp_path_factory.mktemp("first"))
    second = tmp_path_factory.mktemp("second")
    for path in sorted(first.rglob("*"), reverse=True):
        copy = second / path.relative_to(first)
        if path.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
            copy.chmod(path.stat().st_mode)
    return first, second


def read_back(archive: Path, root: str = "") -> dict[str, tuple[bytes, int]]:
    """Each file of a ``.zip`` or ``.tar.gz`` as the system's ``unzip`` or ``tar`` unpacks it."""
    out = archive.parent / f"{archive.name}.unpacked"
    out.mkdir()
    if archive.name.endswith(".zip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(out)], check=True)
    else:
        subprocess.run(["tar", "xzf", str(archive), "-C", str(out)], check=True)
    return {
        path.relative_to(out / root).as_posix(): (
            path.read_bytes(),
            stat.S_IMODE(path.stat().st_mode),
        )
        for path in (out / root).rglob("*")
        if path.is_file()
    }


def files_of(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(root).as_posix(): (
            path.read_bytes(),
            0o755 if path.stat().st_mode & 0o111 else 0o644,
        )
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_the_bytes_do_not_depend_on_the_worker_count_or_the_order_files_were_made(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str
) -> None:
    first, second = big_trees

    one = write_archive(first, tmp_path / f"one.{fmt}", fmt, "app", DEFAULT_EPOCH, workers=1)
    four = write_archive(second, tmp_path / f"four.{fmt}", fmt, "app", DEFAULT_EPOCH, workers=4)

    assert one.read_bytes() == four.read_bytes()


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_unzip_and_tar_read_back_every_file_at_every_level(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str, level: int, workers: int
) -> None:
    first, _ = big_trees

    archive = write_archive(
        first, tmp_path / f"a.{fmt}", fmt, "app", DEFAULT_EPOCH, level=level, workers=workers
    )

    assert read_back(archive, "app") == files_of(first)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_higher_compression_level_gives_a_smaller_archive(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str
) -> None:
    first, _ = big_trees

    sizes = [
        write_archive(first, tmp_path / f"{level}.{fmt}", fmt, "", DEFAULT_EPOCH, level=level)
        .stat()
        .st_size
        for level in (0, 1, 9)
    ]

    assert sizes[0] > sizes[1] > sizes[2]


def test_zip_stores_what_deflate_does_not_shrink_and_everything_at_level_0(
    tmp_path: Path, big_trees: tuple[Path, Path]
) -> None:
    first, _ = big_trees

    methods = {}
    for level in (0, 6):
        with zipfile.ZipFile(
            write_archive(first, tmp_path / f"{level}.zip", "zip", "", 0, level=level)
        ) as zipped:
            methods[level] = {
                info.filename: info.compress_type for info in zipped.infolist() if not info.is_dir()
            }

    assert set(methods[0].values()) == {zipfile.ZIP_STORED}
    assert methods[6]["pkg/data/noise.bin"] == zipfile.ZIP_STORED  # several blocks, rewritten
    assert methods[6]["pkg/data/small-noise.bin"] == zipfile.ZIP_STORED
    assert methods[6]["pkg/data/text.txt"] == zipfile.ZIP_DEFLATED
    assert methods[6]["pkg/module.py"] == zipfile.ZIP_DEFLATED


def test_zip64_records_are_written_when_sizes_offsets_or_the_count_need_them(
    tmp_path: Path, big_trees: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # where zip64 begins, moved down from 4 GiB and 65535 entries
    monkeypatch.setattr(archive_module, "ZIP64_LIMIT", 100_000)
    monkeypatch.setattr(archive_module, "ZIP64_COUNT_LIMIT", 5)
    first, _ = big_trees

    archive = write_archive(first, tmp_path / "a.zip", "zip", "app", DEFAULT_EPOCH)

    data = archive.read_bytes()
    assert b"PK\x06\x06" in data  # the zip64 end of central directory
    with zipfile.ZipFile(archive) as zipped:
        # the central directory's 32-bit sizes say "in the zip64 record"
        entry = data.index(b"app/pkg/data/noise.bin", zipped.start_dir) - 46  # type: ignore[attr-defined]
        assert struct.unpack_from("<LL", data, entry + 20) == (0xFFFFFFFF, 0xFFFFFFFF)
        assert zipped.testzip() is None
        assert zipped.getinfo("app/pkg/data/text.txt").file_size == len(
            (first / "pkg/data/text.txt").read_bytes()
        )
    assert read_back(archive, "app") == files_of(first)


def test_an_unknown_compression_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"compression level must be 0 to 9, not 10"):
        write_archive(make_tree(tmp_path / "tree"), tmp_path / "a.zip", "zip", "", 0, level=10)


# -- extraction: tarfile's data filter and our own checks, on a corpus of hostile archives ------

NOW = 1_700_000_000  # every entry's mtime: an extracted time that differs shows


@dataclass(frozen=True)
class Member:
    """One tar entry to write: a file (``data``), a directory, a link (``link``), or a device."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644


def file(name: str, data: bytes = b"content\n", mode: int = 0o644) -> Member:
    return Member(name, tarfile.REGTYPE, data + name.encode(), mode=mode)


def folder(name: str, mode: int = 0o755) -> Member:
    return Member(name, tarfile.DIRTYPE, mode=mode)


def symlink(name: str, link: str) -> Member:
    return Member(name, tarfile.SYMTYPE, link=link, mode=0o777)


def hardlink(name: str, link: str) -> Member:
    return Member(name, tarfile.LNKTYPE, link=link)


LONG = "/".join(["d" * 60] * 4) + "/" + "f" * 80  # over 100 characters: a PAX path record


#: archives that extraction must refuse (nothing written outside, an error naming the entry)
def _past_path_max() -> list[Member]:
    """CVE-2025-4517: links to 247-character folders make a path that ``realpath`` cannot
    resolve (past PATH_MAX), which it then returns as if inside."""
    folder_name, steps, path, members = "d" * 247, "abcdefghijklmnop", "", []
    for step in steps:
        members += [folder(f"{path}{folder_name}"), symlink(f"{path}{step}", folder_name)]
        path += f"{folder_name}/"
    deep = "/".join([*steps, "l" * 254])
    members.append(symlink(deep, "/".join([".."] * len(steps))))
    members.append(symlink("escape", deep + "/.."))  # the folder above the extraction
    members.append(file("escape/escaped.txt"))
    return members


HOSTILE: dict[str, list[Member]] = {
    "links past PATH_MAX": _past_path_max(),
    "dotdot": [file("ok.txt"), file("a/../../escaped.txt")],
    "absolute name": [file("/tmp/escaped.txt")],
    "symlink escape": [folder("sub"), symlink("sub/out", "../../escaped")],
    "absolute symlink": [symlink("passwd", "/etc/passwd")],
    "absolute hard link": [hardlink("passwd", "/etc/passwd")],
    # tar reads a hard link's target from the archive root: from the folder it would stay inside
    "hard link escape from the root": [
        file("a/victim.txt"),
        hardlink("a/h", "../victim.txt"),
        file("a/h", b"overwritten"),
    ],
    "hard link to nothing extracted": [hardlink("h", "missing.txt")],
    "symlink chain": [symlink("l1", "."), symlink("l1/l2", "..")],
    "symlink chain through a later link": [symlink("l1", "l2"), symlink("l2", "..")],
    # these two look inside when `..` is taken off the text, but go through an extracted link
    "symlink through an extracted symlink": [symlink("up", "."), symlink("s", "up/../escaped")],
    "hard link through an extracted symlink": [
        file("x.txt"),
        symlink("up", "."),
        hardlink("h", "up/../x.txt"),
    ],
    "file through an extracted symlink": [
        folder("sub"),
        symlink("sub/up", ".."),
        symlink("sub/up/up2", ".."),
        file("sub/up/up2/escaped.txt"),
    ],
    # tarfile copies the entry the link names in its place: here the link itself, without end
    "symlink in place of a directory": [folder("a"), file("a/x"), symlink("a", "b/../a")],
    "character device": [Member("dev/null", tarfile.CHRTYPE)],
    "block device": [Member("dev/sda", tarfile.BLKTYPE)],
    "fifo": [Member("pipe", tarfile.FIFOTYPE)],
}

#: archives that extract, to the same tree whoever checks
BENIGN: dict[str, list[Member]] = {
    "files and folders": [
        folder("pkg"),
        file("pkg/__init__.py"),
        file("pkg/deep/er/data.txt"),
        file("./dot/slash.txt"),
        file("bin/tool", mode=0o755),
    ],
    "set-id, sticky and group-write modes": [
        file("setuid", mode=0o4755),
        file("setgid", mode=0o2775),
        file("all", mode=0o777),
        file("none", mode=0o000),
        file("group-exec-only", mode=0o070),
        folder("sticky", mode=0o1777),
        file("sticky/x"),
    ],
    "symlinks inside": [
        file("top.txt"),
        folder("sub"),
        symlink("sub/up", "../top.txt"),
        symlink("sub/self", "."),
        symlink("dangling", "nowhere"),
    ],
    "hard link from the root": [file("a/x.txt"), hardlink("a/b/h", "a/x.txt")],
    "symlink chain inside": [folder("sub"), symlink("l2", "sub"), symlink("l1", "l2")],
    "long names": [file(LONG), symlink("long-link", LONG), hardlink("long-hard", LONG)],
    "duplicates": [
        file("dup.txt", b"first"),
        file("dup.txt", b"second"),
        file("target.txt"),
        file("x", b"a file first"),
        symlink("x", "target.txt"),
    ],
}

#: archives tarfile's data filter extracts, and the own checks refuse: they never write through a
#: link of the archive, nor let a link climb after going down (decided from names alone, where
#: the data filter resolves the tree with realpath, which gives up silently past PATH_MAX)
STRICTER: dict[str, list[Member]] = {
    "symlink chain, written through": [
        folder("sub"),
        symlink("l2", "sub"),
        symlink("l1", "l2"),
        file("l1/f.txt"),
    ],
    "link then file through the link": [folder("real"), symlink("alias", "real"), file("alias/x")],
    "link climbing after going down": [folder("a"), file("b"), symlink("c", "a/../b")],
}

#: archives the operating system refuses, whoever checks
FAILING: dict[str, list[Member]] = {
    "a name longer than the system allows": [file("n" * 300)],
}

CHECKS = ["own", *(["tarfile"] if hasattr(tarfile, "data_filter") else [])]


def write_tar(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.mode = member.mode
            info.mtime = NOW
            info.uid, info.gid = 1234, 5678  # nobody here: extraction must not chown
            info.linkname = member.link
            info.size = len(member.data)
            tar.addfile(info, io.BytesIO(member.data) if member.kind == tarfile.REGTYPE else None)
    return path


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path below ``root`` with what an unpacked archive is: kind, mode, content or link,
    link count, and the mtime where an entry set it."""
    found: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        relative = path.relative_to(root).as_posix()
        mtime = int(status.st_mtime) if int(status.st_mtime) == NOW else "now"
        if path.is_symlink():
            found[relative] = ("link", os.readlink(path))
        elif path.is_dir():
            found[relative] = ("dir", oct(stat.S_IMODE(status.st_mode)), mtime)
        else:
            found[relative] = (
                "file", oct(stat.S_IMODE(status.st_mode)), path.read_bytes(), status.st_nlink, mtime
            )  # fmt: skip
    return found


def unpack(archive: Path, where: Path, checks: TarChecks) -> tuple[str, object]:
    """What extracting gives: the tree, a refusal, or the operating system's error number.

    ``where`` holds nothing but the extraction directory and a file that must stay as it is, so
    that an escape shows.
    """
    destination = where / "inside"
    where.mkdir()
    victim = where / "victim.txt"
    victim.write_bytes(b"victim")
    try:
        extract_safely(archive, destination, checks=checks)
    except UnsafeArchiveError as error:
        outcome: tuple[str, object] = ("refused", str(error))
    except OSError as error:
        outcome = ("error", error.errno)
    except tarfile.ExtractError as error:  # tarfile's word for a link it cannot write
        outcome = ("error", str(error))
    else:
        outcome = ("tree", tree(destination))
    assert sorted(path.name for path in where.iterdir()) == ["inside", "victim.txt"], "escaped"
    assert (victim.read_bytes(), victim.stat().st_nlink) == (b"victim", 1), "escaped"
    return outcome


@pytest.mark.parametrize(
    ("case", "checks"),
    [
        (case, checks)
        for case in HOSTILE
        for checks in CHECKS
        # the data filter of this Python may be one that lets it out (fixed in 3.11.13)
        if not (case == "links past PATH_MAX" and checks == "tarfile")
    ],
)
def test_extraction_refuses_a_hostile_archive(tmp_path: Path, case: str, checks: TarChecks) -> None:
    archive = write_tar(tmp_path / "hostile.tar.gz", HOSTILE[case])

    kind, _ = unpack(archive, tmp_path / "out", checks)

    assert kind == "refused"


@pytest.mark.skipif(
    not hasattr(tarfile, "data_filter"),
    reason="this Python's tarfile has no data filter to compare with (before 3.11.4/3.10.12)",
)
@pytest.mark.parametrize("case", [*BENIGN, *FAILING, *STRICTER])
def test_own_checks_accept_only_what_tarfiles_data_filter_accepts_and_write_the_same(
    tmp_path: Path, case: str
) -> None:
    archive = write_tar(tmp_path / "case.tar.gz", {**BENIGN, **FAILING, **STRICTER}[case])

    own = unpack(archive, tmp_path / "own", "own")
    data_filter = unpack(archive, tmp_path / "tarfile", "tarfile")

    if case in STRICTER:
        assert (own[0], data_filter[0]) == ("refused", "tree")
    else:
        assert own == data_filter


@pytest.mark.parametrize("checks", CHECKS)
@pytest.mark.parametrize("case", FAILING)
def test_extraction_reports_what_the_system_refuses(
    tmp_path: Path, case: str, checks: TarChecks
) -> None:
    archive = write_tar(tmp_path / "case.tar.gz", FAILING[case])

    assert unpack(archive, tmp_path / "out", checks) == ("error", errno.ENAMETOOLONG)


@pytest.mark.parametrize("checks", CHECKS)
def test_an_entry_that_cannot_be_written_fails_the_extraction_instead_of_being_skipped(
    tmp_path: Path, checks: TarChecks
) -> None:
    # a symlink below a file: tarfile drops it without a word at its default error level
    archive = write_tar(tmp_path / "case.tar.gz", [file("a"), symlink("a/b", "..")])

    kind, _ = unpack(archive, tmp_path / "out", checks)

    assert kind == "error"


@pytest.mark.parametrize("checks", CHECKS)
def test_extracted_modes_lose_set_id_sticky_and_write_bits_for_others(
    tmp_path: Path, checks: TarChecks
) -> None:
    archive = write_tar(tmp_path / "modes.tar.gz", BENIGN["set-id, sticky and group-write modes"])

    kind, found = unpack(archive, tmp_path / "out", checks)

    assert kind == "tree"
    assert isinstance(found, dict)
    modes = {name: entry[1] for name, entry in found.items() if entry[0] == "file"}
    assert modes == {
        "setuid": "0o755",
        "setgid": "0o755",
        "all": "0o755",
        "none": "0o600",  # the owner can always read and write
        "group-exec-only": "0o640",  # executable only when the owner may execute it
        "sticky/x": "0o644",
    }
    umask = os.umask(0)
    os.umask(umask)
    assert found["sticky"][1] == oct(0o777 & ~umask)  # a directory's mode is not taken


@pytest.mark.parametrize("checks", CHECKS)
def test_a_hard_link_is_read_from_the_archive_root(tmp_path: Path, checks: TarChecks) -> None:
    archive = write_tar(tmp_path / "link.tar.gz", BENIGN["hard link from the root"])

    kind, _ = unpack(archive, tmp_path / "out", checks)

    assert kind == "tree"
    linked = tmp_path / "out" / "inside" / "a" / "b" / "h"
    assert linked.read_bytes() == (tmp_path / "out" / "inside" / "a" / "x.txt").read_bytes()
    assert linked.stat().st_nlink == 2


def test_own_checks_are_the_default_on_every_python() -> None:
    # the data filter of 3.11.7 lets a path past PATH_MAX out (see "links past PATH_MAX")
    assert TAR_CHECKS == "own"


# -- the compression level setting ---------------------------------------------------------------


def test_compression_level_defaults_to_zip_and_gzips_own(tmp_path: Path) -> None:
    assert load_and_validate_config({}, tmp_path).compression_level == DEFAULT_LEVEL == 6


@pytest.mark.parametrize("level", [0, 9])
def test_compression_level_is_read_from_the_table_and_a_named_bundle(
    tmp_path: Path, level: int
) -> None:
    raw = {
        "archive": "zip",
        "compression-level": 1,
        "bundles": {"small": {"compression-level": level}},
    }

    assert load_and_validate_config(raw, tmp_path).compression_level == 1
    assert load_and_validate_config(raw, tmp_path, "small").compression_level == level


@pytest.mark.parametrize("value", [10, -1, 6.0, True, "6"])
def test_compression_level_outside_0_to_9_is_an_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"archive": "zip", "compression-level": value}, tmp_path)

    assert caught.value.errors == [
        "Field `tool.lockbundle.compression-level` must be a whole number from 0 (no compression, "
        f"fastest) to 9 (smallest, slowest), not {value!r}"
    ]


@pytest.mark.slow
def test_a_bundle_archive_is_packed_at_the_configured_level(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project("app")
    sizes = {}
    for level in (0, 9):
        archive = build_bundle(
            project,
            tmp_path / "dist",
            cache_dir=tmp_path / "cache",
            overrides={"archive": "zip", "compression-level": level},
        )
        sizes[level] = archive.stat().st_size
        with zipfile.ZipFile(archive) as zipped:
            methods = {info.compress_type for info in zipped.infolist() if not info.is_dir()}
        assert (methods == {zipfile.ZIP_STORED}) == (level == 0)

    assert sizes[0] > sizes[9]  # the second build was not taken for a no-op


# -- bounds: what an archive may unpack to --------------------------------------------------------


def write_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def gzip_bomb(path: Path, declared: int) -> Path:
    """A ``.tar.gz`` whose one file says it is ``declared`` bytes: a few bytes on disk, as zeros
    compress, cut short after the header (its data is never needed to refuse it)."""
    info = tarfile.TarInfo("bomb-1.0/zeros")
    info.size = declared
    with gzip.open(path, "wb") as out:
        out.write(info.tobuf(tarfile.PAX_FORMAT) + bytes(10_000))
    return path


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_an_archive_over_the_size_budget_is_refused_before_anything_is_written(
    tmp_path: Path, fmt: str
) -> None:
    members = {"pkg/a.txt": b"a" * 600, "pkg/b.txt": b"b" * 600}
    if fmt == "zip":
        archive = write_zip(tmp_path / "many.zip", members)
    else:
        archive = write_tar(
            tmp_path / "many.tar.gz", [file(name, data) for name, data in members.items()]
        )
    destination = tmp_path / "out"

    with pytest.raises(UnsafeArchiveError, match=r"unpacks to more than 1,000 bytes"):
        extract_safely(archive, destination, max_size=1000)
    assert list(destination.iterdir()) == []
    extract_safely(archive, destination, max_size=1300)  # within it


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_an_archive_with_too_many_entries_is_refused_before_anything_is_written(
    tmp_path: Path, fmt: str
) -> None:
    members = {f"pkg/{number}.txt": b"" for number in range(11)}
    if fmt == "zip":
        archive = write_zip(tmp_path / "many.zip", members)
    else:
        archive = write_tar(
            tmp_path / "many.tar.gz", [file(name, data) for name, data in members.items()]
        )
    destination = tmp_path / "out"

    with pytest.raises(UnsafeArchiveError, match=r"many\.\S+ has more than 10 entries"):
        extract_safely(archive, destination, max_members=10)
    assert list(destination.iterdir()) == []
    extract_safely(archive, destination, max_members=11)


def test_by_default_a_small_archive_unpacks_to_at_most_the_floor_of_the_budget(
    tmp_path: Path,
) -> None:
    archive = gzip_bomb(tmp_path / "bomb-1.0.tar.gz", UNPACK_FLOOR + 1)
    assert archive.stat().st_size * UNPACK_RATIO < UNPACK_FLOOR

    with pytest.raises(UnsafeArchiveError) as caught:
        extract_safely(archive, tmp_path / "out")

    assert str(caught.value) == (
        f"bomb-1.0.tar.gz unpacks to more than {UNPACK_FLOOR:,} bytes "
        f"({archive.stat().st_size:,} packed): refusing to unpack it (a limit against "
        "decompression bombs: 200 times the archive's size, at least 256 MiB)"
    )


def test_the_default_budget_grows_with_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    sizes = {}
    for packed in (1_000, 10 * 2**20, 100 * 2**20):
        with archive.open("wb") as out:
            out.truncate(packed)
        sizes[packed] = unpack_budget(archive)

    assert sizes == {1_000: UNPACK_FLOOR, 10 * 2**20: 2000 * 2**20, 100 * 2**20: 20000 * 2**20}


def test_an_encrypted_zip_entry_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "secret.zip", {"pkg/a.txt": b"a"}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    # the "encrypted" flag, in the local header and in the central directory's entry
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x1
    archive.write_bytes(bytes(data))

    with pytest.raises(UnsafeArchiveError, match=r"entry 'pkg/a.txt' of secret.zip is encrypted"):
        extract_safely(archive, tmp_path / "out")


def test_an_sdist_bomb_stops_its_build_with_the_reason(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb-1.0.tar.gz", 5 * 2**30)
    builder = WheelBuilder(Cache(tmp_path / "cache"), uv=None)

    with pytest.raises(BuildError) as caught:
        builder.build_sdist(bomb, "bomb==1.0", tmp_path / "work")

    assert str(caught.value).startswith(
        "bomb==1.0: refusing unsafe sdist bomb-1.0.tar.gz: bomb-1.0.tar.gz unpacks to more than "
    )
    assert not any((tmp_path / "work").rglob("zeros"))


# -- the same, on archives drawn at random from few names and link targets -------------------------

NAMES = ["a", "b", "a/b", "b/a", "./a"]
TARGETS = [".", "..", "a", "b", "../a", "a/..", "b/..", "../.."]
#: hard links get names of their own: over a taken name tarfile copies an entry instead
HARD_LINK_NAMES = ["h1", "a/h2", "b/a/h3"]


@st.composite
def drawn_archives(draw: st.DrawFn) -> list[Member]:
    entries = draw(
        st.lists(
            st.one_of(
                st.builds(file, st.sampled_from(NAMES)),
                st.builds(folder, st.sampled_from(NAMES)),
                st.builds(symlink, st.sampled_from(NAMES), st.sampled_from(TARGETS)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    links = draw(
        st.lists(st.sampled_from(TARGETS + NAMES), max_size=len(HARD_LINK_NAMES)).map(
            lambda targets: [hardlink(n, t) for n, t in zip(HARD_LINK_NAMES, targets, strict=False)]
        )
    )
    order = draw(st.permutations(range(len(entries) + len(links))))
    every = entries + links
    return [every[index] for index in order]


@pytest.mark.skipif(
    not hasattr(tarfile, "data_filter"),
    reason="this Python's tarfile has no data filter to compare with (before 3.11.4/3.10.12)",
)
@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(members=drawn_archives())
def test_own_checks_do_what_tarfiles_data_filter_does_on_drawn_archives(
    tmp_path_factory: pytest.TempPathFactory, members: list[Member]
) -> None:
    where = tmp_path_factory.mktemp("drawn")
    archive = write_tar(where / "drawn.tar.gz", members)

    own = unpack(archive, where / "own", "own")
    # a hard link to a directory or to a path that is not a file yet, and a symlink in place of a
    # directory, are refused here; tarfile copies some archive entry there instead (which one
    # differs between Python versions)
    assume(
        not (
            own[0] == "refused"
            and ("which is not a file extracted" in str(own[1]) or "in place of a" in str(own[1]))
        )
    )
    data_filter = unpack(archive, where / "tarfile", "tarfile")

    # what the own checks extract, tarfile's filter extracts to the same tree, and they refuse
    # more (links written through, links climbing after going down); but a file named as a link
    # before it replaces the link here, where tarfile writes through it (see the test below)
    assume(not _replaces_a_link(members))
    if own[0] == "tree":
        assert own == data_filter
    if data_filter[0] != "tree":
        assert own[0] != "tree"


def _replaces_a_link(members: list[Member]) -> bool:
    links: set[str] = set()
    for member in members:
        name = member.name.removeprefix("./")
        if member.kind == tarfile.SYMTYPE:
            links.add(name)
        elif name in links:
            return True
    return False


@pytest.mark.parametrize("checks", ["own"])
def test_a_file_named_as_a_link_before_it_replaces_the_link_instead_of_writing_through_it(
    tmp_path: Path, checks: TarChecks
) -> None:
    members = [file("target.txt", b"target"), symlink("y", "target.txt"), file("y", b"y's own")]
    archive = write_tar(tmp_path / "case.tar.gz", members)

    kind, _ = unpack(archive, tmp_path / "out", checks)

    assert kind == "tree"
    inside = tmp_path / "out" / "inside"
    assert (inside / "target.txt").read_bytes() == b"targettarget.txt"  # data, then name
    assert not (inside / "y").is_symlink() and (inside / "y").read_bytes() == b"y's owny"


def sparse_header(name: str, real_size: int) -> bytes:
    """An old-GNU sparse entry's header stating ``real_size`` (base-256: it may be negative)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = 0, 0o644
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    block[156:157] = tarfile.GNUTYPE_SPARSE
    if real_size < 0:
        block[483:495] = real_size.to_bytes(12, "big", signed=True)
    else:
        block[483:495] = b"\x80" + real_size.to_bytes(11, "big")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block[:512])
    return bytes(block)


@pytest.mark.parametrize(
    "sizes", [(-(300 << 20), 300 << 20), (1 << 10,)], ids=["negative-pays-for-another", "sparse"]
)
def test_a_sparse_or_negative_tar_entry_is_refused_before_anything_is_written(
    tmp_path: Path, sizes: tuple[int, ...]
) -> None:
    """Holes of a sparse entry are made up by tarfile, not read from the bounded stream, and a
    negative size would let another entry's bytes past the budget."""
    archive = tmp_path / "evil-1.0.tar"
    headers = b"".join(sparse_header(f"evil-1.0/f{n}", size) for n, size in enumerate(sizes))
    archive.write_bytes(headers + bytes(1024))

    with pytest.raises(
        UnsafeArchiveError, match=r"entry 'evil-1.0/f0' of evil-1.0.tar is a sparse"
    ):
        extract_safely(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*")) == []


def test_a_zip_entry_without_a_name_is_refused_not_a_traceback(tmp_path: Path) -> None:
    archive = tmp_path / "evil-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("evil-1.0/setup.py", "")
        zipped.writestr(zipfile.ZipInfo(""), "x")

    with pytest.raises(UnsafeArchiveError, match=r"evil-1.0.zip: an entry has no name"):
        extract_safely(archive, tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == []


def test_a_zip_with_an_entry_without_a_name_in_dist_is_not_taken_for_ours(tmp_path: Path) -> None:
    planted = tmp_path / "app-1.0-target.zip"
    with zipfile.ZipFile(planted, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo(""), "x")

    assert is_marked(planted) is False
