"""Unpacking untrusted archives: hostile entries refused, modes normalised, sizes bounded."""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hatch_lockbundle.build import WheelBuilder
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import BuildError
from hatch_lockbundle.extract import (
    TAR_CHECKS,
    UNPACK_FLOOR,
    UNPACK_RATIO,
    TarChecks,
    UnsafeArchiveError,
    extract_safely,
    unpack_budget,
)
from hatch_lockbundle.outputs import is_marked

# -- tarfile's data filter and our own checks, on a corpus of hostile archives ------------------

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


def write_many(directory: Path, fmt: str, members: dict[str, bytes]) -> Path:
    """``members`` as the files of ``many.zip`` or ``many.tar.gz`` in ``directory``."""
    if fmt == "zip":
        return write_zip(directory / "many.zip", members)
    return write_tar(
        directory / f"many.{fmt}", [file(name, data) for name, data in members.items()]
    )


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_an_archive_over_the_size_budget_is_refused_before_anything_is_written(
    tmp_path: Path, fmt: str
) -> None:
    members = {"pkg/a.txt": b"a" * 600, "pkg/b.txt": b"b" * 600}
    archive = write_many(tmp_path, fmt, members)
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
    archive = write_many(tmp_path, fmt, members)
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
