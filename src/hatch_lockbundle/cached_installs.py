"""The installs of wheels into the cache, each alone, run by a pool of worker processes."""

from __future__ import annotations

import heapq
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .cache import Cache
from .destination import RUNNING_PYTHON
from .errors import LockbundleError
from .install import LockedDistribution
from .installed import CachedFile, InstalledManifest, entry_of, install_into_cache, package_of

if TYPE_CHECKING:
    from .fetched import FetchedWheel
    from .progress import Reporter


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
        entry = entry_of(wheel, self.cache, self.compile_bytecode, self.python)
        if entry in self._known or InstalledManifest(entry).exists():
            return
        self._known.add(entry)
        job = _Job(
            str(wheel.path),
            package_of(wheel),
            str(entry),
            self.compile_bytecode,
            self.python,
            wheel.sha256,
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
                    future = self._pool.submit(_install_job_in_worker, job)
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
                listing = _install_job(job)
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


def _install_job_in_worker(job: _Job) -> list[CachedFile]:
    """:func:`_install_job` in a worker process: Ctrl-C stops the job, whose staging is
    removed."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _install_job(job)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Job(NamedTuple):
    """One wheel to install into the cache, in plain values (it goes to a worker process)."""

    wheel: str
    package: LockedDistribution
    entry: str
    compile_bytecode: bool
    python: str
    #: the sha256 of the wheel's verified bytes (None: it was not verified)
    sha256: str | None


def _install_job(job: _Job) -> list[CachedFile]:
    """Install the wheel of ``job`` into its cache entry."""
    return install_into_cache(
        Path(job.wheel),
        job.package,
        Path(job.entry),
        job.compile_bytecode,
        job.python,
        job.sha256,
    )
