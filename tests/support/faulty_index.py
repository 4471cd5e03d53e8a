"""A package index whose file downloads misbehave on cue: errors, drops, stalls, short or wrong bodies.

:class:`FaultyIndex` is an :class:`~support.index.IndexServer` (pages and files as usual) that answers
the next requests for a file with the faults scripted for it, one fault per request, then serves
the file normally again. A fault is a callable ``fault(handler, body)`` answering one request.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .index import IndexServer

Fault = Callable[[BaseHTTPRequestHandler, bytes], None]


class FaultyIndex(IndexServer):
    """An index on 127.0.0.1 whose ``/files/<name>`` answers follow a script of faults."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._faults: dict[str, list[Fault]] = {}
        self._every: Fault | None = None
        self.file_requests: list[tuple[str, float]] = []  # (file name, monotonic time)
        #: set while a :func:`hold` fault is holding a response, half sent
        self.holding = threading.Event()
        #: set by :meth:`stop`: stalled and held responses give up
        self.closing = threading.Event()
        #: set to let held responses go on (:meth:`stop` sets it too)
        self.released = threading.Event()

    def script(self, filename: str, *faults: Fault) -> None:
        """Answer the next ``len(faults)`` requests for ``filename`` with ``faults``, in order."""
        self._faults[filename] = list(faults)

    def always(self, fault: Fault | None) -> None:
        """Answer every file request (not otherwise scripted) with ``fault``; None to stop."""
        self._every = fault

    def hold_next(self, filename: str) -> None:
        """Hold the next response for ``filename`` half sent (see :func:`hold`)."""
        self.released.clear()
        self.holding.clear()
        self.script(filename, hold)

    def requests_for(self, filename: str) -> list[float]:
        """When each request for ``filename`` arrived (monotonic seconds)."""
        return [when for name, when in self.file_requests if name == filename]

    def reset(self) -> None:
        """No more faults: every file is served as it is, and nothing is held."""
        with self._lock:
            self._faults.clear()
            self._every = None
        self.released.set()
        self.holding.clear()

    def stop(self) -> None:
        self.closing.set()
        self.released.set()
        super().stop()

    def start(self) -> None:
        self.closing.clear()
        self.released.clear()
        super().start()

    def _next_fault(self, filename: str) -> Fault | None:
        with self._lock:
            self.file_requests.append((filename, time.monotonic()))
            script = self._faults.get(filename)
            if script:
                return script.pop(0)
            return self._every

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        index = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def do_GET(self) -> None:
                parts = [part for part in unquote(urlsplit(self.path).path).split("/") if part]
                file = index.directory / parts[1] if len(parts) == 2 else None
                if parts[:1] != ["files"] or file is None or not file.is_file():
                    super().do_GET()
                    return
                fault = index._next_fault(file.name)
                if fault is None:
                    super().do_GET()
                    return
                try:
                    fault(self, file.read_bytes())
                except OSError:
                    self.close_connection = True  # the client went away: nothing more to say

            # the index of a faulty test server is not worth a traceback on stderr
            def handle(self) -> None:
                with contextlib.suppress(OSError):
                    super().handle()

        Handler.index = index  # type: ignore[attr-defined]
        return Handler


def _send(handler: BaseHTTPRequestHandler, body: bytes, length: int | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    if length is not None:
        handler.send_header("Content-Length", str(length))
    else:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def _index_of(handler: BaseHTTPRequestHandler) -> FaultyIndex:
    index: FaultyIndex = type(handler).index  # type: ignore[attr-defined]
    return index


def status(code: int) -> Fault:
    """An HTTP error status with a short body."""

    def fault(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        payload = f"error {code}\n".encode()
        handler.send_response(code)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return fault


def drop(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Close the connection without a word, as a crashed or restarted server does."""
    handler.close_connection = True


def reset(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Reset the connection (TCP RST), as a middlebox killing it does."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True


def stall(seconds: float) -> Fault:
    """Say nothing for ``seconds`` (or until the index stops), then close."""

    def fault(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        _index_of(handler).closing.wait(seconds)
        handler.close_connection = True

    return fault


def stall_in_body(seconds: float) -> Fault:
    """Send the headers and half the body, then say nothing for ``seconds``, then close."""

    def fault(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        _index_of(handler).closing.wait(seconds)
        handler.close_connection = True

    return fault


def truncate(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Announce the full length, send half the body, close: a detectable truncation."""
    _send(handler, body[: len(body) // 2], length=len(body))
    handler.close_connection = True


def close_early(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """No Content-Length (the body ends when the connection closes), and it closes halfway.

    HTTP cannot tell this from a complete body; only the hash can.
    """
    _send(handler, body[: len(body) // 2])
    handler.close_connection = True


def wrong_bytes(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """A body of the right length with different bytes (a stale mirror, a tampering proxy)."""
    _send(handler, bytes(byte ^ 0x5A for byte in body), length=len(body))


def extra_bytes(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """The right bytes followed by more, with a Content-Length that counts them all."""
    padded = body + b"\0" * 512
    _send(handler, padded, length=len(padded))


def endless(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """The right bytes, then more for ever (no Content-Length): until the client hangs up or the
    index stops."""
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    filler = b"\0" * (64 << 10)
    while not _index_of(handler).closing.is_set():
        handler.wfile.write(filler)
    handler.close_connection = True


def trickle(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """The headers, then a byte every 50 ms: never quiet long enough for a socket timeout."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    index = _index_of(handler)
    for byte in body:
        if index.closing.wait(0.05):
            break
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
    handler.close_connection = True


def slow(seconds: float) -> Fault:
    """The right answer, after waiting ``seconds`` (so that concurrent clients overlap)."""

    def fault(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        _index_of(handler).closing.wait(seconds)
        _send(handler, body, length=len(body))

    return fault


def hold(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """Send the headers and the first KiB, set ``index.holding``, and wait for ``index.released``;
    then send the rest. A test interrupts the downloading client while the response is held.
    Arm it with :meth:`FaultyIndex.hold_next`.
    """
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[:1024])
    handler.wfile.flush()
    index = _index_of(handler)
    index.holding.set()
    index.released.wait(120)
    handler.wfile.write(body[1024:])
