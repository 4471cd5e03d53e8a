"""The target layout: every wheel installed flat into one directory, as ``pip install --target``.

Unlike ``pip``/``uv pip install --target``, nothing in the result names the build machine: no
``direct_url.json``, no ``.pth`` files, and console scripts find the bundle relative to themselves.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import filecmp
import hashlib
import heapq
import io
import multiprocessing
import os
import py_compile
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from importlib.util import cache_from_source
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, TypeVar, cast

from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError, InvalidWheelSource
from installer.records import Hash, RecordEntry
from installer.utils import SCHEME_NAMES, Scheme, parse_entrypoints, parse_metadata_file
from packaging.utils import canonicalize_name

from ..cache import Cache, publish, replace_file
from ..errors import LockbundleError
from ..inspect import (
    CHUNK,
    CheckedMember,
    MemberReader,
    RecordCheckedWheel,
    inspect_wheel,
    member_pieces,
    open_wheel,
    read_member,
    read_whole,
    record_digest,
)
from ..staging import remove_tree

if TYPE_CHECKING:  # not imported at run time: install workers import this module
    from ..fetch import FetchedWheel
    from ..progress import Reporter

INSTALLER_NAME = b"hatch-lockbundle\n"
RECORD_SUFFIX = ".dist-info/RECORD"
#: threads that create directories and link or copy files (mostly waiting on the kernel)
FILE_THREADS = 8
#: changes whenever this module lays out a wheel differently, so older cached installs are not used
INSTALL_FORMAT = "v5"
SCRIPTS_DIR = "bin"
RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
T = TypeVar("T")
# read once, at import: reading it means setting it, which would race with threads creating files
UMASK = os.umask(0)
os.umask(UMASK)

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
        python: str = RUNNING_PYTHON,
    ) -> None:
        """:param read_only: make each file read-only once written, noting in :attr:`written`
        its mode as installed, its status then and its sha256 (for a cache entry's manifest)
        :param name: the distribution's name: its headers go to ``include/<name>/``, as uv puts
            them (normalized, as uv writes it)
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
        self.distribution = ""
        self.scheme_roots = {
            name: os.path.abspath(directory) for name, directory in self.scheme_dict.items()
        }
        self.prefix = os.path.abspath(root) + os.sep
        self.made: set[str] = set()
        self.read_only = read_only
        self.written: dict[str, tuple[int, os.stat_result, str]] = {}

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        # installer's own write_to_fs, without its pathlib and a second hash of every file:
        # tens of microseconds a file, and a bundle has tens of thousands
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
        mode = (0o777 & ~UMASK) | 0o111 if is_executable else 0o666 & ~UMASK
        out = os.open(target, _NEW_FILE, 0o666)
        try:
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
                _set_mode(out, target, _read_only(mode))
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


def write_target(
    wheels: Sequence[FetchedWheel],
    destination: Path,
    *,
    compile_bytecode: bool,
    cache: Cache | None = None,
    link_mode: str = "hardlink",
    log: Callable[[str], None] | Reporter = lambda message: None,
    installs: CachedInstalls | None = None,
    python: str = RUNNING_PYTHON,
) -> WrittenTarget:
    """Install ``wheels`` into the empty directory ``destination``.

    :param wheels: verified wheels, one per distribution
    :param destination: the (staging) bundle directory
    :param compile_bytecode: also write hash-based ``.pyc`` files, listed in each RECORD
    :param cache: keep each wheel installed on its own in the cache, and fill the bundle from
        there: a warm build then only links or copies files
    :param link_mode: ``hardlink`` (files shared with the cache, which keeps them read-only and
        checks them before every use) or ``copy``
    :param log: where progress goes, and notes when the cache cannot be used as asked
    :param installs: the installs into ``cache`` started while the wheels were fetched
    :param python: ``major.minor`` of the target interpreter (the versioned ``pip3.<minor>``
        script names it)
    :return: the link mode used (``copy`` when the cache and ``destination`` cannot share
        files), and what the bundle's files are if that is known without looking at them
    """
    from ..progress import Reporter  # here: install workers, which import this module, need not

    reporter = Reporter.of(log)
    destination.mkdir(parents=True, exist_ok=True)
    destination = destination.resolve()
    owners: dict[str, str] = {}
    ordered = sorted(wheels, key=lambda w: w.planned.name)
    if cache is None:
        for wheel in ordered:
            _install(
                wheel.path, _identity(wheel), destination, owners, compile_bytecode, python=python
            )
        return WrittenTarget("copy", None, None)
    with ExitStack() as stack:
        if installs is None:
            installs = stack.enter_context(CachedInstalls(cache, compile_bytecode, python))
        directory_threads = stack.enter_context(ThreadPoolExecutor(max_workers=FILE_THREADS))
        file_threads = stack.enter_context(ThreadPoolExecutor(max_workers=FILE_THREADS))
        files = _BundleFiles(destination, link_mode, reporter, directory_threads, file_threads)
        stack.callback(files.stop)  # on an error or Ctrl-C, the threads stop at their next file
        cached = []
        labels: dict[Path, str] = {}
        for wheel in ordered:
            entry = _tree_entry(wheel, cache, compile_bytecode, installs.python)
            labels[entry] = wheel.planned.package.label
            listing = _listing(entry, reporter)
            if listing is None:
                installs.prepare(wheel)
            else:
                cached.append((entry, listing, labels[entry]))
        files.add(cached)
        # each wheel installed into the cache goes into the bundle at once, while the others
        # are still installing
        added = {entry for entry, _, _ in cached}
        for entry, listing in installs.completed(reporter):
            if entry in added or entry not in labels:
                continue
            files.add([(entry, listing, labels[entry])])
            added.add(entry)
        link_mode = files.finish()
        if not files.linked_exactly:
            return WrittenTarget(link_mode, None, None)
        return WrittenTarget(link_mode, files.distributions, files.linked)


class WrittenTarget(NamedTuple):
    """What :func:`write_target` did."""

    link_mode: str
    #: (distribution, bytes installed) for each wheel, when ``files`` is known
    distributions: list[tuple[str, int]] | None
    #: each file of the bundle (by relative path, with ``/``) with the size, modification time
    #: and ``st_mode`` lstat gives, when they are known without looking: every file is a
    #: hardlink of a cached file whose status was taken when it was made or checked
    files: dict[str, tuple[int, int, int]] | None


class CachedInstalls:
    """Installs wheels into the cache, each alone, in worker processes (installing is CPU-bound:
    inflate, hash, write), starting as soon as each wheel is fetched, while others are built;
    :func:`write_target` takes each as it is done. The largest wheel waiting goes first, so
    that no large one is left to finish alone at the end. A context manager: leaving it on an
    error cancels what has not started.
    """

    def __init__(self, cache: Cache, compile_bytecode: bool, python: str = RUNNING_PYTHON) -> None:
        """:param python: ``major.minor`` of the target interpreter"""
        self.cache = cache
        self.compile_bytecode = compile_bytecode
        self.python = python
        self._pool: ProcessPoolExecutor | None = None
        self._workers = _usable_cpus()
        self._lock = threading.RLock()  # the pool's thread starts the next job as one ends
        self._waiting: list[tuple[int, int, _Job]] = []  # a heap: largest wheel first
        #: started, until completed() takes them
        self._running: dict[Future[list[CachedFile]], Path] = {}
        self._in_flight = 0  # started and not ended
        self._serial: list[_Job] = []
        self._known: set[Path] = set()
        self._started: float | None = None
        #: set before the pool shuts down: the pool's thread, ending jobs, then starts none
        #: and takes no lock (a Ctrl-C in this thread between taking the lock and the block
        #: that releases it would leave it held, and shutdown would wait on that thread)
        self._closing = False

    def __enter__(self) -> CachedInstalls:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        # on an error or Ctrl-C, what has not started is dropped, and what has is waited for
        # (a worker stops its install on Ctrl-C, cleaning up): no worker outlives the build
        self.close(cancel=kind is not None)

    def close(self, *, cancel: bool, wait: bool = True) -> None:
        """Stop the workers once the installs are done, or (``cancel``) once the ones running
        are, dropping the others; ``wait=False`` returns at once."""
        self._closing = True
        with self._lock:
            pool, self._pool = self._pool, None
            if cancel:
                self._waiting.clear()
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel)

    def prepare(self, wheel: FetchedWheel) -> None:
        """Start installing ``wheel`` into the cache, unless it is there or on its way."""
        entry = _tree_entry(wheel, self.cache, self.compile_bytecode, self.python)
        if entry in self._known or (entry / "files").is_file():
            return
        self._known.add(entry)
        job = _Job(
            str(wheel.path),
            _identity(wheel),
            str(entry),
            str(self.cache.root),
            self.compile_bytecode,
            self.python,
        )
        if self._started is None:
            self._started = time.monotonic()
        if self._workers == 1 or (not self._serial and self._pool is None):
            # installed when waited for, in this process: starting workers (a new interpreter
            # each) is worth it from the second wheel on
            self._serial.append(job)
            return
        with self._lock:
            if self._pool is None:
                # spawned, not forked: a worker inherits no lock or file of this process (the
                # staging of dist/ is flock-held), and exits when this process dies, even by
                # SIGKILL
                self._pool = ProcessPoolExecutor(
                    max_workers=min(self._workers, 61),  # Windows' limit
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_ignore_interrupts,
                )
            for held in [*self._serial, job]:
                size = os.path.getsize(held.wheel)
                heapq.heappush(self._waiting, (-size, len(self._known), held))
            self._serial.clear()
            self._start_next()

    def _start_next(self, ended: Future[list[CachedFile]] | None = None) -> None:
        """Keep every worker busy, and one job more queued for the next to free up."""
        if self._closing:
            return
        with self._lock:
            if ended is not None:
                self._in_flight -= 1
            while self._pool is not None and self._waiting:
                if self._in_flight > self._workers:
                    return
                job = heapq.heappop(self._waiting)[2]
                try:
                    future = self._pool.submit(_make_tree_in_worker, job)
                except (BrokenProcessPool, RuntimeError):
                    # a worker died (each running job reports it) or the pool is shut down
                    self._waiting.clear()
                    return
                self._running[future] = Path(job.entry)
                self._in_flight += 1
                future.add_done_callback(self._start_next)

    def completed(self, reporter: Reporter) -> Iterator[tuple[Path, list[CachedFile]]]:
        """Finish every install started, showing how many are done; yields each one's cache
        entry and files as it is done."""
        with self._lock:
            count = len(self._running) + len(self._waiting) + len(self._serial)
        if not count:
            return
        with reporter.counting(
            "Installing wheels into the cache",
            f"Installed {count} {'wheel' if count == 1 else 'wheels'} into the cache",
            count,
            started=self._started,
        ) as installed:
            while True:
                with self._lock:
                    running = list(self._running)
                    if not running and self._waiting:
                        self._start_next()
                        running = list(self._running)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    with self._lock:
                        entry = self._running.pop(future)
                    try:
                        listing = future.result()
                    except BrokenProcessPool:
                        raise LockbundleError(
                            "a process installing wheels into the cache stopped unexpectedly "
                            "(out of memory, or killed?); build again"
                        ) from None
                    installed.advance()
                    yield entry, listing
            while self._serial:
                job = self._serial.pop(0)
                listing = _make_tree(job)
                installed.advance()
                yield Path(job.entry), listing


def _usable_cpus() -> int:
    if sys.platform == "linux":  # the CPUs this process may use (containers restrict them)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the workers too (the terminal signals the whole process group): outside
    # a job it would kill a worker inside the pool's queue machinery, which can hang the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _make_tree_in_worker(job: _Job) -> list[CachedFile]:
    """:func:`_make_tree` in a worker process: Ctrl-C stops the job, whose staging is removed."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _make_tree(job)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _install(
    path: Path,
    package: tuple[str, str, str | None],
    root: Path,
    owners: dict[str, str],
    compile_bytecode: bool,
    read_only: bool = False,
    python: str = RUNNING_PYTHON,
) -> dict[str, tuple[int, os.stat_result, str]]:
    """Install one wheel into ``root``: its entries and metadata are checked first, and each
    file against RECORD as it is unpacked (the only look inside the wheel).

    :param package: the locked distribution's label, name and version
    :param read_only: make the files read-only
    :param python: ``major.minor`` of the target interpreter
    :return: what :attr:`TargetDestination.written` says of the files (with ``read_only``)
    """
    label, name, version = package
    target = TargetDestination(root, owners, compile_bytecode, read_only, name=name, python=python)
    target.distribution = label
    with open_wheel(path, label) as archive:
        inspect_wheel(path, label, name, version, contents=False, archive=archive)
        try:
            source = RecordCheckedWheel(archive, label)
            _unpack(source, target)
        except InstallerError as error:
            # installer raises InvalidWheelSource(source, message): the message alone is ours
            reason = error.args[-1] if error.args else error
            raise LockbundleError(f"{label}: cannot install {path.name}: {reason}") from None
        except (configparser.Error, AssertionError) as error:  # installer's entry point parser
            reason = " ".join(str(error).split()) or "an entry is not `name = module:attribute`"
            raise LockbundleError(
                f"{label}: {path.name} has a malformed entry_points.txt ({reason}); the wheel "
                f"is broken: lock another version of {name}, or report it to its maintainers"
            ) from None
        except (ValueError, KeyError, zipfile.BadZipFile) as error:  # KeyError: no WHEEL
            raise LockbundleError(f"{label}: {path.name} is not a valid wheel: {error}") from None
    # what was written must not be used unless this passes (callers write to staging places)
    source.check()
    return target.written


def _unpack(source: RecordCheckedWheel, destination: TargetDestination) -> None:
    """Install ``source`` as installer's ``install()`` does (the same files, scripts and
    RECORD, through the same destination), except where uv, the reference for what a bundle
    holds, installs otherwise:

    - files under ``__pycache__`` are installed (``install()`` skips them with a warning; some
      real wheels ship them, numpy's for one);
    - console scripts named ``pip3.<minor>`` are replaced by one for the target's minor
      version when a ``pip3`` script exists (uv's special case for pip's own wheel);
    - headers go to ``include/<name>/`` (the destination's scheme).

    Not ``install()`` itself for the rest either: its per-file steps (a record parsed, a
    scheme found, a stream and a destination call for each file) cost more than reading,
    inflating and writing a typical file, and a bundle has tens of thousands. Here most
    members are read and inflated in one go, checked against RECORD and written.
    """
    # the WHEEL checks of installer's install() (its _process_WHEEL_file, which is private)
    wheel = parse_metadata_file(source.read_dist_info("WHEEL"))
    version = wheel["Wheel-Version"]
    if not (version and version.startswith("1.")):
        raise InvalidWheelSource(
            source, f"Incompatible Wheel-Version {version}, only support version 1.x wheels."
        )
    root = Scheme("purelib" if wheel["Root-Is-Purelib"] == "true" else "platlib")
    records: list[tuple[Scheme, RecordEntry]] = []
    if "entry_points.txt" in source.dist_info_filenames:
        text = source.read_dist_info("entry_points.txt")
        for name, module, attr, section in scripts_as_uv_writes_them(
            parse_entrypoints(text), destination.python
        ):
            records.append(
                (Scheme("scripts"), destination.write_script(name, module, attr, section))
            )
    data_dir = source.data_dir + "/"
    with source.opened() as fd:
        for item, record, executable in source.members():
            scheme, path = root, item.filename
            in_root = not path.startswith(data_dir)
            if not in_root:
                scheme, path = _data_scheme(source, path[len(data_dir) :])
            if record is None:  # RECORD's signatures: nothing to check them against
                signature = MemberReader(member_pieces(fd, item, None, source.refuse))
                entry = destination.write_file(scheme, path, cast(BinaryIO, signature), executable)
                records.append((scheme, entry))
                continue
            assert record.hash_ is not None and record.size is not None
            if not in_root or not read_whole(item):  # large, or compressed otherwise
                member = CheckedMember(fd, item, record, source.refuse)
                stream = cast(BinaryIO, member)
                if in_root:
                    entry = destination.write_to_fs(root, path, stream, executable)
                else:  # scripts get their launcher here
                    entry = destination.write_file(scheme, path, stream, executable)
                records.append((scheme, entry))
                if not member.matches():
                    source.mismatches.append(item.filename)
                continue
            data = read_member(fd, item, record.size, source.refuse)
            if len(data) != record.size or _digest(record.hash_.name, data) != record.hash_.value:
                source.mismatches.append(item.filename)
            records.append((root, destination.write_member(record, data, executable)))
    installer_file = f"{source.dist_info_dir}/INSTALLER"
    records.append(
        (root, destination.write_file(root, installer_file, io.BytesIO(INSTALLER_NAME), False))
    )
    record_file = f"{source.dist_info_dir}/RECORD"
    records.append((root, RecordEntry(record_file, None, None)))
    destination.finalize_installation(root, record_file, records)


def _data_scheme(source: RecordCheckedWheel, path: str) -> tuple[Scheme, str]:
    """The scheme and the path in it of ``<name>.data/<path>`` (installer's rule)."""
    scheme, _, inner = path.partition("/")
    if scheme not in SCHEME_NAMES or not inner:
        raise InvalidWheelSource(
            source, f"{source.data_dir}/{path} is not contained in a valid .data subdirectory."
        )
    return Scheme(scheme), inner


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


def _digest(algorithm: str, data: bytes) -> str:
    """``data``'s hash as RECORD writes it (urlsafe base64, unpadded)."""
    raw = hashlib.sha256(data) if algorithm == "sha256" else hashlib.new(algorithm, data)
    return record_digest(raw.digest())


def _set_mode(fd: int, path: str, mode: int) -> None:
    if sys.platform == "win32":  # no fchmod before Python 3.13
        os.chmod(path, mode)
    else:
        os.fchmod(fd, mode)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _tree_entry(
    wheel: FetchedWheel, cache: Cache, compile_bytecode: bool, python: str = RUNNING_PYTHON
) -> Path:
    """Where the wheel, installed alone, is cached (by its hash, the install flavour and the
    target's Python version, which a ``pip3.<minor>`` script names)."""
    from ..http import hash_file  # here: install workers need it only with bytecode

    digest = wheel.sha256 or hash_file(wheel.path, "sha256")
    flavour = f"pyc-{sys.implementation.cache_tag}" if compile_bytecode else f"py{python}"
    return cache.directory("installed", digest[:2], f"{digest[2:]}-{INSTALL_FORMAT}-{flavour}")


def _identity(wheel: FetchedWheel) -> tuple[str, str, str | None]:
    package = wheel.planned.package
    return package.label, package.name, package.version


class _Job(NamedTuple):
    """One wheel to install into the cache, in plain values (it goes to a worker process)."""

    wheel: str
    package: tuple[str, str, str | None]
    entry: str
    cache_root: str
    compile_bytecode: bool
    python: str


def _make_tree(job: _Job) -> list[CachedFile]:
    """Install a wheel alone into its cache entry (relocatable: nothing in it names its place),
    with a manifest of its files; runs in worker processes.

    The files are made read-only and the manifest records each one's mode, size and mtime, so
    that a bundle sharing them (hardlinks) cannot be edited in place by accident, and an edit
    that still happens (root ignores modes) is noticed before the files are used again.

    :return: the entry's files, as :func:`_listing` would read them
    """
    final = Path(job.entry)
    with Cache(Path(job.cache_root)).staging(final) as stage:
        result = stage / "result"
        tree = result / "tree"
        written = _install(
            Path(job.wheel), job.package, tree, {}, job.compile_bytecode, True, job.python
        )
        if job.compile_bytecode:  # bytecode is written by py_compile, not through installer
            base = len(str(tree)) + 1
            for directory, _, names in os.walk(tree):
                for name in names:
                    path = os.path.join(directory, name)
                    relative = path[base:].replace(os.sep, "/")
                    if relative not in written:
                        mode = stat.S_IMODE(os.lstat(path).st_mode)
                        os.chmod(path, _read_only(mode))
                        written[relative] = (mode, os.lstat(path), _file_digest(path))
        lines = []
        listing = []
        for relative, (mode, status, digest) in sorted(written.items()):
            lines.append(
                f"{mode:o} {stat.S_IMODE(status.st_mode):o} {status.st_size} "
                f"{status.st_mtime_ns} {digest} {relative}"
            )
            listing.append(
                CachedFile(relative, mode, status.st_size, status.st_mtime_ns, status.st_mode)
            )
        (result / "files").write_text("\n".join(lines) + "\n", encoding="utf-8")
        publish(result, final)
    return listing


def _file_digest(path: str) -> str:
    """The file's sha256 as RECORD writes it (urlsafe base64, unpadded)."""
    from ..http import hash_file

    return record_digest(bytes.fromhex(hash_file(Path(path), "sha256")))


class CachedFile(NamedTuple):
    """One file of a cached installation, as its manifest records it (a tuple: a bundle has tens
    of thousands)."""

    relative: str
    #: the mode it was installed with (copies get it; the cached file is read-only)
    mode: int
    #: the cached file's size, modification time and ``st_mode`` (a hardlink shares them)
    size: int
    mtime_ns: int
    st_mode: int


def _listing(entry: Path, log: Reporter) -> list[CachedFile] | None:
    """The files of the cached installation ``entry``; None if there is none, or if any of its
    files changed since it was made (it is then thrown away, to be installed again).

    A file whose modification time alone changed (a cache restored by a CI system from an
    archive that keeps whole seconds) is hashed: if its content is as made, the manifest takes
    the new time, and the entry is used.
    """
    manifest = entry / "files"
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    # paths by concatenation, not os.path.join: this runs for every file of every warm build
    tree = os.path.join(entry, "tree", "")
    files = []
    retimed: dict[str, int] = {}
    for line in text.splitlines():
        try:
            octal, cached_octal, size, mtime_ns, digest, relative = line.split(" ", 5)
            mode, cached_mode = int(octal, 8), int(cached_octal, 8)
            recorded = (int(size), int(mtime_ns))
        except ValueError:
            _damaged(entry, "an unreadable manifest", log)
            return None
        # the cache is input: a row must name a file inside the entry, as a wheel member must
        # name one inside the wheel (the bundle's link is made at the same relative path)
        if relative.startswith("/") or "/../" in f"/{relative}/" or "\0" in relative:
            _damaged(entry, f"a path outside it, `{relative}`", log)
            return None
        path = tree + relative
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            _damaged(entry, f"no file `{relative}`", log)
            return None
        if status.st_mode != stat.S_IFREG | cached_mode or status.st_size != recorded[0]:
            _damaged(entry, f"a changed file, `{relative}`", log)
            return None
        if status.st_mtime_ns != recorded[1]:
            if _file_digest(path) != digest:
                _damaged(entry, f"a changed file, `{relative}`", log)
                return None
            retimed[line] = status.st_mtime_ns
        files.append(CachedFile(relative, mode, status.st_size, status.st_mtime_ns, status.st_mode))
    # a directory of the tree swapped for a link would lead a row's path elsewhere, and lstat
    # follows links in all but the last part: each folder once (thousands, not the files)
    folders = {relative.rpartition("/")[0] for relative, *_ in files}
    for folder in sorted(
        {"/".join(f.split("/")[:n]) for f in folders if f for n in range(1, f.count("/") + 2)}
    ):
        try:
            is_folder = stat.S_ISDIR(os.lstat(tree + folder).st_mode)
        except OSError:
            is_folder = False
        if not is_folder:
            _damaged(entry, f"a folder that is not one, `{folder}`", log)
            return None
    if retimed:
        _retime(manifest, text, retimed)
        log.detail(f"{len(retimed)} files of {entry.name} have new times but their contents")
    return files


def _retime(manifest: Path, text: str, retimed: dict[str, int]) -> None:
    """Write ``manifest`` again with the new modification times (atomically)."""
    lines = []
    for line in text.splitlines():
        if line in retimed:
            octal, cached_octal, size, _, digest, relative = line.split(" ", 5)
            line = f"{octal} {cached_octal} {size} {retimed[line]} {digest} {relative}"
        lines.append(line)
    replace_file(manifest, ("\n".join(lines) + "\n").encode())


def _damaged(entry: Path, what: str, log: Reporter) -> None:
    log.warning(
        f"The cached installation {entry.name} has {what} (was a bundle file edited in "
        "place?); installing that wheel again"
    )
    _discard(entry)


def _discard(entry: Path) -> None:
    """Move a damaged cache entry aside (atomically) and delete it."""
    scrap = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=entry.parent))
    try:
        os.replace(entry, scrap / entry.name)
    except FileNotFoundError:
        pass  # another build discarded it first
    finally:
        remove_tree(scrap, ignore_errors=True)


def _read_only(mode: int) -> int:
    return mode & ~0o222


#: link errors that mean "this file system pair cannot share files": copy instead
_CANNOT_LINK = {
    errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
    errno.EINVAL,
}  # fmt: skip


def _depth(path: str) -> int:
    return path.count(os.sep)


def _make_directory_chunk(directories: list[str]) -> None:
    for directory in directories:
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)


def _chunks(items: list[T], count: int) -> list[list[T]]:
    """``items`` in at most ``count`` contiguous runs of (nearly) equal length."""
    size = max(1, -(-len(items) // count))
    return [items[start : start + size] for start in range(0, len(items), size)]


class _BundleFiles:
    """The bundle, filled from cached installations as they become ready: clashes checked,
    directories made a level at a time, files linked or copied on threads while the caller
    goes on (waiting for other installs)."""

    def __init__(
        self,
        root: Path,
        link_mode: str,
        log: Reporter,
        directory_threads: ThreadPoolExecutor,
        file_threads: ThreadPoolExecutor,
    ) -> None:
        self.root = str(root)
        self.link_mode = link_mode
        self.log = log
        self.directory_threads = directory_threads
        self.file_threads = file_threads
        #: bundle path -> (label, cached source, mode) of the distribution whose file it is
        self.owners: dict[str, tuple[str, str, int]] = {}
        #: bundle paths several distributions ship (with the same contents): all of them
        self.shared: dict[str, list[tuple[str, str, int]]] = {}
        #: bundle path -> what lstat says of it once linked (the cached file's size, mtime, mode)
        self.linked: dict[str, tuple[int, int, int]] = {}
        #: (distribution, bytes installed) of every installation added, as in the size report
        self.distributions: list[tuple[str, int]] = []
        #: whether every file is a hardlink of its cached file (so that ``linked`` is right)
        self.linked_exactly = link_mode == "hardlink"
        self.made: set[str] = {self.root}
        self.placing: list[Future[None]] = []
        self.probed = False
        self._stop = threading.Event()

    def add(self, trees: Sequence[tuple[Path, list[CachedFile], str]]) -> None:
        """Put the files of cached installations ``(entry, listing, label)`` into the bundle:
        checked and planned now, linked or copied on the threads."""
        jobs: list[tuple[str, str, int]] = []
        directories: set[str] = set()
        for entry, listing, label in trees:
            jobs += self._plan(entry, listing, label, directories)
        self._make_directories(directories)
        if jobs and not self.probed:
            jobs = self._probe(jobs)
        place = self._placer()
        # contiguous chunks: files of one directory stay together
        for chunk in _chunks(jobs, FILE_THREADS):
            self.placing.append(self.file_threads.submit(self._place, place, chunk))

    def finish(self) -> str:
        """Wait for every file; the link mode used (``copy`` if the cache cannot be linked)."""
        for future in self.placing:
            try:
                future.result()
            except FileNotFoundError as error:
                # a cached file vanished between its install and its use
                raise LockbundleError(
                    f"the cached file {error.filename} disappeared while this build used it; "
                    "is another process deleting from the cache? Build again"
                ) from None
        for relative, candidates in self.shared.items():
            if len({mode for _, _, mode in candidates}) == 1:
                continue
            # modes differ: the first distribution by name decides, whatever order they came in
            label, source, mode = min(candidates)
            if (label, source, mode) != self.owners[relative]:
                target = os.path.join(self.root, relative)
                os.unlink(target)
                self._placer()(source, target, mode)
                status = os.lstat(target)
                self.linked[relative] = (status.st_size, status.st_mtime_ns, status.st_mode)
        return self.link_mode

    def stop(self) -> None:
        self._stop.set()

    def _placer(self) -> Callable[[str, str, int], bool]:
        """How a file goes into the bundle in the link mode in use."""
        return _link_file if self.link_mode == "hardlink" else _copy_file

    def _plan(
        self, entry: Path, listing: list[CachedFile], label: str, directories: set[str]
    ) -> list[tuple[str, str, int]]:
        tree = os.path.join(entry, "tree", "")
        root = os.path.join(self.root, "")
        jobs = []
        distribution = entry.name  # every installation has a RECORD, which names it
        installed = 0
        for cached in listing:
            relative = cached.relative
            installed += cached.size
            if relative.endswith(RECORD_SUFFIX) and relative.count("/") == 1:
                distribution = relative[: -len(RECORD_SUFFIX)]
            source = tree + relative
            owner = self.owners.get(relative)
            if owner is not None:
                # identical files are fine (pkgutil namespace __init__.py), different ones not
                if not filecmp.cmp(source, owner[1], shallow=False):
                    first, second = sorted((owner[0], label))
                    raise FileConflictError(
                        f"{first} and {second} both install `{relative}` with different "
                        "contents; a flat bundle can hold only one of them. Remove one of the "
                        "two from the dependencies"
                    )
                self.shared.setdefault(relative, [owner]).append((label, source, cached.mode))
                continue
            self.owners[relative] = (label, source, cached.mode)
            self.linked[relative] = (cached.size, cached.mtime_ns, cached.st_mode)
            target = root + relative
            directories.add(os.path.dirname(target))
            jobs.append((source, target, cached.mode))
        # what the size report would add up from this distribution's RECORD
        self.distributions.append((distribution, installed))
        return jobs

    def _make_directories(self, directories: set[str]) -> None:
        """Create ``directories`` (and those between them and the root) a level at a time.

        Parallel: a new directory costs several hundred microseconds on ext4 (mostly waiting
        for the disk), and the directories of one level are independent.
        """
        levels: dict[int, set[str]] = {}
        for directory in directories:
            while directory not in self.made:
                levels.setdefault(_depth(directory), set()).add(directory)
                self.made.add(directory)
                directory = os.path.dirname(directory)
        for depth in sorted(levels):
            chunks = _chunks(sorted(levels[depth]), FILE_THREADS)
            for _ in self.directory_threads.map(_make_directory_chunk, chunks):
                pass

    def _probe(self, jobs: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        """Place the first file, learning whether the cache can be linked from; the rest."""
        self.probed = True
        if self.link_mode != "hardlink":
            return jobs
        source, target, _ = jobs[0]
        try:
            os.link(source, target)
        except OSError as error:
            if error.errno not in _CANNOT_LINK:
                raise
            self.linked_exactly = False
            self.log.warning(
                f"Cannot hardlink from the cache into the bundle ({error.strerror}: the cache "
                "is probably on another file system); copying instead. Put the cache on the "
                'same file system (LOCKBUNDLE_CACHE_DIR), or set `link-mode = "copy"`'
            )
            self.link_mode = "copy"
            return jobs
        return jobs[1:]

    def _place(
        self, place: Callable[[str, str, int], bool], chunk: list[tuple[str, str, int]]
    ) -> None:
        for source, target, mode in chunk:
            if self._stop.is_set():
                return
            if not place(source, target, mode):
                self.linked_exactly = False


def _link_file(source: str, target: str, mode: int) -> bool:
    """Link ``target`` to ``source``; True unless it had to be copied."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno != errno.EMLINK:  # the cached file has as many links as allowed
            raise
        return _copy_file(source, target, mode)
    return True


def _copy_file(source: str, target: str, mode: int) -> bool:
    """A copy (the bundle shares nothing with the cache), done by the kernel, writable as
    installed; False: not a link."""
    if not sys.platform.startswith("linux"):  # sendfile to a file is Linux's
        shutil.copyfile(source, target)
        if mode & 0o111:
            os.chmod(target, mode)
        return False
    with open(source, "rb") as reader, open(target, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(writer.fileno(), reader.fileno(), offset, size - offset)
            if sent == 0:
                break
            offset += sent
    if mode & 0o111:
        os.chmod(target, mode)
    return False
