"""The on-disk cache shared by builds: verified files by hash, built wheels, build environments."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .staging import remove, remove_tree, sibling

if TYPE_CHECKING:
    from .lock import Hash

CACHE_ENV = "LOCKBUNDLE_CACHE_DIR"
#: os.open flag that refuses a symbolic link at the last component (none on Windows)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def default_cache_dir() -> Path:
    """``LOCKBUNDLE_CACHE_DIR``, else the user cache directory of this platform."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    from platformdirs import user_cache_path

    return user_cache_path("hatch-lockbundle", appauthor=False)


class Cache:
    """Entries appear whole or not at all: each is written to a temporary sibling and renamed.

    Entries are never modified after they are published, so concurrent builds can share a cache.
    """

    def __init__(self, root: Path) -> None:
        # absolute: build backends run in other directories and must still find the cache
        self.root = root.resolve()

    def file_path(self, digest: Hash, filename: str) -> Path:
        """Where a file verified to have ``digest`` lives (content-addressed)."""
        value = digest.value
        return self.root / "files" / digest.algorithm / value[:2] / value[2:] / filename

    def directory(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @contextmanager
    def locked(self, entry: Path) -> Iterator[None]:
        """Hold an exclusive inter-process lock on ``entry`` (a sibling ``.lock`` file)."""
        entry.parent.mkdir(parents=True, exist_ok=True)
        with open(entry.with_name(entry.name + ".lock"), "a+b") as handle:
            _lock_file(handle.fileno())
            try:
                yield
            finally:
                _unlock_file(handle.fileno())

    @contextmanager
    def staging(self, final: Path) -> Iterator[Path]:
        """A scratch directory beside ``final``, removed on exit; :func:`publish` moves results."""
        with sibling(final, ".tmp") as stage:
            try:
                yield stage
            finally:
                remove_tree(stage, ignore_errors=True)


def replace_file(path: Path, data: bytes) -> None:
    """Make ``path`` hold ``data``, atomically: written beside it and renamed over it, so that a
    reader never sees a partial file and an interrupted write leaves none.

    The temporary is a new file with a random name (a link planted beside ``path`` is never
    written through) and the umask's mode; a link at ``path`` itself is replaced, not followed.
    """
    with sibling(path, ".tmp", directory=False) as temporary:
        try:
            fd = os.open(temporary, os.O_WRONLY | _NOFOLLOW)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        finally:
            remove(temporary)


def publish(staged: Path, final: Path) -> Path:
    """Move ``staged`` to ``final`` atomically; if another build got there first, keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, final)
    except OSError:
        if not final.exists():
            raise
    return final


if sys.platform == "win32":  # pragma: no cover
    import msvcrt

    def _lock_file(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

    def _unlock_file(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
