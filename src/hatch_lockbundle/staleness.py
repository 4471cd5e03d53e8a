"""Whether ``uv.lock`` still matches the ``pyproject.toml`` files it was made from."""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from ._compat import TOMLError, read_toml
from .errors import LockbundleError
from .lock import Declared, Lock, LockedPackage, normalize_specifier
from .project import LOCK_NAME, Project
from .requires_python import Interval, bounding, intersect, python_intervals, render
from .uv_binary import find_uv

#: how long ``uv lock --check`` may take before its verdict is given up
UV_CHECK_TIMEOUT = 30.0

# What a `tool.uv.sources` entry may redirect a requirement to: uv then records the requirement
# without its version specifier. An entry with only `index` keeps the specifier.
_REDIRECTING_SOURCE_KEYS = frozenset({"git", "path", "url", "workspace"})


class UvVerdict(enum.Enum):
    """What ``uv lock --check`` said about a lock."""

    CURRENT = "current"
    STALE = "stale"
    #: no verdict: uv is missing, too old, crashed, timed out, or could not decide offline
    NONE = "none"


def check_lock_current(
    lock: Lock,
    project: Project,
    *,
    uv: Callable[[], str | None] = find_uv,
    timeout: float = UV_CHECK_TIMEOUT,
) -> None:
    """Refuse a lock that no longer matches the project, and never one that ``uv lock --check``
    accepts.

    The lock is compared with what the ``pyproject.toml`` files declare now
    (:func:`lock_differences`), leniently: the comparison errs towards "current" wherever it
    cannot model uv exactly. Only when it finds a difference is uv asked, when a uv binary is at
    hand (:func:`ask_uv`): its "current" overrules the comparison. Asking uv on every build would
    also catch what the comparison leaves out (markers, indexes, members), at the price of a
    subprocess on every build, no-op rebuilds included: that is left to ``uv lock --check``.

    :param uv: finds the uv binary to ask (``None``: the comparison decides alone)
    :param timeout: seconds ``uv lock --check`` may take before its verdict is given up
    """
    if project.name is None:
        return
    problems = lock_differences(lock, project)
    if not problems or ask_uv(lock, uv(), timeout) is UvVerdict.CURRENT:
        return
    files = sorted({path for path, _ in problems})
    several = len(files) > 1
    listing = "\n".join(
        f"  - {f'{path}: ' if several else ''}{problem}" for path, problem in problems
    )
    raise LockbundleError(
        f"{lock.path} is out of date with {', '.join(map(str, files))}:\n{listing}\n"
        "Run `uv lock` to update it, or set `tool.lockbundle.frozen = true` to bundle the "
        "lock as it is"
    )


def ask_uv(lock: Lock, uv: str | None, timeout: float = UV_CHECK_TIMEOUT) -> UvVerdict:
    """Ask ``uv lock --check --offline`` in the lock's workspace root whether the lock is current.

    ``--check`` never writes the lock, and ``--offline`` keeps uv off the network (a stale lock
    that uv cannot re-resolve from its cache then gets no verdict). The running interpreter is
    named, which spares uv the search for one (most of its time); when that interpreter is outside
    the project's ``requires-python``, uv refuses it and there is no verdict. Any failure other
    than uv's "needs to be updated" is no verdict: it must never fail a build.

    :param uv: the uv binary (``None``: no verdict)
    """
    if uv is None or lock.path.name != LOCK_NAME or not (lock.root / "pyproject.toml").is_file():
        return UvVerdict.NONE
    try:
        result = subprocess.run(
            [uv, "lock", "--check", "--offline", "--python", sys.executable],
            cwd=lock.root,
            env={**os.environ, "UV_NO_PROGRESS": "1", "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return UvVerdict.NONE
    if result.returncode == 0:
        return UvVerdict.CURRENT
    if "needs to be updated" in result.stderr:
        return UvVerdict.STALE
    return UvVerdict.NONE


Problem = tuple[Path, str]


@dataclass(frozen=True)
class _Tree:
    """A project directory of the lock, as its ``pyproject.toml`` declares it now."""

    package: LockedPackage
    pyproject: Path
    document: Mapping[str, Any]
    #: the ``tool.uv.sources`` that lowered its requirements (its own over the workspace
    #: root's); None when unknown, and then no version specifier is compared
    sources: Mapping[NormalizedName, Any] | None


def lock_differences(lock: Lock, project: Project) -> list[Problem]:
    """Where the project and the workspace members differ from what the lock recorded, as
    ``(pyproject.toml, problem)`` pairs.

    Compared, as uv compares them: the dependencies, extras and dependency groups of the project
    and of every workspace member (names and extras; version specifiers unless
    ``tool.uv.sources`` redirects the name, since uv then records none), the declared extras, and
    the bounds of the workspace's ``requires-python``. Not compared, so that nothing uv accepts is
    reported: markers (uv compares them simplified by ``requires-python``), sources themselves,
    indexes, constraints, overrides, conflicts, empty groups, and the list of members.
    """
    trees, complete = _trees(lock, project)
    problems: list[Problem] = []
    for tree in trees:
        problems += [(tree.pyproject, problem) for problem in _tree_differences(tree)]
    if complete:
        members = [tree for tree in trees if tree.sources is not None]
        problem = _requires_python_difference(lock, members)
        if problem is not None:
            problems.append((project.root / "pyproject.toml", problem))
    return problems


def _trees(lock: Lock, project: Project) -> tuple[list[_Tree], bool]:
    """The project and every workspace member of the lock, and whether every member was read.

    A path dependency outside the workspace is compared only when it is the project being
    built, and without version specifiers: the sources that lowered its requirements are those
    of a workspace this lock does not describe.
    """
    root_document = _read_document(lock.root / "pyproject.toml", project)
    root_sources = _sources(root_document) if root_document is not None else None
    lock_root = lock.root.resolve()
    trees: list[_Tree] = []
    complete = True
    for package in lock.packages:
        if not package.source.is_source_tree:
            continue
        location = (lock.root / package.source.location).resolve()
        # a lock of a single project names no members: the project at its root is the one
        member = package.name in lock.members if lock.members else location == lock_root
        if not member and location != project.root:
            continue
        document = _read_document(location / "pyproject.toml", project)
        if document is None:
            complete = complete and not member
            continue
        sources = None
        if member and root_sources is not None:
            sources = {**root_sources, **_sources(document)}
        trees.append(_Tree(package, location / "pyproject.toml", document, sources))
    return trees, complete


def _read_document(pyproject: Path, project: Project) -> Mapping[str, Any] | None:
    if pyproject.parent.resolve() == project.root:
        return project.document
    try:
        document = read_toml(pyproject)
    except (OSError, TOMLError):
        return None
    return document


def _sources(document: Mapping[str, Any]) -> dict[NormalizedName, Any]:
    tool = document.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, Mapping) else {}
    sources = uv.get("sources", {}) if isinstance(uv, Mapping) else {}
    if not isinstance(sources, Mapping):
        return {}
    return {canonicalize_name(name): entry for name, entry in sources.items()}


def _redirected(sources: Mapping[NormalizedName, Any] | None) -> Callable[[str], bool]:
    """Whether uv recorded a name's requirements without their specifier (or may have)."""

    def redirected(name: str) -> bool:
        if sources is None:
            return True
        entry = sources.get(canonicalize_name(name))
        if entry is None:
            return False
        entries = entry if isinstance(entry, list) else [entry]
        return any(
            not isinstance(item, Mapping)
            or "index" not in item
            or bool(_REDIRECTING_SOURCE_KEYS & item.keys())
            for item in entries
        )

    return redirected


def _tree_differences(tree: _Tree) -> list[str]:
    package = tree.package
    table = tree.document.get("project", {})
    table = table if isinstance(table, Mapping) else {}
    dynamic = table.get("dynamic", [])
    dynamic = set(dynamic) if isinstance(dynamic, list) else set()
    redirected = _redirected(tree.sources)
    problems: list[str] = []
    static = not {"dependencies", "optional-dependencies"} & dynamic
    extras = table.get("optional-dependencies", {})
    extras = extras if isinstance(extras, Mapping) else {}
    if package.requires_dist is not None and static:
        declared = _requirements(table.get("dependencies", []))
        for requirements in extras.values():
            more = _requirements(requirements)
            declared = None if declared is None or more is None else [*declared, *more]
        if declared is not None:
            found = _differences("dependencies", declared, package.requires_dist, redirected)
            flattened = _flattened(declared, package.name)
            # uv records a project of dynamic version with its extras' references to the project
            # itself (`app[feature]`) flattened, and accepts either form
            if found and flattened != declared:
                flat = _differences("dependencies", flattened, package.requires_dist, redirected)
                found = found if flat else []
            problems += found
    # a lock that records no `provides-extras` (an older uv) says nothing about them
    if package.provides_extras and static:
        declared_extras = {canonicalize_name(str(name)) for name in extras}
        locked_extras = set(package.provides_extras)
        problems += [
            f"extra `{name}` is declared but not locked"
            for name in sorted(declared_extras - locked_extras)
        ]
        problems += [
            f"extra `{name}` is locked but no longer declared"
            for name in sorted(locked_extras - declared_extras)
        ]
    if package.requires_dev is not None:
        groups = _dependency_groups(tree.document)
        for group in sorted({*groups, *package.requires_dev}):
            wanted = groups.get(group, [])
            if wanted is not None:
                problems += _differences(
                    f"dependency group `{group}`",
                    wanted,
                    package.requires_dev.get(group, ()),
                    redirected,
                )
    return problems


def _requirements(items: Any) -> list[Declared] | None:
    """The requirements of a list in ``pyproject.toml``; None when one of them is not one
    ``packaging`` reads (uv may, so that list is not compared)."""
    found = []
    for item in items if isinstance(items, list) else []:
        try:
            requirement = Requirement(item) if isinstance(item, str) else None
        except InvalidRequirement:
            requirement = None
        if requirement is None:
            return None
        found.append(
            Declared(
                canonicalize_name(requirement.name),
                tuple(sorted(canonicalize_name(extra) for extra in requirement.extras)),
                normalize_specifier(str(requirement.specifier)),
            )
        )
    return found


def _flattened(declared: list[Declared], name: NormalizedName) -> list[Declared]:
    """The requirements without references to the project itself, as uv flattens them (the
    requirements an extra reached that way are already there, with markers this check does not
    compare); a version constraint on the project itself stays, without extras."""
    return [item for item in declared if item.name != name] + [
        Declared(name, (), item.specifier)
        for item in declared
        if item.name == name and item.specifier
    ]


def _dependency_groups(document: Mapping[str, Any]) -> dict[NormalizedName, list[Declared] | None]:
    """``[dependency-groups]`` with ``include-group`` expanded (as uv records them); None for a
    group with a requirement ``packaging`` cannot read."""
    raw = document.get("dependency-groups", {})
    raw = raw if isinstance(raw, Mapping) else {}
    tool = document.get("tool", {})
    uv = tool.get("uv", {}) if isinstance(tool, Mapping) else {}
    legacy = uv.get("dev-dependencies") if isinstance(uv, Mapping) else None
    groups = {
        canonicalize_name(name): items if isinstance(items, list) else []
        for name, items in raw.items()
    }
    if isinstance(legacy, list):
        dev = canonicalize_name("dev")
        groups[dev] = [*groups.get(dev, []), *legacy]

    def expand(name: NormalizedName, seen: frozenset[str]) -> list[Declared] | None:
        found: list[Declared] = []
        for item in groups.get(name, []):
            if isinstance(item, Mapping) and isinstance(item.get("include-group"), str):
                included = canonicalize_name(item["include-group"])
                more = expand(included, seen | {included}) if included not in seen else []
            else:
                more = _requirements([item])
            if more is None:
                return None
            found += more
        return found

    expanded = {name: expand(name, frozenset({name})) for name in groups}
    return {
        name: sorted(set(items)) if items is not None else None for name, items in expanded.items()
    }


def _differences(
    what: str,
    declared: list[Declared],
    locked: tuple[Declared, ...],
    redirected: Callable[[str], bool],
) -> list[str]:
    """Requirements declared but not locked, and locked but not declared. Markers are not
    compared, so a requirement uv splits into several entries (one per marker of its sources)
    matches each of them."""

    def same(wanted: Declared, found: Declared) -> bool:
        return (
            wanted.name == found.name
            and wanted.extras == found.extras
            and (
                _specifier_key(wanted.specifier) == _specifier_key(found.specifier)
                or redirected(wanted.name)
            )
        )

    missing = sorted({item for item in declared if not any(same(item, x) for x in locked)})
    extra = sorted({item for item in locked if not any(same(x, item) for x in declared)})
    problems = [f"{what}: `{item}` is declared but not locked" for item in missing]
    problems += [f"{what}: `{item}` is locked but no longer declared" for item in extra]
    return problems


def _specifier_key(text: str) -> frozenset[tuple[str, Version | str]] | str:
    """A specifier set as uv compares it: versions equal when only trailing zeros differ
    (``>=2`` is ``>=2.0``), whatever the order and spelling."""
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        return text
    key: set[tuple[str, Version | str]] = set()
    for specifier in specifiers:
        wildcard = specifier.version.endswith(".*")
        operator = specifier.operator + ("*" if wildcard else "")
        try:
            key.add((operator, Version(specifier.version.removesuffix(".*"))))
        except InvalidVersion:
            key.add((operator, specifier.version))
    return frozenset(key)


def _requires_python_difference(lock: Lock, members: list[_Tree]) -> str | None:
    """uv re-resolves when the bounds of the workspace's ``requires-python`` (the intersection
    of its members') are not those the lock was made for; holes (``!=3.10.1``) do not count."""
    if lock.requires_python is None:
        return None
    declared: list[Interval] | None = None
    for tree in members:
        table = tree.document.get("project", {})
        text = table.get("requires-python") if isinstance(table, Mapping) else None
        if not isinstance(text, str):
            continue
        intervals = python_intervals(text)
        if intervals is None:
            return None
        declared = intervals if declared is None else intersect(declared, intervals)
    locked = python_intervals(lock.requires_python)
    if declared is None or not declared or not locked:
        # nothing declared: uv locks for the interpreter it ran with; an empty intersection is
        # uv's error to report
        return None
    wanted, found = bounding(declared), bounding(locked)
    if wanted == found:
        return None
    return (
        f"requires-python: `{render(wanted)}` declared (over the workspace's members), "
        f"`{render(found)}` locked"
    )
