"""What the bundler needs to know about the project being built, and the lock that covers it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ._compat import TOMLError, read_toml
from .errors import LockbundleError
from .lock import Lock
from .uvlock import read_lock

LOCK_NAME = "uv.lock"


@dataclass(frozen=True)
class Project:
    root: Path
    name: str | None
    version: str | None
    #: the decoded ``[tool.lockbundle]`` table, None when absent
    settings: Any
    #: the whole decoded ``pyproject.toml``
    document: Mapping[str, Any] = field(default_factory=dict)


def read_project(root: Path) -> Project:
    """Read ``pyproject.toml`` in ``root``."""
    pyproject = root / "pyproject.toml"
    try:
        document = read_toml(pyproject)
    except FileNotFoundError:
        raise LockbundleError(f"{pyproject}: not found; run this in a project directory") from None
    except TOMLError as error:
        raise LockbundleError(f"{pyproject}: {error}") from None
    return project_from_document(document, root)


def project_from_document(document: Mapping[str, Any], root: Path) -> Project:
    project = document.get("project")
    project = project if isinstance(project, dict) else {}
    name = project.get("name") if isinstance(project.get("name"), str) else None
    version = project.get("version") if isinstance(project.get("version"), str) else None
    tool = document.get("tool")
    settings = tool.get("lockbundle") if isinstance(tool, dict) else None
    return Project(
        root=root.resolve(), name=name, version=version, settings=settings, document=document
    )


def find_lock(project_root: Path, name: str, read: Callable[[Path], Lock] = read_lock) -> Lock:
    """The nearest ``uv.lock`` at or above ``project_root`` that locks the project ``name``.

    A workspace member has no lock of its own: it is found in the workspace root's.

    :param read: how a lock file is read (:func:`~.lock.read_lock`, or a cache of it)
    """
    wanted = canonicalize_name(name)
    project_root = project_root.resolve()
    seen: list[Path] = []
    unreadable: list[LockbundleError] = []
    for directory in (project_root, *project_root.parents):
        candidate = directory / LOCK_NAME
        if not candidate.is_file():
            continue
        try:
            lock = read(candidate)
        except LockbundleError as error:
            # perhaps an unrelated project's lock above this one: keep looking, report it if
            # nothing else locks the project
            unreadable.append(error)
            continue
        for package in lock.by_name(wanted):
            if package.source.is_source_tree:
                location = (lock.root / package.source.location).resolve()
                if location == project_root:
                    return lock
        seen.append(candidate)
    if unreadable:
        raise unreadable[0]
    if seen:
        raise LockbundleError(
            f"{', '.join(map(str, seen))} does not lock `{name}` at {project_root}. Run `uv lock` "
            "in the project (or its workspace root), or set `tool.lockbundle.lock`"
        )
    raise LockbundleError(
        f"no {LOCK_NAME} found in {project_root} or any parent directory. Run `uv lock` first, or "
        "set `tool.lockbundle.lock` to the lock file's path"
    )


def declared_indexes(project: Project, lock: Lock) -> list[tuple[str | None, str]]:
    """(name or None, URL) of every ``[[tool.uv.index]]`` of the project and of the lock's
    workspace root."""
    found: list[tuple[str | None, str]] = []
    for entry in _index_entries(project, lock):
        name = entry.get("name")
        found.append((name if isinstance(name, str) else None, entry["url"]))
    return found


def build_index_urls(project: Project, lock: Lock) -> tuple[str, ...]:
    """The indexes uv would take build requirements from when the project's
    ``[[tool.uv.index]]`` replaces PyPI (one says ``default = true``): that one first, then the
    others in order (``explicit`` ones serve only the packages pinned to them). None otherwise:
    the default index is then the installer's own (PyPI, or what the environment sets)."""
    default = None
    others = []
    for entry in _index_entries(project, lock):
        url = entry["url"]
        # they go to the installer's environment, where spaces separate indexes: a URL uv
        # would refuse is left out, never split into others
        if not url.startswith(("http://", "https://")) or not url.isprintable() or " " in url:
            continue
        if entry.get("default") is True:
            default = entry["url"]
        elif entry.get("explicit") is not True:
            others.append(entry["url"])
    return () if default is None else tuple(dict.fromkeys([default, *others]))


def _index_entries(project: Project, lock: Lock) -> list[Mapping[str, Any]]:
    """The ``[[tool.uv.index]]`` tables with a URL, of the project then of the lock's workspace
    root."""
    documents = [project.document]
    root = lock.root / "pyproject.toml"
    if root.resolve() != (project.root / "pyproject.toml").resolve() and root.is_file():
        with contextlib.suppress(OSError, TOMLError):
            documents.append(read_toml(root))
    found = []
    for document in documents:
        tool = document.get("tool", {})
        uv = tool.get("uv", {}) if isinstance(tool, Mapping) else {}
        entries = uv.get("index", []) if isinstance(uv, Mapping) else []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
                found.append(entry)
    return found
