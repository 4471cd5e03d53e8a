"""A corporate network on 127.0.0.1: an HTTP proxy that wants credentials, TLS with a test CA,
and the real ``keyring`` command with a file-backed backend.

:class:`AuthenticatingProxy` forwards plain requests and tunnels ``CONNECT`` only for requests
carrying the right ``Proxy-Authorization``, and records what it let through. :class:`TlsIndex`
is an :class:`~support.index.IndexServer` served over https with a certificate of a ``trustme``
authority. :class:`FileKeyring` is the environment in which the real ``keyring`` command of the
test environment reads passwords from a plain file (``keyrings.alt``).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlsplit

import trustme

from .index import IndexServer

PROXY_USER = "proxy-user"
# with the characters a URL must quote, so that the proxy URL is parsed, not copied
PROXY_PASSWORD = "Px:s3cr3t@c0rp/proxy%7"


def proxy_needles(user: str = PROXY_USER, password: str = PROXY_PASSWORD) -> list[str]:
    """Every form in which the proxy's password can leak: as is, quoted, and in the header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, quote(password, safe=""), token]


class AuthenticatingProxy:
    """An HTTP proxy on 127.0.0.1 that answers 407 to any request without its credentials."""

    def __init__(self, user: str = PROXY_USER, password: str = PROXY_PASSWORD) -> None:
        self.user = user
        self.password = password
        #: ``host:port`` of every tunnel opened
        self.tunnels: list[str] = []
        #: the absolute URL of every plain request forwarded
        self.forwarded: list[str] = []
        #: the request line of every request answered 407
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    def url(self, password: str | None = None) -> str:
        """``http://user:password@127.0.0.1:<port>`` (quoted), with the proxy's password or
        ``password``."""
        assert self._server is not None, "the proxy is not running"
        port = self._server.server_address[1]
        password = self.password if password is None else password
        userinfo = f"{quote(self.user, safe='')}:{quote(password, safe='')}"
        return f"http://{userinfo}@127.0.0.1:{port}"

    def __enter__(self) -> AuthenticatingProxy:
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _authorized(self, header: str | None) -> bool:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header == f"Basic {token}"

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                # one request a connection: every answer says `Connection: close`
                request_line = self.rfile.readline(65537).decode("latin-1").rstrip("\r\n")
                headers: list[tuple[str, str]] = []
                while line := self.rfile.readline(65537).decode("latin-1").rstrip("\r\n"):
                    name, _, value = line.partition(":")
                    headers.append((name.strip(), value.strip()))
                method, target, _ = [*request_line.split(" "), "", ""][:3]
                found = {name.lower(): value for name, value in headers}
                if not proxy._authorized(found.get("proxy-authorization")):
                    with proxy._lock:
                        proxy.refused.append(request_line)
                    self.wfile.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b'Proxy-Authenticate: Basic realm="proxy"\r\n'
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    return
                if method == "CONNECT":
                    self._tunnel(target)
                else:
                    self._forward(method, target, headers)

            def _tunnel(self, target: str) -> None:
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=60)
                with proxy._lock:
                    proxy.tunnels.append(target)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pipe(self.connection, upstream)

            def _forward(self, method: str, url: str, headers: list[tuple[str, str]]) -> None:
                parts = urlsplit(url)
                with proxy._lock:
                    proxy.forwarded.append(url)
                path = parts.path or "/"
                if parts.query:
                    path += f"?{parts.query}"
                kept = [
                    f"{name}: {value}"
                    for name, value in headers
                    if name.lower() not in ("proxy-authorization", "connection", "keep-alive")
                ]
                head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close"])
                length = int({n.lower(): v for n, v in headers}.get("content-length", "0"))
                body = self.rfile.read(length) if length else b""
                with socket.create_connection((parts.hostname, parts.port or 80), 60) as upstream:
                    upstream.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
                    reply = upstream.makefile("rb")
                    status = reply.readline()
                    self.wfile.write(status)
                    while (line := reply.readline()) not in (b"\r\n", b"\n", b""):
                        if not line.lower().startswith((b"connection:", b"keep-alive:")):
                            self.wfile.write(line)
                    self.wfile.write(b"Connection: close\r\n\r\n")
                    while chunk := reply.read1(65536):
                        self.wfile.write(chunk)

        return Handler


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    with upstream:
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for source in readable:
                other = upstream if source is client else client
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    with contextlib.suppress(OSError):
                        other.shutdown(socket.SHUT_WR)
                    return
                other.sendall(data)


@dataclass
class PrivateAuthority:
    """A ``trustme`` certificate authority and the PEM file of its certificate."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    @property
    def pem(self) -> Path:
        path = self.directory / "test-ca.pem"
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            self.ca.cert_pem.write_to_path(str(path))
        return path

    def server_context(self) -> ssl.SSLContext:
        """A server context with a certificate for ``127.0.0.1`` signed by this authority."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context


class TlsIndex(IndexServer):
    """An :class:`~support.index.IndexServer` over https, its certificate signed by ``authority``."""

    def __init__(self, directory: Path, authority: PrivateAuthority) -> None:
        super().__init__(directory)
        self.authority = authority

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://", 1)

    def start(self) -> None:
        super().start()
        assert self._server is not None
        # before any connection: the serving thread accepts on the wrapped socket (same fd)
        self._server.socket = self.authority.server_context().wrap_socket(
            self._server.socket, server_side=True
        )


@dataclass(frozen=True)
class FileKeyring:
    """The real ``keyring`` command of the test environment, reading a plain file under
    ``directory`` (``keyrings.alt``'s ``PlaintextKeyring``, chosen in a ``keyringrc.cfg``)."""

    directory: Path

    @property
    def environ(self) -> dict[str, str]:
        """Variables that point the ``keyring`` command (on ``PATH`` first) at the file."""
        config = self.directory / "config"
        (config / "python_keyring").mkdir(parents=True, exist_ok=True)
        (config / "python_keyring" / "keyringrc.cfg").write_text(
            "[backend]\ndefault-keyring=keyrings.alt.file.PlaintextKeyring\n"
        )
        return {
            "XDG_CONFIG_HOME": str(config),
            "XDG_DATA_HOME": str(self.directory / "data"),
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        }

    def set(self, service: str, user: str, password: str) -> None:
        """Store ``password`` (given on standard input, as a user types it)."""
        subprocess.run(
            [sys.executable, "-c", _SET, service, user],
            input=password,
            env=self.environ,
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )


_SET = "import sys, keyring; keyring.set_password(sys.argv[1], sys.argv[2], sys.stdin.read())"
