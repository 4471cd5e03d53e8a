"""How fast does hatch-lockbundle pack a bundle, next to ``zip -r -X`` and ``tar czf``?

    uv run python benchmarks/archive_speed.py [--size-mb 200] [--rounds 3] [--levels 6]

Generates a tree shaped like an installed bundle (many small Python sources, some large
extension-module-like binaries, some already-compressed files; seeded, so the same every run)
under ``benchmarks/.data/archive-tree``, then packs it with every contender at each level and
prints the median wall and CPU time and the size of each. Nothing is asserted: the tests stay free
of timing, and this is run by hand on a quiet machine (other processes on the CPUs distort it).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hatch_lockbundle.archive import DEFAULT_EPOCH, write_archive

HERE = Path(__file__).resolve().parent
_VOCABULARY = (
    "def class return import from self if else elif for while in not and or None True False "
    "try except finally with as raise yield lambda pass break continue assert global "
    "value name path data result args kwargs config items index count error message "
    "= == != ( ) [ ] { } : , . + - * / # '' \"\" 0 1 2 10 100"
)
WORDS = _VOCABULARY.split()


def make_tree(root: Path, size_mb: int) -> Path:
    """About ``size_mb`` MiB: 45 % Python-like text in small files, 40 % binary that compresses
    about as well as shared libraries do, 15 % incompressible (images, nested archives)."""
    marker = root / f".complete-{size_mb}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(20261202)
    total = size_mb * 1024 * 1024

    def text(size: int) -> bytes:
        lines = []
        length = 0
        while length < size:
            indent = "    " * rng.randrange(4)
            line = indent + " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))) + "\n"
            lines.append(line)
            length += len(line)
        return "".join(lines).encode()[:size]

    def binary(size: int) -> bytes:
        # machine code and tables: runs of noise, zeros and repeated records
        parts = bytearray()
        while len(parts) < size:
            kind = rng.randrange(3)
            if kind == 0:
                parts += rng.randbytes(rng.randrange(256, 4096))
            elif kind == 1:
                parts += bytes(rng.randrange(64, 2048))
            else:
                record = rng.randbytes(rng.randrange(8, 32))
                parts += record * rng.randrange(8, 128)
        return bytes(parts[:size])

    written = 0
    number = 0
    shares = [(0.45, "text"), (0.40, "binary"), (0.15, "noise")]
    for share, kind in shares:
        budget = int(total * share)
        while budget > 0:
            number += 1
            package = root / f"package{number % 40:02d}" / f"sub{number % 7}"
            package.mkdir(parents=True, exist_ok=True)
            if kind == "text":
                size = min(budget, rng.randrange(500, 40_000))
                (package / f"module{number}.py").write_bytes(text(size))
            elif kind == "binary":
                size = min(budget, rng.randrange(200_000, 12_000_000))
                path = package / f"_ext{number}.cpython-311-x86_64-linux-gnu.so"
                path.write_bytes(binary(size))
                path.chmod(0o755)
            else:
                size = min(budget, rng.randrange(5_000, 3_000_000))
                (package / f"image{number}.png").write_bytes(rng.randbytes(size))
            budget -= size
            written += size
    marker.write_text(f"{number} files, {written} bytes\n")
    return root


@dataclass(frozen=True)
class Contender:
    name: str
    output: str  # file name
    run: Callable[[Path, Path, int], None]  # (tree, output, level)


def tool(argv: Callable[[Path, Path, int], list[str]], cwd_tree: bool) -> Callable[..., None]:
    def run(tree: Path, output: Path, level: int) -> None:
        subprocess.run(argv(tree, output, level), cwd=tree if cwd_tree else None, check=True)

    return run


def ours(fmt: str, workers: int | None) -> Callable[[Path, Path, int], None]:
    def run(tree: Path, output: Path, level: int) -> None:
        write_archive(tree, output, fmt, "", DEFAULT_EPOCH, level=level, workers=workers)

    return run


CONTENDERS = [
    Contender(
        "zip -r -X -q",
        "tool.zip",
        tool(lambda _, out, level: ["zip", "-r", "-X", "-q", f"-{level}", str(out), "."], True),
    ),
    Contender("lockbundle zip", "ours.zip", ours("zip", None)),
    Contender("lockbundle zip, 1 worker", "ours-1.zip", ours("zip", 1)),
    Contender(
        "tar czf",
        "tool.tar.gz",
        # gzip reads its level from the command line only: tar -I passes it
        tool(lambda tree, out, level: ["tar", "-I", f"gzip -{level}", "-cf", str(out), "."], True),
    ),
    Contender("lockbundle tar.gz", "ours.tar.gz", ours("tar.gz", None)),
    Contender("lockbundle tar.gz, 1 worker", "ours-1.tar.gz", ours("tar.gz", 1)),
]


def _cpu_seconds() -> float:
    """User and system time of this process and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the generated tree")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each (median)")
    parser.add_argument("--levels", default="6", help="comma-separated levels, e.g. 1,6,9")
    parser.add_argument("--data", type=Path, default=HERE / ".data", help="where the tree goes")
    options = parser.parse_args(argv)
    missing = [name for name in ("zip", "tar", "gzip") if shutil.which(name) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (apt-get install zip)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    tree = make_tree(options.data / "archive-tree", options.size_mb)
    files = [path for path in tree.rglob("*") if path.is_file() and path.name[0] != "."]
    size = sum(path.stat().st_size for path in files)
    print(
        f"tree: {len(files)} files, {size / 2**20:.1f} MiB "
        f"(ready in {time.perf_counter() - started:.1f} s); {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}"
    )
    out = options.data / "archive-out"
    out.mkdir(parents=True, exist_ok=True)
    # CPU seconds next to wall seconds: on a shared machine the wall time of a run depends on
    # what else runs, its CPU time much less
    print(
        f"{'level':>5}  {'contender':<30} {'wall s':>7} {'cpu s':>6} {'wall s of each run':<20} "
        f"{'MiB':>7}"
    )
    for level in (int(value) for value in options.levels.split(",")):
        for contender in CONTENDERS:
            walls, cpus = [], []
            output = out / contender.output
            for _ in range(options.rounds):
                output.unlink(missing_ok=True)
                begin, cpu = time.perf_counter(), _cpu_seconds()
                contender.run(tree, output, level)
                walls.append(time.perf_counter() - begin)
                cpus.append(_cpu_seconds() - cpu)
            runs = " ".join(f"{value:.2f}" for value in walls)
            print(
                f"{level:>5}  {contender.name:<30} {statistics.median(walls):>7.2f} "
                f"{statistics.median(cpus):>6.2f} {runs:<20} "
                f"{output.stat().st_size / 2**20:>7.1f}"
            )
    shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
