"""Git repositories served over HTTP(S) on 127.0.0.1, the two ways real servers do it.

* the **dumb** protocol: a bare repository, after ``git update-server-info``, served as static
  files (as from any web server or object store);
* the **smart** protocol: ``git http-backend`` run as a CGI program for each request (as behind
  Apache or nginx on a git host).

Either can want HTTP basic auth and can be served over TLS with a test certificate authority
(:func:`make_test_ca`). :class:`StalledServer` accepts connections and then never answers.
"""

from __future__ import annotations

import base64
import binascii
import os
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import unquote, urlsplit

Protocol = Literal["dumb", "smart"]

# Commits made by the tests: fixed identity and dates, no user or system configuration.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
}


def git(repo: Path, *args: str) -> str:
    """Run ``git -C repo <args>`` for a test's own repositories; its standard output, stripped."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**_GIT_ENV, "HOME": str(repo)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {repo}:\n{result.stderr}")
    return result.stdout.strip()


def publish(work: Path, root: Path, name: str) -> Path:
    """Push every branch and tag of the repository ``work`` to ``root/<name>.git`` (a bare
    repository, created if needed) and make it servable by the dumb protocol too."""
    bare = root / f"{name}.git"
    if not bare.exists():
        bare.parent.mkdir(parents=True, exist_ok=True)
        git(bare.parent, "init", "--quiet", "--bare", "--initial-branch", "main", bare.name)
    git(work, "push", "--quiet", "--force", "--prune", str(bare), "refs/heads/*:refs/heads/*")
    git(work, "push", "--quiet", "--force", str(bare), "refs/tags/*:refs/tags/*")
    git(bare, "update-server-info")
    return bare


@dataclass(frozen=True)
class TestCA:
    """A certificate authority made for one test, and a server certificate it signed."""

    ca: Path
    certificate: Path
    key: Path


def make_test_ca(directory: Path) -> TestCA:
    """With the ``openssl`` command: a CA, and a certificate for ``127.0.0.1`` signed by it."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(
            ["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=120
        )

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lockbundle test CA",
        "-keyout", "ca.key", "-out", "ca.pem",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    return TestCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")


class GitServer:
    """Serve the bare repositories under ``root`` at ``<url>/<name>.git``.

    :param protocol: ``dumb`` (static files) or ``smart`` (``git http-backend``)
    :param credentials: user and password that every request must carry (HTTP basic auth)
    :param tls: serve https with this certificate instead of plain http
    """

    def __init__(
        self,
        root: Path,
        protocol: Protocol,
        *,
        credentials: tuple[str, str] | None = None,
        tls: TestCA | None = None,
    ) -> None:
        self.root = root
        self.protocol = protocol
        self.credentials = credentials
        self.tls = tls
        #: ``METHOD path`` of every request, in order
        self.requests: list[str] = []
        #: requests answered with 401 for want of credentials
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the git server is not running"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def repository_url(self, name: str) -> str:
        return f"{self.url}/{name}.git"

    def __enter__(self) -> GitServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.certificate, self.tls.key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _authorized(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and decoded == ":".join(self.credentials)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test's output stays readable

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                with server._lock:
                    server.requests.append(f"{self.command} {self.path}")
                body = self._request_body()
                if not server._authorized(self.headers.get("Authorization")):
                    with server._lock:
                        server.refused.append(self.path)
                    self._send(
                        HTTPStatus.UNAUTHORIZED,
                        {"WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain"},
                        b"credentials required\n",
                    )
                elif server.protocol == "smart":
                    self._smart(body)
                elif self.command == "GET":
                    self._static()
                else:
                    self._send(HTTPStatus.METHOD_NOT_ALLOWED, {}, b"")

            def _request_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _static(self) -> None:
                relative = unquote(urlsplit(self.path).path).lstrip("/")
                file = (server.root / relative).resolve()
                if not file.is_relative_to(server.root.resolve()) or not file.is_file():
                    self._send(HTTPStatus.NOT_FOUND, {"Content-Type": "text/plain"}, b"")
                    return
                self._send(
                    HTTPStatus.OK, {"Content-Type": "application/octet-stream"}, file.read_bytes()
                )

            def _smart(self, body: bytes) -> None:
                parts = urlsplit(self.path)
                env = {
                    **_GIT_ENV,
                    "HOME": str(server.root),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": unquote(parts.path),
                    "QUERY_STRING": parts.query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": self.client_address[0],
                    "GATEWAY_INTERFACE": "CGI/1.1",
                    "SERVER_PROTOCOL": "HTTP/1.1",
                }
                if server.credentials is not None:
                    env["REMOTE_USER"] = server.credentials[0]
                # protocol v2 is asked for in a header, which CGI servers pass on like this
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                result = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120
                )
                head, payload = _split_cgi_output(result.stdout)
                status = HTTPStatus.OK
                headers = {}
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = HTTPStatus(int(value.split()[0]))
                    elif name:
                        headers[name.strip()] = value.strip()
                self._send(status, headers, payload)

            def _send(self, status: HTTPStatus, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class StalledServer:
    """Accepts TCP connections on 127.0.0.1, reads nothing and answers nothing, until closed."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._connections.append(connection)

    def __enter__(self) -> StalledServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join()
        for connection in self._connections:
            connection.close()
        self._listener.close()


def _split_cgi_output(output: bytes) -> tuple[bytes, bytes]:
    """A CGI program's header block and body (the blank line may be CRLF or LF)."""
    end, gap = output.find(b"\r\n\r\n"), 4
    bare = output.find(b"\n\n")
    if end < 0 or 0 <= bare < end:
        end, gap = bare, 2
    if end < 0:
        return output, b""
    return output[:end], output[end + gap :]
