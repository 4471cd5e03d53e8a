"""A mirror of a package index with its own URL layout, as Artifactory, Nexus or devpi serve one.

:class:`MirrorIndex` serves the dists of a directory (the same files as an
:class:`~support.index.IndexServer`) under other URLs: project pages at
``/repository/pypi/simple/<name>/``, in PEP 691 JSON when the ``Accept`` header asks for it and in
PEP 503 HTML otherwise, both pointing with relative URLs to ``/blobs/<sha256>/<filename>``; and a
flat ``/flat/<filename>`` for direct-URL files. It may require HTTP basic auth on every request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name

from .index import project_name, requires_python

JSON = "application/vnd.pypi.simple.v1+json"


class MirrorIndex:
    """Serve ``directory`` on 127.0.0.1 in the mirror's layout (see the module's docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        credentials: tuple[str, str] | None = None,
        html_only: bool = False,
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        """
        :param credentials: user and password every request must carry (basic auth)
        :param html_only: answer PEP 503 HTML whatever the ``Accept`` header asks
        :param hidden: file names the mirror does not have
        """
        self.directory = directory
        self.credentials = credentials
        self.html_only = html_only
        self.hidden = hidden
        #: (path, format served or None, User-Agent) of every request, in order
        self.requests: list[tuple[str, str | None, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/repository/pypi/simple/"

    def __enter__(self) -> MirrorIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def pages_served(self, fmt: str, agent: str) -> list[str]:
        """The project pages served in ``fmt`` (``json`` or ``html``) to clients whose
        User-Agent starts with ``agent``."""
        with self._lock:
            return [
                path for path, served, by in self.requests if served == fmt and by.startswith(agent)
            ]

    def _files(self, name: str) -> list[Path]:
        return [
            path
            for path in sorted(self.directory.iterdir())
            if path.is_file() and project_name(path.name) == name and path.name not in self.hidden
        ]

    def _project_page(self, name: str, fmt: str) -> bytes:
        entries = []
        for path in self._files(name):
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            # relative to the page, as mirrors often write them: resolved by the client
            href = f"../../../../blobs/{sha256}/{quote(path.name)}"
            entries.append((path, sha256, href, requires_python(path)))
        if fmt == "json":
            files = [
                {
                    "filename": path.name,
                    "url": href,
                    "hashes": {"sha256": sha256},
                    **({"requires-python": python} if python else {}),
                }
                for path, sha256, href, python in entries
            ]
            document = {"meta": {"api-version": "1.0"}, "name": name, "files": files}
            return json.dumps(document).encode()
        links = "\n".join(
            f'<a href="{href}#sha256={sha256}"'
            + (f' data-requires-python="{html.escape(python)}"' if python else "")
            + f">{html.escape(path.name)}</a><br/>"
            for path, sha256, href, python in entries
        )
        return (
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
            f"<title>Links for {name}</title></head>\n<body>\n{links}\n</body></html>\n"
        ).encode()

    def _file(self, filename: str) -> Path | None:
        path = self.directory / filename
        if "/" in filename or filename in self.hidden or not path.is_file():
            return None
        return path

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._respond(send_body=True)

            def do_HEAD(self) -> None:
                self._respond(send_body=False)

            def _respond(self, *, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                if not self._admitted():
                    self._send(
                        HTTPStatus.UNAUTHORIZED,
                        b"credentials required\n",
                        "text/plain",
                        send_body,
                        {"WWW-Authenticate": 'Basic realm="mirror"'},
                    )
                    return
                parts = [part for part in path.split("/") if part]
                served: str | None = None
                if parts[:3] == ["repository", "pypi", "simple"] and len(parts) == 4:
                    name = canonicalize_name(parts[3])
                    wants_json = JSON in (self.headers.get("Accept") or "")
                    served = "json" if wants_json and not mirror.html_only else "html"
                    if not mirror._files(name):
                        served = None
                        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", send_body)
                    else:
                        body = mirror._project_page(name, served)
                        kind = JSON if served == "json" else "text/html"
                        self._send(HTTPStatus.OK, body, kind, send_body)
                else:
                    file = None
                    if len(parts) == 3 and parts[0] == "blobs":
                        file = mirror._file(parts[2])
                        if (
                            file is not None
                            and hashlib.sha256(file.read_bytes()).hexdigest() != parts[1]
                        ):
                            file = None
                    elif len(parts) == 2 and parts[0] == "flat":
                        file = mirror._file(parts[1])
                    if file is None:
                        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", send_body)
                    else:
                        body = file.read_bytes()
                        self._send(HTTPStatus.OK, body, "application/octet-stream", send_body)
                with mirror._lock:
                    mirror.requests.append((path, served, self.headers.get("User-Agent") or ""))

            def _admitted(self) -> bool:
                if mirror.credentials is None:
                    return True
                token = base64.b64encode(":".join(mirror.credentials).encode()).decode()
                return self.headers.get("Authorization") == f"Basic {token}"

            def _send(
                self,
                status: HTTPStatus,
                body: bytes,
                content_type: str,
                send_body: bool,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:  # a body after a HEAD answer would be read as the next response
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
