"""A PEP 503 "simple" package index served over HTTP on 127.0.0.1 from a directory of dists."""

from __future__ import annotations

import hashlib
import html
import shutil
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)


class IndexServer:
    """Serve every wheel and sdist of ``directory`` as a simple index, read afresh on each request.

    ``/simple/`` lists the projects, ``/simple/<normalized-name>/`` links each of its files with a
    ``#sha256=`` fragment (and ``data-requires-python`` when the file's metadata says), and
    ``/files/<filename>`` serves the bytes. Files added, replaced or removed in ``directory`` are
    served as they are now. :meth:`stop` makes the port refuse connections, as an unreachable index.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []  # paths requested, in order, for tests that want to know
        self._digests: dict[tuple[str, int, int], tuple[str, str | None]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; the port stays the same across :meth:`stop` and :meth:`start`."""
        if self._port is None:
            raise RuntimeError("the index server was never started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def simple_url(self) -> str:
        """The index URL to give pip and uv: ``<url>/simple/``."""
        return f"{self.url}/simple/"

    def file_url(self, filename: str) -> str:
        """The URL at which ``filename`` is served."""
        return f"{self.url}/files/{quote(filename)}"

    def copy_to(self, directory: Path) -> IndexServer:
        """A new, not yet started server over a copy of this one's files (to stop or alter alone)."""
        shutil.copytree(self.directory, directory)
        return IndexServer(directory)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen on 127.0.0.1 (on a free port the first time, on the same port after a stop)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self._port or 0), self._handler_class())
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"index-{self._port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections to :attr:`url` are refused until :meth:`start`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the server for the duration of the block, then start it again on the same port."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> IndexServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what is served -------------------------------------------------------------------------

    def projects(self) -> dict[NormalizedName, list[Path]]:
        """The dists of :attr:`directory` by normalized project name, files sorted by name."""
        found: dict[NormalizedName, list[Path]] = {}
        for path in sorted(self.directory.iterdir()):
            name = project_name(path.name)
            if name is not None and path.is_file():
                found.setdefault(name, []).append(path)
        return found

    def _digest(self, path: Path) -> tuple[str, str | None]:
        """The file's sha256 and Requires-Python, recomputed when the file changes."""
        stat = path.stat()
        key = (path.name, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._digests.get(key)
        if cached is None:
            cached = (hashlib.sha256(path.read_bytes()).hexdigest(), requires_python(path))
            with self._lock:
                self._digests[key] = cached
        return cached

    def _root_page(self) -> str:
        links = "\n".join(f'<a href="/simple/{name}/">{name}</a><br/>' for name in self.projects())
        return _page("Simple index", links)

    def _project_page(self, name: NormalizedName) -> str | None:
        files = self.projects().get(name)
        if files is None:
            return None
        links = []
        for path in files:
            sha256, python = self._digest(path)
            attributes = f'href="/files/{quote(path.name)}#sha256={sha256}"'
            if python:
                attributes += f' data-requires-python="{html.escape(python)}"'
            links.append(f"<a {attributes}>{html.escape(path.name)}</a><br/>")
        return _page(f"Links for {name}", "\n".join(links))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._respond(send_body=True)

            def do_HEAD(self) -> None:
                self._respond(send_body=False)

            def _respond(self, *, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with index._lock:
                    index.requests.append(path)
                parts = [part for part in path.split("/") if part]
                if parts == ["simple"] and path.endswith("/"):
                    self._send(index._root_page().encode(), "text/html", send_body)
                elif len(parts) == 2 and parts[0] == "simple":
                    name = canonicalize_name(parts[1])
                    if not path.endswith("/") or name != parts[1]:
                        self._redirect(f"/simple/{name}/")
                        return
                    page = index._project_page(name)
                    if page is None:
                        self._not_found(send_body)
                    else:
                        self._send(page.encode(), "text/html", send_body)
                elif parts in (["simple"], []):
                    self._redirect("/simple/")
                elif len(parts) == 2 and parts[0] == "files" and "\\" not in parts[1]:
                    file = index.directory / parts[1]
                    if project_name(parts[1]) is None or not file.is_file():
                        self._not_found(send_body)
                    else:
                        self._send(file.read_bytes(), "application/octet-stream", send_body)
                else:
                    self._not_found(send_body)

            def _send(self, body: bytes, content_type: str, send_body: bool) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _not_found(self, send_body: bool) -> None:
                body = b"not found\n"
                self.send_response(HTTPStatus.NOT_FOUND)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:  # a body after a HEAD answer would be read as the next response
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # requests are recorded in `index.requests`; stderr stays quiet

        return Handler


def project_name(filename: str) -> NormalizedName | None:
    """The normalized project name of a wheel or sdist filename, or None for any other file."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def requires_python(path: Path) -> str | None:
    """The ``Requires-Python`` of a wheel's METADATA or an sdist's PKG-INFO, if it says."""
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as wheel:
                name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
                text = wheel.read(name).decode()
        elif path.name.endswith(".tar.gz"):
            with tarfile.open(path) as sdist:
                member = next(
                    m
                    for m in sdist.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
                )
                extracted = sdist.extractfile(member)
                if extracted is None:
                    return None
                text = extracted.read().decode()
        else:
            return None
    except (OSError, StopIteration, zipfile.BadZipFile, tarfile.TarError, UnicodeDecodeError):
        return None  # a file that is not a well-formed dist is served without the attribute
    value = HeaderParser().parsestr(text).get("Requires-Python")
    return value.strip() if value else None


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


@contextmanager
def dead_url() -> Iterator[str]:
    """An ``http://127.0.0.1:<port>/simple/`` URL whose port refuses connections.

    The port is bound (so nothing else takes it) but never listened on, for as long as the block runs.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/simple/"
