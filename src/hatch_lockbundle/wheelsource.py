"""The wheel as a source to install from: refused unless well-formed, read checked with RECORD."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from installer.exceptions import InstallerError
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelFile
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import LockbundleError
from .zipmembers import (
    Refusal,
    check_layout,
    member_pieces,
    read_member,
    read_whole,
    unreadable,
)

#: bounds on what a wheel may expand to (the largest real wheels unpack to a few GB, at a few x)
MAX_UNPACKED = 32 * 1024**3
SUSPICIOUS_ENTRY = 64 * 1024**2
SUSPICIOUS_TOTAL = 256 * 1024**2
MAX_RATIO = 100

#: the largest RECORD read: it is read whole and parsed (twice), at any compression ratio, so its
#: size bounds that memory; the biggest wheels on PyPI have RECORDs of a few MiB
MAX_RECORD = 16 * 1024**2
#: the largest METADATA, WHEEL, entry_points.txt (and other .dist-info file) read whole: real
#: ones are kilobytes, METADATA with a long description a few hundred
MAX_DIST_INFO_FILE = 4 * 1024**2
#: RECORD's lines past one a member: parsed rows take ~100 times the bytes of a short line, so
#: their number is bounded by the members' (whose directory entries are bytes of the wheel)
RECORD_SLACK = 64
#: directories a member may nest in (real wheels stay under 20; thousands exhaust recursion)
MAX_DEPTH = 200


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

    Checked: every entry is a regular file with a relative path inside the wheel, compressed by a
    method read here and not encrypted; the archive does not expand absurdly (zip bombs); RECORD
    lists every file with a hash and size, and they match (unless ``contents`` is false: then
    whoever unpacks the wheel checks them, as :class:`RecordCheckedWheel` does); METADATA names
    the locked project and version. Whatever is read is read by :func:`member_pieces`.

    :param archive: ``path``, already open (it is not closed here)
    """

    def refuse(reason: str) -> HostileWheelError:
        return HostileWheelError(f"{label}: refusing {path.name}: {reason}")

    try:
        with nullcontext(archive) if archive else zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            total = 0
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
                problem = unreadable(entry)
                if problem is not None:
                    raise refuse(f"entry `{entry.filename}` {problem}")
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
            # the ratios above trust the compressed sizes the directory states: they hold only
            # if every member's data fits before the next member (or the directory) starts
            check_layout(archive, entries, refuse)
            packed = os.fstat(archive.fp.fileno()).st_size if archive.fp else path.stat().st_size
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
            source = RecordCheckedWheel(archive, label)
            metadata = HeaderParser().parsestr(
                source.read_entry(metadata_name).decode("utf-8", "replace")
            )
            source.read_record()
            source.validate_record(validate_contents=False)  # names, and what RECORD lists
            if contents:
                source.validate_contents()
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

    Every member is read by the bounded reader of :mod:`.zipmembers` (:func:`read_member`,
    :func:`member_pieces`), never by :mod:`zipfile`, whose bzip2 and lzma readers inflate a piece
    of input without a bound on the output. Call :meth:`check` after the contents were consumed;
    what was unpacked must not be used if it raises. The file names were checked before, by
    ``inspect_wheel(..., contents=False)``.

    :param label: the locked distribution, for messages
    """

    def __init__(self, f: zipfile.ZipFile, label: str) -> None:
        super().__init__(f)
        self.label = label
        self.mismatches: list[str] = []
        self._record_text: str | None = None

    @property
    def archive(self) -> zipfile.ZipFile:
        """The wheel, open."""
        return self._zipfile

    def refuse(self, reason: str) -> HostileWheelError:
        """The error refusing this wheel for ``reason``."""
        name = Path(self._zipfile.filename or "").name
        return HostileWheelError(f"{self.label}: refusing {name}: {reason}")

    @contextmanager
    def opened(self) -> Iterator[int]:
        """The wheel's file, open for the member readers: its file descriptor."""
        assert self._zipfile.filename is not None
        with open(self._zipfile.filename, "rb", buffering=0) as raw:
            yield raw.fileno()

    def read_entry(self, name: str) -> bytes:
        """The whole of .dist-info member ``name`` (at most the size its zip header states),
        refused unless that is at most :data:`MAX_RECORD` for RECORD and
        :data:`MAX_DIST_INFO_FILE` for the others: it is held and parsed whole."""
        item = self._zipfile.getinfo(name)
        limit = MAX_RECORD if name.endswith("/RECORD") else MAX_DIST_INFO_FILE
        if item.file_size > limit:
            raise self.refuse(
                f"entry `{name}` is {item.file_size:,} bytes, more than the {limit:,} accepted "
                "for it (it is read whole: real ones are far smaller)"
            )
        with self.opened() as fd:
            return b"".join(member_pieces(fd, item, None, self.refuse))

    def read_dist_info(self, filename: str) -> str:
        # installer's reads through zipfile; RECORD is read once, then kept (it is parsed twice)
        if filename != "RECORD":
            return self.read_entry(f"{self.dist_info_dir}/{filename}").decode("utf-8")
        if self._record_text is None:
            data = self.read_entry(f"{self.dist_info_dir}/RECORD")
            lines = data.count(b"\n")
            members = len(self._zipfile.infolist())
            if lines > members + RECORD_SLACK:
                raise self.refuse(
                    f"its RECORD has {lines:,} lines for {members:,} members: a wheel's RECORD "
                    "has one a file"
                )
            self._record_text = data.decode("utf-8")
        return self._record_text

    def read_record(self) -> None:
        """Read RECORD (if there is one) and refuse it if too large: before installer's
        ``validate_record``, which reports every error as an invalid wheel."""
        if f"{self.dist_info_dir}/RECORD" in self._zipfile.NameToInfo:
            self.read_dist_info("RECORD")

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

    def validate_contents(self) -> None:
        """Refuse the wheel unless every member has the hash and size its RECORD states
        (installer's ``validate_record`` reads them through zipfile)."""
        with self.opened() as fd:
            for item, record, _ in self.members():
                if (
                    record is not None
                    and not CheckedMember(fd, item, record, self.refuse).matches()
                ):
                    self.mismatches.append(item.filename)
        self.check()

    def check(self) -> None:
        """Refuse the wheel if a member read did not match its RECORD."""
        if self.mismatches:
            listing = ", ".join(f"`{path}`" for path in self.mismatches)
            raise self.refuse(f"the hash or size of {listing} does not match its RECORD")


def _executable(item: zipfile.ZipInfo) -> bool:
    """Whether the zip records ``item`` as an executable regular file (as installer reads it)."""
    mode = item.external_attr >> 16
    return bool(mode and stat.S_ISREG(mode) and mode & 0o111)


def record_digest(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64, unpadded."""
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class CheckedMember(io.RawIOBase):
    """A wheel member being read, hashed as it goes; ``record`` is its RECORD entry, which
    :meth:`matches` compares with what was read (reading what is left first).

    Read from the wheel's file descriptor ``fd``: at once by :func:`read_member` if small,
    stored or deflated (most are), else a piece at a time by :func:`member_pieces`; ``refuse``
    makes their errors.
    """

    def __init__(
        self, fd: int, item: zipfile.ZipInfo, record: RecordEntry, refuse: Refusal
    ) -> None:
        super().__init__()
        self.fd = fd
        self.item = item
        self.record = record
        self.refuse = refuse
        self._restart()

    def _restart(self) -> None:
        assert self.record.hash_ is not None and self.record.size is not None
        self.digest = hashlib.new(self.record.hash_.name)
        self.size = 0
        self._pending = b""
        item = self.item
        #: the whole member, for most: read and inflated at once (no generators for them)
        self.whole: bytes | None = None
        if read_whole(item):
            self.whole = read_member(self.fd, item, self.record.size, self.refuse)
            self.digest.update(self.whole)
            self.size = len(self.whole)
            self._pending = self.whole
            self._chunks: Iterator[bytes] = iter(())
        else:
            self._chunks = self._hashed(member_pieces(self.fd, item, self.record.size, self.refuse))

    def chunks(self) -> Iterator[bytes]:
        """What is left to read, in pieces of at most :data:`.zipmembers.CHUNK` (one piece if
        small)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            yield pending
        yield from self._chunks

    def _hashed(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.digest.update(piece)
            self.size += len(piece)
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
        return actual == expected.value and self.size == self.record.size
