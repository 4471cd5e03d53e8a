"""``[tool.lockbundle]``, validated once into a frozen :class:`BundleConfig`.

Each option is declared once, as a field of :class:`BundleConfig`: its reader, its default, the
layouts it applies to and what else it needs (:func:`~.options.declare`). Reading, the unknown-field
message, the checks of where an option applies and the reference in ``docs/configuration.md`` (by
its test) all follow those declarations.

Reading the tables and checking them together is :mod:`.config_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import options as read  # the readers: read.boolean, read.choice(...)
from .archive import DEFAULT_LEVEL
from .archive import FORMATS as ARCHIVE_FORMATS
from .network import KEYRING_PROVIDERS
from .options import (
    COMMAND_LINE,
    LAYOUTS,
    TABLE,
    Needs,
    Option,
    Table,
    declare,
    declared_options,
)

__all__ = ["COMMAND_LINE", "LAYOUTS", "OPTION", "OPTIONS", "TABLE", "BundleConfig", "field_of"]

PRESETS = ("aws-lambda",)
ARCHITECTURES = ("x86_64", "arm64")
#: how a target bundle gets its files from the cache (uv's names)
LINK_MODES = ("hardlink", "copy")
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # a zip uploaded directly to AWS Lambda
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # a function and its layers, unzipped
TARGET = ("target",)
WHEELHOUSE = ("wheelhouse",)
NEEDS_ARCHIVE = Needs(
    "archive",
    "without an archive the bundle is a directory",
    'set `archive = "zip"` or `archive = "tar.gz"`, or remove it',
)
NEEDS_PRESET = Needs(
    "preset",
    "it is the architecture the preset picks wheels for",
    'set `preset = "aws-lambda"`, or name the platform in `platforms` and remove it',
)
_IN_A_NAMED_BUNDLE = frozenset({Table.BUNDLE, Table.COMMAND_LINE})


@dataclass(frozen=True)
class BundleConfig:
    """The options of one bundle. Every field declared with :func:`~.options.declare` is the
    option of the same name (``-`` for ``_``), in the order of the docs' reference."""

    lock: Path | None = field(
        default=None,
        metadata=declare(
            read.project_path,
            "the lock to read, relative to the project: a uv.lock or a PEP 751 pylock.toml",
            unset="the nearest `uv.lock` at or above the project (an error if it does not lock "
            "it); with no `uv.lock` at or above, `pylock.toml` beside the project",
        ),
    )
    hatch_env: str | None = field(
        default=None,
        metadata=declare(read.non_empty_string, "read the lock hatch writes for this environment"),
    )
    lock_made_for_target: bool = field(
        default=False,
        metadata=declare(read.boolean, "a pylock.toml without `environments` fits the target"),
    )
    package: str | None = field(
        default=None,
        metadata=declare(
            read.non_empty_string,
            "the root package to bundle",
            unset="this project (`project.name`)",
        ),
    )
    extras: tuple[str, ...] | Literal["all"] = field(
        default=(), metadata=declare(read.names_or_all, "extras of the root to include")
    )
    groups: tuple[str, ...] = field(
        default=(), metadata=declare(read.names, "dependency groups of the root to include")
    )
    compile_bytecode: bool = field(
        default=False,
        metadata=declare(
            read.boolean, "write hash-based .pyc files, for the running Python", layouts=TARGET
        ),
    )
    link_mode: str = field(
        default="hardlink",
        metadata=declare(
            read.choice(*LINK_MODES),
            "share the bundle's files with the cache (read-only, checked before use) or copy them",
            layouts=TARGET,
        ),
    )
    binary_only: bool = field(
        default=False,
        metadata=declare(
            read.boolean, "leave downloaded pure-Python wheels on their index", layouts=WHEELHOUSE
        ),
    )
    archive: str | None = field(
        default=None,
        metadata=declare(
            read.choice(*ARCHIVE_FORMATS),
            "pack the bundle into one tar.gz or zip file instead of a directory",
        ),
    )
    compression_level: int = field(
        default=DEFAULT_LEVEL,
        metadata=declare(
            read.level,
            "the archive's zlib level: 0 stores, 9 is smallest and slowest",
            needs=NEEDS_ARCHIVE,
        ),
    )
    python: str | None = field(
        default=None,
        metadata=declare(
            read.python_version,
            'the target Python, "3.12" or "3.12.4"',
            unset="the running interpreter",
        ),
    )
    implementation: str = field(
        default="cpython", metadata=declare(read.implementation, "the target implementation")
    )
    platforms: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            read.platforms, "platform tags of the target (aliases resolved)", unset="this machine"
        ),
    )
    prefix: str | None = field(
        default=None,
        metadata=declare(
            read.archive_path,
            "the directory every archive entry is under",
            needs=NEEDS_ARCHIVE,
            unset="target: none (entries at the top); wheelhouse: the bundle's name",
        ),
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata=declare(read.strings, "gitignore-style patterns of files removed", layouts=TARGET),
    )
    include: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            read.relative_paths,
            "files and directories of the project copied to the top of the bundle",
            layouts=TARGET,
        ),
    )
    trim: bool = field(
        default=False,
        metadata=declare(read.boolean, "remove what deployments do not need", layouts=TARGET),
    )
    max_size: int | None = field(
        default=None,
        metadata=declare(
            read.size,
            "the budget of the unpacked bundle, in bytes",
            unset="none (`aws-lambda`: 250 MiB)",
        ),
    )
    max_archive_size: int | None = field(
        default=None,
        metadata=declare(
            read.size,
            "the budget of the archive, in bytes",
            needs=NEEDS_ARCHIVE,
            unset="none (`aws-lambda`: 50 MiB)",
        ),
    )
    preset: str | None = field(
        default=None, metadata=declare(read.choice(*PRESETS), "defaults for a platform")
    )
    architecture: str | None = field(
        default=None,
        metadata=declare(
            read.choice(*ARCHITECTURES),
            "the architecture of the preset's platform",
            needs=NEEDS_PRESET,
            unset='`"x86_64"`',
        ),
    )
    frozen: bool = field(
        default=False,
        metadata=declare(read.boolean, "use the lock as it is, unchecked (uv's --frozen)"),
    )
    sbom: bool = field(
        default=False, metadata=declare(read.boolean, "write a CycloneDX SBOM beside the bundle")
    )
    require_hashes: bool = field(
        default=True,
        metadata=declare(read.boolean, "refuse files that the lock records without a hash"),
    )
    mirrors: tuple[tuple[str, str], ...] = field(
        default=(),
        repr=False,  # a mirror serves the locked bytes (hash-checked): not part of the stamp
        metadata=declare(
            read.mirrors, "a mirror's simple index URL for an index URL of the lock", by_key=True
        ),
    )
    # how files are fetched, not what the bundle holds: left out of the no-op stamp (repr)
    # `UV_KEYRING_PROVIDER` wins over this when set, as in uv: an override, not a default
    keyring_provider: str = field(
        default="disabled",
        repr=False,
        metadata=declare(
            read.choice(*KEYRING_PROVIDERS),
            "ask the `keyring` command for an index's password after a 401 (uv's setting)",
        ),
    )
    native_tls: bool = field(
        default=False,
        repr=False,
        metadata=declare(read.boolean, "trust the system's certificate store (`--native-tls`)"),
    )
    layout: str = field(
        default="target",
        metadata=declare(
            read.choice(*LAYOUTS), "the layout a named bundle builds", tables=_IN_A_NAMED_BUNDLE
        ),
    )
    #: the bundle built: a layout, or a named bundle (``hatch build -t lockbundle:BUNDLE``)
    bundle: str = "target"
    #: where ``include`` was set, for the messages about its entries
    include_field: str = field(default=f"{TABLE}.include", compare=False, repr=False)


BUNDLES = Option(
    read.table_of_tables,
    "named bundles, each built by `hatch build -t lockbundle:NAME`",
    tables=frozenset({Table.TOP}),
    key="bundles",
)
#: every option, in the order of the docs' reference
OPTIONS = (*declared_options(BundleConfig), BUNDLES)
OPTION = {option.key: option for option in OPTIONS}
_FIELD = {option.key: option.field for option in OPTIONS if option.field is not None}


def field_of(key: str) -> str:
    """The :class:`BundleConfig` field of the option ``key``."""
    return _FIELD[key]
