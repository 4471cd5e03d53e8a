"""Run a sequence of shell-free pipelines and measure wall time and peak memory.

Besides wall time, two CPU figures: ``cpu_seconds``, the user + system time of the measured
processes (and their reaped descendants), and ``foreign_cpu_seconds``: the machine's user +
system time over the run (``/proc/stat``) minus what is accounted for, namely the measured
processes, the harness and its other children (the index server), and kernel threads (which do
the writeback of the run's own output). What remains is someone else's load, short-lived
processes included, which makes the figures noisy.

Two memory figures, because neither alone is right:

- ``peak_process_rss``: exact, from ``os.wait4``. On Linux the rusage a parent gets when it
  reaps a child covers that child and every descendant the child reaped in turn, and
  ``ru_maxrss`` of that is the peak of the *largest single process* among them, not a sum.
- ``peak_tree_rss``: the sum of resident memory over the live process tree, sampled every
  :data:`SAMPLE_INTERVAL` seconds from ``/proc`` (Linux only). Shared pages are counted once per
  process, so it overstates; short spikes between samples are missed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SAMPLE_INTERVAL = 0.1
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KTHREADD = 2  # the parent of every kernel thread on Linux

#: one command's argv
Command = Sequence[str]
#: commands joined by pipes, stdout of each into stdin of the next
Pipeline = Sequence[Command]


@dataclass(frozen=True)
class Measurement:
    seconds: float
    #: user + system seconds of the measured processes and their reaped descendants
    cpu_seconds: float
    #: CPU seconds of processes foreign to the harness during the run; None without /proc
    foreign_cpu_seconds: float | None
    #: bytes; the largest single process (see the module docstring)
    peak_process_rss: int
    #: bytes; the sampled sum over the process tree, None where /proc cannot tell or the run
    #: ended before the first sample
    peak_tree_rss: int | None


class CommandFailed(Exception):
    def __init__(self, command: str, returncode: int, log: Path) -> None:
        super().__init__(f"`{command}` exited with {returncode}; its output is in {log}")
        self.log = log


def measure(
    steps: Sequence[Pipeline], *, cwd: Path, env: Mapping[str, str], log: Path
) -> Measurement:
    """Run ``steps`` one after the other, all output appended to ``log``; time the whole.

    :raises CommandFailed: when any process of a step exits non-zero (later steps do not run)
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = 0
    cpu = 0.0
    with log.open("ab") as out, TreeSampler() as sampler:
        before = _cpu_snapshot()
        start = time.perf_counter()
        for pipeline in steps:
            out.write(f"$ {' | '.join(shlex.join(c) for c in pipeline)}\n".encode())
            out.flush()
            processes = _start(pipeline, cwd, env, out)
            sampler.watch(p.pid for p in processes)
            for process in processes:
                # wait4 instead of Popen.wait: it returns the rusage of the reaped process
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                peak = max(peak, usage.ru_maxrss * 1024)  # KiB on Linux
                cpu += usage.ru_utime + usage.ru_stime
            sampler.watch(())
            for command, process in zip(pipeline, processes, strict=True):
                if process.returncode != 0:
                    raise CommandFailed(shlex.join(command), process.returncode, log)
        seconds = time.perf_counter() - start
        foreign = _foreign_seconds(before, _cpu_snapshot(), cpu)
    return Measurement(seconds, cpu, foreign, peak, sampler.peak)


def foreign_cpu_during(seconds: float) -> float | None:
    """CPU seconds that processes foreign to the harness use over the next ``seconds``."""
    before = _cpu_snapshot()
    time.sleep(seconds)
    return _foreign_seconds(before, _cpu_snapshot(), 0.0)


@dataclass(frozen=True)
class _CpuSnapshot:
    #: user + nice + system ticks of all CPUs since boot
    busy: int
    #: own user + system ticks of the processes accounted for, by (pid, start time): the
    #: harness, its live descendants, the kernel's threads
    accounted: dict[tuple[int, int], int]


def _foreign_seconds(
    before: _CpuSnapshot | None, after: _CpuSnapshot | None, measured: float
) -> float | None:
    if before is None or after is None:
        return None
    busy = after.busy - before.busy
    accounted = sum(t - before.accounted.get(key, 0) for key, t in after.accounted.items())
    return max(0.0, (busy - accounted) / CLOCK_TICKS - measured)


def _cpu_snapshot() -> _CpuSnapshot | None:
    try:
        with open("/proc/stat") as stat:
            user, nice, system = (int(v) for v in stat.readline().split()[1:4])
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except (OSError, ValueError):
        return None
    table: dict[int, tuple[int, int, int]] = {}  # pid: (parent, start time, own ticks)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:  # exited meanwhile
            continue
        # fields[0] is field 3 of proc(5), the state; then ppid, ..., utime, stime, ..., starttime
        table[pid] = (int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]))
    accounted = {os.getpid(), KTHREADD}
    grown = True
    while grown:  # the harness's descendants and the kernel's threads, to a fixed point
        children = {pid for pid, (parent, _, _) in table.items() if parent in accounted}
        grown = not children <= accounted
        accounted |= children
    return _CpuSnapshot(
        user + nice + system,
        {(pid, start): ticks for pid, (_, start, ticks) in table.items() if pid in accounted},
    )


def _start(
    pipeline: Pipeline, cwd: Path, env: Mapping[str, str], out: IO[bytes]
) -> list[subprocess.Popen[bytes]]:
    processes: list[subprocess.Popen[bytes]] = []
    for position, command in enumerate(pipeline):
        last = position == len(pipeline) - 1
        upstream = processes[-1].stdout if processes else subprocess.DEVNULL
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=upstream,
            stdout=out if last else subprocess.PIPE,
            stderr=out,
        )
        if processes and processes[-1].stdout is not None:
            processes[-1].stdout.close()  # the reader holds it now: SIGPIPE works as in a shell
        processes.append(process)
    return processes


class TreeSampler:
    """A thread summing the resident memory of the watched processes and their descendants."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self.supported = Path(f"/proc/{os.getpid()}/task").is_dir()
        self._roots: tuple[int, ...] = ()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> int | None:
        return self._peak if self.supported and self._peak else None

    def watch(self, pids: Iterable[int]) -> None:
        self._roots = tuple(pids)

    def __enter__(self) -> TreeSampler:
        if self.supported:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            total = sum(_rss(pid) for pid in _tree(self._roots))
            self._peak = max(self._peak, total)


def _tree(roots: Sequence[int]) -> list[int]:
    """``roots`` and their descendants, from ``/proc/<pid>/task/<tid>/children``."""
    pids = list(roots)
    index = 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pids.extend(int(child) for child in children.read().split())
        except OSError:  # exited meanwhile
            continue
    return pids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0
