"""The links of a PEP 503 simple page, read from its HTML."""

from __future__ import annotations

from html.parser import HTMLParser


def anchors(text: str) -> list[tuple[str, str]]:
    """Each ``<a href>`` of ``text``: its text (the file's name) and its ``href``."""
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    return parser.links


class _Anchors(HTMLParser):
    """The ``<a href>`` of a PEP 503 page, each with its text (the file's name)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text), self._href))
            self._href = None
