"""Where the uv binary is, when there is one: build environments and staleness checks use it."""

from __future__ import annotations

import shutil


def find_uv() -> str | None:
    """The uv binary, if there is one: it makes build environments much faster than pip."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")
