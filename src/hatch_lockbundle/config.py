"""``[tool.lockbundle]``, validated once into a frozen :class:`BundleConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name

from .archive import FORMATS as ARCHIVE_FORMATS
from .errors import ConfigurationError

TABLE = "tool.lockbundle"
LAYOUTS = ("target", "wheelhouse")


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


def load_and_validate_config(raw: Any, project_root: Path, layout: str = "target") -> BundleConfig:
    """Turn the raw ``[tool.lockbundle]`` table into a :class:`BundleConfig`.

    :param raw: the decoded table (or None when the project has no such table)
    :param project_root: the directory of the project's ``pyproject.toml``
    :param layout: the layout asked for on the command line (``hatch build -t lockbundle:LAYOUT``)
    :raises ConfigurationError: listing every problem found
    """
    errors: list[str] = []
    source = str(project_root / "pyproject.toml")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError([f"Field `{TABLE}` must be a table"], source)

    fields = _Fields(raw, errors)
    lock_text = fields.string("lock")
    package = fields.string("package")
    if package is not None and not package.strip():
        errors.append(f"Field `{TABLE}.package` must not be empty")
    extras = fields.names_or_all("extras")
    groups = fields.names("groups")
    compile_bytecode = fields.boolean("compile-bytecode", default=False)
    require_hashes = fields.boolean("require-hashes", default=True)
    binary_only = fields.boolean("binary-only", default=False)
    archive = fields.string("archive")
    if archive is not None and archive not in ARCHIVE_FORMATS:
        errors.append(
            f"Field `{TABLE}.archive` must be one of "
            + ", ".join(f'"{fmt}"' for fmt in ARCHIVE_FORMATS)
            + f", not {archive!r}"
        )
    for key in raw:
        if key not in fields.known:
            errors.append(
                f"Unknown field `{TABLE}.{key}`; known fields are: "
                f"{', '.join(sorted(fields.known))}"
            )
    if layout not in LAYOUTS:
        errors.append(
            f"Unknown layout `{layout}`: use one of {', '.join(LAYOUTS)} "
            "(as in `hatch build -t lockbundle:target`)"
        )
    if errors:
        raise ConfigurationError(errors, source)
    return BundleConfig(
        lock=(project_root / lock_text).resolve() if lock_text else None,
        package=package,
        extras=extras,
        groups=groups,
        compile_bytecode=compile_bytecode,
        require_hashes=require_hashes,
        layout=layout,
        binary_only=binary_only,
        archive=archive,
    )


class _Fields:
    """Reads one field at a time, recording type errors in the hatchling wording."""

    def __init__(self, raw: Mapping[str, Any], errors: list[str]) -> None:
        self.raw = raw
        self.errors = errors
        self.known: set[str] = set()

    def _get(self, key: str) -> Any:
        self.known.add(key)
        return self.raw.get(key)

    def string(self, key: str) -> str | None:
        value = self._get(key)
        if value is not None and not isinstance(value, str):
            self.errors.append(f"Field `{TABLE}.{key}` must be a string")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.errors.append(f"Field `{TABLE}.{key}` must be a boolean")
            return default
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.errors.append(f"Field `{TABLE}.{key}` must be an array of strings")
            return ()
        names = []
        for index, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                self.errors.append(
                    f"Entry #{index} of field `{TABLE}.{key}` must be a non-empty string"
                )
            else:
                names.append(str(canonicalize_name(item)))
        return tuple(dict.fromkeys(names))

    def names_or_all(self, key: str) -> tuple[str, ...] | Literal["all"]:
        value = self.raw.get(key)
        if isinstance(value, str):
            self.known.add(key)
            if value == "all":
                return "all"
            self.errors.append(
                f'Field `{TABLE}.{key}` must be an array of strings or the string "all"'
            )
            return ()
        return self.names(key)
