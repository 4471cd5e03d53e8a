"""Deflate on every core (raw blocks, and a gzip stream of them), bytes independent of how many.

A stream is cut into blocks at fixed offsets, and each block is compressed (zlib releases the GIL)
with the 32 KiB before it as its dictionary and ends on a byte boundary, so the blocks join into
one ordinary deflate stream (the way ``pigz`` does it).
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

#: compressed independently of the rest: part of the output format, so never derived from the
#: machine (a different value gives different, equally valid, bytes)
BLOCK_SIZE = 1 << 20
_WINDOW = 32 * 1024  # deflate's back-reference distance: the dictionary a block gets


class Deflater:
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


class GzipStream:
    """A write-only gzip file whose deflate blocks are compressed on the pool, written in order.

    One gzip member, as ``gzip`` writes it (same header for the same level and time).
    """

    def __init__(self, raw: BinaryIO, deflater: Deflater, mtime: int) -> None:
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
