"""Running a command with its standard error on a pseudo-terminal, as a user at a terminal would."""

from __future__ import annotations

import os
import pty
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: what the status line is redrawn with: back to the start of the line, erase it
REDRAW = "\r\x1b[2K"


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    stdout: str
    #: everything written to the terminal (standard error), escape sequences included
    terminal: str

    def frames(self) -> list[str]:
        """The states of the status line, in order (each redraw starts a frame)."""
        return [part.split("\r\n")[0] for part in self.terminal.split(REDRAW)[1:] if part]

    def lines(self) -> list[str]:
        """The lines left on the screen: what a status line overwrote is gone."""
        kept = []
        for line in self.terminal.split("\r\n"):
            kept.append(line.rsplit(REDRAW, 1)[-1])
        return [line for line in kept if line]


def run_on_terminal(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 600,
    columns: int = 200,
) -> TerminalRun:
    """Run ``args`` with standard error (and input) on a new pseudo-terminal ``columns`` wide."""
    controller, terminal = pty.openpty()
    environment = {**env, "TERM": "xterm", "COLUMNS": str(columns), "LINES": "50"}
    process = subprocess.Popen(
        [os.fspath(arg) for arg in args],
        cwd=cwd,
        env=environment,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    written = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every process holding the terminal has exited
                break
            if not chunk:
                break
            written += chunk
        else:
            process.kill()
            raise TimeoutError(f"{args} ran for more than {timeout} s")
        assert process.stdout is not None
        stdout = process.stdout.read().decode("utf-8", "replace")
        process.wait(timeout=60)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return TerminalRun(process.returncode, stdout, written.decode("utf-8", "replace"))
