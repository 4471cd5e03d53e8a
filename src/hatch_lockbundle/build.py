"""Build wheels through PEP 517, in cached isolated environments (own projects: inprocess.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ._compat import TOMLError, read_toml
from .archive import DEFAULT_EPOCH
from .cache import Cache, locked, replace_file
from .credentials import redact, scrub, secrets_of, without_credentials
from .errors import BackendFailedError, BuildError, indented
from .extract import UnsafeArchiveError, extract_safely
from .indexes import PackageIndexes
from .inprocess import InProcessBuildError, build_here, satisfied
from .network import NetworkSettings
from .uv_binary import find_uv

DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)
HATCHLING = "hatchling.build"
OUTPUT_TAIL = 40  # lines of a failed build's output shown in the error


@dataclass
class WheelBuilder:
    """Builds wheels for the running interpreter, reusing build environments across builds."""

    cache: Cache
    indexes: PackageIndexes = field(default_factory=PackageIndexes)
    python: str = sys.executable
    #: the uv binary that creates build environments; None means venv + pip
    uv: str | None = field(default_factory=lambda: find_uv())
    #: user and password by realm for the indexes (as :class:`~.http.Downloader` takes them)
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    #: no connection of any kind: a build environment comes from the cache, or from what the
    #: installer has in its own cache (``uv --offline``, ``pip --no-index``)
    offline: bool = False
    #: receives what the backend of a successful build printed and warned (a reporter's
    #: ``detail``: shown with ``-v``; a failed build quotes it in its error instead)
    said: Callable[[str], None] = field(default=lambda text: None, repr=False)
    #: the keyring and trust settings, passed on to the installer of build environments
    network: NetworkSettings = field(default_factory=NetworkSettings)

    def build_sdist(
        self, sdist: Path, label: str, work: Path, subdirectory: str | None = None
    ) -> Path:
        """Unpack ``sdist`` under ``work`` and build it (or its ``subdirectory``) into a wheel."""
        source = _unpack_sdist(sdist, work / "src", label)
        if subdirectory:
            inner = (source / subdirectory).resolve()
            if not inner.is_relative_to(source.resolve()) or not inner.is_dir():
                raise BuildError(f"{label}: {sdist.name} has no directory {subdirectory!r}")
            source = inner
        return self.build_tree(source, label, work / "out")

    def build_tree(self, source: Path, label: str, out_dir: Path, *, own: bool = False) -> Path:
        """Build the project at ``source`` into a (non-editable) wheel in ``out_dir``.

        :param own: ``source`` is one of the user's project directories (not an sdist or a
            checkout of someone else's code): when its backend is hatchling and this environment
            already satisfies its build requirements, it is built in this process
        """
        from pyproject_hooks import BuildBackendHookCaller, HookMissing

        backend, backend_path, requires = _build_system(source, label)
        if own and backend == HATCHLING and backend_path is None and satisfied(requires):
            built = self._build_here(source, label, out_dir)
            if built is not None:
                return built
        env_python = self._environment(requires, label)
        runner = _CapturingRunner()
        hooks = BuildBackendHookCaller(
            str(source),
            backend,
            backend_path=backend_path,
            python_executable=str(env_python),
            runner=runner,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        # pyproject_hooks re-raises the backend's warnings here (BuildBackendWarning): kept with
        # its output, not printed by Python whatever the verbosity
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            try:
                try:
                    extra = hooks.get_requires_for_build_wheel({})
                except HookMissing:
                    extra = []
                if extra:
                    hooks = BuildBackendHookCaller(
                        str(source),
                        backend,
                        backend_path=backend_path,
                        python_executable=str(self._environment((*requires, *extra), label)),
                        runner=runner,
                    )
                name = hooks.build_wheel(str(out_dir), {})
            except subprocess.CalledProcessError:
                # the backend's environment is ours, which may hold index credentials
                raise self._failed(label, source, runner.output) from None
            except Exception as error:  # backend import failures and such surface as various types
                raise BuildError(
                    f"building a wheel for {label} failed: {scrub(str(error), self._secrets())}"
                ) from None
        warned_text = "".join(f"{w.category.__name__}: {w.message}\n" for w in warned)
        self._report(label, runner.output + warned_text)
        return out_dir / name

    def _report(self, label: str, output: str) -> None:
        """Pass on what a successful build said, without secrets (a backend runs with our
        environment, which may hold index credentials)."""
        lines = output.strip().splitlines()
        if lines:
            said = "\n".join(f"    {line}" for line in lines)
            self.said(f"The build of {label} said:\n{scrub(said, self._secrets())}")

    def _build_here(self, source: Path, label: str, out_dir: Path) -> Path | None:
        """Build ``source`` in this process (:func:`~.inprocess.build_here`); None when the
        wheel target needs more than this environment has."""
        try:
            built = build_here(source, out_dir)
        except InProcessBuildError as error:
            raise self._failed(label, source, error.output) from None
        if built is None:
            return None
        wheel, output = built
        self._report(label, output)
        return wheel

    def _failed(self, label: str, source: Path, output: str) -> BackendFailedError:
        """The error for a backend that failed, quoting the end of ``output`` without secrets
        (a backend runs with our environment, which may hold index credentials)."""
        lines = scrub(output.strip(), self._secrets()).splitlines()
        return BackendFailedError(
            f"building a wheel for {label} from {source} failed; the build said:\n"
            f"{indented(lines[-OUTPUT_TAIL:])}",
            source,
            lines,
        )

    def _secrets(self) -> list[str]:
        return [s for found in self.credentials.values() for s in secrets_of(found)]

    def _environment(self, requires: Sequence[str], label: str) -> Path:
        """The interpreter of an environment holding ``requires``, created once and cached."""
        description = json.dumps(
            {
                "python": os.path.realpath(self.python),
                "version": sys.version,
                "requires": sorted(requires),
                "indexes": [self.indexes.index_urls, self.indexes.find_links],
            }
        )
        final = self.cache.build_environment(description)
        ready = final / "ready"
        if ready.exists():
            return _env_python(final)
        # Created where it stays (a virtual environment does not survive a move), under a lock
        # so that concurrent builds wait for one another instead of racing.
        with locked(final):
            if not ready.exists():
                if final.exists():  # left by an interrupted creation
                    shutil.rmtree(final)
                _create_environment(
                    self.python,
                    self.uv,
                    final,
                    list(requires),
                    self.indexes,
                    self.credentials,
                    label,
                    offline=self.offline,
                    network=self.network,
                )
                replace_file(ready, b"ok\n")
        return _env_python(final)


def _env_python(env: Path) -> Path:
    if os.name == "nt":  # pragma: no cover
        return env / "Scripts" / "python.exe"
    return env / "bin" / "python"


def _create_environment(
    python: str,
    uv: str | None,
    env: Path,
    requires: list[str],
    indexes: PackageIndexes,
    credentials: Mapping[str, tuple[str, str]],
    label: str,
    *,
    offline: bool = False,
    network: NetworkSettings | None = None,
) -> None:
    installer_env, secrets = indexes.installer_environ(
        "pip" if uv is None else "uv", credentials, os.environ
    )
    installer_env = (network or NetworkSettings()).installer_environ(installer_env)
    # offline: the installer's own cache (uv) or the lock's local wheel directories (pip), and
    # no index at all
    quiet = ["--quiet", *(["--offline"] if offline and uv is not None else [])]
    pip_quiet = ["--quiet", *(["--no-index"] if offline else [])]
    if uv is not None:
        commands = [[uv, "venv", *quiet, "--python", python, str(env)]]
        if requires:
            commands.append(
                [
                    uv,
                    "pip",
                    "install",
                    *quiet,
                    "--python",
                    str(_env_python(env)),
                    *indexes.installer_args(),
                    *requires,
                ]
            )
    else:
        commands = [[python, "-m", "venv", str(env)]]
        if requires:
            commands.append(
                [
                    str(_env_python(env)),
                    "-m",
                    "pip",
                    "install",
                    *pip_quiet,
                    "--disable-pip-version-check",
                    *indexes.installer_args(),
                    *requires,
                ]
            )
    for command in commands:
        # run outside the project, so that its [tool.uv] settings do not apply; user-level
        # configuration (certificates, keyring, proxies) still does
        result = subprocess.run(
            command,
            cwd=env.parent,
            env=installer_env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-OUTPUT_TAIL:]
            hint = (
                "\nDownloads are off (offline): the build requirements must be in the cache. "
                "Build once with network access"
                if offline
                else ""
            )
            # where they were looked for: the lock's indexes (or mirrors), else the installer's own
            places = [redact(url) for url in indexes.index_urls] or ["its default index"]
            looked = ", ".join([*places, *indexes.find_links])
            raise BuildError(
                f"cannot create the build environment for {label} (requirements: "
                f"{', '.join(requires) or 'none'}; the installer looked in {looked}):\n"
                + indented(scrub("\n".join(output), secrets).splitlines())
                + hint
            )


def _build_system(source: Path, label: str) -> tuple[str, list[str] | None, list[str]]:
    pyproject = source / "pyproject.toml"
    if not pyproject.exists():
        if not (source / "setup.py").exists():
            raise BuildError(
                f"{label}: {source} has neither pyproject.toml nor setup.py; it cannot be built"
            )
        return DEFAULT_BACKEND, None, list(DEFAULT_REQUIRES)
    try:
        document = read_toml(pyproject)
    except (OSError, TOMLError) as error:
        raise BuildError(f"{label}: cannot read {pyproject}: {error}") from None
    system: Mapping[str, Any] = document.get("build-system", {})
    if not isinstance(system, dict):
        raise BuildError(f"{label}: `build-system` in {pyproject} must be a table")
    requires = system.get("requires", list(DEFAULT_REQUIRES) if not system else [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise BuildError(f"{label}: `build-system.requires` in {pyproject} must be strings")
    for requirement in requires:
        try:
            Requirement(requirement)
        except InvalidRequirement as error:
            raise BuildError(
                f"{label}: invalid build requirement {requirement!r}: {error}"
            ) from None
    backend = system.get("build-backend", DEFAULT_BACKEND)
    backend_path = system.get("backend-path")
    if not isinstance(backend, str) or (
        backend_path is not None
        and (
            not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path)
        )
    ):
        raise BuildError(f"{label}: `build-system` in {pyproject} is malformed")
    return backend, backend_path, requires


class _CapturingRunner:
    """Runs backend hooks quietly, keeping their output for an error message."""

    def __init__(self) -> None:
        self.output = ""

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        # a backend is third-party code: it gets no index credentials to copy into a wheel
        env = without_credentials(os.environ)
        env.update(extra_environ or {})
        env.pop("PYTHONPATH", None)
        # a wheel built again from the same sdist must be the same bytes (a wheelhouse ships it
        # as it is): backends that honour it stamp entries with this time, not the build's
        env.setdefault("SOURCE_DATE_EPOCH", str(DEFAULT_EPOCH))
        # the environment's scripts (ninja, cmake, cython, ...) come first, as in pypa/build
        bin_dir = os.path.dirname(cmd[0])
        env["PATH"] = os.pathsep.join(filter(None, [bin_dir, env.get("PATH")]))
        result = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            # the files a backend writes get modes from the umask, and their modes go into the
            # wheel: the most common one, so that the wheel is the same whoever builds it
            umask=0o022 if os.name == "posix" else -1,
        )
        self.output = (result.stdout or "") + (result.stderr or "")
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, cmd, result.stdout, result.stderr
            )


def _unpack_sdist(sdist: Path, destination: Path, label: str) -> Path:
    """Extract an sdist (a tar, plain or compressed with gzip, bzip2 or xz, or a ``.zip``) within
    :func:`~.extract.extract_safely`'s bounds, refusing entries that escape ``destination``."""
    try:
        root = extract_safely(sdist, destination)
    except UnsafeArchiveError as error:
        raise BuildError(f"{label}: refusing unsafe sdist {sdist.name}: {error}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
        raise BuildError(f"{label}: cannot unpack sdist {sdist.name}: {error}") from None
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root
