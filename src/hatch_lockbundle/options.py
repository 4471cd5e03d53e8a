"""How an option of ``[tool.lockbundle]`` is declared, read and checked, one value at a time."""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name

from .archive import LEVELS
from .credentials import redact_urls
from .mirrors import MIRRORS_VARIABLE, entry_problem, normalized_index, parse_entry
from .network import KEYRING_VARIABLE, NATIVE_TLS_VARIABLE, keyring_provider_of, native_tls_of
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
#: the key of a dataclass field's metadata that holds its :class:`Option`
DECLARED = "lockbundle-option"
IMPLEMENTATIONS = {"cpython": "cpython", "cp": "cpython"}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
_PYTHON = re.compile(r"3\.\d+(\.\d+)?")
_PYPI = "https://pypi.org/simple"


class Table(enum.Enum):
    """Where an option can be set."""

    TOP = "tool.lockbundle"
    BUNDLE = "tool.lockbundle.bundles.NAME"
    COMMAND_LINE = "command line"


@dataclass(frozen=True)
class Setting:
    """One key of one table as it is read: where it was set, and where its problems go."""

    #: the table: ``tool.lockbundle``, ``tool.lockbundle.bundles.NAME`` or ``command line``
    table: str
    key: str
    #: what relative paths are relative to
    root: Path
    errors: list[str]

    @property
    def name(self) -> str:
        return f"{self.table}.{self.key}"

    def error(self, message: str) -> None:
        self.errors.append(message)


#: checks one value and returns it as :class:`~.config.BundleConfig` holds it; a value it
#: refuses is reported through :meth:`Setting.error` (what it returns then is not used)
Reader = Callable[[Any, Setting], Any]


@dataclass(frozen=True)
class Needs:
    """Another option that must be set for an option to mean anything."""

    option: str
    #: why, in a few words
    why: str
    #: what to do instead
    remedy: str


@dataclass(frozen=True)
class Option:
    """One option of ``[tool.lockbundle]``: everything about it, in one place."""

    read: Reader
    #: one line: what it is for
    description: str
    #: the layouts it means something for
    layouts: tuple[str, ...] = LAYOUTS
    needs: Needs | None = None
    tables: frozenset[Table] = frozenset(Table)
    #: how the docs state a default that means "not set" (None, or an empty list)
    unset: str = "none"
    #: a table whose keys each table sets over the ones before it (not the table as a whole)
    by_key: bool = False
    #: filled from the :class:`~.config.BundleConfig` field that declares it
    key: str = ""
    field: str | None = None
    default: Any = None


def declare(
    read: Reader,
    description: str,
    *,
    layouts: tuple[str, ...] = LAYOUTS,
    needs: Needs | None = None,
    tables: frozenset[Table] = frozenset(Table),
    unset: str = "none",
    by_key: bool = False,
) -> dict[str, Option]:
    """The metadata that makes a :class:`~.config.BundleConfig` field an option, its key the
    field's name with ``-`` for ``_``: ``field(default=..., metadata=declare(...))``."""
    return {DECLARED: Option(read, description, layouts, needs, tables, unset, by_key)}


def declared_options(config_type: type[Any]) -> tuple[Option, ...]:
    """The options declared by the fields of a dataclass, in their order."""
    return tuple(
        replace(
            declared.metadata[DECLARED],
            key=declared.name.replace("_", "-"),
            field=declared.name,
            default=declared.default,
        )
        for declared in fields(config_type)
        if DECLARED in declared.metadata
    )


# -- readers: hatchling's wording, a TypeError-style text for a wrong type, a ValueError-style one
# -- for a wrong value -----------------------------------------------------------------------------


def string(value: Any, at: Setting) -> str | None:
    if not isinstance(value, str):
        at.error(f"Field `{at.name}` must be a string")
        return None
    return value


def non_empty_string(value: Any, at: Setting) -> str | None:
    text = string(value, at)
    if text is not None and not text.strip():
        at.error(f"Field `{at.name}` must not be empty")
    return text


def project_path(value: Any, at: Setting) -> Path | None:
    """A path relative to the project (or, on the command line, to the working directory)."""
    text = string(value, at)
    return None if text is None else (at.root / text).resolve()


def choice(*choices: str) -> Reader:
    def read(value: Any, at: Setting) -> str | None:
        text = string(value, at)
        if text is not None and text not in choices:
            listing = ", ".join(f'"{choice}"' for choice in choices)
            at.error(f"Field `{at.name}` must be one of {listing}, not {text!r}")
        return text

    return read


def boolean(value: Any, at: Setting) -> bool | None:
    if not isinstance(value, bool):
        at.error(f"Field `{at.name}` must be a boolean")
        return None
    return value


def strings(value: Any, at: Setting) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        at.error(f"Field `{at.name}` must be an array of strings")
        return None
    items = []
    for index, item in enumerate(value, 1):
        if not isinstance(item, str) or not item.strip():
            at.error(f"Entry #{index} of field `{at.name}` must be a non-empty string")
        else:
            items.append(item)
    return tuple(items)


def relative_paths(value: Any, at: Setting) -> tuple[str, ...] | None:
    """Paths relative to the project, ``/``-separated, without ``..``: normalised (``./a//b/``
    is ``a/b``)."""
    paths = []
    for index, item in enumerate(strings(value, at) or (), 1):
        parts = [part for part in item.split("/") if part not in ("", ".")]
        if item.startswith("/") or "\\" in item or ".." in parts or not parts:
            at.error(
                f"Entry #{index} of field `{at.name}` must be a path relative to the project, "
                f'with `/` and without `..`, like "handler.py" or "app": not {item!r}'
            )
        else:
            paths.append("/".join(parts))
    return tuple(paths)


def archive_path(value: Any, at: Setting) -> str | None:
    text = string(value, at)
    if text is not None and (text.startswith("/") or "\\" in text or ".." in text.split("/")):
        at.error(f'Field `{at.name}` must be a relative path inside the archive, like "python"')
    return text


def names(value: Any, at: Setting) -> tuple[str, ...] | None:
    items = strings(value, at)
    if items is None:
        return None
    return tuple(dict.fromkeys(str(canonicalize_name(item)) for item in items))


def names_or_all(value: Any, at: Setting) -> tuple[str, ...] | Literal["all"] | None:
    if value == "all":
        return "all"
    if isinstance(value, str):
        at.error(f'Field `{at.name}` must be an array of strings or the string "all"')
        return None
    return names(value, at)


def level(value: Any, at: Setting) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in LEVELS:
        at.error(
            f"Field `{at.name}` must be a whole number from {LEVELS[0]} (no compression, "
            f"fastest) to {LEVELS[-1]} (smallest, slowest), not {value!r}"
        )
        return None
    return int(value)


def size(value: Any, at: Setting) -> int | None:
    parsed = parse_size(value)
    if parsed is None:
        at.error(
            f'Field `{at.name}` must be a number of bytes or a size like "250MB", '
            f'"50 MiB" or "1.5GB", not {value!r}'
        )
    return parsed


def parse_size(value: Any) -> int | None:
    """Bytes from an integer or a string like ``"250MB"``, ``"50 MiB"``, ``"1.5GB"``; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if not isinstance(value, str) or not (match := _SIZE.fullmatch(value)):
        return None
    return int(float(match[1]) * _UNITS[(match[2] or "B").lower()])


def python_version(value: Any, at: Setting) -> str | None:
    text = string(value, at)
    if text is not None and not _PYTHON.fullmatch(text):
        at.error(f'Field `{at.name}` must be a Python version like "3.12" or "3.12.4"')
    return text


def implementation(value: Any, at: Setting) -> str | None:
    text = string(value, at)
    if text is None:
        return None
    if text.lower() not in IMPLEMENTATIONS:
        at.error(
            f"Field `{at.name}` must be `cpython`: only CPython targets are supported, not {text!r}"
        )
    return IMPLEMENTATIONS.get(text.lower(), text)


def platforms(value: Any, at: Setting) -> tuple[str, ...] | None:
    items = strings(value, at)
    if items is None:
        return None
    resolved = []
    # the command line's platforms come from --python-platform, not from a table
    named = "`--python-platform`" if at.table == COMMAND_LINE else f"field `{at.name}`"
    for index, item in enumerate(items, 1):
        try:
            resolved.append(resolve_platform(item))
        except PlainLinuxPlatformError as error:
            at.error(
                f"Platform #{index} of {named}, `{item}`, accepts no manylinux or musllinux "
                "wheel (only wheels built on one machine): use "
                f"{error.meant}, or another manylinux or musllinux tag"
            )
        except UnknownPlatformError:
            at.error(
                f"Platform #{index} of {named} is not a known platform "
                f"tag: `{item}` (use a wheel platform tag such as `manylinux_2_28_x86_64`, "
                f"`musllinux_1_2_aarch64`, `macosx_14_0_arm64`, `win_amd64`, or one of: "
                f"{', '.join(PLATFORM_ALIASES)})"
            )
    return tuple(dict.fromkeys(resolved))


def mirrors(value: Any, at: Setting) -> tuple[tuple[str, str], ...] | None:
    """``{ "<index URL in the lock>" = "<mirror URL>" }`` (URL prefixes end with ``*``), or
    ``FROM=TO`` strings as ``--mirror`` and ``LOCKBUNDLE_MIRRORS`` give them."""
    # the command line's entries come from --mirror, the environment's from the variable
    named = {MIRRORS_VARIABLE: MIRRORS_VARIABLE, COMMAND_LINE: "`--mirror`"}.get(
        at.table, f"field `{at.name}`"
    )
    sentence = named[:1].upper() + named[1:]
    given: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        given = list(value.items())
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        try:
            given = [parse_entry(item) for item in value]
        except ValueError as error:
            at.error(f"{sentence}: {error}")
            return None
    else:
        at.error(f'{sentence} must be a table like {{ "{_PYPI}" = "<mirror URL>" }}')
        return None
    entries = dict(given)
    _refuse_two_mirrors_for_an_index(given, named, at)
    pairs = []
    for source, mirror in entries.items():
        problem = (
            entry_problem(source, mirror) if isinstance(mirror, str) else "must be a URL string"
        )
        if problem is None:
            pairs.append((normalized_index(source), mirror))
        else:
            at.error(f"Entry `{redact_urls(source)}` of {named}: {problem}")
    return tuple(pairs)


def _refuse_two_mirrors_for_an_index(
    entries: list[tuple[str, Any]], named: str, at: Setting
) -> None:
    """Keeping either of two mirrors given for one index would hide a mistake in the other.

    Entries are named by their number: a mirror may carry credentials, even in a ``NAME=URL``.
    """
    first: dict[str, int] = {}
    for number, (source, mirror) in enumerate(entries, 1):
        index = normalized_index(source)
        earlier = first.setdefault(index, number)
        if earlier != number and entries[earlier - 1][1] != mirror:
            at.error(
                f"Entries #{earlier} and #{number} of {named} give two different mirrors for "
                f"`{index}`: keep one"
            )


@dataclass(frozen=True)
class Variable:
    """An environment variable that sets an option as a table would: over the project's tables,
    under the command line, as uv orders them. The way to set it for ``hatch build``, which
    passes no options to a builder."""

    name: str
    #: the option it sets
    key: str
    #: reads the variable's text (not blank) into the option's value
    read: Reader
    #: not read at all when the command line gives the option, as uv does with this one
    #: (uv 0.13 refuses a garbage UV_NATIVE_TLS even with --native-tls, not a garbage
    #: UV_KEYRING_PROVIDER with --keyring-provider)
    unread_under_command_line: bool = False


def _mirror_entries(text: str, at: Setting) -> tuple[tuple[str, str], ...] | None:
    """``LOCKBUNDLE_MIRRORS``: ``FROM=TO`` entries separated by whitespace or newlines."""
    return mirrors(text.split(), at)


def _from(parse: Callable[[str], Any]) -> Reader:
    """A reader of a variable that ``parse`` reads as uv does, its ``ValueError`` the message."""

    def read(text: str, at: Setting) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            at.error(str(error))
            return None

    return read


VARIABLES = (
    Variable(MIRRORS_VARIABLE, "mirrors", _mirror_entries),
    Variable(NATIVE_TLS_VARIABLE, "native-tls", _from(native_tls_of)),
    Variable(
        KEYRING_VARIABLE,
        "keyring-provider",
        _from(keyring_provider_of),
        unread_under_command_line=True,
    ),
)


def by_variables(environ: Mapping[str, str] | None = None) -> list[tuple[Variable, str]]:
    """The variables of :data:`VARIABLES` that are set, each with its text: a blank one is
    unset, as in uv."""
    environ = os.environ if environ is None else environ
    given = [(variable, environ.get(variable.name, "")) for variable in VARIABLES]
    return [(variable, text) for variable, text in given if text.strip()]


def table_of_tables(value: Any, at: Setting) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        at.error(f"Field `{at.name}` must be a table of tables")
        return None
    return value
