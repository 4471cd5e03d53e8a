"""Temporaries beside outputs in ``dist/``: locked while their build lives, swept once it died.

A bundle is written as ``.<name>.<random>.tmp`` beside its final place and renamed into place; a
swap parks the previous one in ``.<name>.<random>.old``. A build killed outright (SIGKILL, a crash,
a power cut) cannot remove those, so the next build of the same output does. Each temporary is
held under an exclusive ``flock`` for as long as its build uses it, and the kernel drops the lock
when the process dies: what can be locked is a dead build's, what cannot is a live one's (a build
running at the same time in another process), and is left alone.

:func:`hold` is the one lock primitive of the package: the cache locks an entry with it too (a
``.lock`` file beside the entry, see :func:`~.cache.locked`). Here it holds the temporary itself,
and the folder while a temporary is made or swept: a ``.lock`` file per temporary would be one more
name in the user's ``dist/`` to sweep, and a lock that can outlive what it guards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import sys
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
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: tries at a new random name before giving up (another process would have to take them all)
_NAME_ATTEMPTS = 100


@contextmanager
def sibling(final: Path, suffix: str, *, directory: bool = True) -> Iterator[Path]:
    """A new ``.<final name>.lb-<random><suffix>`` beside ``final``, a directory or an empty file,
    held for as long as the block runs, so that :func:`sweep` leaves it alone.

    The name is new (made exclusively: nothing planted at it is followed or reused), and the mode
    is the one the umask gives, as for any file the user's tools make. On success the block moves
    or removes it; if the block raises (Ctrl-C included), whatever is left of it is removed here.
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
            path = _create(final.parent, prefix, suffix, directory=directory)
            if LOCKING:
                held = hold(path, wait=True, follow=False)
        yield path
    except BaseException:
        if path is not None:
            remove(path)
        raise
    finally:
        if held is not None:
            os.close(held)


def _create(parent: Path, prefix: str, suffix: str, *, directory: bool) -> Path:
    """Make a new directory or empty file ``<prefix><random><suffix>`` in ``parent``.

    Created with the widest mode, which the kernel narrows by the umask as it creates it: the
    umask is never read (reading it means setting it, for every thread of the process).
    """
    for _ in range(_NAME_ATTEMPTS):
        # hex: no dot in the random part (see _is_temporary)
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            if directory:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no new temporary name beside {parent / prefix} after many tries")


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
                held = hold(final.parent / name, wait=False)
                if held is not None:
                    claimed.append((final.parent / name, held))
    # removed outside the guard (it may take a while); the locks keep other sweeps off them
    for path, held in claimed:
        try:
            remove(path)
        finally:
            os.close(held)
    return [path.name for path, _ in claimed]


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
    """``name`` is ``<prefix><random><suffix>``: the random part (hex) has no dot, so
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
    held = hold(directory, wait=True) if LOCKING else None
    try:
        yield
    finally:
        if held is not None:
            os.close(held)


if sys.platform == "win32":  # pragma: no cover
    import msvcrt

    #: whether temporaries are held (and so can be swept): not with msvcrt's locks, which are
    #: mandatory (a held file could not be written through another descriptor) and lock no folder
    LOCKING = False

    def hold(path: Path, *, wait: bool, follow: bool = True) -> int | None:
        """A descriptor of the file ``path`` holding a lock on its first byte, or None when
        ``path`` is gone or (without ``wait``) another holds the lock."""
        try:
            held = os.open(path, os.O_RDWR)
        except OSError:
            return None
        while True:
            try:
                msvcrt.locking(held, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
                return held
            except OSError:
                if not wait:
                    os.close(held)
                    return None
                # LK_LOCK gives up after ten tries a second apart; a holder may take longer

else:
    import fcntl

    LOCKING = True

    def hold(path: Path, *, wait: bool, follow: bool = True) -> int | None:
        """A descriptor of ``path`` (a file or a folder) holding an exclusive lock on it, or None
        when ``path`` is gone or (without ``wait``) another holds the lock, or (without
        ``follow``) it is a link. Closing the descriptor (or the process ending) releases it.

        ``flock`` locks belong to one open file description, not to the process, so another
        descriptor of the same file closing (an archive's writer) does not drop this one.
        """
        try:
            held = os.open(path, os.O_RDONLY | (0 if follow else NOFOLLOW))
        except OSError:
            return None
        try:
            fcntl.flock(held, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(held)
            return None
        return held
