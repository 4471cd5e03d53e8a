"""What a build says while it runs: lines for logs, and a live status line on a terminal.

The engine reports through one :class:`Reporter`. Lines have a level (``-1`` warnings, ``0``
information, ``1`` details) and are shown when the verbosity (``-q``/``-v``) allows. Long steps
(downloads, builds, installs) are *phases*: on a terminal a status line under the log is redrawn in
place ten times a second (files, bytes, rate, elapsed time) and replaced by one summary line at the
end; in a log (not a terminal), a phase writes plain lines only, which say what happens as it
starts and how it went as it ends.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from .report import human

#: (level, message) -> None; shows the message, whatever the verbosity (the reporter filtered it)
Lines = Callable[[int, str], None]

WARNING, INFO, DETAIL = -1, 0, 1
TICK = 0.1  # seconds between redraws of the status line
CLEAR = "\r\x1b[2K"


# control characters, and the bidirectional overrides that reorder what a terminal shows
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab written as an escape
    (``\\x1b``): names from wheels, locks and servers reach the terminal, and an escape
    sequence in one would repaint it."""
    return _HIDDEN.sub(lambda match: match[0].encode("unicode_escape").decode("ascii"), text)


class Reporter:
    """Receives what the engine reports, and shows it according to verbosity and terminal.

    :param lines: where lines go (stderr for the ``lockbundle`` command, hatchling's application
        inside ``hatch build``)
    :param verbosity: ``0`` normal, negative quieter (``-q``), positive more detailed (``-v``)
    :param terminal: the terminal the status line is drawn on; None for plain lines (a log)
    """

    def __init__(self, lines: Lines, *, verbosity: int = 0, terminal: TextIO | None = None) -> None:
        self._lines = lines
        self.verbosity = verbosity
        # quiet means quiet: no status either
        self.terminal = terminal if verbosity >= 0 else None
        self._lock = threading.RLock()
        self._phase: _Phase | None = None
        self._drawn = False
        self._last_draw = 0.0

    @classmethod
    def of(cls, log: Callable[[str], None] | Reporter) -> Reporter:
        """``log`` itself, or a reporter writing information lines to the callable ``log``."""
        if isinstance(log, Reporter):
            return log
        return cls(lambda level, message: log(message))

    @property
    def live(self) -> bool:
        """Whether a status line is drawn (a terminal, and not quiet)."""
        return self.terminal is not None

    def __call__(self, message: str) -> None:
        self.info(message)

    def info(self, message: str) -> None:
        self._line(INFO, message)

    def detail(self, message: str) -> None:
        self._line(DETAIL, message)

    def warning(self, message: str) -> None:
        self._line(WARNING, message)

    @contextmanager
    def transfers(self, files: int, size: int | None) -> Iterator[Transfers]:
        """A phase of ``files`` downloads of ``size`` bytes in all (None if unknown)."""
        phase = Transfers(files, size)
        with self._running(phase):
            yield phase
        self.info(phase.summary())

    @contextmanager
    def task(self, doing: str, done: str) -> Iterator[None]:
        """A phase doing one thing (a build): ``doing`` is shown while it runs (and logged as it
        starts, when there is no status line), ``done`` plus the time it took after."""
        if not self.live:
            self.info(doing)
        phase = _Phase(doing)
        with self._running(phase):
            yield
        self.info(f"{done} in {_seconds(phase.elapsed())}")

    @contextmanager
    def counting(
        self, doing: str, done: str, total: int, *, started: float | None = None
    ) -> Iterator[Counter]:
        """A phase of ``total`` like steps (installs): ``Counter.advance`` after each.

        :param started: when the steps started (``time.monotonic()``), if before the phase
        """
        if not self.live:
            self.info(f"{doing} ({total})")
        phase = Counter(doing, total)
        if started is not None:
            phase.started = started
        with self._running(phase):
            yield phase
        self.info(f"{done} in {_seconds(phase.elapsed())}")

    def _line(self, level: int, message: str) -> None:
        if level > self.verbosity:
            return
        with self._lock:
            self._clear()
            self._lines(level, printable(message))
            self._draw(force=True)

    @contextmanager
    def _running(self, phase: _Phase) -> Iterator[None]:
        with self._lock:
            self._phase = phase
            phase.reporter = self
            self._draw(force=True)
        stop = threading.Event()
        ticker = None
        if self.live:
            ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
            ticker.start()
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            with self._lock:
                self._phase = None
                self._clear()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(TICK):
            self._draw(force=True)

    def _changed(self) -> None:
        """A phase moved on: redraw, at most once a tick."""
        self._draw(force=False)

    def _draw(self, *, force: bool) -> None:
        if self.terminal is None:
            return
        with self._lock:
            now = time.monotonic()
            if self._phase is None or (not force and now - self._last_draw < TICK):
                return
            width = _columns(self.terminal) - 1
            self.terminal.write(CLEAR + printable(self._phase.status())[: max(width, 20)])
            self.terminal.flush()
            self._drawn = True
            self._last_draw = now

    def _clear(self) -> None:
        if self.terminal is not None and self._drawn:
            self.terminal.write(CLEAR)
            self.terminal.flush()
            self._drawn = False


class _Phase:
    def __init__(self, doing: str) -> None:
        self.doing = doing
        self.started = time.monotonic()
        self.reporter: Reporter | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def status(self) -> str:
        return f"{self.doing} ... {_seconds(self.elapsed())}"

    def _changed(self) -> None:
        if self.reporter is not None:
            self.reporter._changed()


class Counter(_Phase):
    def __init__(self, doing: str, total: int) -> None:
        super().__init__(doing)
        self.total = total
        self.count = 0

    def advance(self) -> None:
        self.count += 1
        self._changed()

    def status(self) -> str:
        return f"{self.doing} {self.count}/{self.total} ... {_seconds(self.elapsed())}"


class Transfers(_Phase):
    """Downloads running in threads: bytes as they arrive, files as they complete."""

    def __init__(self, files: int, size: int | None) -> None:
        super().__init__("Downloading")
        self.files = files
        self.size = size
        self.done = 0
        self.received = 0
        self.current = ""
        self._lock = threading.Lock()

    def begin(self, name: str) -> None:
        self.current = name
        self._changed()

    def received_bytes(self, count: int) -> None:
        with self._lock:
            self.received += count
        self._changed()

    def finished(self, name: str) -> None:
        with self._lock:
            self.done += 1
        self._changed()

    def rate(self) -> float:
        return self.received / max(self.elapsed(), 1e-6)

    def status(self) -> str:
        of = f" of {human(self.size)}" if self.size else ""
        return (
            f"Downloading {self.done}/{self.files} files, {human(self.received)}{of}, "
            f"{human(int(self.rate()))}/s ... {self.current}"
        )

    def summary(self) -> str:
        return (
            f"Downloaded {self.done} {'file' if self.done == 1 else 'files'}, "
            f"{human(self.received)} in {_seconds(self.elapsed())} ({human(int(self.rate()))}/s)"
        )


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


def _columns(terminal: TextIO) -> int:
    """The width of ``terminal`` (``COLUMNS`` first, as ``shutil`` does; 80 if unknown)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(terminal.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return shutil.get_terminal_size().columns


def terminal_of(stream: TextIO) -> TextIO | None:
    """``stream`` if a status line can be drawn on it (an interactive terminal), else None."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        return None
    return stream if interactive and os.environ.get("TERM") != "dumb" else None
