"""Look inside a wheel before anything uses it: refuse what no honest wheel contains."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from email.parser import HeaderParser
from itertools import chain
from pathlib import Path
from typing import Any

from installer.exceptions import InstallerError
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelFile
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import LockbundleError

#: bounds on what a wheel may expand to (the largest real wheels unpack to a few GB, at a few x)
MAX_UNPACKED = 32 * 1024**3
SUSPICIOUS_ENTRY = 64 * 1024**2
SUSPICIOUS_TOTAL = 256 * 1024**2
MAX_RATIO = 100


#: directories a member may nest in (real wheels stay under 20; thousands exhaust recursion)
MAX_DEPTH = 200

_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}


class HostileWheelError(LockbundleError):
    """A wheel holds something that could escape, mislead or exhaust the build."""


def inspect_wheel(
    path: Path,
    label: str,
    name: str,
    version: str | None,
    *,
    contents: bool = True,
    archive: zipfile.ZipFile | None = None,
) -> None:
    """Refuse ``path`` unless it is a well-formed wheel of ``name`` ``version``.

    Checked: every entry is a regular file with a relative path inside the wheel; the archive does
    not expand absurdly (zip bombs); RECORD lists every file with a hash and size, and they match
    (unless ``contents`` is false: then whoever unpacks the wheel checks them, as
    :class:`RecordCheckedWheel` does); METADATA names the locked project and version.

    :param archive: ``path``, already open (it is not closed here)
    """

    def refuse(reason: str) -> HostileWheelError:
        return HostileWheelError(f"{label}: refusing {path.name}: {reason}")

    try:
        with nullcontext(archive) if archive else zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            total = 0
            packed = 0
            for entry in entries:
                member = entry.filename.replace("\\", "/")  # string checks: tens of thousands
                if member.startswith("/") or (len(member) > 1 and member[1] == ":"):
                    raise refuse(f"entry `{entry.filename}` has an absolute path")
                if ".." in member.split("/"):
                    raise refuse(f"entry `{entry.filename}` climbs out of the wheel with `..`")
                if member.count("/") > MAX_DEPTH:
                    raise refuse(
                        f"entry `{entry.filename[:80]}...` nests {member.count('/')} directories "
                        f"deep (at most {MAX_DEPTH})"
                    )
                if entry.flag_bits & 0x1:
                    raise refuse(f"entry `{entry.filename}` is encrypted")
                if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    # the wheel spec allows these two; a bzip2 or lzma member inflates in
                    # pieces of unbounded size before any size can be checked
                    method = _METHODS.get(entry.compress_type, f"method {entry.compress_type}")
                    raise refuse(
                        f"entry `{entry.filename}` is compressed with {method}; a wheel's members "
                        "are stored or deflated"
                    )
                mode = entry.external_attr >> 16
                if entry.create_system == 3 and stat.S_ISLNK(mode):
                    raise refuse(f"entry `{entry.filename}` is a symbolic link")
                ratio = entry.file_size / max(entry.compress_size, 1)
                if entry.file_size > SUSPICIOUS_ENTRY and ratio > MAX_RATIO:
                    raise refuse(
                        f"`{entry.filename}` expands {ratio:.0f} times (to {entry.file_size} "
                        "bytes); that is a zip bomb, not a wheel"
                    )
                total += entry.file_size
                packed += entry.compress_size
            if total > MAX_UNPACKED or (
                total > SUSPICIOUS_TOTAL and total / max(packed, 1) > MAX_RATIO
            ):
                raise refuse(
                    f"it expands to {total} bytes from {packed}; that is a zip bomb, not a wheel"
                )
            metadata_name = next(
                (
                    n
                    for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                ),
                None,
            )
            if metadata_name is None:
                raise refuse("it has no .dist-info/METADATA")
            metadata = HeaderParser().parsestr(
                archive.read(metadata_name).decode("utf-8", "replace")
            )
            WheelFile(archive).validate_record(validate_contents=contents)
    except (zipfile.BadZipFile, EOFError, InstallerError, ValueError) as error:
        if isinstance(error, HostileWheelError):
            raise
        raise refuse(f"it is not a valid wheel: {error}") from None
    declared_name = canonicalize_name(metadata.get("Name") or "")
    declared_version = metadata.get("Version") or ""
    if declared_name != canonicalize_name(name):
        raise refuse(f"its METADATA names `{metadata.get('Name')}`, not `{name}`")
    if version is not None and not _same_version(declared_version, version):
        raise refuse(f"its METADATA says version {declared_version}, not {version}")


@contextmanager
def open_wheel(path: Path, label: str) -> Iterator[zipfile.ZipFile]:
    """``path`` opened as a zip archive; a file that is not one is refused as a wheel."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise HostileWheelError(
            f"{label}: refusing {path.name}: it is not a valid wheel: {error}"
        ) from None
    with archive:
        yield archive


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


class RecordCheckedWheel(WheelFile):
    """A wheel whose files are checked against its RECORD while they are read, so that unpacking
    a wheel verifies it without a second pass over its contents.

    Members are read straight from the file (one ``pread`` and one inflate for most of them,
    without :mod:`zipfile`'s per-member machinery and its CRC, which the sha256 of RECORD
    supersedes): unpacking is what a cold build spends its CPU on. Call :meth:`check` after the
    contents were consumed; what was unpacked must not be used if it raises. The file names were
    checked before, by ``inspect_wheel(..., contents=False)``.
    """

    def __init__(self, f: zipfile.ZipFile) -> None:
        super().__init__(f)
        self.mismatches: list[str] = []

    @property
    def archive(self) -> zipfile.ZipFile:
        """The wheel, open."""
        return self._zipfile

    @property
    def dist_info_filenames(self) -> list[str]:
        # installer's, with a prefix test instead of a commonpath call for each entry
        prefix = self.dist_info_dir + "/"
        return [
            name[len(prefix) :]
            for name in self._zipfile.namelist()
            if name.startswith(prefix) and name[-1:] != "/"
        ]

    def _records(self) -> dict[str, tuple[str, str, str]]:
        """RECORD's rows, by path."""
        rows = parse_record_file(self.read_dist_info("RECORD").splitlines())
        return {row[0]: row for row in rows}

    def members(self) -> list[tuple[zipfile.ZipInfo, RecordEntry | None, bool]]:
        """Every file but RECORD, with its RECORD entry (None for RECORD's signatures, which
        have no hash) and whether it is executable; ``__pycache__`` files and ``.data`` files
        included, as uv installs them.
        """
        records = self._records()
        record_path = self.dist_info_dir + "/RECORD"
        files = []
        for item in self._zipfile.infolist():
            path = item.filename
            if path[-1:] == "/" or path == record_path:
                continue
            elements = records.get(path, (path, "", ""))
            record = RecordEntry.from_elements(*elements)
            # inspect_wheel allowed no file without a hash but RECORD's signatures
            hashed = record.hash_ is not None and record.size is not None
            files.append((item, record if hashed else None, _executable(item)))
        return files

    def check(self, label: str) -> None:
        if self.mismatches:
            listing = ", ".join(f"`{path}`" for path in self.mismatches)
            raise HostileWheelError(
                f"{label}: refusing {Path(self._zipfile.filename or '').name}: the hash or size "
                f"of {listing} does not match its RECORD"
            )


def _executable(item: zipfile.ZipInfo) -> bool:
    """Whether the zip records ``item`` as an executable regular file (as installer reads it)."""
    mode = item.external_attr >> 16
    return bool(mode and stat.S_ISREG(mode) and mode & 0o111)


def record_digest(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64, unpadded."""
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


#: a member up to this size (packed and unpacked) is read and inflated in one call
WHOLE_MEMBER = 8 * 1024**2
CHUNK = 1024**2
_LOCAL_HEADER = struct.Struct("<4s22xHH")


if sys.platform == "win32":

    def _pread(fd: int, length: int, offset: int) -> bytes:
        # no pread on Windows: a member is read by one reader at a time, so seeking is safe
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)

else:
    _pread = os.pread


def readable_directly(item: zipfile.ZipInfo) -> bool:
    """Stored or deflated, not encrypted: read from the file here, not through zipfile."""
    plain = item.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    return plain and not item.flag_bits & 0x1


def read_whole(item: zipfile.ZipInfo) -> bool:
    """Whether :func:`read_member` takes ``item`` (most members: small, stored or deflated)."""
    return (
        item.compress_size <= WHOLE_MEMBER
        and item.file_size <= WHOLE_MEMBER
        and readable_directly(item)
    )


def read_member(fd: int, item: zipfile.ZipInfo, limit: int) -> bytes | None:
    """The contents of a member :func:`read_whole` takes, from the wheel's file ``fd``: one
    ``pread`` and one inflate, at most ``limit`` bytes; None if its local header is not that of
    the member the zip directory names (zipfile refuses such an archive, and so do we).

    The caller checks what comes back against RECORD (zipfile's CRC is not checked: RECORD's
    hash supersedes it).
    """
    packed = item.compress_size
    start, head = _data_offset(fd, item, packed)
    if start is None:
        return None
    data = head[start - item.header_offset : start - item.header_offset + packed]
    if len(data) < packed:
        data = _pread(fd, packed, start)
    if item.compress_type == zipfile.ZIP_STORED:
        return data[:limit]
    return zlib.decompressobj(-15).decompress(data, limit)


def _data_offset(fd: int, item: zipfile.ZipInfo, more: int) -> tuple[int | None, bytes]:
    """Where ``item``'s data starts in the file (None if its local header does not name it),
    and the bytes read from its header on: the header and up to ``more`` bytes after it."""
    name = item.orig_filename
    if name.isascii():  # nearly all: the same bytes in either encoding, and encoded faster
        encoded = name.encode("ascii")
    else:
        encoded = name.encode("utf-8" if item.flag_bits & 0x800 else "cp437")
    head = _pread(fd, _LOCAL_HEADER.size + len(encoded) + 64 + more, item.header_offset)
    if len(head) < _LOCAL_HEADER.size:
        return None, head
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(head)
    start = _LOCAL_HEADER.size + name_length + extra_length
    if signature != b"PK\x03\x04" or head[_LOCAL_HEADER.size : start - extra_length] != encoded:
        return None, head
    return item.header_offset + start, head


class CheckedMember(io.RawIOBase):
    """A wheel member being read, hashed as it goes; ``record`` is its RECORD entry, which
    :meth:`matches` compares with what was read (reading what is left first).

    Stored and deflated members are read from the wheel's file descriptor ``fd`` (one ``pread``
    and one inflate for most, without :mod:`zipfile`'s per-member machinery and its CRC, which
    RECORD's hash supersedes); others through ``archive``. Never more than the smaller of the
    sizes the zip directory and RECORD state, plus one byte, is inflated, so a lying entry cannot
    exhaust memory or disk.
    """

    def __init__(
        self, archive: zipfile.ZipFile, fd: int, item: zipfile.ZipInfo, record: RecordEntry
    ) -> None:
        super().__init__()
        self.archive = archive
        self.fd = fd
        self.item = item
        self.record = record
        self._restart()

    def _restart(self) -> None:
        assert self.record.hash_ is not None and self.record.size is not None
        self.digest = hashlib.new(self.record.hash_.name)
        self.size = 0
        self.broken = False
        self._pending = b""
        limit = min(self.record.size, self.item.file_size) + 1
        item = self.item
        #: the whole member, for most: read and inflated at once (no generators for them)
        self.whole: bytes | None = None
        if read_whole(item):
            whole = read_member(self.fd, item, limit)
            self.broken = whole is None
            self.whole = whole or b""
            self.digest.update(self.whole)
            self.size = len(self.whole)
            self._pending = self.whole
            self._chunks: Iterator[bytes] = iter(())
        else:
            self._chunks = self._checked(limit)

    def chunks(self) -> Iterator[bytes]:
        """What is left to read, in pieces of at most about a MiB (one piece if small)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            yield pending
        yield from self._chunks

    def _checked(self, limit: int) -> Iterator[bytes]:
        pieces = self._direct(limit) if readable_directly(self.item) else self._through_zipfile()
        for piece in pieces:
            piece = piece[:limit]
            limit -= len(piece)
            self.digest.update(piece)
            self.size += len(piece)
            if piece:
                yield piece
            if limit <= 0:
                return

    def _through_zipfile(self) -> Iterator[bytes]:
        with self.archive.open(self.item) as stream:
            while piece := stream.read(CHUNK):
                yield piece

    def _direct(self, limit: int) -> Iterator[bytes]:
        """A large member, read from the file and inflated a piece at a time."""
        item = self.item
        offset = _data_offset(self.fd, item, 0)[0]
        if offset is None:
            self.broken = True
            return
        pieces = self._packed(offset, item.compress_size)
        if item.compress_type == zipfile.ZIP_STORED:
            yield from pieces
            return
        inflater = zlib.decompressobj(-15)
        for piece in chain(pieces, (b"",)):  # the empty piece flushes the inflater
            output = inflater.decompress(piece, limit)
            limit -= len(output)
            if output:
                yield output
            if limit <= 0:
                return

    def _packed(self, offset: int, length: int) -> Iterator[bytes]:
        while length > 0:
            piece = _pread(self.fd, min(CHUNK, length), offset)
            if not piece:
                return
            offset += len(piece)
            length -= len(piece)
            yield piece

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("a checked wheel member can only be rewound")
        self._restart()
        return 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(self.chunks())
        data = self._pending
        while len(data) < size:
            piece = next(self._chunks, b"")
            if not piece:
                break
            data += piece
        self._pending = data[size:]
        return data[:size]

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def matches(self) -> bool:
        for _ in self.chunks():
            pass
        expected = self.record.hash_
        assert expected is not None
        actual = record_digest(self.digest.digest())
        return not self.broken and actual == expected.value and self.size == self.record.size
