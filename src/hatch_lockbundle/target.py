"""The environment a bundle is for: its marker environment and its ordered wheel tags."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from packaging.markers import default_environment
from packaging.tags import (
    Tag,
    compatible_tags,
    cpython_tags,
    mac_platforms,
    platform_tags,
    sys_tags,
)
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

#: Short names users expect, for the platform tags they stand for.
PLATFORM_ALIASES = {
    "linux-x86_64": "manylinux_2_28_x86_64",
    "linux-amd64": "manylinux_2_28_x86_64",
    "linux-aarch64": "manylinux_2_28_aarch64",
    "linux-arm64": "manylinux_2_28_aarch64",
    "musllinux-x86_64": "musllinux_1_2_x86_64",
    "musllinux-aarch64": "musllinux_1_2_aarch64",
    "macos-arm64": "macosx_13_0_arm64",
    "macos-x86_64": "macosx_13_0_x86_64",
    "windows-x86_64": "win_amd64",
    "windows-amd64": "win_amd64",
    "windows-arm64": "win_arm64",
    "windows-x86": "win32",
}

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(\w+)")
_LEGACY_MANYLINUX = re.compile(r"manylinux(1|2010|2014)_(\w+)")
_MUSLLINUX = re.compile(r"musllinux_(\d+)_(\d+)_(\w+)")
_MACOS = re.compile(r"macosx_(\d+)_(\d+)_(\w+)")
_LINUX = re.compile(r"linux_(\w+)")
_WINDOWS = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}
# glibc versions of the legacy manylinux names, and the architectures they were defined for
_LEGACY = {
    "1": (5, {"x86_64", "i686"}),
    "2010": (12, {"x86_64", "i686"}),
    "2014": (17, {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}),
}
_LINUX_ARCHS = {"x86_64", "i686", "aarch64", "armv7l", "armv6l", "ppc64", "ppc64le", "s390x",
                "riscv64", "loongarch64"}  # fmt: skip
_MAC_ARCHS = {"arm64", "x86_64", "universal2", "intel", "fat64", "fat32", "universal", "i386"}


class UnknownPlatformError(ValueError):
    """Not a wheel platform tag (or alias) that this tool can target."""


class PlainLinuxPlatformError(UnknownPlatformError):
    """A plain ``linux_<arch>`` tag: a machine of that tag accepts no manylinux or musllinux
    wheel, only wheels built on one machine, so it is almost never what was meant."""

    def __init__(self, tag: str, arch: str) -> None:
        super().__init__(tag)
        self.arch = arch

    @property
    def meant(self) -> str:
        """What was probably meant: the glibc and the musl platform of ``arch``, each by its
        alias where there is one, e.g. ``linux-aarch64`` (``manylinux_2_28_aarch64``)."""
        named = []
        for tag in (f"manylinux_2_28_{self.arch}", f"musllinux_1_2_{self.arch}"):
            alias = next((a for a, aliased in PLATFORM_ALIASES.items() if aliased == tag), None)
            named.append(f"`{tag}`" if alias is None else f"`{alias}` (`{tag}`)")
        return f"{named[0]}, {named[1]} for musl systems such as Alpine"


def resolve_platform(name: str) -> str:
    """The platform tag for ``name`` (an alias or a tag); raises :class:`UnknownPlatformError`
    (:class:`PlainLinuxPlatformError` for ``linux_<arch>``)."""
    tag = PLATFORM_ALIASES.get(name, name)
    if (match := _LINUX.fullmatch(tag)) and match[1] in _LINUX_ARCHS:
        raise PlainLinuxPlatformError(tag, match[1])
    platform_family(tag)
    return tag


def canonical_platform(tag: str) -> str:
    """``tag`` with a legacy manylinux name spelt as PEP 600 does (``manylinux2014_x86_64`` is
    ``manylinux_2_17_x86_64``), so that one platform is named once in messages."""
    if match := _LEGACY_MANYLINUX.fullmatch(tag):
        legacy = _LEGACY.get(match[1])
        if legacy is not None:
            return f"manylinux_2_{legacy[0]}_{match[2]}"
    return tag


def platform_family(tag: str) -> tuple[list[str], dict[str, str]]:
    """Every platform tag a machine of ``tag`` accepts, most specific first, and its markers."""
    if match := _MANYLINUX.fullmatch(tag):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        oldest = 5 if arch in ("x86_64", "i686") else 17
        if major != 2 or minor < oldest or arch not in _LINUX_ARCHS:
            raise UnknownPlatformError(tag)
        platforms = []
        for glibc in range(minor, oldest - 1, -1):
            platforms.append(f"manylinux_2_{glibc}_{arch}")
            platforms += [
                f"manylinux{name}_{arch}"
                for name, (legacy, archs) in _LEGACY.items()
                if legacy == glibc and arch in archs
            ]
        return [*platforms, f"linux_{arch}"], _linux(arch)
    if match := _LEGACY_MANYLINUX.fullmatch(tag):
        glibc, archs = _LEGACY[match[1]]
        if match[2] not in archs:
            raise UnknownPlatformError(tag)
        return platform_family(f"manylinux_2_{glibc}_{match[2]}")
    if match := _MUSLLINUX.fullmatch(tag):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        if major != 1 or arch not in _LINUX_ARCHS:
            raise UnknownPlatformError(tag)
        platforms = [f"musllinux_1_{musl}_{arch}" for musl in range(minor, -1, -1)]
        return [*platforms, f"linux_{arch}"], _linux(arch)
    if match := _MACOS.fullmatch(tag):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        if arch not in _MAC_ARCHS or major < 10:
            raise UnknownPlatformError(tag)
        machine = "arm64" if arch == "arm64" else "x86_64"
        markers = {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                   "platform_machine": machine}  # fmt: skip
        return list(mac_platforms((major, minor), arch)), markers
    if tag in _WINDOWS:
        markers = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                   "platform_machine": _WINDOWS[tag]}  # fmt: skip
        return [tag], markers
    if (match := _LINUX.fullmatch(tag)) and match[1] in _LINUX_ARCHS:
        return [tag], _linux(match[1])
    raise UnknownPlatformError(tag)


def _linux(arch: str) -> dict[str, str]:
    return {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "platform_machine": arch}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A Python environment to install for.

    ``tags`` are in an installer's order of preference: the first is the most specific.
    """

    environment: Mapping[str, str]
    tags: Sequence[Tag]
    #: ``major.minor`` of the target interpreter
    python_version: str
    #: whether this is the interpreter running the build (bytecode can only be compiled for it)
    native: bool = False
    #: the platform tag asked for (None: this machine)
    platform: str | None = None

    @classmethod
    def current(cls) -> Target:
        """The running interpreter and platform."""
        return cls(
            environment={k: str(v) for k, v in default_environment().items()},
            tags=tuple(sys_tags()),
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            native=True,
        )

    @classmethod
    def for_(cls, python: str | None = None, platform: str | None = None) -> Target:
        """CPython ``python`` ("3.12" or "3.12.4"; default: the running version) on ``platform``
        (a platform tag or alias; default: this machine)."""
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if platform is None and python in (None, running, _full_version()):
            return cls.current()
        version = python or _full_version()
        parts = [int(part) for part in version.split(".")]
        major, minor = parts[0], parts[1]
        full = version if len(parts) == 3 else f"{major}.{minor}.0"
        environment = {k: str(v) for k, v in default_environment().items()}
        if platform is None:
            platforms = list(platform_tags())
        else:
            platform = resolve_platform(platform)
            platforms, markers = platform_family(platform)
            environment.update(markers)
            environment.update(platform_release="", platform_version="")
        environment.update(
            python_version=f"{major}.{minor}",
            python_full_version=full,
            implementation_version=full,
            implementation_name="cpython",
            platform_python_implementation="CPython",
        )
        interpreter = f"cp{major}{minor}"
        tags = [
            *cpython_tags((major, minor), abis=[interpreter], platforms=platforms),
            *compatible_tags((major, minor), interpreter=interpreter, platforms=platforms),
        ]
        native = f"{major}.{minor}" == running and platform is None
        return cls(environment, tuple(tags), f"{major}.{minor}", native, platform)

    @cached_property
    def fits_builds_here(self) -> bool:
        """Whether a wheel compiled on this machine can suit this target: it is the running
        interpreter, or accepts the tags a compiled wheel built here carries (this CPython's
        own ABI on this kind of machine: ``cp311-cp311-linux_x86_64``). Pure-Python wheels
        suit any target."""
        return self.native or any(
            tag.abi not in ("none", "abi3") and tag in self.priority for tag in sys_tags()
        )

    @cached_property
    def priority(self) -> Mapping[Tag, int]:
        return {tag: rank for rank, tag in reversed(list(enumerate(self.tags)))}

    def wheel_rank(self, filename: str) -> int | None:
        """Rank of a wheel file for this target (lower is preferred), or None if it does not fit."""
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        ranks = [self.priority[tag] for tag in tags if tag in self.priority]
        return min(ranks) if ranks else None

    def describe(self) -> str:
        env = self.environment
        where = (
            self.platform or f"{env.get('sys_platform', '?')} {env.get('platform_machine', '?')}"
        )
        python = f"{env.get('implementation_name', '?')} {env.get('python_full_version', '?')}"
        return f"{python} on {where}"

    @property
    def marker(self) -> str:
        """The environment marker of this target's platform."""
        env = self.environment
        return (
            f"platform_machine == '{env['platform_machine']}' and "
            f"sys_platform == '{env['sys_platform']}'"
        )


def _full_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])
