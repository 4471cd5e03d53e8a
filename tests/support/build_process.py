"""``build_bundle`` in a process of its own, to interrupt it or to run several at once.

The process runs :data:`DRIVER` with this interpreter: it calls ``build_bundle`` and prints the
bundle's path. It may be told to pause at its n-th file opened for writing (or hardlinked) under a
directory (a ``sys.addaudithook`` hook on ``open`` and ``os.link``, so no code of the engine is
touched), in whichever thread or worker process writes it (the hook is a ``sitecustomize`` on the
``PYTHONPATH`` the engine's spawned workers inherit): it then writes a marker file and waits until
interrupted, and the test interrupts it there. The process leads a session of its own, so
that a signal reaches it and every process it started (a build backend, uv), as a terminal's
Ctrl-C or a CI runner cancelling a job does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

#: installed as ``sitecustomize`` for the build process and every Python process it starts (the
#: engine's spawned install workers): pauses the process at its n-th file written under a directory
PAUSE_HOOK = r"""
import json, os, signal, threading

_pause = json.loads(os.environ.get("LOCKBUNDLE_TEST_PAUSE") or "null")

# Ctrl-C as usual (KeyboardInterrupt in the main thread), and it also ends a pause in any thread:
# a paused write in a worker thread then goes on, as a slow real one would once it is done.
interrupted = threading.Event()


def _on_interrupt(signum, frame):
    interrupted.set()
    raise KeyboardInterrupt


if _pause:
    signal.signal(signal.SIGINT, _on_interrupt)
    under, after, marker = _pause["under"], _pause["after"], _pause["marker"]
    state = {"count": 0, "pausing": False}
    WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def _hook(event, event_args):
        if event == "open":
            path, mode, flags = event_args
            if not isinstance(path, (str, bytes, os.PathLike)) or isinstance(path, int):
                return
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & WRITING
        elif event == "os.link":  # a file hardlinked into place is a file written there
            path, writing = event_args[1], True
        else:
            return
        if not writing or not os.path.abspath(os.fsdecode(path)).startswith(under + os.sep):
            return
        if state["count"] < 0:
            if state["pausing"]:
                # other threads writing there wait too, so that what is written stays still
                interrupted.wait(600)
            return
        state["count"] += 1
        if state["count"] == after:
            state["count"] = -1  # once
            try:
                # once in all processes: a worker that takes a job after the signal was sent
                # would otherwise pause there for good, with nobody left to interrupt it
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return
            state["pausing"] = True
            os.write(fd, os.fsencode(path))
            os.close(fd)
            try:
                interrupted.wait(600)
            finally:
                state["pausing"] = False

    import sys
    sys.addaudithook(_hook)
"""

DRIVER = r"""
import json, signal, sys
from pathlib import Path

# Ctrl-C must reach the build even if this test run was started with SIGINT ignored (a
# non-interactive shell's background job, some CI runners), which child processes inherit
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError

args = json.loads(sys.argv[1])
try:
    built = build_bundle(
        Path(args["project"]),
        Path(args["out"]),
        bundle=args["layout"],
        cache_dir=Path(args["cache"]),
        log=lambda line: print(line, flush=True),
    )
except LockbundleError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
print(f"BUILT {built}", flush=True)
"""


class BuildProcess:
    """One ``build_bundle`` run in a child process (and session) of its own."""

    def __init__(
        self,
        project: Path,
        out: Path,
        cache: Path,
        *,
        env: Mapping[str, str],
        layout: str = "target",
        pause_under: Path | None = None,
        pause_after: int = 1,
        marker: Path | None = None,
    ) -> None:
        """Start the build.

        :param pause_under: pause when the ``pause_after``-th file under this directory is opened
            for writing, after writing the path to ``marker``.
        """
        args: dict[str, object] = {
            "project": str(project),
            "out": str(out),
            "cache": str(cache),
            "layout": layout,
        }
        environ = dict(env)
        if pause_under is not None:
            assert marker is not None
            environ["LOCKBUNDLE_TEST_PAUSE"] = json.dumps(
                {"under": os.path.abspath(pause_under), "after": pause_after, "marker": str(marker)}
            )
            hooks = Path(tempfile.mkdtemp(prefix="pause-hook-"))
            (hooks / "sitecustomize.py").write_text(PAUSE_HOOK)
            existing = environ.get("PYTHONPATH")
            environ["PYTHONPATH"] = str(hooks) + (os.pathsep + existing if existing else "")
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(args)],
            cwd=project,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stdout = ""
        self.stderr = ""

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60) -> None:
        """Wait until ``ready()``; fail if the build ends first or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                self.finish()
                raise AssertionError(f"the build ended before the awaited point:\n{self.output}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the awaited point never came:\n{self.output}")
            time.sleep(0.01)

    def interrupt(self, signal_number: int, timeout: float = 60) -> int:
        """Send ``signal_number`` to the build's whole session; return its exit status."""
        os.killpg(self.process.pid, signal_number)
        return self.finish(timeout)

    def finish(self, timeout: float = 300) -> int:
        """Wait for the build to end; return its exit status (negative: killed by that signal)."""
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the build did not end in {timeout} s:\n{self.output}") from None
        finally:
            self._reap_session()
        return self.process.returncode

    def kill(self) -> None:
        self._reap_session()
        self.stdout, self.stderr = self.process.communicate()

    def _reap_session(self) -> None:
        """Kill whatever the build started and left running (a backend orphaned by SIGKILL)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def output(self) -> str:
        return f"exit status: {self.process.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def built(self) -> Path:
        """The bundle's path, from a build that succeeded."""
        if self.process.returncode != 0:
            raise AssertionError(f"the build failed:\n{self.output}")
        lines = [line for line in self.stdout.splitlines() if line.startswith("BUILT ")]
        return Path(lines[-1].removeprefix("BUILT "))
