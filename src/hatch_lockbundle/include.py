"""The project's own files in a target bundle: the ``include`` entries, copied as they are.

A project that uv locks as virtual (no ``[build-system]``) has no wheel: its handler or app
modules reach a bundle only this way. Each entry lands at the top of the bundle under its own
name, and the files copied are listed in :data:`INCLUDED_RECORD` (RECORD's format) so that
``lockbundle verify`` checks them like the distributions' files.

Symbolic links are followed when they lead to a file or directory inside the project (the
bundle gets a copy: it must not depend on the build machine), and refused otherwise, as are
dangling links and links that loop. ``__pycache__`` directories are left out: they hold
bytecode of the build machine's Python, not sources.
"""

from __future__ import annotations

import base64
import csv
import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from .errors import ConfigurationError, LockbundleError

#: the list of included files, at the top of the bundle
INCLUDED_RECORD = "lockbundle-included.RECORD"
SKIPPED_DIRECTORIES = ("__pycache__",)
CHUNK = 1024 * 1024


class IncludeError(LockbundleError):
    """An ``include`` entry cannot be copied into the bundle as it is."""


def check_included(project_root: Path, entries: Sequence[str], field: str) -> None:
    """Each entry must exist inside the project and land on a name of its own.

    :param entries: ``include``, its entries already relative paths without ``..``
    :param field: where ``include`` was set, e.g. ``tool.lockbundle.include``
    :raises ConfigurationError: naming every entry that does not
    """
    root = project_root.resolve()
    errors = []
    landed: dict[str, tuple[int, str]] = {}
    for index, entry in enumerate(entries, 1):
        path = root / entry
        if not path.exists():  # a dangling link does not exist either
            errors.append(f"Entry #{index} of field `{field}`, `{entry}`, does not exist in {root}")
            continue
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            errors.append(
                f"Entry #{index} of field `{field}`, `{entry}`, leads outside the project (to "
                f"{resolved}): include only files and directories inside {root}"
            )
            continue
        name = PurePosixPath(entry).name
        if name in landed:
            first, other = landed[name]
            errors.append(
                f"Entries #{first} and #{index} of field `{field}` (`{other}` and `{entry}`) "
                f"would both be copied to `{name}` at the top of the bundle: include their "
                "common directory instead"
            )
            continue
        landed[name] = (index, entry)
    if errors:
        raise ConfigurationError(errors, str(root / "pyproject.toml"))


def copy_included(project_root: Path, entries: Sequence[str], bundle: Path) -> list[str]:
    """Copy each of ``entries`` (paths relative to ``project_root``, validated by the
    configuration) to the top of ``bundle`` under its own name, then write
    :data:`INCLUDED_RECORD`.

    :returns: the relative paths (``/``-separated) of the files written, sorted, the record's
        aside
    :raises IncludeError: for a name a distribution already uses, or an unsafe link
    """
    owners = _Owners(bundle)
    rows = []
    for entry in entries:
        name = PurePosixPath(entry).name
        if name == INCLUDED_RECORD:
            raise IncludeError(
                f"`include` entry `{entry}` has the name of the list of included files, "
                f"{INCLUDED_RECORD}: rename it"
            )
        if os.path.lexists(bundle / name):
            raise IncludeError(
                f"`include` entry `{entry}` would be copied to `{name}`, which "
                f"{owners.of(name)} already installs at the top of the bundle: rename one of "
                "them, or leave it out of `include`"
            )
        source = (project_root / entry).resolve()
        if source.is_dir() and bundle.resolve().is_relative_to(source):
            raise IncludeError(
                f"`include` entry `{entry}` holds the bundle being written ({bundle}): include "
                "the files the bundle needs, not the output directory"
            )
        for relative, source, is_directory in _walk(project_root.resolve(), entry):
            target = bundle / relative
            if is_directory:
                target.mkdir()
                continue
            rows.append(_copy(source, target, relative))
    rows.sort()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    writer.writerow([INCLUDED_RECORD, "", ""])
    with open(bundle / INCLUDED_RECORD, "x", encoding="utf-8", newline="") as record:
        record.write(out.getvalue())
    return [row[0] for row in rows]


def included_state(project_root: Path, entries: Sequence[str]) -> str:
    """A fingerprint of what ``entries`` copy (each file's path, size, mtime and mode), so
    that a changed file rebuilds the bundle and an unchanged one does not."""
    digest = hashlib.sha256()
    root = project_root.resolve()
    for entry in entries:
        for relative, source, is_directory in _walk(root, entry):
            if is_directory:
                digest.update(f"{relative}/\n".encode())
                continue
            status = source.stat()
            digest.update(
                f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\0"
                f"{status.st_mode & 0o111}\n".encode()
            )
    return digest.hexdigest()


def _walk(root: Path, entry: str) -> Iterator[tuple[str, Path, bool]]:
    """(path in the bundle, real path of the source, is a directory) for ``entry`` and all it
    holds, parents before children, in a stable order; links resolved and checked."""
    name = PurePosixPath(entry).name
    source = _checked(root, root / entry, entry)
    if not source.is_dir():
        yield name, source, False
        return
    yield name, source, True
    yield from _walk_directory(root, source, entry, name, (source,))


def _walk_directory(
    root: Path, directory: Path, shown: str, relative: str, chain: tuple[Path, ...]
) -> Iterator[tuple[str, Path, bool]]:
    """:param chain: the real directories being walked, outermost first: a link back to one
    of them is a loop"""
    with os.scandir(directory) as listing:
        children = sorted(listing, key=lambda item: item.name)
    for child in children:
        child_shown = f"{shown}/{child.name}"
        child_relative = f"{relative}/{child.name}"
        source = _checked(root, Path(child.path), child_shown)
        if source.is_dir():
            if child.name in SKIPPED_DIRECTORIES:
                continue
            if source in chain:
                raise IncludeError(
                    f"`include`: `{child_shown}` is a symbolic link to {source}, a directory "
                    "that holds it (a loop): remove the link, or include what it leads to"
                )
            yield child_relative, source, True
            yield from _walk_directory(root, source, child_shown, child_relative, (*chain, source))
        else:
            yield child_relative, source, False


def _checked(root: Path, path: Path, shown: str) -> Path:
    """The real path of ``path`` once checked: inside the project, a file or a directory."""
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        if not path.is_symlink():
            raise IncludeError(f"`include`: `{shown}` does not exist") from None
        raise IncludeError(
            f"`include`: `{shown}` is a symbolic link to {os.readlink(path)}, which does not "
            "exist: fix or remove the link"
        ) from None
    except RuntimeError:  # a loop of links, before Python 3.13
        raise IncludeError(f"`include`: `{shown}` is a loop of symbolic links") from None
    except OSError as error:
        if error.errno == errno.ELOOP:  # a loop of links, from Python 3.13
            raise IncludeError(f"`include`: `{shown}` is a loop of symbolic links") from None
        raise
    if resolved == root or not resolved.is_relative_to(root):
        raise IncludeError(
            f"`include`: `{shown}` leads outside the project, to {resolved}; a bundle must not "
            "depend on files of the build machine: copy the file into the project, or leave "
            "it out"
        )
    mode = resolved.stat().st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise IncludeError(
            f"`include`: `{shown}` is neither a file nor a directory (a socket, pipe or "
            "device): leave it out"
        )
    return resolved


def _copy(source: Path, target: Path, relative: str) -> list[str]:
    """Copy one file (a new file: mode from the umask, executable if the source is); return
    its RECORD row."""
    mode = 0o777 if source.stat().st_mode & 0o111 else 0o666
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, open(os.open(target, _NEW_FILE, mode), "wb") as writer:
        while piece := reader.read(CHUNK):
            digest.update(piece)
            size += len(piece)
            writer.write(piece)
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    return [relative, f"sha256={encoded}", str(size)]


#: a new file, never one already there (a name used twice is a conflict, found before)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class _Owners:
    """Which distribution installed a top-level name of the bundle, read from the RECORDs
    only when a conflict needs it."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle

    def of(self, name: str) -> str:
        for record in sorted(self.bundle.glob("*.dist-info/RECORD")):
            rows = csv.reader(io.StringIO(record.read_text(encoding="utf-8")))
            if any(row and row[0].split("/")[0] == name for row in rows):
                return record.parent.name.removesuffix(".dist-info").replace("-", " ", 1)
        return "a distribution"
