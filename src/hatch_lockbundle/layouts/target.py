"""Assemble a target bundle: the wheels installed in the cache, linked or copied into one directory.

The target layout puts every wheel flat into one directory, as ``pip install --target``.

Unlike ``pip``/``uv pip install --target``, nothing in the result names the build machine: no
``direct_url.json``, no ``.pth`` files, and console scripts find the bundle relative to themselves.
Each wheel is installed once into the cache (:mod:`..cached_installs`); a bundle is made of
hardlinks to (or copies of) those files.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import gc
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ..cache import Cache
from ..cached_installs import CachedInstalls
from ..destination import RUNNING_PYTHON, FileConflictError, TargetDestination
from ..errors import LockbundleError
from ..install import install_wheel
from ..installed import CachedFile, InstalledManifest, entry_of, package_of
from ..progress import Reporter

if TYPE_CHECKING:
    from ..fetched import FetchedWheel

RECORD_SUFFIX = ".dist-info/RECORD"
#: threads that create directories and link or copy files (mostly waiting on the kernel)
FILE_THREADS = 8
T = TypeVar("T")


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
    reporter = Reporter.of(log)
    destination.mkdir(parents=True, exist_ok=True)
    destination = destination.resolve()
    owners: dict[str, str] = {}
    ordered = sorted(wheels, key=lambda w: w.planned.name)
    if cache is None:
        for wheel in ordered:
            package = package_of(wheel)
            label, name, _ = package
            target = TargetDestination(
                destination, owners, compile_bytecode, name=name, distribution=label, python=python
            )
            install_wheel(wheel.path, package, target)
        return WrittenTarget("copy", None, None)
    with ExitStack() as stack:
        stack.enter_context(cycle_collection_paused())
        if installs is None:
            installs = stack.enter_context(CachedInstalls(cache, compile_bytecode, python))
        directory_threads = stack.enter_context(ThreadPoolExecutor(max_workers=FILE_THREADS))
        file_threads = stack.enter_context(ThreadPoolExecutor(max_workers=FILE_THREADS))
        files = _BundleFiles(destination, link_mode, reporter, directory_threads, file_threads)
        stack.callback(files.stop)  # on an error or Ctrl-C, the threads stop at their next file
        cached = []
        labels: dict[Path, str] = {}
        for wheel in ordered:
            entry = entry_of(wheel, cache, compile_bytecode, installs.python)
            labels[entry] = wheel.planned.package.label
            listing = InstalledManifest(entry).read(reporter)
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


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector paused for the block (as it was after it).

    Filling a bundle from the cache makes several small tuples per file (a manifest row, a plan
    entry, a link job: tens of thousands), none of them part of a cycle, all alive until the
    bundle is written. Each allocation counts towards the collector's next pass, and each pass
    walks all of them again (a full pass among them) to free nothing: a large share of a
    warm build's Python time (issue 16's warm build, ``benchmarks/README.md``). They are freed
    by their reference counts as usual.
    """
    if not gc.isenabled():  # the caller's choice, kept
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
            # what os.path.dirname(target) gives, without its cost per file
            folder = relative.rpartition("/")[0]
            directories.add(root + folder if folder else self.root)
            jobs.append((source, target, cached.mode))
        # what the size report would add up from this distribution's RECORD
        self.distributions.append((distribution, installed))
        return jobs

    def _make_directories(self, directories: set[str]) -> None:
        """Create ``directories`` (and those between them and the root) a level at a time.

        Parallel: making a directory mostly waits for the file system, and the directories of
        one level are independent. Kept (issue 18) because warm builds of real wheels were
        measured faster with it than with one ``os.makedirs`` after another.
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
