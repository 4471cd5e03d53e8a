"""Installing a wheelhouse the way a server does: no index, an empty cache, nothing built there."""

from __future__ import annotations

import itertools
import json
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from .builds import Build, build_and_move
from .bundle import Distribution, distributions, files
from .compat import tomllib
from .environ import Sandbox, run, uv_binary
from .hatch import HatchBuild
from .index import IndexServer

# The commands INSTALL.md gives for the server, run as given (from the wheelhouse directory).
UV_SYNC = ("uv", "sync", "--frozen", "--offline")
PIP_INSTALL = ("pip", "install", "--no-index", "-r", "requirements.txt")
UV_PIP_INSTALL_PYLOCK = ("uv", "pip", "install", "--offline", "-r", "pylock.toml")

# What uv prints when it builds a distribution (`Building cext==1.0`, `Built cext==1.0`), and what pip
# prints (`Building wheel for cext (pyproject.toml)`, `Created wheel for cext`).
_BUILD_LINE = re.compile(
    r"^\s*(?:Building|Built|Created wheel|Running setup\.py)\b.*$", re.MULTILINE
)
# uv's cache buckets that only a build from source fills: sdists and their built wheels, build
# environments. uv creates some of them empty, with bookkeeping files, on first use.
_BUILD_BUCKET = re.compile(r"^(?:sdists|built-wheels|builds)-v\d+$")
_BOOKKEEPING = frozenset({".git", ".gitignore", ".lock", "CACHEDIR.TAG"})


def build_lines(output: str) -> list[str]:
    """The lines of an installer's output that report building a distribution."""
    return [match.group(0).strip() for match in _BUILD_LINE.finditer(output)]


def build_cache_entries(cache: Path) -> list[str]:
    """Entries of a uv cache directory that a build from source left, as relative paths."""
    if not cache.is_dir():
        return []
    found = []
    for bucket in sorted(cache.iterdir()):
        if bucket.is_dir() and _BUILD_BUCKET.match(bucket.name):
            found += [
                entry.relative_to(cache).as_posix()
                for entry in sorted(bucket.iterdir())
                if entry.name not in _BOOKKEEPING
            ]
    return found


def site_packages(environment: Path) -> Path:
    """The ``site-packages`` directory of a POSIX virtual environment."""
    (found,) = environment.glob("lib/python*/site-packages")
    return found


@dataclass(frozen=True)
class Install:
    """One installation of a wheelhouse into an environment, whatever its outcome."""

    result: subprocess.CompletedProcess[str]
    wheelhouse: Path  # the copy the command ran in
    environment: Path  # the virtual environment installed into (may not exist after a failure)
    cache: Path  # the installer's cache, empty before the command
    preinstalled: frozenset[Distribution]  # what the environment held before (pip, setuptools)

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    @property
    def succeeded(self) -> bool:
        return self.result.returncode == 0

    @property
    def installed(self) -> set[Distribution]:
        """The distributions the command added to the environment."""
        return distributions(site_packages(self.environment)) - self.preinstalled

    @property
    def python(self) -> Path:
        return self.environment / "bin" / "python"


def nothing_installed(install: Install) -> bool:
    """True when the environment is missing or holds no distribution the install could add."""
    if not install.environment.exists():
        return True
    try:
        return install.installed == set()
    except ValueError:  # no site-packages yet
        return True


@dataclass(frozen=True)
class Wheelhouse:
    """A wheelhouse built by hatch and moved out of ``dist/``, and the lock it was made from."""

    build: Build
    lock: Path

    @property
    def path(self) -> Path:
        return self.build.bundle

    @property
    def wheels(self) -> dict[str, Path]:
        """File name -> path of every file in ``wheels/``, by name."""
        return {path.name: path for path in sorted((self.path / "wheels").iterdir())}

    @property
    def manifest(self) -> dict[str, object]:
        document: dict[str, object] = json.loads((self.path / "lockbundle.json").read_text())
        return document

    def manifest_entry(self, name: str) -> dict[str, object]:
        wheels = self.manifest["wheels"]
        assert isinstance(wheels, list)
        (entry,) = [entry for entry in wheels if entry["name"] == name]
        assert isinstance(entry, dict)
        return entry

    def toml(self, name: str) -> dict[str, object]:
        return tomllib.loads((self.path / name).read_text())


def build_wheelhouse(
    hatch_build: HatchBuild,
    project: Path,
    elsewhere: Path,
    *,
    lock: Path | None = None,
    config: str | None = None,
) -> Wheelhouse:
    """``hatch build -t lockbundle:wheelhouse`` in ``project``, moved to ``elsewhere``.

    :param lock: the lock it is made from (default: the project's; a workspace member's is the
        workspace's)
    :param config: see :func:`~support.builds.build_and_move`
    """
    build = build_and_move(hatch_build, project, elsewhere, "lockbundle:wheelhouse", config=config)
    return Wheelhouse(build, lock or project / "uv.lock")


class Server:
    """A deployment machine for wheelhouses, on this machine.

    Every install runs in a new copy of the wheelhouse (so it was moved away from where it was
    built), with a new empty cache, the index URLs of uv and pip pointing at a port that refuses
    connections, and (unless told the index must be reachable) the test index stopped.
    """

    def __init__(self, sandbox: Sandbox, dead_url: str, index: IndexServer, root: Path) -> None:
        """
        :param dead_url: a simple-index URL whose port refuses connections.
        :param index: the test index, stopped during offline installs.
        :param root: a directory for the copies, caches and environments of every install.
        """
        self.sandbox = sandbox
        self.dead_url = dead_url
        self.index = index
        self.root = root
        self._counter = itertools.count(1)

    def _workdir(self, label: str) -> Path:
        workdir = self.root / f"{next(self._counter):02d}-{label}"
        workdir.mkdir(parents=True)
        return workdir

    def environ(self, cache: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The sandbox's environment with an empty cache and unreachable indexes."""
        return self.sandbox.environ(
            {
                "UV_CACHE_DIR": str(cache / "uv"),
                "PIP_CACHE_DIR": str(cache / "pip"),
                "UV_INDEX_URL": self.dead_url,
                "UV_DEFAULT_INDEX": self.dead_url,
                "PIP_INDEX_URL": self.dead_url,
                "UV_PYTHON": sys.executable,
                **(overrides or {}),
            }
        )

    @contextmanager
    def _network(self, index_reachable: bool) -> Iterator[None]:
        with nullcontext() if index_reachable else self.index.stopped():
            yield

    def receive(self, wheelhouse: Path, label: str) -> tuple[Path, Path]:
        """Copy ``wheelhouse`` to a new directory; return the copy and a new, empty cache dir."""
        workdir = self._workdir(label)
        copy = workdir / "srv" / wheelhouse.name
        shutil.copytree(wheelhouse, copy)
        cache = workdir / "cache"
        cache.mkdir()
        return copy, cache

    def uv_sync(
        self,
        wheelhouse: Path,
        *,
        python: Path | str = sys.executable,
        extra_args: tuple[str, ...] = (),
        index_reachable: bool = False,
    ) -> Install:
        """``uv sync --frozen [--offline]`` in a copy of ``wheelhouse`` (which gets ``.venv``).

        :param index_reachable: keep the test index running and leave out ``--offline``.
        """
        copy, cache = self.receive(wheelhouse, "uv-sync")
        command = [uv_binary(), *UV_SYNC[1:]]
        if index_reachable:
            command.remove("--offline")
        command += ["--python", str(python), *extra_args]
        with self._network(index_reachable):
            result = run(command, cwd=copy, env=self.environ(cache), check=False)
        return Install(result, copy, copy / ".venv", cache / "uv", frozenset())

    def pip_install(self, wheelhouse: Path, *, index_reachable: bool = False) -> Install:
        """``python -m venv`` (with pip), then ``pip install [--no-index] -r requirements.txt``."""
        copy, cache = self.receive(wheelhouse, "pip")
        environment = self.venv(copy.parent.parent / "venv", with_pip=True)
        command = [str(environment / "bin" / "python"), "-m", *PIP_INSTALL]
        if index_reachable:
            command.remove("--no-index")
        preinstalled = frozenset(distributions(site_packages(environment)))
        with self._network(index_reachable):
            result = run(command, cwd=copy, env=self.environ(cache), check=False)
        return Install(result, copy, environment, cache / "pip", preinstalled)

    def uv_pip_install_pylock(
        self,
        wheelhouse: Path,
        *,
        extra_args: tuple[str, ...] = (),
        index_reachable: bool = False,
        python: Path | str = sys.executable,
    ) -> Install:
        """A fresh venv of ``python``, then ``uv pip install [--offline] --python VENV -r pylock.toml``."""
        copy, cache = self.receive(wheelhouse, "pylock")
        environment = self.venv(copy.parent.parent / "venv", python=python)
        command = [uv_binary(), *UV_PIP_INSTALL_PYLOCK[1:]]
        if index_reachable:
            command.remove("--offline")
        command += ["--python", str(environment / "bin" / "python"), *extra_args]
        preinstalled = frozenset(distributions(site_packages(environment)))
        with self._network(index_reachable):
            result = run(command, cwd=copy, env=self.environ(cache), check=False)
        return Install(result, copy, environment, cache / "uv", preinstalled)

    def venv(
        self, path: Path, *, python: Path | str = sys.executable, with_pip: bool = False
    ) -> Path:
        """``python -m venv [--without-pip] path`` (pip comes from the interpreter's ensurepip)."""
        args = [str(python), "-m", "venv", *(() if with_pip else ("--without-pip",)), str(path)]
        run(args, cwd=self.root, env=self.sandbox.environ())
        return path


def clean_run_environ() -> dict[str, str]:
    """An environment that makes nothing importable but what an environment itself holds."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def alter_wheel_keeping_its_size(wheel: Path) -> None:
    """Rewrite ``wheel`` as a different, still valid wheel of exactly the same size.

    The modification time of its first entry changes (in the local header and the central
    directory, which a reader may check against each other): the contents and every CRC stay valid,
    only the file's hash differs. An installer can only notice through the hash.
    """
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        first = archive.infolist()[0]
        central = archive.start_dir  # type: ignore[attr-defined]
    local = first.header_offset
    assert data[local : local + 4] == b"PK\x03\x04", "no local file header where expected"
    assert data[central : central + 4] == b"PK\x01\x02", "no central directory where expected"
    for time_field in (local + 10, central + 12):
        data[time_field] ^= 1  # two seconds more or less: still a valid DOS time
    wheel.write_bytes(bytes(data))


def foreign_platform() -> str:
    """A ``--python-platform`` of uv that is not this machine's."""
    if sys.platform == "linux" and platform.machine() == "x86_64":
        return "aarch64-unknown-linux-gnu"
    return "x86_64-unknown-linux-gnu"


def text_files(wheelhouse: Path) -> list[Path]:
    """The files of a wheelhouse outside ``wheels/``: the locks, the manifest and the guide."""
    return [
        path for path in files(wheelhouse) if "wheels" not in path.relative_to(wheelhouse).parts
    ]
