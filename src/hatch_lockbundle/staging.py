"""Temporaries beside outputs in ``dist/``: locked while their build lives, swept once it died.

A bundle is written as ``.<name>.<random>.tmp`` beside its final place and renamed into place; a
swap parks the previous one in ``.<name>.<random>.old``. A build killed outright (SIGKILL, a crash,
a power cut) cannot remove those, so the next build of the same output does. Each temporary is
held under an exclusive ``flock`` for as long as its build uses it, and the kernel drops the lock
when the process dies: what can be locked is a dead build's, what cannot is a live one's (a build
running at the same time in another process), and is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SUFFIXES = (".tmp", ".old")
#: begins the random part of every temporary's name: a file of the user's named like one
#: (`.app-1.0-target.previous.old`) is never taken for a dead build's and removed
MARK = "lb-"
#: os.open flag that refuses a symbolic link at the last component (none on Windows)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _read_umask() -> int:
    # reading the umask means setting it: done once, at import, before threads create files
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: the process's umask, which decides the modes of what is written into ``dist/``
UMASK = _read_umask()
DIRECTORY_MODE = 0o777 & ~UMASK
FILE_MODE = 0o666 & ~UMASK


@contextmanager
def sibling(final: Path, suffix: str, *, directory: bool = True) -> Iterator[Path]:
    """A new ``.<final name>.lb-<random><suffix>`` beside ``final``, a directory or an empty file,
    held for as long as the block runs, so that :func:`sweep` leaves it alone.

    On success the block moves or removes it; if the block raises (Ctrl-C included), whatever is
    left of it is removed here.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}.{MARK}"
    path: Path | None = None
    held: int | None = None
    try:
        # created and locked in one step as far as a sweep can tell, or a sweep in between would
        # take the new, not yet locked temporary for a dead build's; and with Ctrl-C held back
        # until its name is known here, or an interrupt in between would leave it behind
        with _guard(final.parent), interrupts_deferred():
            if directory:
                path = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=final.parent))
            else:
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=final.parent)
                path = Path(name)
                try:
                    _set_mode(fd, path, FILE_MODE)
                finally:
                    os.close(fd)
            held = _hold(path, wait=True, follow=False)
            if directory:
                # through the held descriptor: what is changed is the directory made above
                _set_mode(held, path, DIRECTORY_MODE)
        yield path
    except BaseException:
        if path is not None:
            remove(path)
        raise
    finally:
        if held is not None:
            os.close(held)


#: the signals a build turns into an exception (Ctrl-C, and a CI runner's SIGTERM)
_INTERRUPTS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)]


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold interrupts back for the block: they arrive, as they would have, once it is done.

    Python runs signal handlers in the main thread only, so only there can one interrupt the
    block; blocking the signal instead (``pthread_sigmask``) would not do, as the kernel then
    hands it to another thread, and Python still raises it here.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[int, Any] = {}
    for number in _INTERRUPTS:
        previous[number] = signal.signal(number, lambda number, _: caught.append(number))
    try:
        yield
    finally:
        for number, handler in previous.items():
            # None: a handler not set from Python, which cannot be put back; the default then
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def sweep(final: Path) -> list[str]:
    """Remove the temporaries that dead builds of ``final`` left beside it; return their names.

    Does nothing where there are no ``flock`` locks (Windows): there, leftovers stay until
    ``hatch clean``, as a live build's temporaries cannot be told from a dead one's.
    """
    if not LOCKING or not final.parent.is_dir():
        return []
    prefix = f".{final.name}.{MARK}"
    claimed: list[tuple[Path, int]] = []
    with _guard(final.parent):
        for name in sorted(os.listdir(final.parent)):
            if _is_temporary(name, prefix):
                held = _hold(final.parent / name, wait=False)
                if held is not None:
                    claimed.append((final.parent / name, held))
    # removed outside the guard (it may take a while); the locks keep other sweeps off them
    for path, held in claimed:
        try:
            remove(path)
        finally:
            os.close(held)
    return [path.name for path, _ in claimed]


def _set_mode(fd: int | None, path: Path, mode: int) -> None:
    if fd is not None and os.chmod in os.supports_fd:
        os.chmod(fd, mode)
    else:  # Windows: only the read-only flag exists
        os.chmod(path, mode)


def remove(path: Path) -> None:
    """Remove a file or a directory tree, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_tree(path: Path, *, ignore_errors: bool = False) -> None:
    """``shutil.rmtree``, also where read-only files cannot be deleted (Windows): bundle files
    and cached installations are read-only."""
    if sys.platform != "win32":
        # never chmod here: a bundle's files are links to the cache's, which must stay read-only
        shutil.rmtree(path, ignore_errors=ignore_errors)
        return

    def writable_and_again(function: Callable[[str], object], name: str, _: object) -> None:
        try:
            os.chmod(name, stat.S_IWRITE)
            function(name)
        except OSError:
            if not ignore_errors:
                raise

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=writable_and_again)
    else:
        shutil.rmtree(path, onerror=writable_and_again)


def _is_temporary(name: str, prefix: str) -> bool:
    """``name`` is ``<prefix><random><suffix>``: the random part of ``tempfile`` has no dot, so
    the temporaries of ``x.zip`` are not taken for those of ``x``."""
    if not name.startswith(prefix):
        return False
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            token = name[len(prefix) : -len(suffix)]
            return bool(token) and "." not in token
    return False


@contextmanager
def _guard(directory: Path) -> Iterator[None]:
    """Exclusive use of ``directory``'s temporaries between creating and locking, or sweeping."""
    held = _hold(directory, wait=True)
    try:
        yield
    finally:
        if held is not None:
            os.close(held)


if sys.platform == "win32":  # pragma: no cover
    LOCKING = False

    def _hold(path: Path, *, wait: bool, follow: bool = True) -> int | None:
        return None

else:
    import fcntl

    LOCKING = True

    def _hold(path: Path, *, wait: bool, follow: bool = True) -> int | None:
        """A descriptor of ``path`` holding an exclusive lock on it, or None when ``path`` is gone
        or (without ``wait``) another holds the lock, or (without ``follow``) it is a link.

        ``flock`` locks belong to one open file description, not to the process, so another
        descriptor of the same file closing (an archive's writer) does not drop this one.
        """
        try:
            held = os.open(path, os.O_RDONLY | (0 if follow else _NOFOLLOW))
        except OSError:
            return None
        try:
            fcntl.flock(held, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(held)
            return None
        return held
