"""Downloads over pooled keep-alive connections, with bounded retries and streaming hashes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import re
import socket
import ssl
import stat
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from .credentials import credentials_for, redact, refusal_advice
from .errors import LockbundleError
from .keyring_command import Keyring
from .network import NetworkSettings, Proxy, proxy_for, proxy_refusal, tls_failure
from .progress import printable

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
TIMEOUT = 30.0
CHUNK = 1 << 20
#: what a request line cannot carry as it is
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
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
#: how :mod:`http.client` begins the error of a ``CONNECT`` that a proxy refused
_TUNNEL_FAILED = "Tunnel connection failed: "


class DownloadError(LockbundleError):
    """A file could not be downloaded."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """:param status: the HTTP status the server refused it with, if that was the reason"""
        super().__init__(message)
        self.status = status


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
        network: NetworkSettings | None = None,
        index_urls: Sequence[str] = (),
    ) -> None:
        """
        :param timeout: seconds without an answer, or with less than ``low_speed_limit`` bytes
            a second, after which a download is given up (default: :func:`configured_timeout`)
        :param credentials: user and password by realm (``scheme://host[:port]``), e.g. from
            :func:`index_credentials`
        :param network: the keyring and trust settings (default: from the environment)
        :param index_urls: the indexes of the files, which the keyring knows passwords for
        """
        self.retries = retries
        self.timeout = configured_timeout() if timeout is None else timeout
        self.low_speed_limit = low_speed_limit
        self.credentials = dict(credentials or {})
        self.network = NetworkSettings.resolve() if network is None else network
        self._keyring = (
            Keyring(index_urls) if self.network.keyring_provider == "subprocess" else None
        )
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
                self._ssl_context = self.network.ssl_context()
            return self._ssl_context

    def fetch(
        self,
        url: str,
        destination: BinaryIO,
        algorithm: str = "sha256",
        on_bytes: Callable[[int], None] | None = None,
        size: int | None = None,
        accept: str | None = None,
        most: int | None = None,
    ) -> str:
        """Write the body of ``url`` to ``destination``; return its hex digest.

        :param url: http, https or file URL
        :param destination: an open binary file, truncated and rewritten on a retry
        :param algorithm: the hashlib algorithm to compute while streaming
        :param size: the file's size as the lock records it: a body that grows past it is
            stopped at once (without one, at :data:`MAX_DOWNLOAD`)
        :param accept: the ``Accept`` header (a simple page's formats, :mod:`.mirrors`)
        :param most: without ``size``, the most the answer may bring (a simple page's bound)
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
                return self._get(url, destination, algorithm, on_bytes, 5, size, accept, most)
            except _LocalWriteError as error:
                raise error.error from None
            except _Retryable as error:
                last_error = str(error)
            except ssl.SSLCertVerificationError as error:
                # another attempt meets the same certificate
                self._drop(parts.scheme, parts.netloc)
                raise DownloadError(
                    f"cannot download {redact(url)}: "
                    f"{tls_failure(parts.hostname or '', error, self.network.native_tls)}"
                ) from None
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
            f"cannot download {redact(url)} after {self.retries + 1} attempts: "
            f"{printable(last_error)}"
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

    def _connection(
        self, scheme: str, netloc: str
    ) -> tuple[http.client.HTTPConnection, Proxy | None]:
        """This thread's connection to ``netloc`` (through its proxy, if any), and the proxy."""
        pool: dict[tuple[str, str], tuple[http.client.HTTPConnection, Proxy | None]] = (
            self._local.__dict__.setdefault("pool", {})
        )
        key = (scheme, netloc)
        if key not in pool:
            if self._proxies is None:
                self._proxies = urllib.request.getproxies()
            parts = urlsplit(f"{scheme}://{netloc}")
            host = parts.hostname or ""
            port = parts.port
            proxy = proxy_for(scheme, host, self._proxies)
            connection: http.client.HTTPConnection
            if proxy is not None and scheme == "https":
                if proxy.scheme == "https":
                    raise DownloadError(
                        f"the proxy {proxy.shown} is an https:// proxy, which this builder reaches "
                        f"https:// URLs through only as http://: set HTTPS_PROXY to "
                        f"http://{proxy.host}:<port> (the tunnel to {host} is encrypted end to end)"
                    )
                # a CONNECT tunnel, which the TLS connection to the index goes through
                connection = http.client.HTTPSConnection(
                    proxy.host, proxy.port, timeout=self.timeout, context=self._ssl()
                )
                connection.set_tunnel(host, port or 443, headers=proxy.headers())
            elif proxy is not None and proxy.scheme == "https":
                connection = http.client.HTTPSConnection(
                    proxy.host, proxy.port, timeout=self.timeout, context=self._ssl()
                )
            elif proxy is not None:
                connection = http.client.HTTPConnection(
                    proxy.host, proxy.port, timeout=self.timeout
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
            pool[key] = (connection, proxy)
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
        pooled = pool.pop((scheme, netloc), None)
        if pooled is not None:
            pooled[0].close()

    def _get(
        self,
        url: str,
        destination: BinaryIO,
        algorithm: str,
        on_bytes: Callable[[int], None] | None,
        redirects: int,
        size: int | None = None,
        accept: str | None = None,
        most: int | None = None,
        keyring_asked: bool = False,
    ) -> str:

        parts = urlsplit(url)
        connection, proxy = self._connection(parts.scheme, parts.netloc)
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        headers = {"User-Agent": "hatch-lockbundle", "Accept-Encoding": "identity"}
        if accept is not None:
            headers["Accept"] = accept
        # a plain request goes to the proxy whole; an https one goes through its tunnel
        forwarded = proxy is not None and parts.scheme == "http"
        if forwarded:
            assert proxy is not None
            headers |= proxy.headers()
            target = redact(url)  # to a proxy, the whole URL (without its credentials)
        # a request line is ASCII: other characters of a lock's or a page's URL are sent
        # percent-encoded (UTF-8), as uv's URL parser sends them
        target = _NON_ASCII.sub(lambda match: quote(match[0]), target)
        credentials = credentials_for(url, self.credentials)
        if self._keyring is not None and (credentials is None or not credentials[1]):
            credentials = self._keyring.answered(url) or credentials
        if credentials is not None:
            token = f"{credentials[0]}:{credentials[1]}"
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        try:
            connection.request("GET", target, headers=headers)
        except OSError as error:
            # http.client's words for a CONNECT the proxy answered with anything but 200
            status = str(error).removeprefix(_TUNNEL_FAILED)
            if proxy is None or status == str(error):
                raise
            self._drop(parts.scheme, parts.netloc)
            refusal = proxy_refusal(proxy, parts.netloc, status)
            if status[:3].isdigit() and int(status[:3]) in RETRY_STATUSES:
                raise _Retryable(refusal) from None
            raise DownloadError(f"cannot download {redact(url)}: {refusal}") from None
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
            if not location:
                raise DownloadError(f"{redact(url)}: a redirect without a Location")
            if redirects == 0:
                raise DownloadError(f"{redact(url)}: too many redirects (more than 5)")
            if (scheme := urlsplit(next_url).scheme) not in ("http", "https"):
                raise DownloadError(
                    f"{redact(url)}: redirected to a {printable(scheme)!r} URL; only http and "
                    "https redirects are followed"
                )
            destination.seek(0)
            destination.truncate()
            return self._get(
                next_url, destination, algorithm, on_bytes, redirects - 1, size, accept, most
            )
        if response.status != 200:
            response.read()
            reason = printable(response.reason)  # the server's words, shown in a message
            if response.status in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status} {reason}")
            if response.status == 401 and self._keyring and self._keyring.asks_for(url):
                if not keyring_asked and (credentials is None or not credentials[1]):
                    # no password was sent: the keyring's, in one more request
                    user = credentials[0] if credentials is not None else None
                    if self._keyring.credentials(url, user) is not None:
                        return self._get(
                            url,
                            destination,
                            algorithm,
                            on_bytes,
                            redirects,
                            size,
                            accept,
                            most,
                            keyring_asked=True,
                        )
                    raise DownloadError(
                        f"cannot download {redact(url)}: HTTP 401 {reason}, and the "
                        f"keyring has no password for user {user!r} there: store it with "
                        f"`keyring set {self._keyring.service(url)} {user}`, or in ~/.netrc (an "
                        "entry of that login), or UV_INDEX_<NAME>_PASSWORD for a named index"
                    )
                if keyring_asked:
                    raise DownloadError(
                        f"cannot download {redact(url)}: HTTP 401 {reason} with the "
                        "password from the keyring: it is wrong or expired; store the current "
                        "one with `keyring set`"
                    )
            if response.status == 407 and proxy is not None:
                refusal = proxy_refusal(proxy, parts.netloc, f"{response.status} {reason}")
                raise DownloadError(f"cannot download {redact(url)}: {refusal}")
            if response.status in (401, 403):
                unasked = (
                    " (the keyring is asked only on the hosts of the lock's indexes and mirrors)"
                    if self._keyring is not None
                    else ""
                )
                advice = refusal_advice(
                    response.status, credentials, parts.hostname, from_url="@" in parts.netloc
                )
                raise DownloadError(
                    f"cannot download {redact(url)}: HTTP {response.status} {reason}. "
                    f"{advice}{unasked}",
                    response.status,
                )
            raise DownloadError(
                f"cannot download {redact(url)}: HTTP {response.status} {reason}", response.status
            )
        announced = response.getheader("Content-Length")
        # one number, or none: a list (duplicate headers joined) or text is not trusted
        expected = announced if announced is not None and announced.isdigit() else None
        limit = size if size is not None else most if most is not None else MAX_DOWNLOAD
        if size is not None:
            what, verdict = f"the lock's size of {size} bytes", "the file that was locked"
        elif most is not None:
            what, verdict = f"{most} bytes, the most such an answer may bring", "what was asked"
        else:
            what, verdict = f"{limit} bytes", "the file that was locked"
        if expected is not None and expected.isdigit() and int(expected) > limit:
            self._drop(parts.scheme, parts.netloc)
            raise DownloadError(
                f"cannot download {redact(url)}: the server announces {expected} bytes, more "
                f"than {what}; it is not serving {verdict}"
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
                    f"stopped; it is not serving {verdict}"
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
