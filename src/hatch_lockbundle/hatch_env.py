"""Where hatch writes the PEP 751 lock of one of the project's environments, read from its TOML.

hatch is not importable inside its own build environment, so this follows hatch 1.18's rules
(``hatch/env/lock.py``: ``resolve_lockfile_path``; ``hatch/project/config.py``: templates)
on the configuration as written: ``[tool.hatch]`` of ``pyproject.toml``, whose top-level
tables a ``hatch.toml`` beside it replaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._compat import tomllib
from .errors import LockbundleError

HATCH_FILE = "hatch.toml"
DEFAULT_ENV = "default"
# context fields of `lock-filename` that hatch formats and that this reads: others are refused
_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class HatchEnvironment:
    """One hatch environment, as far as its lock is concerned."""

    name: str
    #: where ``hatch env lock NAME`` writes its lock
    lock_path: Path
    #: ``skip-install`` (or ``detached``): the project itself is not installed in it
    skips_project: bool
    #: the project's extras it installs (``features``)
    features: tuple[str, ...]


def hatch_environment(
    project_root: Path, document: Mapping[str, Any], name: str
) -> HatchEnvironment:
    """The environment ``name`` of the project at ``project_root`` (``document``: its decoded
    ``pyproject.toml``)."""
    where, envs = _environments(project_root, document)
    if name not in envs and name != DEFAULT_ENV:
        known = ", ".join(f"`{env}`" for env in sorted({DEFAULT_ENV, *envs}))
        raise LockbundleError(
            f"{where} defines no hatch environment `{name}` (`tool.lockbundle.hatch-env`); "
            f"its environments: {known}. Name one of them, or define "
            f"`[tool.hatch.envs.{name}]`"
        )
    config = _inherited(name, envs, where)
    filename = config.get("lock-filename")
    if filename:
        if not isinstance(filename, str):
            raise LockbundleError(
                f"{where}: field `tool.hatch.envs.{name}.lock-filename` must be a string"
            )
        path = project_root / _formatted(filename, name, where)
    elif name == DEFAULT_ENV:
        path = project_root / "pylock.toml"
    else:
        # hatch: PEP 751 allows one dot in the name, so `pylock.<name>.toml` has none in <name>
        path = project_root / f"pylock.{name.replace('.', '-')}.toml"
    features = config.get("features", [])
    return HatchEnvironment(
        name=name,
        lock_path=path,
        skips_project=bool(config.get("skip-install") or config.get("detached")),
        features=tuple(item for item in features if isinstance(item, str))
        if isinstance(features, list)
        else (),
    )


def _environments(project_root: Path, document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where the environments are configured, and their tables as written."""
    tool = document.get("tool")
    hatch = tool.get("hatch") if isinstance(tool, Mapping) else None
    config = dict(hatch) if isinstance(hatch, Mapping) else {}
    where = str(project_root / "pyproject.toml")
    hatch_file = project_root / HATCH_FILE
    if hatch_file.is_file():
        try:
            config.update(tomllib.loads(hatch_file.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise LockbundleError(f"{hatch_file}: not valid TOML ({error})") from None
        if "envs" in config:
            where = str(hatch_file)
    envs = config.get("envs", {})
    if not isinstance(envs, Mapping):
        raise LockbundleError(f"{where}: field `tool.hatch.envs` must be a table")
    return where, {name: table for name, table in envs.items() if isinstance(table, Mapping)}


def _inherited(name: str, envs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An environment's options with those of its templates (``template``, ``default`` unless
    set; ``detached`` environments inherit nothing), as hatch merges them."""
    merged: dict[str, Any] = {}
    seen: list[str] = []
    current = name
    while True:
        if current in seen:
            chain = " -> ".join([*seen, current])
            raise LockbundleError(f"{where}: circular `template` of hatch environments: {chain}")
        seen.append(current)
        table = dict(envs.get(current, {}))
        for key, value in table.items():
            merged.setdefault(key, value)
        if table.get("detached"):
            return merged
        template = table.get("template", DEFAULT_ENV)
        if template == current:
            return merged
        if template not in envs and template != DEFAULT_ENV:
            raise LockbundleError(
                f"{where}: field `tool.hatch.envs.{current}.template` names an unknown "
                f"environment `{template}`"
            )
        current = template


def _formatted(filename: str, name: str, where: str) -> str:
    """``lock-filename`` with hatch's ``{env_name}`` filled in (the one context field a lock's
    name needs; the others depend on the machine hatch runs on)."""

    def field(match: re.Match[str]) -> str:
        if match[1] == "env_name":
            return name
        raise LockbundleError(
            f"{where}: field `tool.hatch.envs.{name}.lock-filename` uses `{{{match[1]}}}`, which "
            "hatch-lockbundle does not fill in (only `{env_name}`); set "
            "`tool.lockbundle.lock` to the lock file's path instead"
        )

    return _FIELD.sub(field, filename)
