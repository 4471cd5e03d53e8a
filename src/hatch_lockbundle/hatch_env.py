"""Where hatch writes the PEP 751 lock of one of the project's environments, read from its TOML.

hatch is not importable inside its own build environment, so this follows hatch 1.18's rules
(``hatch/env/lock.py``: ``resolve_lockfile_path``; ``hatch/project/config.py``: templates)
on the configuration as written: ``[tool.hatch]`` of ``pyproject.toml``, whose top-level
tables a ``hatch.toml`` beside it replaces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._compat import TOMLError, read_toml
from .errors import LockbundleError

HATCH_FILE = "hatch.toml"
DEFAULT_ENV = "default"
# context fields of `lock-filename` that hatch formats and that this reads: others are refused
_FIELD = re.compile(r"\{([^{}]*)\}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


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
    matrix_of = name if name in envs else name.partition(".")[0]
    if envs.get(matrix_of, {}).get("matrix"):
        raise _matrix_not_expanded(project_root, name, matrix_of, envs, where)
    if name not in envs and name != DEFAULT_ENV:
        known = ", ".join(f"`{env}`" for env in sorted({DEFAULT_ENV, *envs}))
        raise LockbundleError(
            f"{where} defines no hatch environment `{name}` (`tool.lockbundle.hatch-env`); "
            f"its environments: {known}. Name one of them, or define "
            f"`[tool.hatch.envs.{_key(name)}]`"
        )
    config = _inherited(name, envs, where)
    features = config.get("features", [])
    return HatchEnvironment(
        name=name,
        lock_path=_lock_path(project_root, name, config, where),
        skips_project=bool(config.get("skip-install") or config.get("detached")),
        features=tuple(item for item in features if isinstance(item, str))
        if isinstance(features, list)
        else (),
    )


def _lock_path(project_root: Path, name: str, config: Mapping[str, Any], where: str) -> Path:
    """Where ``hatch env lock NAME`` writes the lock of the environment ``name`` (``config``:
    its options, templates merged)."""
    filename = config.get("lock-filename")
    if filename:
        if not isinstance(filename, str):
            raise LockbundleError(
                f"{where}: field `tool.hatch.envs.{_key(name)}.lock-filename` must be a string"
            )
        return project_root / _formatted(filename, name, where)
    if name == DEFAULT_ENV:
        return project_root / "pylock.toml"
    # hatch: PEP 751 allows one dot in the name, so `pylock.<name>.toml` has none in <name>
    return project_root / f"pylock.{name.replace('.', '-')}.toml"


def _matrix_not_expanded(
    project_root: Path, name: str, matrix_of: str, envs: Mapping[str, Any], where: str
) -> LockbundleError:
    """The error for an environment of a ``matrix``: hatch locks each generated environment on
    its own, under a name this does not compute (overrides may rename them), so the user
    names the generated environment's lock with ``lock``."""
    example = name if name != matrix_of else _first_generated_name(matrix_of, envs[matrix_of])
    if example is None:
        remedy = (
            f"lock one of the environments it generates (`hatch env show {matrix_of}` lists "
            "them) and set `tool.lockbundle.lock` to its lock file"
        )
    else:
        path = _lock_path(project_root, example, _inherited(matrix_of, envs, where), where)
        relative = Path(os.path.relpath(path, project_root)).as_posix()
        remedy = f'run `hatch env lock {example}` and set `tool.lockbundle.lock = "{relative}"`'
    return LockbundleError(
        f"{where}: hatch environment `{matrix_of}` has a `matrix`, and "
        f'`tool.lockbundle.hatch-env = "{name}"` does not expand matrices: {remedy}'
    )


def _first_generated_name(env: str, table: Mapping[str, Any]) -> str | None:
    """The name hatch gives the first environment its ``matrix`` generates (hatch 1.18,
    ``hatch/project/config.py``: a Python variable first, as ``pyX.Y``, the parts joined by
    ``-``, after ``ENV.`` unless ``ENV`` is ``default``); None when the matrix is not one
    hatch accepts."""
    matrices = table.get("matrix")
    first = matrices[0] if isinstance(matrices, list) and matrices else None
    name_format = table.get("matrix-name-format", "{value}")
    if not isinstance(first, Mapping) or not isinstance(name_format, str):
        return None
    python = next((variable for variable in ("py", "python") if variable in first), None)
    ordered = [python] if python else []
    parts = []
    for variable in [*ordered, *(key for key in first if key != python)]:
        values = first[variable]
        if not isinstance(values, list) or not values or not isinstance(values[0], str):
            return None
        value = values[0]
        if variable == python:
            parts.append(value if value.startswith("py") else f"py{value}")
        else:
            parts.append(name_format.format(variable=variable, value=value))
    generated = "-".join(parts)
    return generated if env == DEFAULT_ENV else f"{env}.{generated}"


def _key(name: str) -> str:
    """``name`` as a key of a TOML table header (quoted unless it is a bare key)."""
    return name if _BARE_KEY.fullmatch(name) else f'"{name}"'


def _environments(project_root: Path, document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where the environments are configured, and their tables as written."""
    tool = document.get("tool")
    hatch = tool.get("hatch") if isinstance(tool, Mapping) else None
    config = dict(hatch) if isinstance(hatch, Mapping) else {}
    where = str(project_root / "pyproject.toml")
    hatch_file = project_root / HATCH_FILE
    if hatch_file.is_file():
        try:
            config.update(read_toml(hatch_file))
        except TOMLError as error:
            raise LockbundleError(f"{hatch_file}: {error}") from None
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
                f"{where}: field `tool.hatch.envs.{_key(current)}.template` names an unknown "
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
            f"{where}: field `tool.hatch.envs.{_key(name)}.lock-filename` uses "
            f"`{{{match[1]}}}`, which hatch-lockbundle does not fill in (only `{{env_name}}`); "
            "set `tool.lockbundle.lock` to the lock file's path instead"
        )

    return _FIELD.sub(field, filename)
