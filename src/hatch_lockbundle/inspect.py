"""Look inside a wheel before anything uses it: refuse what no honest wheel contains; and read
zip members, of wheels and of other archives, within bounds whatever their compression."""

from __future__ import annotations

import base64
import bz2
import hashlib
import io
import lzma
import os
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
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

#: the compression methods members are read in (zip's numbers, APPNOTE 4.4.5): wheels use the first
#: two, but pip and installer (through zipfile) read the others too
READABLE_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
#: other methods, named when a member is refused
_OTHER_METHODS = {1: "shrink", 6: "implode", 9: "deflate64", 93: "zstandard", 95: "xz", 98: "PPMd"}
_ENCRYPTED = 0x1 | 0x40  # the flags of traditional and of strong encryption
#: the largest LZMA dictionary a member may need (xz's and 7-Zip's largest presets use 64 MiB):
#: the decoder holds it whole, so it bounds the memory an lzma member can take
MAX_LZMA_DICTIONARY = 64 * 1024**2


class HostileWheelError(LockbundleError):
    """A wheel holds something that could escape, mislead or exhaust the build."""


#: makes the error that refuses a member, given the reason (which names the member)
Refusal = Callable[[str], LockbundleError]


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
            _check_layout(archive, entries, refuse)
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


def _check_layout(
    archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], refuse: Refusal
) -> None:
    """Refuse an archive where a member's local header, name and stated compressed data run past
    the next member's local header or into the central directory (overlapping members, as newer
    CPython's zipfile refuses them). The local header's extra field is not read (one read per
    member): counted as empty, this is a lower bound of where the data ends, enough to make the
    stated compressed sizes, and so the expansion ratios, true of the bytes in the file."""
    ordered = sorted(entries, key=lambda entry: entry.header_offset)
    directory = archive.start_dir
    for index, entry in enumerate(ordered):
        limit = ordered[index + 1].header_offset if index + 1 < len(ordered) else directory
        name = entry.orig_filename
        encoded = len(name) if name.isascii() else len(_encoded_name(entry))
        end = entry.header_offset + _LOCAL_HEADER.size + encoded + entry.compress_size
        if end > limit:
            where = "the zip's central directory" if limit == directory else "the next member"
            raise refuse(
                f"entry `{entry.filename}` states {entry.compress_size:,} compressed bytes, which "
                f"run past {where} (members overlap): a zip bomb or a damaged archive"
            )


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

    Every member is read by this module's bounded reader (:func:`read_member`,
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


# -- reading members -------------------------------------------------------------------------------

#: a member up to this size (packed and unpacked) is read and inflated in one call
WHOLE_MEMBER = 8 * 1024**2
#: what is read, and asked of a decompressor, at a time: what a member's reading holds in memory
CHUNK = 1024**2
_LOCAL_HEADER = struct.Struct("<4s22xHH")


if sys.platform == "win32":

    def _pread(fd: int, length: int, offset: int) -> bytes:
        # no pread on Windows: a member is read by one reader at a time, so seeking is safe
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)

else:
    _pread = os.pread


def unreadable(item: zipfile.ZipInfo) -> str | None:
    """Why ``item`` cannot be read (following its name in a sentence), or None if it can."""
    if item.flag_bits & _ENCRYPTED:
        return "is encrypted"
    if item.compress_type not in READABLE_METHODS:
        name = _OTHER_METHODS.get(item.compress_type)
        method = f"zip method {item.compress_type}"
        return (
            f"is compressed with {f'{name} ({method})' if name else method}, which is not read "
            "here: only stored, deflate, bzip2 and lzma members are"
        )
    return None


def read_whole(item: zipfile.ZipInfo) -> bool:
    """Whether :func:`read_member` takes ``item`` (most members: small, stored or deflated)."""
    return (
        item.compress_size <= WHOLE_MEMBER
        and item.file_size <= WHOLE_MEMBER
        and item.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        and not item.flag_bits & _ENCRYPTED
    )


def read_member(fd: int, item: zipfile.ZipInfo, record_size: int | None, refuse: Refusal) -> bytes:
    """The contents of a member :func:`read_whole` takes, from the archive's file ``fd``: one
    ``pread`` and one inflate, checked as :func:`member_pieces` checks them (the fast path of
    unpacking, where most members go)."""
    packed = item.compress_size
    start, head = _data_offset(fd, item, packed)
    if start is None:
        raise refuse(_misnamed(item))
    data = head[start - item.header_offset : start - item.header_offset + packed]
    if len(data) < packed:
        data = _pread(fd, packed, start)
    bound = _bound(item, record_size)
    if item.compress_type == zipfile.ZIP_STORED:
        output = data[: bound + 1]
    else:
        try:
            output = zlib.decompressobj(-15).decompress(data, bound + 1)
        except zlib.error as error:
            raise refuse(_damaged(item, error)) from None
    if len(output) > bound:
        raise refuse(_too_long(item, record_size))
    _check_end(item, len(output), zlib.crc32(output), refuse)
    return output


def member_pieces(
    fd: int, item: zipfile.ZipInfo, record_size: int | None, refuse: Refusal
) -> Iterator[bytes]:
    """The contents of ``item``, read from the archive's file ``fd``, in pieces of at most
    :data:`CHUNK`: the one reader of zip members (stored, deflate, bzip2 or lzma).

    Compressed data is read a piece at a time and each decompressor call is asked for at most a
    piece, so memory stays within a few pieces whatever the ratio (plus, for lzma, a dictionary
    of at most :data:`MAX_LZMA_DICTIONARY`). ``refuse(reason)`` is raised, before anything past
    the bound is handed out, once the member inflates past the smaller of its zip header's size
    and ``record_size`` (RECORD's, when there is one); and when it is encrypted or compressed
    otherwise, its local header names another file, its data is damaged, it ends short of its
    header's size, or its CRC-32 differs (as :mod:`zipfile` checks it).
    """
    problem = unreadable(item)
    if problem is not None:
        raise refuse(f"entry `{item.filename}` {problem}")
    start = _data_offset(fd, item, 0)[0]
    if start is None:
        raise refuse(_misnamed(item))
    bound = _bound(item, record_size)
    size = crc = 0
    for piece in _decoded(fd, item, start, bound, refuse):
        size += len(piece)
        if size > bound:
            raise refuse(_too_long(item, record_size))
        crc = zlib.crc32(piece, crc)
        yield piece
    _check_end(item, size, crc, refuse)


class _Inflater:
    """zlib's raw inflater, answering ``needs_input`` as bz2's and lzma's decompressors do."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(-15)
        self._tail = b""
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._inflater.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        output = self._inflater.decompress(self._tail + data if self._tail else data, max_length)
        self._tail = self._inflater.unconsumed_tail
        # a full piece may leave output inside zlib with no input left: it must be asked again
        self.needs_input = not self._tail and len(output) < max_length
        return output


def _decoded(
    fd: int, item: zipfile.ZipInfo, start: int, bound: int, refuse: Refusal
) -> Iterator[bytes]:
    """``item``'s data, from ``start`` in the file, decompressed a piece at a time."""
    offset, length = start, item.compress_size
    decoder: _Inflater | bz2.BZ2Decompressor | lzma.LZMADecompressor
    if item.compress_type == zipfile.ZIP_STORED:
        yield from _packed(fd, offset, length)
        return
    if item.compress_type == zipfile.ZIP_DEFLATED:
        decoder = _Inflater()
    elif item.compress_type == zipfile.ZIP_BZIP2:
        decoder = bz2.BZ2Decompressor()
    else:
        decoder, skip = _lzma_decoder(fd, item, start, bound, refuse)
        offset, length = offset + skip, length - skip
    try:
        for piece in _packed(fd, offset, length):
            output = decoder.decompress(piece, CHUNK)
            while True:
                if output:
                    yield output
                if decoder.eof or decoder.needs_input:
                    break
                output = decoder.decompress(b"", CHUNK)
            if decoder.eof:  # what follows the stream in the member is not part of it
                return
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as error:  # bz2's: OSError
        raise refuse(_damaged(item, error)) from None


def _lzma_decoder(
    fd: int, item: zipfile.ZipInfo, start: int, bound: int, refuse: Refusal
) -> tuple[lzma.LZMADecompressor, int]:
    """A decoder of zip's lzma (method 14), and how many bytes of the member's data precede the
    stream: LZMA SDK's version (2 bytes), the size of the properties (2 bytes, little-endian),
    then the LZMA1 properties: one byte of ``(pb * 5 + lp) * 9 + lc`` and the dictionary's size
    (4 bytes, little-endian)."""
    head = _pread(fd, 4, start) if item.compress_size >= 4 else b""
    size = int.from_bytes(head[2:4], "little")
    properties = _pread(fd, size, start + 4) if len(head) == 4 and size == 5 else b""
    if len(properties) != 5 or item.compress_size < 4 + size or properties[0] >= 9 * 5 * 5:
        raise refuse(f"entry `{item.filename}` does not start with valid LZMA properties")
    lc, rest = properties[0] % 9, properties[0] // 9
    lp, pb = rest % 5, rest // 5
    # no distance reaches back further than what was inflated, at most a piece past the bound
    # before reading stops: a dictionary that large is enough, whatever the header claims
    dictionary = max(min(int.from_bytes(properties[1:], "little"), bound + CHUNK), 4096)
    if dictionary > MAX_LZMA_DICTIONARY:
        raise refuse(
            f"entry `{item.filename}` needs an LZMA dictionary of {dictionary:,} bytes, more "
            f"than the {MAX_LZMA_DICTIONARY:,} accepted (a bound on the memory a member takes)"
        )
    lzma1 = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dictionary}
    try:
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1]), 4 + size
    except lzma.LZMAError as error:
        raise refuse(
            f"entry `{item.filename}` has LZMA properties not read here: {error}"
        ) from None


def _packed(fd: int, offset: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the file from ``offset``, a piece at a time (fewer if it ends)."""
    while length > 0:
        piece = _pread(fd, min(CHUNK, length), offset)
        if not piece:
            return
        offset += len(piece)
        length -= len(piece)
        yield piece


def _bound(item: zipfile.ZipInfo, record_size: int | None) -> int:
    return item.file_size if record_size is None else min(item.file_size, record_size)


def _too_long(item: zipfile.ZipInfo, record_size: int | None) -> str:
    if record_size is not None and record_size < item.file_size:
        stated = f"the {record_size:,} bytes its RECORD states"
    else:
        stated = f"the {item.file_size:,} bytes its zip header states"
    return (
        f"entry `{item.filename}` inflates past {stated}: a decompression bomb or a damaged "
        "archive (reading stopped there)"
    )


def _check_end(item: zipfile.ZipInfo, size: int, crc: int, refuse: Refusal) -> None:
    if size != item.file_size:
        raise refuse(
            f"entry `{item.filename}` holds {size:,} bytes, not the {item.file_size:,} its zip "
            "header states: the archive is damaged"
        )
    if crc != item.CRC:
        raise refuse(f"entry `{item.filename}` fails its CRC-32 check: the archive is damaged")


def _damaged(item: zipfile.ZipInfo, error: Exception) -> str:
    method = READABLE_METHODS.get(item.compress_type, "")
    return f"entry `{item.filename}` is not valid {method} data ({error}): the archive is damaged"


def _misnamed(item: zipfile.ZipInfo) -> str:
    return (
        f"the local header of entry `{item.filename}` does not name it as the zip's directory "
        "does (readers that trust one or the other would see different files)"
    )


def _encoded_name(item: zipfile.ZipInfo) -> bytes:
    """``item``'s name as its headers hold it."""
    name = item.orig_filename
    if name.isascii():  # nearly all: the same bytes in either encoding, and encoded faster
        return name.encode("ascii")
    return name.encode("utf-8" if item.flag_bits & 0x800 else "cp437")


def _data_offset(fd: int, item: zipfile.ZipInfo, more: int) -> tuple[int | None, bytes]:
    """Where ``item``'s data starts in the file (None if its local header does not name it),
    and the bytes read from its header on: the header and up to ``more`` bytes after it."""
    encoded = _encoded_name(item)
    head = _pread(fd, _LOCAL_HEADER.size + len(encoded) + 64 + more, item.header_offset)
    if len(head) < _LOCAL_HEADER.size:
        return None, head
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(head)
    start = _LOCAL_HEADER.size + name_length + extra_length
    if signature != b"PK\x03\x04" or head[_LOCAL_HEADER.size : start - extra_length] != encoded:
        return None, head
    return item.header_offset + start, head


def open_member(fd: int, item: zipfile.ZipInfo, refuse: Refusal) -> io.BufferedReader:
    """``item`` of the zip archive open as ``fd``, as a file read through :func:`member_pieces`."""
    return io.BufferedReader(MemberReader(member_pieces(fd, item, None, refuse)))


class MemberReader(io.RawIOBase):
    """A file object over :func:`member_pieces` (for code that reads a member as a file)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        super().__init__()
        self._pieces = pieces
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._pending = piece
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


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
        """What is left to read, in pieces of at most :data:`CHUNK` (one piece if small)."""
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
