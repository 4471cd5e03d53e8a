"""A PEP 503 simple index over one directory of distribution files, served on 127.0.0.1.

Run as a script (``python index.py FILES MANIFEST``) it prints its port on the first line of
stdout and serves until killed; the harness runs it in a process of its own so that serving
half a gigabyte does not compete with the harness for its GIL.
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)


def project_of(filename: str) -> str:
    """The normalized project name a wheel or sdist file belongs to."""
    try:
        return str(parse_wheel_filename(filename)[0])
    except InvalidWheelFilename:
        pass
    try:
        return str(parse_sdist_filename(filename)[0])
    except InvalidSdistFilename:
        raise ValueError(f"{filename} is neither a wheel nor an sdist") from None


class IndexServer(ThreadingHTTPServer):
    """``/simple/`` pages and ``/files/<filename>`` for every file the manifest lists."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, files: Path, hashes: dict[str, str], access_log: BinaryIO | None) -> None:
        super().__init__(("127.0.0.1", 0), IndexHandler)
        self.files = files
        self.hashes = hashes
        self.access_log = access_log
        self.projects: dict[str, list[str]] = defaultdict(list)
        for filename in sorted(hashes):
            self.projects[project_of(filename)].append(filename)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hanging up a kept-alive connection: normal, not worth a traceback
        super().handle_error(request, client_address)


class IndexHandler(BaseHTTPRequestHandler):
    # keep-alive, as PyPI's CDN does; without TCP_NODELAY every small response of a
    # kept-alive connection would wait ~40 ms for a delayed ACK
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: IndexServer

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path in ("/simple", "/simple/"):
            self._page(self._root_page(), send_body)
        elif path.startswith("/simple/"):
            name = canonicalize_name(path.removeprefix("/simple/").strip("/"))
            if name in self.server.projects:
                self._page(self._project_page(name), send_body)
            else:
                self.send_error(HTTPStatus.NOT_FOUND)
        elif path.startswith("/files/") and path.count("/") == 2:
            self._file(path.removeprefix("/files/"), send_body)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _root_page(self) -> str:
        links = (f'<a href="/simple/{name}/">{name}</a>' for name in sorted(self.server.projects))
        return _document("Simple index", links)

    def _project_page(self, name: str) -> str:
        links = (
            f'<a href="/files/{quote(filename)}#sha256={self.server.hashes[filename]}">'
            f"{html.escape(filename)}</a>"
            for filename in self.server.projects[name]
        )
        return _document(f"Links for {name}", links)

    def _page(self, text: str, send_body: bool) -> None:
        body = text.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _file(self, filename: str, send_body: bool) -> None:
        if filename not in self.server.hashes:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        path = self.server.files / filename
        with path.open("rb") as source:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            if send_body:
                self.connection.sendfile(source)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.access_log is not None:
            line = f"{time.time():.3f} {self.client_address[1]} {format % args}\n"
            self.server.access_log.write(line.encode())
            self.server.access_log.flush()


def _document(title: str, links: Iterable[str]) -> str:
    body = "<br>\n".join(links)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
    )


@contextmanager
def serve(files: Path, manifest: Path, access_log: Path | None = None) -> Iterator[str]:
    """Run the index in a child process for the duration; yield its base URL."""
    command = [sys.executable, __file__, str(files), str(manifest)]
    if access_log is not None:
        command += ["--access-log", str(access_log)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"the index server did not start (exit code {server.poll()})")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, help="directory holding the distribution files")
    parser.add_argument("manifest", type=Path, help="JSON file: {filename: {sha256, size}}")
    parser.add_argument("--access-log", type=Path, help="append one line per request here")
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    hashes = {filename: entry["sha256"] for filename, entry in manifest.items()}
    access_log = args.access_log.open("ab") if args.access_log else None
    server = IndexServer(args.files, hashes, access_log)
    print(server.port, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
