"""A private package index: every page and file wants HTTP basic auth, as a company's mirror does.

:class:`PrivateIndex` is a :class:`~support.faulty_index.FaultyIndex` (so downloads can still be
scripted to misbehave) that answers any request without the right ``Authorization`` header with
``401 Unauthorized`` and a ``WWW-Authenticate`` challenge, which is what makes pip and uv look up
their credentials.
"""

from __future__ import annotations

import base64
import binascii
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote

from .faulty_index import FaultyIndex

USER = "deploy-bot"
# Distinctive, and with the characters that URLs, netrc files and shells treat specially, so
# that every place the secret goes through must quote it right to get it across.
PASSWORD = "Lb:s3cr3t@pr1vate/idx%42"


def secret_needles(user: str = USER, password: str = PASSWORD) -> list[str]:
    """Every form in which a password can leak: as is, percent-encoded (in a URL), and inside
    the ``Authorization`` header's base64."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, quote(password, safe=""), token]


class PrivateIndex(FaultyIndex):
    """An index on 127.0.0.1 that serves only requests authenticated as ``user``/``password``."""

    def __init__(self, directory: Path, user: str = USER, password: str = PASSWORD) -> None:
        super().__init__(directory)
        self.user = user
        self.password = password
        #: paths answered with 401, in order (a client without credentials, or wrong ones)
        self.refused: list[str] = []

    def authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.user}:{self.password}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        index = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def do_GET(self) -> None:
                if self._admitted(send_body=True):
                    super().do_GET()

            def do_HEAD(self) -> None:
                if self._admitted(send_body=False):
                    super().do_HEAD()

            def _admitted(self, *, send_body: bool) -> bool:
                if index.authorized(self.headers.get("Authorization")):
                    return True
                with index._lock:
                    index.refused.append(self.path)
                body = b"credentials required\n"
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:  # a body after a HEAD answer would be read as the next response
                    self.wfile.write(body)
                return False

        return Handler
