"""Unpack an untrusted archive (an sdist, a bundle) safely: bounded, and nothing lands outside."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar, cast

from .errors import LockbundleError
from .zipmembers import member_pieces, unreadable

T = TypeVar("T")


class UnsafeArchiveError(LockbundleError):
    """An archive entry would land outside the extraction directory, or is not a plain file,
    directory or link."""


#: who checks tar entries on extraction: this module's own checks, everywhere. tarfile's ``data``
#: filter (3.11.4, 3.10.12 and later) resolves links with ``os.path.realpath``, which stops
#: resolving silently past ``PATH_MAX``: until 3.11.13/3.12.11/3.13.4 a chain of links made it
#: pass a path outside (CVE-2025-4517). It stays selectable, to compare the two in tests.
TarChecks = Literal["tarfile", "own"]
TAR_CHECKS: TarChecks = "own"


#: what an archive may unpack to, whatever it is: this many entries at most, and this many times
#: its own size (never less than the floor), so that a small hostile file cannot fill the disk or
#: its inodes (deflate reaches about 1000 times on zeros; sources and bundles stay under 20). No
#: ceiling: a bundle of several GiB (CUDA libraries) is verified like a small one.
MAX_MEMBERS = 200_000
UNPACK_RATIO = 200
UNPACK_FLOOR = 256 * 2**20


def unpack_budget(archive: Path) -> int:
    """The most bytes :func:`extract_safely` unpacks from ``archive`` by default."""
    return max(UNPACK_FLOOR, UNPACK_RATIO * archive.stat().st_size)


def extract_safely(
    archive: Path,
    destination: Path,
    *,
    checks: TarChecks | None = None,
    max_size: int | None = None,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Extract a ``.zip`` or a tar archive into ``destination``; return its resolved path.

    Entries with absolute paths or ``..``, links that point outside (through links extracted
    before them too), and devices or fifos are refused; modes lose their set-id, sticky and
    group- and other-write bits, as with tarfile's ``data`` filter. Nothing is written when the
    entries would add up to more than ``max_size`` bytes or number more than ``max_members``.

    :param checks: who checks tar entries (default :data:`TAR_CHECKS`)
    :param max_size: the most bytes to unpack (default :func:`unpack_budget`)
    """
    budget = unpack_budget(archive) if max_size is None else max_size
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    if archive.name.endswith((".zip", ".whl")):
        _extract_zip(archive, root, budget, max_members)
        return root
    with open_tar(archive, budget, max_members) as tar:
        members = []
        size = 0
        # one header at a time: a list of a million members is itself the exhaustion
        while (member := tar.next()) is not None:
            members.append(member)
            _check_count(archive, len(members), max_members)
            if member.size < 0 or member.issparse():
                # a sparse entry's holes are made up, not read from the bounded stream, and a
                # negative size would pay for another entry's bytes in the budget
                raise UnsafeArchiveError(
                    f"entry {member.name!r} of {archive.name} is a sparse file or has a negative "
                    "size: refusing to unpack it (sdists hold plain files)"
                )
            size += member.size if member.isreg() else 0
            _check_size(archive, size, budget)
            # the data filter would quietly strip a leading "/": refuse instead
            if member.name.startswith("/") or ".." in member.name.replace("\\", "/").split("/"):
                raise UnsafeArchiveError(f"entry {member.name!r} points outside the archive")
        if (checks or TAR_CHECKS) == "own":
            _extract_checked(tar, members, root)
            return root
        # an entry tarfile cannot write (a link it cannot resolve) is an error, not skipped
        tar.errorlevel = 2
        try:
            tar.extractall(root, members, filter="data")
        except tarfile.FilterError as error:
            raise UnsafeArchiveError(str(error)) from None
        except KeyError as error:  # tarfile's word for a hard link to nothing extracted before
            raise UnsafeArchiveError(
                f"a hard link points to nothing in the archive: {error}"
            ) from None
        except RecursionError:  # tarfile's fallback for a symlink over a directory: itself
            raise UnsafeArchiveError(
                "a symlink takes the place of a directory extracted before it"
            ) from None
    return root


def _check_count(archive: Path, count: int, most: int) -> None:
    if count > most:
        raise UnsafeArchiveError(
            f"{archive.name} has more than {most:,} entries: refusing to unpack it (a limit "
            "against archives made to exhaust the disk)"
        )


def _check_size(archive: Path, size: int, most: int) -> None:
    if size > most:
        raise UnsafeArchiveError(
            f"{archive.name} unpacks to more than {most:,} bytes ({archive.stat().st_size:,} "
            "packed): refusing to unpack it (a limit against decompression bombs: "
            f"{UNPACK_RATIO} times the archive's size, at least {UNPACK_FLOOR // 2**20} MiB)"
        )


def _extract_zip(archive: Path, root: Path, budget: int, most: int) -> None:
    """Extract the zip ``archive`` below ``root`` as ``zipfile.extractall`` does (a link is a
    file holding its target), through the one bounded reader of zip members: each member is
    stopped past the size its header states, and those sizes add up to at most ``budget``."""

    def refuse(reason: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{archive.name}: {reason}")

    with zipfile.ZipFile(archive) as zipped, archive.open("rb", buffering=0) as raw:
        infos = zipped.infolist()
        _check_count(archive, len(infos), most)
        for info in infos:
            if not info.filename.strip("/"):
                raise refuse("an entry has no name: refusing to unpack it")
            _check_inside(root, info.filename)
            problem = unreadable(info)
            if problem is not None:
                raise UnsafeArchiveError(
                    f"entry {info.filename!r} of {archive.name} {problem}: refusing to unpack it"
                )
        _check_size(archive, sum(info.file_size for info in infos), budget)
        for info in infos:
            path = os.path.abspath(root / info.filename)
            if info.filename.endswith("/"):
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                for piece in member_pieces(raw.fileno(), info, None, refuse):
                    out.write(piece)


#: the decompressed stream of a tar may hold this much besides its files' data, per entry: a
#: header, a pax header and its records (long names, times), and padding to whole blocks
TAR_OVERHEAD = 4 * 1024
#: the most tarfile may read at once: it reads headers, pax records and long names whole,
#: whatever size the archive states for them (a file's data is read in pieces, each at most the
#: size asked for, so this also bounds one read of a member: room for a large manifest)
MAX_TAR_READ = 16 * 1024**2


@contextlib.contextmanager
def open_tar(
    archive: Path, max_size: int | None = None, max_members: int = MAX_MEMBERS
) -> Iterator[tarfile.TarFile]:
    """The tar ``archive`` (plain, gzip, bzip2 or xz), open for reading within bounds: its
    decompressed stream is refused past ``max_size`` (default :func:`unpack_budget`) plus
    :data:`TAR_OVERHEAD` for each of ``max_members`` entries, and any one read past
    :data:`MAX_TAR_READ` (tarfile reads a pax header or a long name whole, whatever its stated
    size: a few KiB of gzip could make it hold gigabytes). The decompressors inflate a piece at
    a time. A damaged stream is a :class:`tarfile.ReadError`.
    """
    budget = unpack_budget(archive) if max_size is None else max_size
    with archive.open("rb") as raw, _decompressed(raw) as stream:
        capped = _CappedStream(stream, archive, budget + TAR_OVERHEAD * max_members)
        with tarfile.open(fileobj=cast(BinaryIO, capped), mode="r:") as tar:
            yield tar


def _decompressed(raw: io.BufferedReader) -> io.BufferedIOBase:
    """``raw``'s contents decompressed (gzip, bzip2 or xz, told by their magic numbers), or
    ``raw`` itself."""
    magic = raw.peek(6)[:6]
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


class _CappedStream(io.RawIOBase):
    """A tar's decompressed stream that refuses to be read or sought past ``cap``, or read more
    than :data:`MAX_TAR_READ` at once."""

    def __init__(self, inner: io.BufferedIOBase, archive: Path, cap: int) -> None:
        super().__init__()
        self.inner = inner
        self.archive = archive
        self.cap = cap

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset, whence = self.inner.tell() + offset, io.SEEK_SET
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a tar stream is sought from its start")
        self._within(offset, 0)
        return self._guarded(lambda: self.inner.seek(offset))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > MAX_TAR_READ:
            raise UnsafeArchiveError(
                f"{self.archive.name} has an entry whose header (a pax header or a long name) "
                f"is larger than {MAX_TAR_READ:,} bytes: refusing to unpack it (a limit against "
                "decompression bombs)"
            )
        self._within(self.inner.tell(), size)
        return self._guarded(lambda: self.inner.read(size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _within(self, offset: int, size: int) -> None:
        if offset + size > self.cap:
            raise UnsafeArchiveError(
                f"{self.archive.name} inflates to more than {self.cap:,} bytes of tar stream "
                f"({self.archive.stat().st_size:,} packed): refusing to unpack it (a limit "
                "against decompression bombs: the unpack budget, and room for each entry's "
                "headers)"
            )

    def _guarded(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as error:  # bz2's: OSError
            raise tarfile.ReadError(f"{self.archive.name} is damaged: {error}") from None


def _check_inside(root: Path, name: str) -> None:
    if not Path(os.path.abspath(root / name)).is_relative_to(root):
        raise UnsafeArchiveError(f"entry {name!r} points outside the archive")


def _extract_checked(tar: tarfile.TarFile, members: list[tarfile.TarInfo], root: Path) -> None:
    """Extract ``members`` below ``root`` with the modes of tarfile's ``data`` filter and
    stricter rules for links, decided from the names alone (no path is resolved through the
    file system, so nothing depends on how ``realpath`` treats a path too long to resolve):

    - no entry, and no hard link's target, is reached through a symlink of the archive;
    - a symlink's target is relative, and climbs (``..``) only at its start and no higher than
      the archive's root: through other symlinks it can then only go down;
    - a hard link's target (read from the archive's root, as ``tar`` reads it) is a file
      extracted before it.

    Each entry is also confined by the tree extracted so far, as a second guard.
    """
    base = os.path.realpath(root)
    directories = []
    links: set[str] = set()  # the symlinks extracted so far, by normalized name
    files: set[str] = set()  # the regular files, for hard links
    for member in members:
        name = _normalized(member.name)
        _not_through_a_link(name, links, member)
        path = os.path.join(base, name)
        _confine(base, path, member, "is written")
        if member.issym() or member.islnk():
            if os.path.isabs(member.linkname) or member.linkname.startswith("\\"):
                raise UnsafeArchiveError(
                    f"entry {member.name!r} is a link to an absolute path, {member.linkname!r}"
                )
            if member.issym():
                _check_symlink_target(name, member)
            else:
                linked_name = _normalized(member.linkname)
                _not_through_a_link(linked_name, links, member)
                if linked_name not in files:
                    raise UnsafeArchiveError(
                        f"entry {member.name!r} is a hard link to {member.linkname!r}, which is "
                        "not a file extracted before it"
                    )
            start = os.path.dirname(name) if member.issym() else ""
            _confine(base, os.path.join(base, start, member.linkname), member, "links")
        elif not (member.isreg() or member.isdir()):
            raise UnsafeArchiveError(
                f"entry {member.name!r} is a device, fifo or other special file"
            )
        parent = os.path.dirname(path)
        if parent and not os.path.exists(parent):
            os.makedirs(parent)
        if member.isdir():
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
            directories.append(member)
        elif member.issym():
            if os.path.isdir(path) and not os.path.islink(path):
                # tarfile copies some entry there instead, or loops until the stack runs out
                raise UnsafeArchiveError(
                    f"entry {member.name!r} is a symlink in place of a directory extracted "
                    "before it"
                )
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(member.linkname, path)
            links.add(name)
            files.discard(name)
        elif member.islnk():
            linked = os.path.join(base, _normalized(member.linkname))
            if not os.path.isfile(linked):
                raise UnsafeArchiveError(
                    f"entry {member.name!r} is a hard link to {member.linkname!r}, which is not a "
                    "file extracted before it"
                )
            if os.path.lexists(path):
                os.unlink(path)
            os.link(linked, path, follow_symlinks=False)
            _set_file_attributes(path, member)
            links.discard(name)
            files.add(name)
        else:
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            if os.path.islink(path):  # a file replaces a link; it is never written through one
                os.unlink(path)
            with source, open(path, "xb" if not os.path.lexists(path) else "wb") as out:
                shutil.copyfileobj(source, out)
            _set_file_attributes(path, member)
            links.discard(name)
            files.add(name)
    # last, deepest first: writing into a directory changes its time
    for member in sorted(directories, key=lambda each: each.name, reverse=True):
        os.utime(os.path.join(base, member.name), (member.mtime, member.mtime))


def _normalized(name: str) -> str:
    """An entry's name as the file system takes it: no ``.``, empty or trailing parts."""
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _not_through_a_link(name: str, links: set[str], member: tarfile.TarInfo) -> None:
    parts = name.split("/")
    for end in range(1, len(parts)):
        if "/".join(parts[:end]) in links:
            raise UnsafeArchiveError(
                f"entry {member.name!r} goes through {'/'.join(parts[:end])!r}, a symlink of the "
                "archive: refusing to write through links"
            )


def _check_symlink_target(name: str, member: tarfile.TarInfo) -> None:
    parts = [
        part for part in member.linkname.replace("\\", "/").split("/") if part not in ("", ".")
    ]
    climbs = 0
    while climbs < len(parts) and parts[climbs] == "..":
        climbs += 1
    if ".." in parts[climbs:]:
        raise UnsafeArchiveError(
            f"entry {member.name!r} is a symlink to {member.linkname!r}, which climbs after "
            "going down (a link may climb only at its start)"
        )
    if climbs > name.count("/"):
        raise UnsafeArchiveError(
            f"entry {member.name!r} is a symlink to {member.linkname!r}, outside the "
            "extraction directory"
        )


def _confine(base: str, path: str, member: tarfile.TarInfo, what: str) -> None:
    resolved = os.path.realpath(path)
    if os.path.commonpath([resolved, base]) != base:
        raise UnsafeArchiveError(
            f"entry {member.name!r} {what} outside the extraction directory ({resolved})"
        )


def _set_file_attributes(path: str, member: tarfile.TarInfo) -> None:
    """The ``data`` filter's modes: no set-id, sticky or group/other write bits; the owner reads
    and writes; executable only if the owner may execute."""
    mode = member.mode & 0o755
    if not mode & 0o100:
        mode &= ~0o111
    os.chmod(path, mode | 0o600)
    os.utime(path, (member.mtime, member.mtime))
