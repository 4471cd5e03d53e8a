"""Read zip members, of wheels and of other archives, within bounds whatever their compression."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from .errors import LockbundleError

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

#: makes the error that refuses a member, given the reason (which names the member)
Refusal = Callable[[str], LockbundleError]

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


def check_layout(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], refuse: Refusal) -> None:
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
