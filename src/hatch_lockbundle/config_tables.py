"""The tables of ``[tool.lockbundle]`` read, merged and checked into one bundle's configuration.

The top table, the named bundles' tables, the environment and the command line become the
:class:`~.config.BundleConfig` of one bundle, every problem reported at once.

The top table is inherited by every bundle, the layouts and the named ones: an inherited option
that does not apply to a bundle (``trim`` for a wheelhouse) is left out for it, as the top table may
serve several bundles; the same option set in the bundle's own table or on the command line is an
error. A top-level option that applies to no bundle at all (``architecture`` without any
``preset``) is an error too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import options as read  # the readers: read.by_variables(...)
from .config import (
    LAMBDA_UNZIPPED_LIMIT,
    LAMBDA_ZIP_LIMIT,
    OPTION,
    OPTIONS,
    BundleConfig,
    field_of,
)
from .errors import ConfigurationError
from .options import COMMAND_LINE, LAYOUTS, TABLE, Option, Setting, Table

__all__ = ["bundle_names", "load_and_validate_config"]

#: what a bundle of each layout holds, to say why an option of the other one means nothing there
_HOLDS = {
    "target": "a target bundle holds installed distributions, not wheels",
    "wheelhouse": "a wheelhouse holds wheels",
}
_PLURAL = {"target": "target bundles", "wheelhouse": "wheelhouses"}
_BUNDLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: options that each name the lock to read: a table that sets one replaces both inherited
_LOCK_CHOICES = ("lock", "hatch-env")


#: where the options of a table come from, when not from the project's ``pyproject.toml``
_PLACES = {
    **{variable.name: variable.name for variable in read.VARIABLES},
    COMMAND_LINE: "the command line",
}


@dataclass
class _Problems:
    """Every problem found, and the places they are in, for the heading of the error: the
    project's ``pyproject.toml``, ``LOCKBUNDLE_MIRRORS``, the command line."""

    pyproject: str
    errors: list[str] = field(default_factory=list)
    places: dict[str, None] = field(default_factory=dict)

    def add(self, message: str, *tables: str) -> None:
        """:param tables: the labels of the tables the problem is in"""
        self.errors.append(message)
        self.blame(*tables)

    def blame(self, *tables: str) -> None:
        for table in tables:
            self.places[_PLACES.get(table, self.pyproject)] = None

    def raise_any(self) -> None:
        if self.errors:
            raise ConfigurationError(self.errors, " and ".join(self.places))


@dataclass
class _Table:
    """The options one table sets, read: the values it got right, and the keys it got wrong."""

    label: str
    values: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@dataclass
class _Settings:
    """The options of one bundle, its tables merged; each key with the table that set it."""

    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    #: keys whose value was refused: no check of a combination looks at them
    failed: set[str] = field(default_factory=set)

    @property
    def layout(self) -> str:
        return str(self.values.get("layout", "target"))


def bundle_names(raw: Any) -> list[str]:
    """The names of ``[tool.lockbundle.bundles.*]`` (without validating anything else)."""
    bundles = raw.get("bundles") if isinstance(raw, Mapping) else None
    return [str(name) for name in bundles] if isinstance(bundles, Mapping) else []


def load_and_validate_config(
    raw: Any,
    project_root: Path,
    bundle: str = "target",
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> BundleConfig:
    """Turn the raw ``[tool.lockbundle]`` table into the :class:`BundleConfig` of one bundle.

    :param raw: the decoded table (or None when the project has no such table)
    :param project_root: the directory of the project's ``pyproject.toml``
    :param bundle: a layout, or the name of a ``[tool.lockbundle.bundles.NAME]`` table
        (as in ``hatch build -t lockbundle:BUNDLE``)
    :param overrides: options given on the command line (same keys as the table), applied last
    :param environ: for the variables that set options (``LOCKBUNDLE_MIRRORS``,
        ``UV_NATIVE_TLS``, ``UV_KEYRING_PROVIDER``; default: ``os.environ``), applied before
        them and after the tables, as uv orders them
    :raises ConfigurationError: listing every problem found, in every table, at once
    """
    problems = _Problems(str(project_root / "pyproject.toml"))
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError([f"Field `{TABLE}` must be a table"], problems.pyproject)

    top = _read_table(raw, TABLE, Table.TOP, project_root, problems)
    top.failed.discard("bundles")
    named = _read_bundles(top.values.pop("bundles", {}), project_root, problems)
    if bundle in LAYOUTS:
        own = _Table(TABLE, {"layout": bundle})
    elif bundle in named:
        own = named[bundle]
    else:
        known = [*LAYOUTS, *named]
        problems.add(
            f"Unknown bundle `{bundle}`: use one of {', '.join(known)} (as in "
            f"`hatch build -t lockbundle:{known[-1]}`), or define `[{TABLE}.bundles.{bundle}]`",
            TABLE,
        )
        own = _Table(TABLE)
    given = _read_table(overrides or {}, COMMAND_LINE, Table.COMMAND_LINE, Path.cwd(), problems)
    variables = [
        _read_variable(variable, text, problems)
        for variable, text in read.by_variables(environ)
        if not (
            variable.unread_under_command_line and variable.key in {*given.values, *given.failed}
        )
    ]

    settings = _merged(top, own, *variables, given)
    # every bundle's own table is checked whichever is built, as its values are
    every = {layout: _merged(top, _Table(TABLE, {"layout": layout})) for layout in LAYOUTS}
    every.update({name: _merged(top, table) for name, table in named.items()})
    every[bundle] = settings
    for each in every.values():
        _leave_out_or_refuse(each, problems)
    _check_top_table_serves_a_bundle(top, every.values(), problems)
    _check_combinations(settings, problems)
    problems.raise_any()
    values = {field_of(key): value for key, value in settings.values.items()}
    if "include" in settings.values:
        values["include_field"] = f"{settings.where['include']}.include"
    return BundleConfig(bundle=bundle, **values)


def _read_bundles(
    raw: Mapping[str, Any], project_root: Path, problems: _Problems
) -> dict[str, _Table]:
    """The ``[tool.lockbundle.bundles.NAME]`` tables, each read."""
    named = {}
    for name, table in raw.items():
        label = f"{TABLE}.bundles.{name}"
        if not _BUNDLE_NAME.fullmatch(name) or name in LAYOUTS:
            problems.add(
                f"Bundle name `{name}` in `{TABLE}.bundles` must be letters, digits, `.`, `_` "
                f"and `-`, and not a layout name ({', '.join(LAYOUTS)})",
                label,
            )
        if not isinstance(table, Mapping):
            problems.add(f"Field `{label}` must be a table", label)
            continue
        named[name] = _read_table(table, label, Table.BUNDLE, project_root, problems)
    return named


def _read_table(
    raw: Mapping[str, Any], label: str, kind: Table, root: Path, problems: _Problems
) -> _Table:
    """Read every option set in one table, each by its declared reader."""
    table = _Table(label)
    accepted = [option for option in OPTIONS if kind in option.tables]
    for option in accepted:
        if option.key not in raw:
            continue
        before = len(problems.errors)
        value = option.read(raw[option.key], Setting(label, option.key, root, problems.errors))
        if len(problems.errors) == before:
            table.values[option.key] = value
        else:
            table.failed.add(option.key)
            problems.blame(label)
    known = sorted(option.key for option in accepted)
    for key in raw:
        if key not in known:
            problems.add(
                f"Unknown field `{label}.{key}`; known fields are: {', '.join(known)}", label
            )
    return table


def _read_variable(variable: read.Variable, text: str, problems: _Problems) -> _Table:
    """The option an environment variable sets, as a table of its own named after it."""
    table = _Table(variable.name)
    before = len(problems.errors)
    value = variable.read(text, Setting(variable.name, variable.key, Path.cwd(), problems.errors))
    if len(problems.errors) == before:
        table.values[variable.key] = value
    else:
        table.failed.add(variable.key)
        problems.blame(variable.name)
    return table


def _merged(*tables: _Table) -> _Settings:
    """The options of a bundle: each table over the ones before it, then its preset's defaults."""
    settings = _Settings()
    for table in tables:
        if {*table.values, *table.failed} & set(_LOCK_CHOICES):
            for key in _LOCK_CHOICES:
                settings.values.pop(key, None)
                settings.where.pop(key, None)
                settings.failed.discard(key)
        for key, value in table.values.items():
            if OPTION[key].by_key:
                value = tuple({**dict(settings.values.get(key, ())), **dict(value)}.items())
            settings.values[key] = value
            settings.where[key] = table.label
            settings.failed.discard(key)
        for key in table.failed:
            settings.values.pop(key, None)
            settings.where[key] = table.label
            settings.failed.add(key)
    if settings.values.get("preset") == "aws-lambda":
        for key, value in _lambda_defaults(settings.values).items():
            if key not in settings.where:
                settings.values[key] = value
                settings.where[key] = settings.where["preset"]
    return settings


def _lambda_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """What ``preset = "aws-lambda"`` sets, unless the table sets it explicitly."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = ".".join(str(values.get("python", running)).split(".")[:2])
    machine = "aarch64" if values.get("architecture") == "arm64" else "x86_64"
    # Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), older ones on Amazon Linux 2
    glibc = 34 if tuple(int(part) for part in python.split(".")) >= (3, 12) else 26
    return {
        "platforms": (f"manylinux_2_{glibc}_{machine}",),
        "archive": "zip",
        "max-archive-size": LAMBDA_ZIP_LIMIT,
        "max-size": LAMBDA_UNZIPPED_LIMIT,
    }


def _why_not_applying(option: Option, settings: _Settings) -> str | None:
    """Why ``option`` means nothing for the bundle of ``settings`` (None: it applies, or what
    it depends on was refused already, so that the answer is not known)."""
    layout = settings.layout
    if "layout" not in settings.failed and layout not in option.layouts:
        wanted = " and ".join(_PLURAL[name] for name in option.layouts)
        return f"applies to {wanted} only ({_HOLDS[layout]}): remove it"
    needs = option.needs
    if needs is not None and not {needs.option} & {*settings.values, *settings.failed}:
        return f"applies only with `{needs.option}` ({needs.why}): {needs.remedy}"
    return None


def _leave_out_or_refuse(settings: _Settings, problems: _Problems) -> None:
    """Leave out the inherited options that do not apply to this bundle; refuse the others."""
    for key, where in list(settings.where.items()):
        why = _why_not_applying(OPTION[key], settings)
        if why is None:
            continue
        if where == TABLE:
            del settings.where[key]
            settings.values.pop(key, None)
            settings.failed.discard(key)
        else:
            problems.add(f"Field `{where}.{key}` {why}", where)


def _check_top_table_serves_a_bundle(
    top: _Table, bundles: Iterable[_Settings], problems: _Problems
) -> None:
    """A top-level option that applies to none of the bundles inheriting it is a mistake.

    Both layouts can always be built, so only what an option needs besides a layout (a preset,
    an archive) can leave it without a bundle.
    """
    inheriting = list(bundles)  # each bundle's settings, inherited options it ignores left out
    for key in [*top.values, *top.failed]:
        needs = OPTION[key].needs
        if needs is None:
            continue
        if not any(
            settings.where.get(key) == TABLE and _why_not_applying(OPTION[key], settings) is None
            for settings in inheriting
        ):
            problems.add(
                f"Field `{TABLE}.{key}` applies only with `{needs.option}` ({needs.why}), "
                f"which no bundle sets: {needs.remedy}",
                TABLE,
            )


def _check_combinations(settings: _Settings, problems: _Problems) -> None:
    """Options that are right alone, wrong together; a refused value is not looked at again."""

    def given(*keys: str) -> bool:
        return not {*keys, "layout"} & settings.failed

    values, where = settings.values, settings.where
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    target_python = ".".join(str(values.get("python", running)).split(".")[:2])
    if (
        given("compile-bytecode", "python")
        and settings.layout == "target"
        and values.get("compile-bytecode")
        and target_python != running
    ):
        problems.add(
            f"Field `{where['compile-bytecode']}.compile-bytecode` needs the target "
            f"Python ({target_python}) to be the one running the build ({running}): bytecode is "
            f"specific to a Python version. Build with Python {target_python}, or turn it off",
            where["compile-bytecode"],
            where.get("python", TABLE),
        )
    if given("lock", "hatch-env") and {"lock", "hatch-env"} <= values.keys():
        problems.add(
            f"Fields `{where['lock']}.lock` and `{where['hatch-env']}.hatch-env` both name the "
            "lock to read: keep one",
            where["lock"],
            where["hatch-env"],
        )
    platforms = values.get("platforms", ())
    if given("platforms") and settings.layout == "target" and len(platforms) > 1:
        problems.add(
            f"Field `{where['platforms']}.platforms` lists {len(platforms)} "
            "platforms, but a target bundle is for one platform: make one named bundle per "
            "platform, or use the wheelhouse layout",
            where["platforms"],
        )
