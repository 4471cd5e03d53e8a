"""Deterministic ``.tar.gz`` and ``.zip`` archives of a bundle directory.

Same files, same bytes: entries sorted, one timestamp (``SOURCE_DATE_EPOCH``, else hatchling's
default), modes normalised to 0o644 / 0o755, no owner names, ``create_system = 3`` in zips.
Compression runs on every core (:mod:`.deflate`), and the bytes do not depend on how many.
"""

from __future__ import annotations

import os
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .deflate import BLOCK_SIZE, Deflater, GzipStream
from .errors import LockbundleError
from .staging import remove, sibling, sweep

FORMATS = ("tar.gz", "zip")
DEFAULT_EPOCH = 1580601600  # hatchling's reproducible default: 2020-02-02
ZIP_EPOCH_MIN = 315532800  # 1980-01-01, the earliest time a zip entry can hold
#: ``zip`` and ``gzip``'s own default: most of level 9's gain at a fraction of its time
DEFAULT_LEVEL = 6
LEVELS = range(10)
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
                    _write_tar(entries, raw, epoch, Deflater(pool, level, workers))
                elif fmt == "zip":
                    _write_zip(entries, raw, epoch, Deflater(pool, level, workers))
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


# -- tar.gz -------------------------------------------------------------------------------------


def _write_tar(entries: _Entries, raw: BinaryIO, epoch: int, deflater: Deflater) -> None:
    stream = GzipStream(raw, deflater, epoch)
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

    def stream(self, entry: _Entry, path: Path, deflater: Deflater) -> None:
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


def _write_zip(entries: _Entries, raw: BinaryIO, epoch: int, deflater: Deflater) -> None:
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
