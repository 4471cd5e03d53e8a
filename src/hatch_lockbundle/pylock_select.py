"""Select from a PEP 751 ``pylock.toml`` the install set of one target, as a :class:`~.select.Plan`.

The same plan a ``uv.lock`` gives, so that fetching and the layouts do not care which lock was
read; and the static check that the lock meets the project's requirements. Pure, as
:mod:`.select` is: no network and no disk access.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.markers import (
    InvalidMarker,
    Marker,
    UndefinedComparison,
    UndefinedEnvironmentName,
)
from packaging.pylock import Package
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from .artifact import Artifact, choose_artifact
from .errors import SelectionError
from .lock import LockedPackage, Source
from .pylock import RELOCK, PylockEntry, PylockError, PylockFile
from .select import Plan, PlannedPackage
from .target import Target


def select_pylock(
    pylock: PylockFile,
    target: Target,
    project: str,
    extras: Sequence[str] = (),
    groups: Sequence[str] | None = None,
    *,
    made_for_target: bool = False,
) -> Plan:
    """The install set of ``pylock`` for ``target``, as PEP 751 selects it.

    The steps are those of ``packaging.pylock.Pylock.select``, done here for two reasons: each
    refusal names the file, the entry and the field, and says what to do; and the artifact of a
    file entry is chosen as for ``uv.lock`` (:func:`~.select.choose_artifact`), which refuses an
    sdist that would compile for this machine on a foreign target. The tests check both
    agree. ``dependencies`` do not select anything (PEP 751: they are for audits); they give
    the plan's edges and reasons.

    :param project: the project the bundle is for: its entry is the plan's root when the lock
        has one (``uv export`` writes it as a ``directory``); otherwise (a hatch environment's
        lock) the root is a placeholder of that name, with no artifact
    :param extras: the extras to select for (``extras`` of markers)
    :param groups: the dependency groups (None: the lock's ``default-groups``)
    :param made_for_target: the caller knows a one-environment lock was made for this target
    """
    _check_applies(pylock, target, made_for_target)
    wanted_extras = _requested(pylock, extras, "extras", pylock.model.extras)
    wanted_groups = _requested(
        pylock,
        pylock.model.default_groups or () if groups is None else groups,
        "dependency-groups",
        pylock.model.dependency_groups,
    )
    environment: dict[str, str | frozenset[str]] = {
        **target.environment,
        "extras": frozenset(wanted_extras),
        "dependency_groups": frozenset(wanted_groups),
    }
    chosen = _chosen_entries(pylock, environment, target)
    name = canonicalize_name(project)
    root = chosen[name].package if name in chosen else _placeholder_root(pylock, name)
    edges = _edges(root, chosen)
    why = _paths(root.name, edges)
    planned = [
        PlannedPackage(entry.package, _artifact(pylock, entry, target), why[entry_name])
        for entry_name, entry in chosen.items()
    ]
    planned.sort(key=lambda item: (item.name, item.version or ""))
    return Plan(root, target, tuple(planned), wanted_extras, wanted_groups, edges)


def _check_applies(pylock: PylockFile, target: Target, made_for_target: bool) -> None:
    """``requires-python`` and ``environments`` against the target; a lock made for one
    environment only for this machine (or a target the caller vouches for)."""
    model, path = pylock.model, pylock.path
    version = target.environment.get("python_full_version", target.python_version)
    if model.requires_python and not model.requires_python.contains(version, prereleases=True):
        raise PylockError(
            f"{path} is locked for Python {model.requires_python} (`requires-python`), but the "
            f"target is Python {version}. Bundle for a Python the lock supports, or lock again "
            "for this one"
        )
    if model.environments:
        environment = dict(target.environment)
        if not any(
            _holds(marker, environment, "requirement", path, "`environments`")
            for marker in model.environments
        ):
            listing = "; ".join(f"`{marker}`" for marker in model.environments)
            raise PylockError(
                f"{path} is locked for the environments {listing} (`environments`), and "
                f"{target.describe()} is none of them. Bundle for one of them, or lock again "
                "with this target among the environments"
            )
        return
    if pylock.single_environment and not target.native and not made_for_target:
        raise PylockError(
            f"{path} does not say which environments it was locked for (it has no "
            "`environments`), so it is read only for the machine running the build; a bundle "
            f"for {target.describe()} could miss that target's dependencies. Lock with "
            "`environments` that cover the target (`tool.uv.environments`, then `uv export "
            "--format pylock.toml`), bundle for this machine, or, if the lock was made for the "
            "target (`--python-platform`, `--universal`), set `lock-made-for-target = true`"
        )


def _requested(
    pylock: PylockFile, names: Iterable[str], key: str, declared: Sequence[str] | None
) -> tuple[NormalizedName, ...]:
    wanted = tuple(dict.fromkeys(canonicalize_name(name) for name in names))
    known = {canonicalize_name(name) for name in declared or ()}
    missing = [name for name in wanted if name not in known]
    if missing:
        listing = ", ".join(f"`{name}`" for name in sorted(known)) or "none"
        raise PylockError(
            f"{pylock.path} declares no {key} {', '.join(f'`{n}`' for n in missing)} (its "
            f"`{key}`: {listing}); ask for those it declares, or lock again with them"
        )
    return wanted


def _chosen_entries(
    pylock: PylockFile, environment: Mapping[str, str | frozenset[str]], target: Target
) -> dict[NormalizedName, PylockEntry]:
    """The entries whose marker holds for ``environment``, one per name (PEP 751's steps)."""
    chosen: dict[NormalizedName, PylockEntry] = {}
    version = target.environment.get("python_full_version", target.python_version)
    for entry in pylock.entries:
        written = entry.written
        marker = written.marker
        if marker is not None and not _holds(
            marker, environment, "lock_file", pylock.path, f"{entry.where} `marker`"
        ):
            continue
        if written.requires_python and not written.requires_python.contains(
            version, prereleases=True
        ):
            raise PylockError(
                f"{pylock.path}: {entry.where} needs Python {written.requires_python} "
                f"(`requires-python`), but the target is Python {version}. Bundle for a Python "
                f"it supports, or lock again for this one"
            )
        if written.name in chosen:
            other = chosen[written.name]
            raise PylockError(
                f"{pylock.path}: {other.where} and {entry.where} both apply to "
                f"{target.describe()} (their `marker`s overlap); a bundle can hold one version "
                f"of {written.name}. {RELOCK.capitalize()}"
            )
        chosen[written.name] = entry
    return chosen


def _holds(
    marker: Marker,
    environment: Mapping[str, str | frozenset[str]],
    context: Literal["lock_file", "requirement"],
    path: Path,
    where: str,
) -> bool:
    try:
        return marker.evaluate(environment, context=context)
    except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker) as error:
        raise PylockError(
            f"{path}: {where}: the marker cannot be evaluated ({error}); {RELOCK}"
        ) from None


def _artifact(pylock: PylockFile, entry: PylockEntry, target: Target) -> Artifact:
    try:
        return choose_artifact(pylock.lock, target, entry.package)
    except SelectionError as error:
        raise PylockError(f"{pylock.path}: {entry.where}: {error}") from None


def _placeholder_root(pylock: PylockFile, name: NormalizedName) -> LockedPackage:
    """The project, when the lock does not hold it (a hatch environment's lock): it has no
    artifact here; the engine adds the project's own wheel."""
    return LockedPackage(name=name, version=None, source=Source("virtual", str(pylock.lock.root)))


def _edges(
    root: LockedPackage, chosen: Mapping[NormalizedName, PylockEntry]
) -> dict[NormalizedName, tuple[NormalizedName, ...]]:
    """Who depends on whom among the chosen entries, by their ``dependencies`` (which tools
    write for audits; uv writes none). The root depends on every entry nothing else reaches,
    so that every entry has a path from it."""
    edges: dict[NormalizedName, set[NormalizedName]] = {name: set() for name in chosen}
    edges.setdefault(root.name, set())
    for name, entry in chosen.items():
        for dependency in entry.written.dependencies or ():
            child = dependency.get("name")
            if not isinstance(child, str):
                continue
            child_name = canonicalize_name(child)
            found = chosen.get(child_name)
            if found is None or not _same_version(dependency.get("version"), found.written):
                continue
            edges[name].add(child_name)
    reached = set(_paths(root.name, edges))
    for name in sorted(chosen):
        if name not in reached:
            edges[root.name].add(name)
            reached |= set(_paths(name, edges))
    edges[root.name].discard(root.name)
    return {name: tuple(sorted(children)) for name, children in edges.items()}


def _same_version(written: object, package: Package) -> bool:
    """Whether a dependency's ``version`` (when it has one) is that of ``package``."""
    if not isinstance(written, str):
        return True
    try:
        return Version(written) == package.version
    except InvalidVersion:
        return False


def _paths(
    root: NormalizedName, edges: Mapping[NormalizedName, Iterable[NormalizedName]]
) -> dict[NormalizedName, tuple[str, ...]]:
    """The shortest dependency path from ``root`` to each name it reaches (the first in name
    order among paths of one length, so that the same lock gives the same reasons)."""
    paths: dict[NormalizedName, tuple[str, ...]] = {root: (str(root),)}
    queue = deque([root])
    while queue:
        parent = queue.popleft()
        for child in sorted(edges.get(parent, ())):
            if child not in paths:
                paths[child] = (*paths[parent], str(child))
                queue.append(child)
    return paths


@dataclass(frozen=True)
class Unsatisfied:
    """A requirement of the project that the locked set does not meet."""

    requirement: str
    reason: str

    def __str__(self) -> str:
        return f"`{self.requirement}`: {self.reason}"


def unsatisfied_requirements(
    plan: Plan,
    requirements: Iterable[str],
    extras: Sequence[str] = (),
    *,
    in_lock: Collection[str] = (),
) -> list[Unsatisfied]:
    """The project's requirements that the selected set of ``plan`` does not meet: what can be
    checked without an index (hatch's own check re-resolves against one).

    A requirement whose marker excludes the target is not needed. A needed one must be in the
    set at a version its specifier allows; an entry without a version (a source tree, a git
    checkout) is taken as it is. Neither the requirement's own extras nor a direct URL is
    compared with the lock.

    :param requirements: what the project declares for the locked environment (its
        dependencies, and those of the extras and groups the environment has), as PEP 508 text
    :param extras: the project's extras the environment has (``extra`` of markers)
    :param in_lock: the names of every entry of the lock, selected or not: one that is there
        but left out by its marker is told apart from one the lock does not hold
    """
    locked = {planned.name: planned.version for planned in plan.packages}
    held = {canonicalize_name(name) for name in in_lock}
    found: list[Unsatisfied] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            found.append(Unsatisfied(text, f"not a valid requirement ({error})"))
            continue
        if requirement.marker is not None and not _needed(requirement, plan.target, extras):
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            found.append(Unsatisfied(text, _left_out(plan) if name in held else "not in the lock"))
            continue
        version = locked[name]
        if version is not None and not requirement.specifier.contains(version, prereleases=True):
            found.append(Unsatisfied(text, f"the lock has {name} {version}"))
    return found


def _left_out(plan: Plan) -> str:
    """Why an entry the lock holds is not selected: its marker, for the extras and groups
    asked for (pdm, for one, puts the project's dependencies under a group, ``default``)."""
    asked = [
        f"the {key} {', '.join(f'`{name}`' for name in names) or 'none'}"
        for key, names in (("dependency groups", plan.groups), ("extras", plan.extras))
    ]
    return (
        f"in the lock, but its `marker` leaves it out for {plan.target.describe()} with "
        f"{' and '.join(asked)} (ask for the groups and extras it is locked under)"
    )


def _needed(requirement: Requirement, target: Target, extras: Sequence[str]) -> bool:
    assert requirement.marker is not None
    environment = dict(target.environment)
    try:
        return any(
            requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
        )
    except (UndefinedComparison, UndefinedEnvironmentName) as error:
        raise PylockError(
            f"`{requirement}`: the marker cannot be evaluated ({error}); fix the requirement"
        ) from None


#: how a lock whose writer is not known is made again
RELOCK_TOOLS = "Lock again (`hatch env lock`, `uv export`, `pip lock`, `pdm lock`)"


def check_requirements(
    pylock: PylockFile,
    plan: Plan,
    requirements: Iterable[str],
    extras: Sequence[str] = (),
    *,
    lock: str | None = None,
    required_by: str = "the project",
    relock: str = RELOCK_TOOLS,
) -> None:
    """Refuse a lock that does not meet the project's requirements (see
    :func:`unsatisfied_requirements`), listing every one.

    :param lock: the lock as the error names it (default: its path)
    :param required_by: where ``requirements`` come from, for the error
    :param relock: how the lock is made again, for the error
    """
    names = [entry.written.name for entry in pylock.entries]
    found = unsatisfied_requirements(plan, requirements, extras, in_lock=names)
    if found:
        listing = "\n".join(f"  - {item}" for item in found)
        raise PylockError(
            f"{lock or pylock.path} does not meet the requirements of {required_by} for "
            f"{plan.target.describe()}:\n{listing}\n{relock}, or set `frozen = true` to bundle "
            "the lock as it is"
        )
