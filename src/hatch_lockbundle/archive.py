"""Deterministic ``.tar.gz`` and ``.zip`` archives of a bundle directory, and safe extraction.

Same files, same bytes: entries sorted, one timestamp (``SOURCE_DATE_EPOCH``, else hatchling's
default), modes normalised to 0o644 / 0o755, no owner names, ``create_system = 3`` in zips.
Compression runs on every core (zlib releases the GIL), and the bytes do not depend on how many:
a stream is cut into blocks at fixed offsets, and each block is compressed with the 32 KiB before
it as its dictionary and ends on a byte boundary, so the blocks join into one ordinary deflate
stream (the way ``pigz`` does it).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar, cast

from .errors import LockbundleError
from .staging import remove, sibling, sweep
from .zipmembers import member_pieces, unreadable

T = TypeVar("T")

FORMATS = ("tar.gz", "zip")
DEFAULT_EPOCH = 1580601600  # hatchling's reproducible default: 2020-02-02
ZIP_EPOCH_MIN = 315532800  # 1980-01-01, the earliest time a zip entry can hold
#: ``zip`` and ``gzip``'s own default: most of level 9's gain at a fraction of its time
DEFAULT_LEVEL = 6
LEVELS = range(10)
#: compressed independently of the rest: part of the output format, so never derived from the
#: machine (a different value gives different, equally valid, bytes)
BLOCK_SIZE = 1 << 20
_WINDOW = 32 * 1024  # deflate's back-reference distance: the dictionary a block gets
#: from where zip64 records hold a size, an offset or the entry count; module constants so that
#: tests can reach zip64 without writing 4 GiB (the 32- and 16-bit fields then say 0xFFFFFFFF)
ZIP64_LIMIT = 0xFFFFFFFF
ZIP64_COUNT_LIMIT = 0xFFFF
_MARK, _COUNT_MARK = 0xFFFFFFFF, 0xFFFF


def archive_epoch(reproducible: bool = True) -> int:
    """The timestamp every entry gets."""
    if not reproducible:
        return int(time.time())
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise LockbundleError(
            f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds"
        ) from None


def write_archive(
    directory: Path,
    destination: Path,
    fmt: str,
    prefix: str,
    epoch: int,
    check: Callable[[Path], None] | None = None,
    *,
    level: int = DEFAULT_LEVEL,
    workers: int | None = None,
) -> Path:
    """Pack ``directory`` into ``destination`` with every entry under ``prefix/`` (or at the top
    when ``prefix`` is empty).

    The file is written beside ``destination`` and renamed into place when complete, after
    ``check(written_file)`` (which may raise to keep it out) has passed. What killed builds of
    ``destination`` left beside it goes first.

    :param level: zlib's compression level, 0 (stored) to 9 (smallest)
    :param workers: threads that compress (default: the usable cores); never changes the bytes
    """
    if level not in LEVELS:
        raise ValueError(f"compression level must be 0 to 9, not {level!r}")
    workers = workers or _cores()
    sweep(destination)
    with (
        sibling(destination, ".tmp", directory=False) as temporary,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deflate") as pool,
    ):
        try:
            with temporary.open("wb") as raw:
                entries = _Entries(directory, prefix)
                if fmt == "tar.gz":
                    _write_tar(entries, raw, epoch, _Deflater(pool, level, workers))
                elif fmt == "zip":
                    _write_zip(entries, raw, epoch, _Deflater(pool, level, workers))
                else:
                    raise LockbundleError(f"unknown archive format {fmt!r}: use one of {FORMATS}")
            if check is not None:
                check(temporary)
            os.replace(temporary, destination)
        finally:
            remove(temporary)
    return destination


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1  # pragma: no cover - macOS and Windows


@dataclass(frozen=True)
class _Entry:
    name: str  # in the archive, without a trailing slash
    path: Path | None  # None: a directory of the prefix, which has no source
    is_dir: bool
    mode: int  # 0o644 or 0o755
    size: int


class _Entries:
    """The prefix's directories, then every directory and file below ``directory``, sorted."""

    def __init__(self, directory: Path, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix

    def __iter__(self) -> Iterator[_Entry]:
        parts = [part for part in self.prefix.split("/") if part]
        for depth in range(len(parts)):
            yield _Entry("/".join(parts[: depth + 1]), None, True, 0o755, 0)
        found = []
        for root, dirs, files in os.walk(self.directory):
            for name in dirs + files:
                path = Path(root) / name
                found.append((path.relative_to(self.directory).as_posix(), path))
        for relative, path in sorted(found):
            status = path.lstat()
            if stat.S_ISLNK(status.st_mode):
                raise LockbundleError(f"refusing to archive symlink {path}")
            is_dir = stat.S_ISDIR(status.st_mode)
            executable = is_dir or status.st_mode & 0o111
            name = f"{self.prefix}/{relative}" if self.prefix else relative
            size = 0 if is_dir else status.st_size
            yield _Entry(name, path, is_dir, 0o755 if executable else 0o644, size)


class _Deflater:
    """Raw deflate of byte blocks on a thread pool, results taken in submission order."""

    def __init__(self, pool: ThreadPoolExecutor, level: int, workers: int) -> None:
        self.pool = pool
        self.level = level
        #: blocks in flight: enough to keep every worker busy, few enough to bound memory
        self.window = 2 * workers + 2

    def block(self, data: bytes, dictionary: bytes, final: bool) -> Future[bytes]:
        return self.pool.submit(_deflate, data, self.level, dictionary, final)

    def stream(self, path: Path) -> Generator[tuple[bytes, bytes], None, None]:
        """Each block of a file with its compressed form, in order: one raw deflate stream."""
        pending: deque[tuple[bytes, Future[bytes]]] = deque()
        try:
            with path.open("rb") as source:
                for block, dictionary, final in _blocks(source):
                    pending.append((block, self.block(block, dictionary, final)))
                    while len(pending) > self.window:
                        block, done = pending.popleft()
                        yield block, done.result()
            while pending:
                block, done = pending.popleft()
                yield block, done.result()
        finally:  # the reader stopped early: what has not started yet is not needed
            for _, done in pending:
                done.cancel()

    def whole(self, path: Path) -> Future[tuple[bytes, int, bytes]]:
        """A small file read and compressed in one task: (data, crc, raw deflate)."""
        return self.pool.submit(_read_and_deflate, path, self.level)


def _deflate(data: bytes, level: int, dictionary: bytes, final: bool) -> bytes:
    """One block of a raw deflate stream: primed with the data before it, ended on a byte
    boundary (or, for the last block, with the end-of-stream marker)."""
    if dictionary:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    )


def _read_and_deflate(path: Path, level: int) -> tuple[bytes, int, bytes]:
    data = path.read_bytes()
    return data, zlib.crc32(data), _deflate(data, level, b"", True)


def _blocks(source: BinaryIO) -> Iterator[tuple[bytes, bytes, bool]]:
    """``source`` cut at :data:`BLOCK_SIZE` offsets: (block, the 32 KiB before it, is last)."""
    previous = b""
    block = source.read(BLOCK_SIZE)
    while True:
        following = source.read(BLOCK_SIZE)
        yield block, previous[-_WINDOW:], not following
        if not following:
            return
        previous, block = block, following


# -- tar.gz -------------------------------------------------------------------------------------


class _GzipStream:
    """A write-only gzip file whose deflate blocks are compressed on the pool, written in order.

    One gzip member, as ``gzip`` writes it (same header for the same level and time).
    """

    def __init__(self, raw: BinaryIO, deflater: _Deflater, mtime: int) -> None:
        self.raw = raw
        self.deflater = deflater
        self.buffer = bytearray()
        self.previous = b""
        self.pending: deque[Future[bytes]] = deque()
        self.crc = 0
        self.size = 0
        # XFL as gzip sets it: 2 for the slowest level, 4 for the fastest; OS 255, "unknown"
        extra = {9: 2, 1: 4}.get(deflater.level, 0)
        mtime = min(max(mtime, 0), 0xFFFFFFFF)
        raw.write(struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, 0, mtime, extra, 255))

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.size += len(data)
        while len(self.buffer) > BLOCK_SIZE:
            self._submit(bytes(self.buffer[:BLOCK_SIZE]), final=False)
            del self.buffer[:BLOCK_SIZE]
        return len(data)

    def tell(self) -> int:
        return self.size

    def _submit(self, block: bytes, final: bool) -> None:
        self.crc = zlib.crc32(block, self.crc)
        self.pending.append(self.deflater.block(block, self.previous[-_WINDOW:], final))
        self.previous = block
        while len(self.pending) > self.deflater.window:
            self.raw.write(self.pending.popleft().result())

    def finish(self) -> None:
        self._submit(bytes(self.buffer), final=True)
        self.buffer.clear()
        while self.pending:
            self.raw.write(self.pending.popleft().result())
        self.raw.write(struct.pack("<LL", self.crc, self.size & 0xFFFFFFFF))


def _write_tar(entries: _Entries, raw: BinaryIO, epoch: int, deflater: _Deflater) -> None:
    stream = _GzipStream(raw, deflater, epoch)
    # tarfile only writes to the stream: a file object is all it needs
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = tarfile.DIRTYPE if entry.is_dir else tarfile.REGTYPE
            info.mode = entry.mode
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry.is_dir or entry.path is None:
                tar.addfile(info)
                continue
            info.size = entry.size
            with entry.path.open("rb") as content:
                tar.addfile(info, content)
    stream.finish()


# -- zip ----------------------------------------------------------------------------------------

_STORED, _DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")


@dataclass
class _Written:
    """What the central directory needs of one member."""

    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int
    external: int


class _ZipWriter:
    """The zip format as ``zipfile`` writes it for these entries, with data compressed elsewhere.

    ``zipfile`` compresses in the calling thread only; writing the headers here is what lets
    members be compressed on every core.
    """

    def __init__(self, raw: BinaryIO, epoch: int) -> None:
        self.raw = raw
        moment = time.gmtime(max(epoch, ZIP_EPOCH_MIN))
        self.dos_time = moment.tm_hour << 11 | moment.tm_min << 5 | moment.tm_sec // 2
        self.dos_date = (moment.tm_year - 1980) << 9 | moment.tm_mon << 5 | moment.tm_mday
        self.written: list[_Written] = []

    def _name(self, entry: _Entry) -> tuple[bytes, int]:
        name = entry.name + ("/" if entry.is_dir else "")
        if name.isascii():
            return name.encode("ascii"), 0
        return name.encode("utf-8"), 0x800  # the "names are UTF-8" flag

    def _external(self, entry: _Entry) -> int:
        kind = stat.S_IFDIR if entry.is_dir else stat.S_IFREG
        return (kind | entry.mode) << 16 | (0x10 if entry.is_dir else 0)  # 0x10: MS-DOS directory

    def _local(self, member: _Written, zip64: bool) -> bytes:
        version = 45 if zip64 else 20
        extra = struct.pack("<HHQQ", 1, 16, member.size, member.compressed) if zip64 else b""
        sizes = (_MARK, _MARK) if zip64 else (member.compressed, member.size)
        header = _LOCAL.pack(
            b"PK\x03\x04",
            version,
            0,
            member.flags,
            member.method,
            self.dos_time,
            self.dos_date,
            member.crc,
            *sizes,
            len(member.name),
            len(extra),
        )
        return header + member.name + extra

    def add(self, entry: _Entry, method: int, crc: int, data: bytes, size: int = 0) -> None:
        """A member whose data is known whole: ``data`` as stored, ``size`` bytes unpacked."""
        name, flags = self._name(entry)
        member = _Written(
            name, flags, method, crc, len(data), size, self.raw.tell(), self._external(entry)
        )
        self.raw.write(self._local(member, zip64=self._large(size)))
        self.raw.write(data)
        self.written.append(member)

    def stream(self, entry: _Entry, path: Path, deflater: _Deflater) -> None:
        """A large file, deflated block by block as it is read, its header completed afterwards;
        stored instead when deflate does not make it smaller (as ``zip`` does)."""
        name, flags = self._name(entry)
        method = _DEFLATED if deflater.level else _STORED
        offset = self.raw.tell()
        member = _Written(name, flags, method, 0, 0, entry.size, offset, self._external(entry))
        # decided from the size alone, before the data, so that the header keeps its length
        zip64 = self._large(entry.size)
        self.raw.write(self._local(member, zip64))
        data_start = self.raw.tell()
        if method == _DEFLATED:
            member.size = 0  # what is read: the file is not trusted to keep the size it had
            blocks = deflater.stream(path)
            for block, deflated in blocks:
                if member.size == 0 and len(deflated) >= len(block):
                    # its first MiB does not shrink: a wheel, an image, an archive. Stored at
                    # once, where zip compresses it all first, to find out at the end
                    blocks.close()
                    break
                member.crc = zlib.crc32(block, member.crc)
                member.size += len(block)
                self.raw.write(deflated)
                member.compressed += len(deflated)
        if method == _STORED or member.size == 0 or member.compressed >= member.size:
            self.raw.seek(data_start)
            member.method, member.crc, member.size = _STORED, 0, 0
            with path.open("rb") as source:
                while chunk := source.read(BLOCK_SIZE):
                    member.crc = zlib.crc32(chunk, member.crc)
                    member.size += len(chunk)
                    self.raw.write(chunk)
            self.raw.truncate()
            member.compressed = member.size
        end = self.raw.tell()
        self.raw.seek(offset)
        self.raw.write(self._local(member, zip64))
        self.raw.seek(end)
        self.written.append(member)

    @staticmethod
    def _large(size: int) -> bool:
        # deflate can grow incompressible data by a little: leave room for it
        return size + size // 1000 + 1024 >= ZIP64_LIMIT

    def finish(self) -> None:
        start = self.raw.tell()
        for member in self.written:
            large = [
                value
                for value in (member.size, member.compressed, member.offset)
                if value >= ZIP64_LIMIT
            ]
            extra = struct.pack(f"<HH{len(large)}Q", 1, 8 * len(large), *large) if large else b""
            version = 45 if large else 20
            self.raw.write(
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    version,
                    3,
                    version,
                    0,
                    member.flags,
                    member.method,
                    self.dos_time,
                    self.dos_date,
                    member.crc,
                    _field(member.compressed),
                    _field(member.size),
                    len(member.name),
                    len(extra),
                    0,
                    0,
                    0,
                    member.external,
                    _field(member.offset),
                )
                + member.name
                + extra
            )
        end = self.raw.tell()
        count, size = len(self.written), end - start
        if count >= ZIP64_COUNT_LIMIT or size >= ZIP64_LIMIT or start >= ZIP64_LIMIT:
            self.raw.write(_END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start))
            self.raw.write(_LOCATOR64.pack(b"PK\x06\x07", 0, end, 1))
        self.raw.write(
            _END.pack(
                b"PK\x05\x06",
                0,
                0,
                _COUNT_MARK if count >= ZIP64_COUNT_LIMIT else count,
                _COUNT_MARK if count >= ZIP64_COUNT_LIMIT else count,
                _field(size),
                _field(start),
                0,
            )
        )


def _field(value: int) -> int:
    """A 32-bit field of a value that zip64 records may hold instead."""
    return _MARK if value >= ZIP64_LIMIT else value


def _write_zip(entries: _Entries, raw: BinaryIO, epoch: int, deflater: _Deflater) -> None:
    writer = _ZipWriter(raw, epoch)
    # small files are read and compressed ahead, one task each, and written in order
    ahead: deque[tuple[_Entry, Future[tuple[bytes, int, bytes]]]] = deque()
    ahead_bytes = 0

    def write_ahead(until: int) -> None:
        nonlocal ahead_bytes
        while ahead and (len(ahead) > until or ahead_bytes > until * BLOCK_SIZE):
            entry, done = ahead.popleft()
            ahead_bytes -= entry.size
            data, crc, deflated = done.result()
            if deflater.level == 0 or len(deflated) >= len(data):
                # as zip does when deflate does not help
                writer.add(entry, _STORED, crc, data, len(data))
            else:
                writer.add(entry, _DEFLATED, crc, deflated, len(data))

    for entry in entries:
        if entry.path is not None and not entry.is_dir and entry.size <= BLOCK_SIZE:
            ahead.append((entry, deflater.whole(entry.path)))
            ahead_bytes += entry.size
            write_ahead(until=4 * deflater.window)
            continue
        write_ahead(until=0)
        if entry.is_dir or entry.path is None:
            writer.add(entry, _STORED, 0, b"", 0)
        else:
            writer.stream(entry, entry.path, deflater)
    write_ahead(until=0)
    writer.finish()


# -- extraction ---------------------------------------------------------------------------------


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
