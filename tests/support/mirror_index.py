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
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name

from .index import IndexServer, project_name, requires_python

JSON = "application/vnd.pypi.simple.v1+json"


class MirrorIndex(IndexServer):
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
        super().__init__(directory)
        self.credentials = credentials
        self.html_only = html_only
        self.hidden = hidden
        #: (path, format served, User-Agent) of every project page served, in order
        self.pages: list[tuple[str, str, str]] = []

    @property
    def simple_url(self) -> str:
        return f"{self.url}/repository/pypi/simple/"

    def pages_served(self, fmt: str, agent: str) -> list[str]:
        """The project pages served in ``fmt`` (``json`` or ``html``) to clients whose
        User-Agent starts with ``agent``."""
        with self._lock:
            return [
                path for path, served, by in self.pages if served == fmt and by.startswith(agent)
            ]

    def _files(self, name: str) -> list[Path]:
        return [
            path
            for path in sorted(self.directory.iterdir())
            if path.is_file() and project_name(path.name) == name and path.name not in self.hidden
        ]

    def _mirror_page(self, name: str, fmt: str) -> bytes:
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

    def _mirror_file(self, parts: list[str]) -> Path | None:
        """The file at ``/blobs/<sha256>/<name>`` or ``/flat/<name>``, if the mirror has it."""
        if parts[:1] == ["flat"] and len(parts) == 2:
            digest = None
        elif parts[:1] == ["blobs"] and len(parts) == 3:
            digest = parts[1]
        else:
            return None
        path = self.directory / parts[-1]
        if project_name(path.name) is None or path.name in self.hidden or not path.is_file():
            return None
        if digest is not None and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return None
        return path

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        mirror = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def _respond(self, *, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with mirror._lock:
                    mirror.requests.append(path)
                if not self._admitted(send_body):
                    return
                parts = [part for part in path.split("/") if part]
                if parts[:3] == ["repository", "pypi", "simple"] and len(parts) == 4:
                    name = canonicalize_name(parts[3])
                    wants_json = JSON in (self.headers.get("Accept") or "")
                    served = "json" if wants_json and not mirror.html_only else "html"
                    if not mirror._files(name):
                        self._not_found(send_body)
                        return
                    with mirror._lock:
                        mirror.pages.append((path, served, self.headers.get("User-Agent") or ""))
                    kind = JSON if served == "json" else "text/html"
                    self._send(mirror._mirror_page(name, served), kind, send_body)
                elif (file := mirror._mirror_file(parts)) is not None:
                    self._send(file.read_bytes(), "application/octet-stream", send_body)
                else:
                    self._not_found(send_body)

            def _admitted(self, send_body: bool) -> bool:
                if mirror.credentials is None:
                    return True
                token = base64.b64encode(":".join(mirror.credentials).encode()).decode()
                if self.headers.get("Authorization") == f"Basic {token}":
                    return True
                body = b"credentials required\n"
                self.send_response(HTTPStatus.UNAUTHORIZED)
                self.send_header("WWW-Authenticate", 'Basic realm="mirror"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:  # a body after a HEAD answer would be read as the next response
                    self.wfile.write(body)
                return False

        return Handler
