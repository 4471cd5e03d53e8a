"""The programs the benchmark runs, the controlled environment they run in, and the machine."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

# Settings of the machine or the caller that would change what the contenders do (find-links,
# extra indexes, caches, an active virtualenv): none of them reaches a measured command.
OUTSIDE_PREFIXES = ("PIP_", "UV_", "HATCH_", "LOCKBUNDLE_", "PYTHON", "VIRTUAL_ENV", "CONDA_")


@dataclass(frozen=True)
class Tools:
    """The interpreter running the harness (with the engine installed), and its uv and hatch."""

    python: Path
    uv: Path
    hatch: Path

    @property
    def bin(self) -> Path:
        return self.python.parent

    @classmethod
    def find(cls) -> Tools:
        python = Path(sys.executable)
        return cls(python, _program(python.parent, "uv"), _program(python.parent, "hatch"))

    def versions(self, repo: Path) -> dict[str, str]:
        """What produced the figures: tool versions and the engine's commit."""
        env = controlled_env(self)
        return {
            "python": platform.python_version() + f" ({platform.python_implementation()})",
            "uv": _output([str(self.uv), "--version"], env),
            "hatch": _output([str(self.hatch), "--version"], env),
            "pip": version("pip"),
            "hatchling": version("hatchling"),
            "hatch-lockbundle": _commit(repo),
        }


def install_engine(tools: Tools, wheel: Path, simple: str, directory: Path) -> Path:
    """A virtual environment holding ``wheel`` (the plugin as built at the start); its python.

    The engine contender runs from it rather than from the development environment, whose
    editable install follows src/ as it is being edited: both routes then run the same code for
    the whole harness run.
    """
    env = controlled_env(tools, UV_CACHE_DIR=str(directory.with_name(directory.name + "-cache")))
    python = directory / "bin" / "python"
    for command in (
        [str(tools.uv), "venv", "--quiet", "--python", str(tools.python), str(directory)],
        [str(tools.uv), "pip", "install", "--quiet", "--python", str(python),
         "--index-url", simple, str(wheel)],
    ):  # fmt: skip
        subprocess.run(command, env=env, check=True)
    return python


def controlled_env(tools: Tools, **settings: str) -> dict[str, str]:
    """The caller's environment without pip/uv/hatch settings, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OUTSIDE_PREFIXES)}
    env["PATH"] = os.pathsep.join([str(tools.bin), env.get("PATH", os.defpath)])
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.update(settings)
    return env


def describe_machine(scratch: Path) -> dict[str, str]:
    """CPU, memory, kernel and the file system the measured runs write to."""
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": _cpuinfo("model name"),
        "memory": f"{_meminfo_kib('MemTotal') // 1024} MiB",
        "kernel": platform.release(),
        "platform": platform.platform(),
        "scratch file system": _filesystem(scratch),
    }


def _program(bin_dir: Path, name: str) -> Path:
    beside = bin_dir / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"`{name}` is neither beside {sys.executable} nor on PATH")
    return Path(found)


def _output(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return result.stdout.strip()


def _commit(repo: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    if git("status", "--porcelain", "--", "src"):
        commit += " + uncommitted changes in src/"
    return f"{version('hatch-lockbundle')} at {commit}"


def _cpuinfo(field: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == field:
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_kib(field: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == field:
                return int(value.split()[0])
    except OSError:
        pass
    return 0


def _filesystem(path: Path) -> str:
    """The type of the file system mounted deepest above ``path`` (Linux only)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        mount_point, fs_type = fields[1], fields[2]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, kind = mount_point, fs_type
    return kind
