"""A controlled environment for the pip, uv and hatch subprocesses that the tests run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Variables that change what pip, uv, hatch, virtualenv or Python do. The machine running the tests may
# set some (a find-links directory, an extra index, a virtualenv): none of them leaks into a subprocess.
_STRIPPED_PREFIXES = ("PIP_", "UV_", "HATCH_", "VIRTUALENV_", "LOCKBUNDLE_", "PYTHON", "CONDA_")
_STRIPPED_NAMES = frozenset({"VIRTUAL_ENV", "SOURCE_DATE_EPOCH", "__PYVENV_LAUNCHER__"})


def clean_environ(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without tool configuration, plus settings that pin the tools down.

    :param overrides: variables set last, after the defaults below.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_STRIPPED_PREFIXES) and key not in _STRIPPED_NAMES
    }
    env.update(
        {
            # No pip.conf: the machine's may add an extra index or find-links. (uv's `--no-config`
            # is no use here: it also ignores the `[tool.uv]` index of the fixture projects; see
            # `Sandbox`, which hides user and system uv.toml files instead.)
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
            "NO_COLOR": "1",
        }
    )
    if overrides:
        env.update(overrides)
    return env


@dataclass(frozen=True)
class Sandbox:
    """Directories that keep the tools' configuration, caches and temporary files out of the machine's.

    Every path lives under ``root`` (a pytest temporary directory), so a path of the build machine
    written into a bundle shows up as ``root`` in its bytes. Plain HTTP(S) to anywhere but loopback
    goes to ``offline_proxy``, a port that refuses connections: a test that would reach the internet
    fails instead.
    """

    root: Path
    offline_proxy: str

    def __post_init__(self) -> None:
        for path in (self.config_home, self.tmp):
            path.mkdir(parents=True, exist_ok=True)

    @property
    def config_home(self) -> Path:
        """An empty ``XDG_CONFIG_HOME``: no user uv.toml, hatch config.toml or pip.conf."""
        return self.root / "config"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def uv_cache(self) -> Path:
        return self.root / "uv-cache"

    @property
    def hatch_data(self) -> Path:
        return self.root / "hatch-data"

    def environ(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """:func:`clean_environ` pointed into the sandbox, then ``overrides``."""
        no_proxy = "127.0.0.1,localhost,::1"
        return clean_environ(
            {
                "XDG_CONFIG_HOME": str(self.config_home),
                "XDG_CONFIG_DIRS": str(self.config_home),
                "TMPDIR": str(self.tmp),
                "UV_CACHE_DIR": str(self.uv_cache),
                "PIP_CACHE_DIR": str(self.root / "pip-cache"),
                "HATCH_DATA_DIR": str(self.hatch_data),
                "HATCH_CACHE_DIR": str(self.root / "hatch-cache"),
                "VIRTUALENV_OVERRIDE_APP_DATA": str(self.root / "virtualenv"),
                **dict.fromkeys(_PROXY_VARIABLES, self.offline_proxy),
                **{name.lower(): self.offline_proxy for name in _PROXY_VARIABLES},
                "NO_PROXY": no_proxy,
                "no_proxy": no_proxy,
                **(overrides or {}),
            }
        )


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    check: bool = True,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; with ``check``, fail showing both streams.

    :param args: the command and its arguments.
    :param cwd: the working directory.
    :param env: the complete environment (see :func:`clean_environ`).
    :param check: raise :class:`CommandFailed` on a non-zero exit.
    :param input: text sent to standard input (otherwise standard input is empty).
    :param timeout: seconds before the command is killed.
    """
    result = subprocess.run(
        [os.fspath(arg) for arg in args],
        cwd=cwd,
        env=dict(env),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise CommandFailed(result)
    return result


class CommandFailed(AssertionError):
    """A command that had to succeed did not; the message shows its output."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(describe(result))


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A command's arguments, exit code and output, for assertion messages."""
    args = " ".join(str(arg) for arg in result.args)
    return (
        f"command: {args}\nexit code: {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


@cache
def uv_binary() -> Path:
    """The ``uv`` executable of the ``uv`` package installed in the test environment."""
    import uv

    return Path(uv.find_uv_bin())
