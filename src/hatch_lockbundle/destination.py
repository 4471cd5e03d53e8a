"""Where a wheel's files go in a target bundle, and how its scripts and RECORD are written there."""

from __future__ import annotations

import hashlib
import io
import os
import py_compile
import stat
import sys
from collections.abc import Iterable
from importlib.util import cache_from_source
from pathlib import Path
from typing import BinaryIO

from installer.destinations import SchemeDictionaryDestination
from installer.records import Hash, RecordEntry
from installer.utils import Scheme
from packaging.utils import canonicalize_name

from .errors import LockbundleError
from .wheelsource import CheckedMember, record_digest
from .zipmembers import CHUNK

SCRIPTS_DIR = "bin"
RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

# A console-script launcher that works wherever the bundle is moved: it puts the bundle root
# (the parent of bin/, symlinks resolved) first on sys.path in place of bin/ itself.
LAUNCHER = """\
#!/usr/bin/env python3
import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
from {module} import {import_name}

if __name__ == "__main__":
    sys.argv[0] = os.path.basename(sys.argv[0])
    sys.exit({call}())
"""

# For ``#!python`` scripts shipped in a wheel: a line that is a no-op for sh and the start of a
# string for Python, so sh re-executes the file with python3 and the bundle on PYTHONPATH.
SCRIPT_PRELUDE = b"""\
#!/bin/sh
'''':
here=$(dirname "$(readlink -f "$0" 2>/dev/null || printf '%s' "$0")")
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$0" "$@"
'''
"""


#: os.open flags of a file created to be written (binary on Windows)
_NEW_FILE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


class FileConflictError(LockbundleError):
    """Two distributions write the same file."""


class TargetDestination(SchemeDictionaryDestination):
    """installer's destination, with relocatable scripts, ownership checks and hash-based pycs."""

    def __init__(
        self,
        root: Path,
        owners: dict[str, str],
        compile_bytecode: bool,
        read_only: bool = False,
        *,
        name: str = "",
        distribution: str = "",
        python: str = RUNNING_PYTHON,
    ) -> None:
        """:param owners: the distribution (label) of each file written before, by path
            relative to ``root``; the files written here are added
        :param read_only: make each file read-only once written, noting in :attr:`written`
            its mode as installed, its status then and its sha256 (for a cache entry's manifest)
        :param name: the distribution's name: its headers go to ``include/<name>/``, as uv puts
            them (normalized, as uv writes it)
        :param distribution: the distribution's label, named when another writes the same file
        :param python: ``major.minor`` of the target interpreter, for the ``pip3.<minor>``
            script uv adds
        """
        super().__init__(
            scheme_dict={
                "purelib": str(root),
                "platlib": str(root),
                "scripts": str(root / SCRIPTS_DIR),
                "data": str(root),
                "headers": str(root / "include" / canonicalize_name(name)),
            },
            interpreter="python3",
            script_kind="posix",
        )
        self.root = root
        self.owners = owners
        self.compile_bytecode = compile_bytecode
        self.python = python
        self.distribution = distribution
        self.scheme_roots = {
            name: os.path.abspath(directory) for name, directory in self.scheme_dict.items()
        }
        self.prefix = os.path.abspath(root) + os.sep
        self.made: set[str] = set()
        #: the mode the umask gives a new file, read from the first one created (reading the
        #: umask itself means setting it, which races with threads that create files)
        self.new_file_mode: int | None = None
        self.read_only = read_only
        self.written: dict[str, tuple[int, os.stat_result, str]] = {}

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        # installer's own write_to_fs, without its pathlib and a second hash of every file,
        # which a bundle of tens of thousands of files pays for each
        target, relative = self._locate(scheme, path)
        if relative in self.owners:
            if isinstance(stream, CheckedMember):
                return self._shared(path, target, relative, stream.chunks())
            return self._shared(path, target, relative, iter(lambda: stream.read(CHUNK), b""))
        if isinstance(stream, CheckedMember):
            # the wheel's own RECORD entry: the stream is checked against it once read
            # through (RecordCheckedWheel.check), and nothing is used if that fails
            return self._create(
                path, target, relative, stream.chunks(), is_executable, stream.record
            )
        pieces = iter(lambda: stream.read(CHUNK), b"")
        return self._create(path, target, relative, pieces, is_executable, None)

    def write_member(self, record: RecordEntry, data: bytes, is_executable: bool) -> RecordEntry:
        """Write a file of the wheel's root, ``data``, which its caller checks against its
        RECORD entry ``record`` (and discards the installation if that fails)."""
        target, relative = self._locate(Scheme("purelib"), record.path)
        if relative in self.owners:
            return self._shared(record.path, target, relative, (data,))
        return self._create(record.path, target, relative, (data,), is_executable, record)

    def _locate(self, scheme: Scheme, path: str) -> tuple[str, str]:
        """Where ``path`` of ``scheme`` goes, absolute and relative to the root (with ``/``)."""
        base = self.scheme_roots[scheme]
        target = os.path.abspath(os.path.join(base, path))
        if not target.startswith(base + os.sep):
            raise ValueError(f"Attempting to write {path} outside of the target directory")
        return target, target[len(self.prefix) :].replace(os.sep, "/")

    def _shared(
        self, path: str, target: str, relative: str, pieces: Iterable[bytes]
    ) -> RecordEntry:
        """A file written before: identical files are fine (pkgutil-style namespace
        ``__init__.py`` files, as pip and uv allow); different ones would make the bundle depend
        on installation order. ``pieces`` are the new file's contents, compared with the existing
        file a piece at a time (of at most :data:`CHUNK`), so neither is held whole."""
        digest = hashlib.sha256()
        size = 0
        same = True
        with open(target, "rb") as existing:
            for piece in pieces:
                for start in range(0, len(piece), CHUNK):
                    part = piece[start : start + CHUNK]
                    if existing.read(len(part)) != part:
                        same = False
                        break
                    digest.update(part)
                    size += len(part)
                if not same:
                    break
            same = same and not existing.read(1)
        if not same:
            raise FileConflictError(
                f"{self.owners[relative]} and {self.distribution} both install `{relative}` "
                "with different contents; a flat bundle can hold only one of them. Remove one "
                "of the two from the dependencies"
            )
        return RecordEntry(path, Hash("sha256", record_digest(digest.digest())), size)

    def _create(
        self,
        path: str,
        target: str,
        relative: str,
        pieces: Iterable[bytes],
        is_executable: bool,
        record: RecordEntry | None,
    ) -> RecordEntry:
        """Write a new file: ``pieces`` are its contents, ``record`` what RECORD says of them
        (None: hashed here)."""
        self.owners[relative] = self.distribution
        parent = os.path.dirname(target)
        if parent not in self.made:
            os.makedirs(parent, exist_ok=True)
            self.made.add(parent)
        out = os.open(target, _NEW_FILE, 0o666)
        try:
            if self.new_file_mode is None:
                self.new_file_mode = stat.S_IMODE(os.fstat(out).st_mode)
            mode = self.new_file_mode | 0o111 if is_executable else self.new_file_mode
            # the manifest keeps each file's sha256: hashed here unless RECORD gives it
            known = (
                record is not None and record.hash_ is not None and record.hash_.name == "sha256"
            )
            digest = None if known else hashlib.sha256()
            size = 0
            for piece in pieces:
                _write_all(out, piece)
                if digest is not None:
                    digest.update(piece)
                    size += len(piece)
            sha256 = None
            if digest is not None:
                sha256 = record_digest(digest.digest())
            if record is None:
                assert sha256 is not None
                entry = RecordEntry(path, Hash("sha256", sha256), size)
            else:
                entry = (
                    record if record.path == path else RecordEntry(path, record.hash_, record.size)
                )
            if self.read_only:
                assert entry.hash_ is not None
                _set_mode(out, target, without_write_bits(mode))
                # read back: a file system may ignore modes, and checks must expect what it has
                self.written[relative] = (mode, os.fstat(out), sha256 or entry.hash_.value)
            elif is_executable:
                _set_mode(out, target, mode)
        finally:
            os.close(out)
        return entry

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        if scheme == "scripts":
            head = stream.read(2 + len(b"pythonw"))
            stream.seek(0)
            if head.startswith((b"#!python", b"#!pythonw")):
                stream.readline()
                body = SCRIPT_PRELUDE + stream.read()
                return self.write_to_fs(scheme, os.fspath(path), io.BytesIO(body), True)
            return self.write_to_fs(scheme, os.fspath(path), stream, is_executable)
        return super().write_file(scheme, path, stream, is_executable)

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        import_name = attr.split(".")[0]
        text = LAUNCHER.format(module=module, import_name=import_name, call=attr)
        entry = self.write_to_fs(
            Scheme("scripts"), name, io.BytesIO(text.encode("utf-8")), is_executable=True
        )
        return entry

    def finalize_installation(
        self,
        scheme: Scheme,
        record_file_path: str,
        records: Iterable[tuple[Scheme, RecordEntry]],
    ) -> None:
        records = list(records)
        if self.compile_bytecode:
            records += self._compile(records)
        # data files land in the bundle root itself: list them as root files ("share/x", not
        # "./share/x", which installer would write for a scheme directory equal to the root's)
        records = [(scheme if kind == "data" else kind, record) for kind, record in records]
        super().finalize_installation(scheme, record_file_path, records)

    def _compile(
        self, records: list[tuple[Scheme, RecordEntry]]
    ) -> list[tuple[Scheme, RecordEntry]]:
        """Hash-based pycs (they stay valid whatever the mtimes), naming files by relative path."""
        compiled = []
        shipped = {record.path: index for index, (_, record) in enumerate(records)}
        superseded = []
        for scheme, record in records:
            if scheme not in ("purelib", "platlib") or not record.path.endswith(".py"):
                continue
            source = self.root / record.path
            pyc = Path(cache_from_source(str(source)))
            relative = pyc.relative_to(self.root).as_posix()
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(pyc),
                    dfile=record.path,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue  # as pip does: a file that is not valid Python here is left uncompiled
            if relative in shipped:
                # the wheel shipped bytecode for this file: ours (hash-based, valid whatever
                # the mtimes) replaced it, and RECORD and the manifest must say so once
                superseded.append(shipped[relative])
                self.written.pop(relative, None)
            compiled.append((scheme, RecordEntry(relative, None, None)))
        for index in sorted(superseded, reverse=True):
            del records[index]
        return compiled


Script = tuple[str, str, str, str]


def scripts_as_uv_writes_them(scripts: Iterable[Script], python: str) -> list[Script]:
    """The entry-point scripts ``(name, module, attr, section)`` uv writes for ``scripts`` on
    a ``python`` (``major.minor``) target.

    uv's special case for pip (which pip applies to itself when it installs its own wheel):
    console scripts named ``pip3.<minor>`` are dropped, older pips shipping one for the
    Python they were built on; and when there is a ``pip3`` script, a ``pip3.<minor>`` for
    the target's minor version is added, doing what ``pip3`` does. Whatever distribution
    declares them, as uv does.
    """
    minor = python.split(".")[1]
    kept = [
        script for script in scripts if not (script[3] == "console" and _versioned_pip(script[0]))
    ]
    for name, module, attr, section in list(kept):
        if section == "console" and name == "pip3":
            kept.append((f"pip3.{minor}", module, attr, section))
    return kept


def _versioned_pip(name: str) -> bool:
    """``pip3.<n>``, ``n`` a number uv reads as a minor version (0 to 255)."""
    left, dot, right = name.partition(".")
    return bool(dot) and left == "pip3" and right.isascii() and right.isdigit() and int(right) < 256


def _set_mode(fd: int, path: str, mode: int) -> None:
    if sys.platform == "win32":  # no fchmod before Python 3.13
        os.chmod(path, mode)
    else:
        os.fchmod(fd, mode)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def without_write_bits(mode: int) -> int:
    """``mode`` without its write bits."""
    return mode & ~0o222
