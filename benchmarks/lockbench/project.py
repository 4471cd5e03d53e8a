"""The fixture project as the measured runs see it: its lock pointing at the local index."""

from __future__ import annotations

import re
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import tomllib  # the fixture is locked for Python 3.11: the harness runs on 3.11

PYPI_SIMPLE = "https://pypi.org/simple"
_FILE_URL = re.compile(r'url = "(https://files\.pythonhosted\.org/[^"]+)"')


def rewrite_lock(text: str, index: str) -> str:
    """``uv.lock`` text with the registry and every file URL on ``index``; hashes unchanged.

    Text substitution keeps the lock byte-for-byte what uv wrote everywhere else.
    """

    def local(match: re.Match[str]) -> str:
        filename = unquote(PurePosixPath(urlsplit(match.group(1)).path).name)
        return f'url = "{index}/files/{filename}"'

    rewritten = _FILE_URL.sub(local, text).replace(
        f'registry = "{PYPI_SIMPLE}"', f'registry = "{index}/simple"'
    )
    leftover = re.findall(r'"https?://(?!127\.0\.0\.1)[^"]*"', rewritten)
    if leftover:
        raise ValueError(f"uv.lock still names remote URLs after the rewrite: {leftover[:3]}")
    tomllib.loads(rewritten)  # still a valid lock document
    return rewritten


def add_default_index(pyproject: str, index: str) -> str:
    """``pyproject.toml`` text with the local index as uv's default index."""
    table = f'[[tool.uv.index]]\nurl = "{index}/simple"\ndefault = true\n'
    return pyproject.rstrip("\n") + "\n\n" + table


def make_template(fixture_project: Path, destination: Path, index: str) -> Path:
    """Write the rewritten copy that every measured run starts from.

    Written once per harness run and copied with its timestamps, so that a tool keying its
    cache on the project's files and path (uv does) sees the same project in every round.
    """
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(fixture_project, destination)
    lock = destination / "uv.lock"
    lock.write_text(rewrite_lock(lock.read_text(), index))
    pyproject = destination / "pyproject.toml"
    pyproject.write_text(add_default_index(pyproject.read_text(), index))
    return destination


def fresh_copy(template: Path, destination: Path) -> None:
    """Replace ``destination`` by a copy of ``template`` (timestamps kept)."""
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(template, destination)
