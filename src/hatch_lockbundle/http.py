"""Downloads over pooled keep-alive connections, with bounded retries and streaming hashes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import stat
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from .credentials import credentials_for, redact
from .errors import LockbundleError

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
TIMEOUT = 30.0
CHUNK = 1 << 20
#: a download slower than this (bytes per second) over ``TIMEOUT`` seconds is given up, as
#: curl's ``--speed-limit`` / ``--speed-time`` do: a server that trickles a byte a second never
#: lets a socket timeout fire
LOW_SPEED_LIMIT = 1024
#: the most a download may bring when the lock records no size for the file (the largest wheels
#: on PyPI, CUDA builds of torch, stay well under it)
MAX_DOWNLOAD = 8 << 30
#: ``LOCKBUNDLE_HTTP_TIMEOUT`` (seconds) replaces ``TIMEOUT``, as ``UV_HTTP_TIMEOUT`` does uv's
TIMEOUT_VARIABLE = "LOCKBUNDLE_HTTP_TIMEOUT"
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


class DownloadError(LockbundleError):
    """A file could not be downloaded."""


class _Retryable(Exception):
    pass


class _LocalWriteError(Exception):
    """Writing what arrived failed (a full disk, say): not the network's fault, not retried."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def configured_timeout(environ: Mapping[str, str] | None = None) -> float:
    """``LOCKBUNDLE_HTTP_TIMEOUT`` in seconds, else :data:`TIMEOUT`."""
    value = (os.environ if environ is None else environ).get(TIMEOUT_VARIABLE, "")
    if not value:
        return TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise LockbundleError(
            f"{TIMEOUT_VARIABLE}={value!r} is not a number of seconds greater than 0; set it to, "
            f"for example, {TIMEOUT:g} (the default)"
        )
    return seconds


class Downloader:
    """Streams URLs into files; each thread keeps one connection per host and reuses it."""

    def __init__(
        self,
        retries: int = RETRIES,
        timeout: float | None = None,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        low_speed_limit: int = LOW_SPEED_LIMIT,
    ) -> None:
        """
        :param timeout: seconds without an answer, or with less than ``low_speed_limit`` bytes
            a second, after which a download is given up (default: :func:`configured_timeout`)
        :param credentials: user and password by realm (``scheme://host[:port]``), e.g. from
            :func:`index_credentials`
        """
        self.retries = retries
        self.timeout = configured_timeout() if timeout is None else timeout
        self.low_speed_limit = low_speed_limit
        self.credentials = dict(credentials or {})
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None
        self._proxies: dict[str, str] | None = None
        self._aborted = False

    def _ssl(self) -> ssl.SSLContext:
        # made when first needed: loading the system's certificates takes tens of
        # milliseconds, and a warm build downloads nothing

        with self._open_lock:
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            return self._ssl_context

    def fetch(
        self,
        url: str,
        destination: BinaryIO,
        algorithm: str = "sha256",
        on_bytes: Callable[[int], None] | None = None,
        size: int | None = None,
        accept: str | None = None,
    ) -> str:
        """Write the body of ``url`` to ``destination``; return its hex digest.

        :param url: http, https or file URL
        :param destination: an open binary file, truncated and rewritten on a retry
        :param algorithm: the hashlib algorithm to compute while streaming
        :param size: the file's size as the lock records it: a body that grows past it is
            stopped at once (without one, at :data:`MAX_DOWNLOAD`)
        :param accept: the ``Accept`` header (a simple page's formats, :mod:`.mirrors`)
        """

        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError:
            raise DownloadError(f"cannot download {redact(url)!r}: not a valid URL") from None
        if parts.scheme == "file":
            return self._copy_file(url, destination, algorithm, size)
        if parts.scheme not in ("http", "https"):
            raise DownloadError(f"cannot download {redact(url)}: unsupported URL scheme")
        delay = BACKOFF
        last_error = ""
        for attempt in range(self.retries + 1):
            try:
                destination.seek(0)
                destination.truncate()
                return self._get(url, destination, algorithm, on_bytes, 5, size, accept)
            except _LocalWriteError as error:
                raise error.error from None
            except _Retryable as error:
                last_error = str(error)
            except (OSError, http.client.HTTPException) as error:
                last_error = (
                    f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                )
                self._drop(parts.scheme, parts.netloc)
            if self._aborted:  # the failure was the abort: no retry
                break
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        if self._aborted:
            raise DownloadError(f"the download of {redact(url)} was stopped")
        raise DownloadError(
            f"cannot download {redact(url)} after {self.retries + 1} attempts: {last_error}"
        )

    def _copy_file(
        self, url: str, destination: BinaryIO, algorithm: str, size: int | None = None
    ) -> str:
        """A ``file:`` URL: a regular file only (a fifo or a device would block or never end),
        within the same bounds as a download."""

        path = Path(urllib.request.url2pathname(unquote(urlsplit(url).path)))
        limit = MAX_DOWNLOAD if size is None else size
        digest = hashlib.new(algorithm)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as error:
            raise DownloadError(f"cannot read {url}: {error.strerror}") from None
        with os.fdopen(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DownloadError(f"cannot read {url}: not a regular file")
            received = 0
            try:
                while chunk := source.read(CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise DownloadError(
                            f"cannot read {url}: it is larger than {limit} bytes (the lock's size "
                            "or the most a download may bring): it is not the file that was locked"
                        )
                    digest.update(chunk)
                    destination.write(chunk)
            except OSError as error:
                raise DownloadError(f"cannot read {url}: {error.strerror}") from None
        return digest.hexdigest()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        key = (scheme, netloc)
        if key not in pool:
            if self._proxies is None:
                self._proxies = urllib.request.getproxies()
            parts = urlsplit(f"{scheme}://{netloc}")
            host = parts.hostname or ""
            port = parts.port
            proxy = self._proxies.get(scheme)
            if proxy and not urllib.request.proxy_bypass(host):
                proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
                connection: http.client.HTTPConnection
                if scheme == "https":
                    connection = http.client.HTTPSConnection(
                        proxy_parts.hostname or "",
                        proxy_parts.port or 80,
                        timeout=self.timeout,
                        context=self._ssl(),
                    )
                    connection.set_tunnel(host, port or 443)
                else:
                    connection = http.client.HTTPConnection(
                        proxy_parts.hostname or "", proxy_parts.port or 80, timeout=self.timeout
                    )
            elif scheme == "https":
                connection = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=self._ssl()
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
            with self._open_lock:
                if self._aborted:
                    raise OSError("stopped")
                self._open.add(connection)
            pool[key] = connection
        return pool[key]

    def abort(self) -> None:
        """Break every open connection, so that downloads in other threads stop at once, and
        refuse new connections and retries from then on."""

        with self._open_lock:
            self._aborted = True
            connections = list(self._open)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        connection = pool.pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def _get(
        self,
        url: str,
        destination: BinaryIO,
        algorithm: str,
        on_bytes: Callable[[int], None] | None,
        redirects: int,
        size: int | None = None,
        accept: str | None = None,
    ) -> str:

        parts = urlsplit(url)
        connection = self._connection(parts.scheme, parts.netloc)
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        proxied = connection.host != (parts.hostname or "") and parts.scheme == "http"
        headers = {"User-Agent": "hatch-lockbundle", "Accept-Encoding": "identity"}
        if accept is not None:
            headers["Accept"] = accept
        credentials = credentials_for(url, self.credentials)
        if credentials is not None:
            token = f"{credentials[0]}:{credentials[1]}"
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        connection.request("GET", redact(url) if proxied else target, headers=headers)
        if self._aborted:  # stopped while connecting, before abort() could see the socket
            raise OSError("stopped")
        # a status line and headers sent a byte at a time would keep getresponse() reading for
        # ever, each byte within the socket timeout: the connection is cut at a deadline
        cut = threading.Event()
        watchdog = threading.Timer(self.timeout, _cut, (connection, cut))
        watchdog.daemon = True
        watchdog.start()
        try:
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            if not cut.is_set() or self._aborted:
                raise
        finally:
            watchdog.cancel()
        if cut.is_set():  # what came before the cut is not to be trusted as a whole answer
            self._drop(parts.scheme, parts.netloc)
            # retried, as a socket timeout is: the server may be busy for a moment
            raise _Retryable(
                f"the server did not answer within {self.timeout:g} s ({TIMEOUT_VARIABLE} "
                "sets how long to wait)"
            )
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            response.read()
            next_url = urllib.parse.urljoin(url, location or "")
            if not location or redirects == 0 or urlsplit(next_url).scheme not in ("http", "https"):
                raise DownloadError(f"{redact(url)}: bad or too many redirects")
            destination.seek(0)
            destination.truncate()
            return self._get(
                next_url, destination, algorithm, on_bytes, redirects - 1, size, accept
            )
        if response.status != 200:
            response.read()
            if response.status in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status} {response.reason}")
            if response.status in (401, 403):
                raise DownloadError(
                    f"cannot download {redact(url)}: HTTP {response.status} {response.reason}. "
                    f"The index wants credentials: add them to ~/.netrc (`machine "
                    f"{parts.hostname} login <user> password <token>`)"
                )
            raise DownloadError(
                f"cannot download {redact(url)}: HTTP {response.status} {response.reason}"
            )
        announced = response.getheader("Content-Length")
        # one number, or none: a list (duplicate headers joined) or text is not trusted
        expected = announced if announced is not None and announced.isdigit() else None
        limit = MAX_DOWNLOAD if size is None else size
        what = f"the lock's size of {size} bytes" if size is not None else f"{limit} bytes"
        if expected is not None and expected.isdigit() and int(expected) > limit:
            self._drop(parts.scheme, parts.netloc)
            raise DownloadError(
                f"cannot download {redact(url)}: the server announces {expected} bytes, more "
                f"than {what}; it is not serving the file that was locked"
            )
        digest = hashlib.new(algorithm)
        received = 0
        window_start, window_bytes = time.monotonic(), 0
        # read1: whatever has arrived, so that progress is judged however slowly bytes come
        while chunk := response.read1(CHUNK):
            received += len(chunk)
            if received > limit:
                self._drop(parts.scheme, parts.netloc)
                raise DownloadError(
                    f"cannot download {redact(url)}: the server sent more than {what}, and was "
                    "stopped; it is not serving the file that was locked"
                )
            digest.update(chunk)
            try:
                destination.write(chunk)
            except OSError as error:
                raise _LocalWriteError(error) from None
            if on_bytes is not None:
                on_bytes(len(chunk))
            window_bytes += len(chunk)
            elapsed = time.monotonic() - window_start
            if elapsed >= self.timeout:
                if window_bytes < self.low_speed_limit * elapsed:
                    self._drop(parts.scheme, parts.netloc)
                    raise _Retryable(
                        f"too slow ({window_bytes} bytes in the last {elapsed:.0f} s, less than "
                        f"{self.low_speed_limit} bytes a second); try again later, or set "
                        f"{TIMEOUT_VARIABLE} to wait longer"
                    )
                window_start, window_bytes = time.monotonic(), 0
        response.read()  # b"": marks the response done, so that the connection is reused
        if expected is not None and received != int(expected):
            self._drop(parts.scheme, parts.netloc)
            raise _Retryable(f"connection closed after {received} of {expected} bytes")
        if response.will_close:
            self._drop(parts.scheme, parts.netloc)
        return digest.hexdigest()


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """Break ``connection``'s socket, so that a read blocked on it returns; set ``cut``."""

    cut.set()
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)


def hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
