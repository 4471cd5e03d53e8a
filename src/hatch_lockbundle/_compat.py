"""TOML reading: ``tomllib`` from 3.11, ``tomli`` before, and one account of an unreadable text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TOMLError", "loads_toml", "read_toml", "tomllib"]


class TOMLError(ValueError):
    """Why a TOML text cannot be read, in words for a message that names the file: ``not UTF-8
    text``, ``not valid TOML (<where and what>)``, ``not valid TOML (nested too deeply)``."""


def loads_toml(text: str | bytes) -> dict[str, Any]:
    """The document of a TOML text (bytes are UTF-8).

    Every reader of a file that may come from someone else (a lock or a pyproject.toml from a
    pull request, an sdist's from an index) reads it through here: tomllib recurses on nesting, and
    a few thousand brackets would otherwise end the build in a ``RecursionError`` traceback.

    :raises TOMLError: saying why it is not a TOML document
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError:
        raise TOMLError("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise TOMLError(f"not valid TOML ({error})") from None
    except RecursionError:
        raise TOMLError("not valid TOML (nested too deeply)") from None


def read_toml(path: Path) -> dict[str, Any]:
    """The document of the TOML file at ``path``, its newlines read as a text file's.

    :raises TOMLError: saying why it is not a TOML document
    :raises OSError: it cannot be read
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TOMLError("not UTF-8 text") from None
    return loads_toml(text)
