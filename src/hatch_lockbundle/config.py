"""``[tool.lockbundle]``, validated once into a frozen :class:`BundleConfig`."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name

from .archive import DEFAULT_LEVEL, LEVELS
from .archive import FORMATS as ARCHIVE_FORMATS
from .errors import ConfigurationError
from .target import (
    PLATFORM_ALIASES,
    PlainLinuxPlatformError,
    UnknownPlatformError,
    resolve_platform,
)

TABLE = "tool.lockbundle"
#: the label of options given on the command line (``lockbundle build --python-platform ...``)
COMMAND_LINE = "command line"
LAYOUTS = ("target", "wheelhouse")
IMPLEMENTATIONS = {"cpython": "cpython", "cp": "cpython"}
PRESETS = ("aws-lambda",)
ARCHITECTURES = ("x86_64", "arm64")
#: how a target bundle gets its files from the cache (uv's names)
LINK_MODES = ("hardlink", "copy")
#: every key ``[tool.lockbundle]`` accepts: the one list that validation and the docs' tests use;
#: ``layout`` only in a named bundle, ``bundles`` only at the top
OPTIONS = (
    "lock", "package", "extras", "groups", "compile-bytecode", "require-hashes", "frozen", "sbom",
    "compression-level",
    "binary-only", "archive", "python", "implementation", "platforms", "prefix", "exclude", "trim",
    "max-size", "max-archive-size", "preset", "architecture", "link-mode", "layout", "bundles",
    "include",
)  # fmt: skip
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # a zip uploaded directly to AWS Lambda
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # a function and its layers, unzipped
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
_PYTHON = re.compile(r"3\.\d+(\.\d+)?")
_BUNDLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class BundleConfig:
    #: the ``uv.lock`` to read; None means "find the one that locks this project"
    lock: Path | None = None
    #: the root package to bundle; None means this project
    package: str | None = None
    extras: tuple[str, ...] | Literal["all"] = ()
    groups: tuple[str, ...] = ()
    compile_bytecode: bool = False
    #: refuse remote artifacts that the lock records without a hash
    require_hashes: bool = True
    layout: str = "target"
    #: wheelhouse: leave downloaded pure-Python wheels on their index
    binary_only: bool = False
    #: pack the bundle into one ``tar.gz`` or ``zip`` file instead of a directory
    archive: str | None = None
    #: the archive's zlib level: 0 stores, 9 is smallest and slowest
    compression_level: int = DEFAULT_LEVEL
    #: the target Python, "3.12" or "3.12.4"; None: the running interpreter
    python: str | None = None
    implementation: str = "cpython"
    #: platform tags (aliases resolved); empty: this machine
    platforms: tuple[str, ...] = ()
    #: the name in the artifact: the layout, or the named bundle
    variant: str = "target"
    #: the directory every archive entry is under (None: the layout's default)
    prefix: str | None = None
    #: gitignore-style patterns of files removed from a target bundle
    exclude: tuple[str, ...] = ()
    #: files and directories of the project (relative, ``/``-separated) copied as they are to
    #: the top of a target bundle, each under its own name
    include: tuple[str, ...] = ()
    #: where ``include`` was set, for the messages about its entries
    include_field: str = field(default=f"{TABLE}.include", compare=False, repr=False)
    #: remove what deployments do not need (see :data:`TRIM_PATTERNS`)
    trim: bool = False
    #: budgets in bytes: the unpacked bundle and its archive
    max_size: int | None = None
    max_archive_size: int | None = None
    preset: str | None = None
    architecture: str | None = None
    #: use the lock as it is, without checking it against pyproject.toml (uv's ``--frozen``)
    frozen: bool = False
    #: write a CycloneDX SBOM beside the bundle
    sbom: bool = False
    #: target layout: share files with the cache (read-only, checked before use) or copy them
    link_mode: str = "hardlink"


def bundle_names(raw: Any) -> list[str]:
    """The names of ``[tool.lockbundle.bundles.*]`` (without validating anything else)."""
    bundles = raw.get("bundles") if isinstance(raw, Mapping) else None
    return [str(name) for name in bundles] if isinstance(bundles, Mapping) else []


def load_and_validate_config(
    raw: Any,
    project_root: Path,
    version: str = "target",
    overrides: Mapping[str, Any] | None = None,
) -> BundleConfig:
    """Turn the raw ``[tool.lockbundle]`` table into the :class:`BundleConfig` of one bundle.

    :param raw: the decoded table (or None when the project has no such table)
    :param project_root: the directory of the project's ``pyproject.toml``
    :param version: a layout, or the name of a ``[tool.lockbundle.bundles.NAME]`` table
        (as in ``hatch build -t lockbundle:VERSION``)
    :param overrides: options given on the command line (same keys as the table), applied last
    :raises ConfigurationError: listing every problem found, in every table
    """
    errors: list[str] = []
    source = str(project_root / "pyproject.toml")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError([f"Field `{TABLE}` must be a table"], source)

    top = _read_table(raw, TABLE, project_root, errors, allow_layout=False)
    bundles: dict[str, dict[str, Any]] = {}
    raw_bundles = raw.get("bundles", {})
    if not isinstance(raw_bundles, Mapping):
        errors.append(f"Field `{TABLE}.bundles` must be a table of tables")
        raw_bundles = {}
    for name, table in raw_bundles.items():
        label = f"{TABLE}.bundles.{name}"
        if not _BUNDLE_NAME.fullmatch(name) or name in LAYOUTS:
            errors.append(
                f"Bundle name `{name}` in `{TABLE}.bundles` must be letters, digits, `.`, `_` "
                f"and `-`, and not a layout name ({', '.join(LAYOUTS)})"
            )
        if not isinstance(table, Mapping):
            errors.append(f"Field `{label}` must be a table")
            continue
        bundles[name] = _read_table(table, label, project_root, errors, allow_layout=True)

    settings = dict(top)
    where = dict.fromkeys(top, TABLE)
    if version in LAYOUTS:
        settings["layout"] = version
    elif version in bundles:
        settings.update(bundles[version])
        where.update(dict.fromkeys(bundles[version], f"{TABLE}.bundles.{version}"))
    else:
        known = [*LAYOUTS, *bundles]
        errors.append(
            f"Unknown bundle `{version}`: use one of {', '.join(known)} (as in "
            f"`hatch build -t lockbundle:{known[-1]}`), or define `[{TABLE}.bundles.{version}]`"
        )
    if overrides:
        given = _read_table(overrides, COMMAND_LINE, Path.cwd(), errors, allow_layout=True)
        settings.update(given)
        where.update(dict.fromkeys(given, COMMAND_LINE))
    if errors:
        raise ConfigurationError(errors, source)
    if settings.get("preset") == "aws-lambda":
        for key, value in _lambda_defaults(settings).items():
            settings.setdefault(key, value)
    _include_for_layout(settings, where, errors)
    if "include" in settings:
        settings["include_field"] = f"{where['include']}.include"
    config = BundleConfig(variant=version, **settings)
    _check_combination(config, where, errors)
    if errors:
        raise ConfigurationError(errors, source)
    return config


def _lambda_defaults(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What ``preset = "aws-lambda"`` sets, unless the table sets it explicitly."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = ".".join(str(settings.get("python", running)).split(".")[:2])
    machine = "aarch64" if settings.get("architecture") == "arm64" else "x86_64"
    # Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), older ones on Amazon Linux 2
    glibc = 34 if tuple(int(part) for part in python.split(".")) >= (3, 12) else 26
    return {
        "platforms": (f"manylinux_2_{glibc}_{machine}",),
        "archive": "zip",
        "max_archive_size": LAMBDA_ZIP_LIMIT,
        "max_size": LAMBDA_UNZIPPED_LIMIT,
    }


def parse_size(value: Any) -> int | None:
    """Bytes from an integer or a string like ``"250MB"``, ``"50 MiB"``, ``"1.5GB"``; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if not isinstance(value, str) or not (match := _SIZE.fullmatch(value)):
        return None
    return int(float(match[1]) * _UNITS[(match[2] or "B").lower()])


def _check_combination(config: BundleConfig, where: Mapping[str, str], errors: list[str]) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    target_python = ".".join((config.python or running).split(".")[:2])
    if config.compile_bytecode and config.layout == "target" and target_python != running:
        errors.append(
            f"Field `{where.get('compile_bytecode', TABLE)}.compile-bytecode` needs the target "
            f"Python ({target_python}) to be the one running the build ({running}): bytecode is "
            f"specific to a Python version. Build with Python {target_python}, or turn it off"
        )
    if config.layout == "target" and len(config.platforms) > 1:
        errors.append(
            f"Field `{where.get('platforms', TABLE)}.platforms` lists {len(config.platforms)} "
            "platforms, but a target bundle is for one platform: make one named bundle per "
            "platform, or use the wheelhouse layout"
        )


def _include_for_layout(
    settings: dict[str, Any], where: Mapping[str, str], errors: list[str]
) -> None:
    """``include`` fills target bundles: a wheelhouse leaves out the top table's list (which
    serves the target bundles beside it), and refuses one set for it alone.

    Whether each entry exists is checked when a bundle is built
    (:func:`~.include.check_included`), so that a table is valid wherever it is read.
    """
    if not settings.get("include") or settings.get("layout", "target") == "target":
        return
    if where["include"] == TABLE:
        del settings["include"]
        return
    errors.append(
        f"Field `{where['include']}.include` applies to target bundles only (a "
        f"{settings['layout']} holds wheels): remove it"
    )


def _read_table(
    raw: Mapping[str, Any], label: str, root: Path, errors: list[str], *, allow_layout: bool
) -> dict[str, Any]:
    """The options set in one table, as :class:`BundleConfig` keyword arguments."""
    fields_ = _Fields(raw, label, errors)
    values: dict[str, Any] = {
        "lock": fields_.string("lock"),
        "package": fields_.string("package"),
        "extras": fields_.names_or_all("extras"),
        "groups": fields_.names("groups"),
        "compile_bytecode": fields_.boolean("compile-bytecode"),
        "require_hashes": fields_.boolean("require-hashes"),
        "frozen": fields_.boolean("frozen"),
        "sbom": fields_.boolean("sbom"),
        "binary_only": fields_.boolean("binary-only"),
        "archive": fields_.choice("archive", ARCHIVE_FORMATS),
        "compression_level": fields_.level("compression-level"),
        "python": fields_.string("python"),
        "implementation": fields_.string("implementation"),
        "platforms": fields_.platforms("platforms"),
        "prefix": fields_.string("prefix"),
        "exclude": fields_.strings("exclude"),
        "include": fields_.relative_paths("include"),
        "trim": fields_.boolean("trim"),
        "max_size": fields_.size("max-size"),
        "max_archive_size": fields_.size("max-archive-size"),
        "preset": fields_.choice("preset", PRESETS),
        "architecture": fields_.choice("architecture", ARCHITECTURES),
        "link_mode": fields_.choice("link-mode", LINK_MODES),
    }
    if values["exclude"] is not None:
        values["exclude"] = tuple(values["exclude"])
    if values["include"] is not None:
        values["include"] = tuple(values["include"])
    prefix = values["prefix"]
    if prefix is not None and (
        prefix.startswith("/") or "\\" in prefix or ".." in prefix.split("/")
    ):
        errors.append(
            f'Field `{label}.prefix` must be a relative path inside the archive, like "python"'
        )
    if allow_layout:
        values["layout"] = fields_.choice("layout", LAYOUTS)
    known = sorted(set(OPTIONS) - {"bundles" if allow_layout else "layout"})
    for key in raw:
        if key not in known:
            errors.append(f"Unknown field `{label}.{key}`; known fields are: {', '.join(known)}")
    if values["package"] is not None and not values["package"].strip():
        errors.append(f"Field `{label}.package` must not be empty")
    if values["lock"] is not None:
        values["lock"] = (root / values["lock"]).resolve()
    python = values["python"]
    if python is not None and not _PYTHON.fullmatch(python):
        errors.append(f'Field `{label}.python` must be a Python version like "3.12" or "3.12.4"')
    implementation = values["implementation"]
    if implementation is not None:
        if implementation.lower() not in IMPLEMENTATIONS:
            errors.append(
                f"Field `{label}.implementation` must be `cpython`: only CPython targets are "
                f"supported, not {implementation!r}"
            )
        values["implementation"] = IMPLEMENTATIONS.get(implementation.lower(), implementation)
    return {key: value for key, value in values.items() if value is not None}


class _Fields:
    """Reads one field at a time, recording type errors in the hatchling wording."""

    def __init__(self, raw: Mapping[str, Any], label: str, errors: list[str]) -> None:
        self.raw = raw
        self.label = label
        self.errors = errors

    def _get(self, key: str) -> Any:
        return self.raw.get(key)

    def string(self, key: str) -> str | None:
        value = self._get(key)
        if value is not None and not isinstance(value, str):
            self.errors.append(f"Field `{self.label}.{key}` must be a string")
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(key)
        if value is not None and value not in choices:
            listing = ", ".join(f'"{choice}"' for choice in choices)
            self.errors.append(
                f"Field `{self.label}.{key}` must be one of {listing}, not {value!r}"
            )
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key)
        if value is not None and not isinstance(value, bool):
            self.errors.append(f"Field `{self.label}.{key}` must be a boolean")
            return None
        return value

    def strings(self, key: str) -> list[str] | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.errors.append(f"Field `{self.label}.{key}` must be an array of strings")
            return None
        items = []
        for index, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                self.errors.append(
                    f"Entry #{index} of field `{self.label}.{key}` must be a non-empty string"
                )
            else:
                items.append(item)
        return items

    def relative_paths(self, key: str) -> list[str] | None:
        """Paths relative to the project, ``/``-separated, without ``..``: normalised
        (``./a//b/`` is ``a/b``)."""
        items = self.strings(key)
        if items is None:
            return None
        paths = []
        start = len(self.errors)
        for index, item in enumerate(items, 1):
            parts = [part for part in item.split("/") if part not in ("", ".")]
            if item.startswith("/") or "\\" in item or ".." in parts or not parts:
                self.errors.append(
                    f"Entry #{index} of field `{self.label}.{key}` must be a path relative to "
                    f'the project, with `/` and without `..`, like "handler.py" or "app": '
                    f"not {item!r}"
                )
            else:
                paths.append("/".join(parts))
        return paths if len(self.errors) == start else None

    def names(self, key: str) -> tuple[str, ...] | None:
        items = self.strings(key)
        if items is None:
            return None
        return tuple(dict.fromkeys(str(canonicalize_name(item)) for item in items))

    def names_or_all(self, key: str) -> tuple[str, ...] | Literal["all"] | None:
        value = self.raw.get(key)
        if isinstance(value, str):
            if value == "all":
                return "all"
            self.errors.append(
                f'Field `{self.label}.{key}` must be an array of strings or the string "all"'
            )
            return None
        return self.names(key)

    def level(self, key: str) -> int | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value not in LEVELS:
            self.errors.append(
                f"Field `{self.label}.{key}` must be a whole number from {LEVELS[0]} (no "
                f"compression, fastest) to {LEVELS[-1]} (smallest, slowest), not {value!r}"
            )
            return None
        return int(value)

    def size(self, key: str) -> int | None:
        value = self._get(key)
        if value is None:
            return None
        size = parse_size(value)
        if size is None:
            self.errors.append(
                f'Field `{self.label}.{key}` must be a number of bytes or a size like "250MB", '
                f'"50 MiB" or "1.5GB", not {value!r}'
            )
        return size

    def platforms(self, key: str) -> tuple[str, ...] | None:
        items = self.strings(key)
        if items is None:
            return None
        resolved = []
        # the command line's platforms come from --python-platform, not from a table
        named = f"field `{self.label}.{key}`"
        field_ = "`--python-platform`" if self.label == COMMAND_LINE else named
        for index, item in enumerate(items, 1):
            try:
                resolved.append(resolve_platform(item))
            except PlainLinuxPlatformError as error:
                self.errors.append(
                    f"Platform #{index} of {field_}, `{item}`, accepts no manylinux or "
                    "musllinux wheel (only wheels built on one machine): use "
                    f"{error.meant}, or another manylinux or musllinux tag"
                )
            except UnknownPlatformError:
                self.errors.append(
                    f"Platform #{index} of {field_} is not a known platform "
                    f"tag: `{item}` (use a wheel platform tag such as `manylinux_2_28_x86_64`, "
                    f"`musllinux_1_2_aarch64`, `macosx_14_0_arm64`, `win_amd64`, or one of: "
                    f"{', '.join(PLATFORM_ALIASES)})"
                )
        return tuple(dict.fromkeys(resolved))
