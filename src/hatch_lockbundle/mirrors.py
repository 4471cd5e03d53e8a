"""Mirrors: files a lock recorded from one index (or URL prefix) fetched from another server.

A lock made on a laptop against the public registry records its file URLs; a CI machine behind
a firewall reaches only a mirror, whose URLs are laid out its own way. A mirror of an index is
asked, as an installer would, for the package's simple page (PEP 691 JSON or PEP 503 HTML), the
file is looked up there by its name, and downloaded from wherever the page points. The lock's
hash is checked as for every download, so the bytes are the locked ones whoever serves them.

Mappings come from ``[tool.lockbundle] mirrors``, ``LOCKBUNDLE_MIRRORS`` and ``--mirror``; an
entry whose two sides end with ``*`` maps a URL prefix (direct-URL files), others an index.
Mirror URLs and their credentials stay out of outputs: only downloads see them.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import canonicalize_name

from .credentials import index_credentials, redact, redact_urls
from .errors import LockbundleError
from .http import Downloader, DownloadError

#: ``FROM=TO`` entries separated by whitespace or newlines: the way to set mirrors for
#: ``hatch build`` in CI, which passes no options to a builder
MIRRORS_VARIABLE = "LOCKBUNDLE_MIRRORS"
#: the end of both sides of a URL-prefix mapping
PREFIX = "*"
#: PEP 691's JSON first, PEP 503's HTML from servers that have only that
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
#: the most a simple page may bring (the largest pages on PyPI are a few megabytes)
PAGE_LIMIT = 64 << 20


def normalized_index(url: str) -> str:
    """An index URL as mappings compare it: no userinfo, scheme and host in lower case, no
    trailing ``/`` (uv records an index URL as it was given, with or without one)."""
    parts = urlsplit(redact(url).strip())
    host = parts.netloc.lower()
    return parts._replace(scheme=parts.scheme.lower(), netloc=host).geturl().rstrip("/")


def parse_entry(text: str) -> tuple[str, str]:
    """``FROM=TO`` as the command line and :data:`MIRRORS_VARIABLE` write an entry.

    :raises ValueError: saying what is wrong with it
    """
    source, separator, mirror = text.partition("=")
    if not separator or not source.strip() or not mirror.strip():
        raise ValueError(
            f"mirror entry {redact_urls(text)!r} is not `FROM=TO` (an index URL of the lock, `=`, "
            "the mirror's simple index URL)"
        )
    return source.strip(), mirror.strip()


def entry_problem(source: str, mirror: str) -> str | None:
    """What is wrong with one mapping, or None."""
    shown = redact_urls(mirror)
    _, url = _named(mirror)
    if source.endswith(PREFIX) != url.endswith(PREFIX):
        return (
            f"`{redact_urls(source)}` = `{shown}` maps a URL prefix on one side only: end both "
            'sides with `*` to remap direct-URL files ("https://host/path/*" = '
            '"https://mirror/path/*"), or neither to mirror an index'
        )
    for side in (source, url):
        if side.count("://") > 1:
            return (
                f"`{redact_urls(side)}` holds two URLs: give one mapping per entry, entries "
                "separated by spaces or newlines (not commas)"
            )
    for side in (source.removesuffix(PREFIX), url.removesuffix(PREFIX)):
        if not side.isprintable() or any(character.isspace() for character in side):
            # it would reach the build's log as it is, and urlsplit drops some of them
            return f"{redact_urls(side)!r} holds white space or control characters"
        parts = urlsplit(side)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"`{redact_urls(side)}` is not an http or https URL"
        if parts.query or parts.fragment or side.endswith(("?", "#")):
            # a project's page is the URL and the project's name: a query would end up before it
            return (
                f"`{redact_urls(side.split('?')[0].split('#')[0])}` has a query or fragment: give "
                "the index URL without them (credentials go in `user:password@` or uv's "
                "`UV_INDEX_<NAME>_USERNAME` and `_PASSWORD`)"
            )
    return None


def _named(mirror: str) -> tuple[str | None, str]:
    """The name and URL of a mapping's mirror side, which may be named as uv's ``UV_INDEX``
    entries are (``NAME=URL``: ``UV_INDEX_<NAME>_USERNAME`` / ``_PASSWORD`` then give its
    credentials)."""
    name, separator, url = mirror.partition("=")
    return (name, url) if separator and "://" not in name else (None, mirror)


@dataclass(frozen=True)
class Mirror:
    """One mapping: files recorded under ``source`` come from ``url``."""

    #: the lock's index URL (:func:`normalized_index`), or a URL prefix without its ``*``
    source: str
    #: the mirror's simple index URL, or the prefix replacing ``source``, without userinfo
    url: str
    #: a URL prefix mapping, for direct-URL files
    prefix: bool
    #: the name whose ``UV_INDEX_<NAME>_*`` variables hold the mirror's credentials
    name: str | None = None
    #: the URL as given (with any ``user:password@``), for its credentials
    given: str = field(default="", repr=False)


class MissingFromMirrorError(LockbundleError):
    """The mirror does not serve a file the lock records."""


class UnreadablePageError(ValueError):
    """A mirror's answer is neither a PEP 691 JSON page nor a PEP 503 HTML one."""


class Mirrors:
    """The mappings in effect, and the lookup of a locked file on its mirror."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        """:param pairs: ``(FROM, TO)`` entries, already validated (:func:`entry_problem`)"""
        self.indexes: dict[str, Mirror] = {}
        self.prefixes: list[Mirror] = []
        for source, mirror in pairs:
            name, given = _named(mirror)
            bare = redact(given)
            if source.endswith(PREFIX):
                self.prefixes.append(
                    Mirror(
                        source.removesuffix(PREFIX), bare.removesuffix(PREFIX), True, name, given
                    )
                )
            else:
                entry = Mirror(normalized_index(source), bare, False, name, given)
                self.indexes[entry.source] = entry
        # the longest prefix that fits wins
        self.prefixes.sort(key=lambda mirror: len(mirror.source), reverse=True)
        self._pages: dict[str, dict[str, str]] = {}
        self._pages_lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.indexes or self.prefixes)

    def credentials(self, environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
        """The mirrors' credentials by realm, found as for any index (userinfo of the URL, uv's
        ``UV_INDEX_<NAME>_*`` variables for a named mirror)."""
        named = [(mirror.name, mirror.given) for mirror in self.indexes.values()]
        named += [(mirror.name, mirror.given) for mirror in self.prefixes]
        return index_credentials(named, environ) if named else {}

    def urls(self) -> list[str]:
        """Every mirror's URL (an index's, or a prefix), without credentials."""
        return [mirror.url for mirror in (*self.indexes.values(), *self.prefixes)]

    def index_url(self, url: str) -> str:
        """The URL to install from instead of the lock's index ``url`` (itself if unmapped)."""
        mirror = self.indexes.get(normalized_index(url))
        return url if mirror is None else mirror.url

    def unused(self, files: Iterable[tuple[str, str | None]]) -> list[str]:
        """The mappings (their ``FROM``, without credentials) that serve none of ``files``, each
        a ``(url, index)`` as :meth:`mirrored` takes it: most often a ``FROM`` copied wrong."""
        used = {id(found) for url, index in files if (found := self.mirrored(url, index))}
        return [
            redact(mirror.source) + (PREFIX if mirror.prefix else "")
            for mirror in (*self.indexes.values(), *self.prefixes)
            if id(mirror) not in used
        ]

    def mirrored(self, url: str, index: str | None) -> Mirror | None:
        """The mapping that serves the file at ``url`` of a package locked from ``index``."""
        if index is not None and (found := self.indexes.get(normalized_index(index))):
            return found
        return next((mirror for mirror in self.prefixes if url.startswith(mirror.source)), None)

    def locate(
        self, downloader: Downloader, mirror: Mirror, url: str, package: str, label: str
    ) -> str:
        """Where ``mirror`` serves the file the lock records at ``url``.

        :param package: the package's name, for its page on an index mirror
        :param label: the package as messages name it
        :raises MissingFromMirrorError: the mirror has no page for the package, or its page
            no such file
        """
        if mirror.prefix:
            return mirror.url + url[len(mirror.source) :]
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        page = f"{mirror.url.rstrip('/')}/{canonicalize_name(package)}/"
        missing = f"{label}: the mirror {mirror.url} does not serve {filename}"
        remedy = (
            f"The lock records the file from {mirror.source}: make the mirror serve it (sync or "
            f"proxy that index), or remove the mapping ({MIRRORS_VARIABLE}, --mirror, "
            "`tool.lockbundle.mirrors`)"
        )
        try:
            files = self._page(downloader, page)
        except DownloadError as error:
            refused = (
                " An index answers 404 for a project it does not have; an anonymous 403 or 404 "
                "from a private mirror often means missing or wrong credentials (see "
                "docs/private-networks.md)."
                if error.status in (401, 403, 404)
                else ""
            )
            raise MissingFromMirrorError(f"{missing}: {error}.{refused} {remedy}") from None
        except UnreadablePageError as error:
            raise MissingFromMirrorError(
                f"{missing}: its page {page} could not be read as a simple index page (PEP 691 "
                f"JSON or PEP 503 HTML): {error}. {remedy}"
            ) from None
        found = files.get(filename)
        if found is None:
            raise MissingFromMirrorError(
                f"{missing}: its page {page} lists {len(files)} other file(s). {remedy}"
            )
        return found

    def _page(self, downloader: Downloader, page: str) -> dict[str, str]:
        """The files of a simple page by filename, each with its absolute URL (read once)."""
        with self._pages_lock:
            known = self._pages.get(page)
        if known is not None:
            return known
        body = io.BytesIO()
        downloader.fetch(page, body, accept=ACCEPT, most=PAGE_LIMIT)
        files = _files_of(body.getvalue(), page)
        with self._pages_lock:
            self._pages[page] = files
        return files


def _files_of(body: bytes, page: str) -> dict[str, str]:
    """The files a simple page lists, by filename, with URLs resolved against the page.

    What the answer is follows its content, not its declared type, which
    :class:`~.http.Downloader` does not report: a PEP 691 page is a JSON object.

    :raises UnreadablePageError: the answer is neither such a page nor HTML
    """
    text = body.decode("utf-8", errors="replace")
    links: list[tuple[str, str]] = []
    if text.lstrip().startswith(("{", "[")):
        try:
            document: Any = json.loads(text)
        except ValueError:
            raise UnreadablePageError("it is not valid JSON") from None
        except RecursionError:  # nested deeper than the parser's stack: no index writes that
            raise UnreadablePageError("its JSON is nested too deeply") from None
        files = document.get("files") if isinstance(document, dict) else None
        if not isinstance(files, list):
            raise UnreadablePageError("its JSON has no `files` list")
        for entry in files:
            if isinstance(entry, dict):
                name, href = entry.get("filename"), entry.get("url")
                if isinstance(name, str) and isinstance(href, str):
                    links.append((name, href))
    elif "<" not in text:
        raise UnreadablePageError("it is neither JSON nor HTML")
    else:
        # html.parser is imported for an HTML page only: it is a visible part of the imports of
        # a no-op build, which has no mirror (see `_layout_type` in bundle.py)
        from .html_page import anchors

        links = anchors(text)
    found: dict[str, str] = {}
    for name, href in links:
        url = urljoin(page, href).partition("#")[0]
        # a page may point anywhere, but only to a server: a file: URL would read this machine
        if urlsplit(url).scheme in ("http", "https"):
            found.setdefault(name.strip() or unquote(urlsplit(url).path.rsplit("/", 1)[-1]), url)
    return found
