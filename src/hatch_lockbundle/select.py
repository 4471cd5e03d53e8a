"""Decide what goes into a bundle: walk the lock graph for one target, choose one artifact each.

Pure: no network and no disk access; everything comes from the :class:`~.lock.Lock` it is handed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

# selection's interface: a plan's packages each carry an Artifact, chosen by choose_artifact;
# what cannot be selected is a SelectionError, whose words for "no wheel fits" the fetch stage
# reuses (importable from here as from their homes)
from .artifact import Artifact as Artifact
from .artifact import choose_artifact as choose_artifact
from .artifact import remedies as remedies
from .artifact import wheels_summary as wheels_summary
from .errors import SelectionError as SelectionError
from .lock import Dependency, Lock, LockedPackage
from .target import Target

ALL = "all"


@dataclass(frozen=True)
class PlannedPackage:
    package: LockedPackage
    artifact: Artifact
    #: the dependency path from the root, e.g. ``("app", "app[cli]", "click")``; a long one is
    #: the root, ``…`` and its last steps (see :data:`WHY_LENGTH`)
    why: tuple[str, ...]

    @property
    def name(self) -> NormalizedName:
        return self.package.name

    @property
    def version(self) -> str | None:
        return self.package.version


@dataclass(frozen=True)
class Plan:
    """The install set for one root and one target, in a stable (name) order."""

    root: LockedPackage
    target: Target
    packages: tuple[PlannedPackage, ...]
    extras: tuple[NormalizedName, ...]
    groups: tuple[NormalizedName, ...]
    #: for the root and every package reached (virtual ones included), the names it depends on
    #: in this install set: its dependencies, those of its activated extras and (root) groups
    edges: Mapping[NormalizedName, tuple[NormalizedName, ...]] = field(default_factory=dict)


def select(
    lock: Lock,
    target: Target,
    package: str,
    extras: Sequence[str] | Literal["all"] = (),
    groups: Sequence[str] = (),
) -> Plan:
    """Compute the install set of ``package`` (with ``extras`` and dependency ``groups``).

    The walk follows uv: breadth-first from the root, each edge's marker evaluated on its own
    against the target environment, an edge's extras activating those extras of its target.
    Extras encoded for ``conflicts`` (``extra == 'extra-3-pkg-cpu'``) are true when that extra of
    that package is activated anywhere in the install set.
    """
    _check_requires_python(lock, target)
    root = _find_root(lock, package)
    root_extras = _requested(root, extras, "extra", root.extras)
    root_groups = _requested(root, groups, "group", root.groups)
    _check_conflicts(lock, root, root_extras, root_groups)

    # Conflict-encoded markers depend on the activated set, which depends on the walk: iterate
    # to a fixed point (it converges in one or two rounds for any lock uv writes).
    activated: frozenset[str] = frozenset()
    for _ in range(8):
        walk = _walk(lock, target, root, root_extras, root_groups, activated)
        if walk.activated == activated:
            break
        activated = walk.activated
    else:
        raise SelectionError(
            f"{lock.path}: the extras activated for {root.label} do not settle; this lock's "
            "`conflicts` are beyond what hatch-lockbundle can evaluate. Please report it"
        )
    _check_one_version_each(lock, walk.order)
    planned = [
        PlannedPackage(package, choose_artifact(lock, target, package), walk.why[package])
        for package in walk.order
        if package.source.kind != "virtual"
    ]
    planned.sort(key=lambda item: (item.name, item.version or ""))
    edges = {name: tuple(sorted(children)) for name, children in walk.edges.items()}
    return Plan(root, target, tuple(planned), root_extras, root_groups, edges)


def check_virtual_root(
    plans: Sequence[Plan], lock: Lock, *, includes_files: bool, can_include: bool = True
) -> str | None:
    """Whether a root that uv locks as virtual (no ``[build-system]``, or
    ``tool.uv.package = false``: it has no wheel) can make a bundle, and what to tell the user.

    :param includes_files: the project's own files go into the bundle (``include``)
    :param can_include: the bundle takes the project's files through ``include`` (a target
        bundle does, a wheelhouse does not)
    :returns: None for a packaged root, or one whose files are included; else a notice that
        the bundle holds its dependencies and none of its own code
    :raises SelectionError: when the bundle would be empty (a workspace root, typically)
    """
    root = plans[0].root
    if root.source.kind != "virtual" or includes_files:
        return None
    what = (
        f"{root.label} is a virtual project (uv locks it as "
        f'`source = {{ virtual = "{root.source.location}" }}`: it has no `[build-system]`, or '
        "sets `tool.uv.package = false`)"
    )
    members = sorted(str(member) for member in lock.members if member != root.name)
    if not any(plan.packages for plan in plans):
        if members:
            pick = (
                f'pick a workspace member with `tool.lockbundle.package = "{members[0]}"` or '
                f"`--package {members[0]}` (the members: {', '.join(members)})"
            )
        else:
            pick = (
                "add dependencies, or workspace members (`[tool.uv.workspace] members`) and "
                "pick one with `tool.lockbundle.package` or `--package`"
            )
        files = "; or list the project's own files in `tool.lockbundle.include`"
        raise SelectionError(
            f"{what}, and it has no dependencies: the bundle would be empty. To bundle "
            f"something, {pick}{files if can_include else ''}"
        )
    count = max(len(plan.packages) for plan in plans)
    remedy = (
        'list them in `tool.lockbundle.include`, e.g. `include = ["main.py"]`; or add a '
        "`[build-system]` to make it a package"
        if can_include
        else "copy them beside it, or add a `[build-system]` to make it a package"
    )
    return (
        f"{what}: its own code is not a package, so the bundle holds its {count} "
        f"dependencies and none of its files. To ship its files (a Lambda handler, an app's "
        f"modules), {remedy}"
    )


def _check_requires_python(lock: Lock, target: Target) -> None:
    if not lock.requires_python:
        return
    try:
        specifier = SpecifierSet(lock.requires_python)
    except InvalidSpecifier:
        raise SelectionError(
            f"{lock.path}: `requires-python = {lock.requires_python!r}` is not a valid specifier"
        ) from None
    version = target.environment.get("python_full_version", target.python_version)
    if not specifier.contains(version, prereleases=True):
        raise SelectionError(
            f"{lock.path} is locked for Python {lock.requires_python}, but the target is Python "
            f"{version}. Build with an interpreter the lock supports"
        )


def _find_root(lock: Lock, package: str) -> LockedPackage:
    candidates = [p for p in lock.by_name(package) if p.source.is_source_tree]
    if not candidates:
        candidates = lock.by_name(package)
    if len(candidates) == 1:
        return candidates[0]
    local = sorted({str(p.name) for p in lock.packages if p.source.is_source_tree})
    hint = f"; the lock's projects are: {', '.join(local)}" if local else ""
    if not candidates:
        raise SelectionError(
            f"{lock.path}: package `{package}` is not in the lock{hint}. Set "
            "`tool.lockbundle.package` to one of them, or run `uv lock` if it was added since"
        )
    raise SelectionError(
        f"{lock.path}: package `{package}` is locked more than once and cannot be a bundle root"
    )


def _requested(
    root: LockedPackage,
    names: Sequence[str] | Literal["all"],
    kind: str,
    known: tuple[NormalizedName, ...],
) -> tuple[NormalizedName, ...]:
    if names == ALL:
        return known
    wanted = tuple(dict.fromkeys(canonicalize_name(name) for name in names))
    missing = [name for name in wanted if name not in known]
    if missing:
        listing = ", ".join(f"`{name}`" for name in known) or "none"
        plural = "s" if len(missing) > 1 else ""
        raise SelectionError(
            f"{root.label} has no {kind}{plural} {', '.join(f'`{n}`' for n in missing)} "
            f"in the lock (its {kind}s there: {listing}); fix `tool.lockbundle.{kind}s`, or run "
            "`uv lock` if you added it since"
        )
    return wanted


def _check_conflicts(
    lock: Lock,
    root: LockedPackage,
    extras: tuple[NormalizedName, ...],
    groups: tuple[NormalizedName, ...],
) -> None:
    """Refuse extras/groups that the lock declares as conflicting, as ``uv sync`` does."""
    requested = {("extra", extra) for extra in extras} | {("group", group) for group in groups}
    for conflict in lock.conflicts:
        clashing = []
        for item in conflict:
            package = canonicalize_name(str(item.get("package", root.name)))
            for kind in ("extra", "group"):
                wanted = kind in item and (kind, canonicalize_name(str(item[kind]))) in requested
                if package == root.name and wanted:
                    clashing.append(f"{kind} `{item[kind]}`")
        if len(clashing) > 1:
            raise SelectionError(
                f"{root.label}: {' and '.join(clashing)} are declared as conflicting in the lock "
                "(`tool.uv.conflicts`) and cannot be bundled together; choose one in "
                "`tool.lockbundle`, or make separate bundles"
            )


def _check_one_version_each(lock: Lock, packages: Iterable[LockedPackage]) -> None:
    versions: dict[NormalizedName, list[LockedPackage]] = {}
    for package in packages:
        if package.source.kind != "virtual":
            versions.setdefault(package.name, []).append(package)
    for name, locked in versions.items():
        if len(locked) > 1:
            labels = ", ".join(p.label for p in locked)
            raise SelectionError(
                f"{lock.path}: the install set holds `{name}` more than once ({labels}); a bundle "
                "can hold one version. Check the extras and groups requested against the lock's "
                "`conflicts`"
            )


#: how much of a dependency path is kept: the root, then its last steps (a 10,000-deep chain
#: would otherwise keep and print 10,000 names for each of its 10,000 packages)
WHY_LENGTH = 12
ELIDED = "…"


def _bounded(path: tuple[str, ...]) -> tuple[str, ...]:
    """``path`` as kept: the root, ``…`` and the last steps when it is longer than
    :data:`WHY_LENGTH`."""
    if len(path) <= WHY_LENGTH:
        return path
    return (path[0], ELIDED, *path[-(WHY_LENGTH - 2) :])


@dataclass
class _Walk:
    order: list[LockedPackage]
    why: dict[LockedPackage, tuple[str, ...]]
    activated: frozenset[str]
    edges: dict[NormalizedName, set[NormalizedName]]


def _walk(
    lock: Lock,
    target: Target,
    root: LockedPackage,
    extras: tuple[NormalizedName, ...],
    groups: tuple[NormalizedName, ...],
    activated: frozenset[str],
) -> _Walk:
    env = dict(target.environment)
    why: dict[LockedPackage, tuple[str, ...]] = {root: (str(root.name),)}
    order = [root]
    seen_extras: set[tuple[LockedPackage, NormalizedName | None]] = set()
    # uv activates the root itself (``project-…``) and its requested groups and extras
    found = {_encode("project", root.name)}
    found |= {_encode("group", root.name, group) for group in groups}
    queue: deque[tuple[LockedPackage, NormalizedName | None]] = deque()
    children: dict[NormalizedName, set[NormalizedName]] = {root.name: set()}

    def visit(package: LockedPackage, extra: NormalizedName | None) -> None:
        if (package, extra) not in seen_extras:
            seen_extras.add((package, extra))
            queue.append((package, extra))

    def follow(parent: LockedPackage, via: str, edges: Iterable[Dependency]) -> None:
        for edge in edges:
            # as uv does, an edge that asks for extras counts them as activated for its own
            # marker: `{ name = "lib", extra = ["old"], marker = "extra == 'extra-3-lib-old'" }`
            # is how uv writes a dependency on `lib[old]` when lib's extras conflict
            own = frozenset(_encode("extra", edge.name, extra) for extra in edge.extras)
            try:
                if edge.marker is not None and not evaluate(edge.marker, env, activated | own):
                    continue
            except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker) as error:
                raise SelectionError(
                    f"{lock.path}: {parent.label} depends on `{edge.name}` under the marker "
                    f"`{edge.marker}`, which cannot be evaluated ({error}); run `uv lock` again"
                ) from None
            child = lock.resolve(edge, parent)
            children.setdefault(parent.name, set()).add(child.name)
            if child not in why:
                step = ([via] if via != parent.name else []) + [str(child.name)]
                why[child] = _bounded((*why[parent], *step))
                order.append(child)
            visit(child, None)
            for extra in edge.extras:
                found.add(_encode("extra", child.name, extra))
                visit(child, extra)

    visit(root, None)
    for requested in extras:
        found.add(_encode("extra", root.name, requested))
        visit(root, requested)
    for group in groups:
        follow(root, f"{root.name}:{group}", root.dependency_groups.get(group, ()))
    while queue:
        package, extra = queue.popleft()
        if extra is None:
            follow(package, str(package.name), package.dependencies)
        else:
            edges = package.optional_dependencies.get(extra, ())
            follow(package, f"{package.name}[{extra}]", edges)
    return _Walk(order, why, frozenset(found), children)


def _encode(kind: str, package: str, name: str | None = None) -> str:
    """uv's encoding of a conflict item inside a marker: ``extra-3-pkg-cpu``, ``project-3-pkg``."""
    encoded = f"{kind}-{len(package)}-{package}"
    return encoded if name is None else f"{encoded}-{name}"


def evaluate(marker: Marker, environment: dict[str, str], activated: frozenset[str]) -> bool:
    """Evaluate a lock edge marker: ``extra`` atoms test membership in ``activated``."""
    if "extra" not in str(marker):
        return marker.evaluate(environment)
    return _evaluate_tree(marker._markers, environment, activated)


# packaging has no public API for "extra is one of a set" in ``extra == ...`` form, so the
# parsed marker tree (stable across packaging 22-26) is walked here for such markers only.
def _evaluate_tree(
    tree: Sequence[object], environment: dict[str, str], activated: frozenset[str]
) -> bool:
    groups: list[bool] = []
    current = True
    for item in tree:
        if item == "or":
            groups.append(current)
            current = True
        elif item == "and":
            continue
        elif isinstance(item, list):
            current = current and _evaluate_tree(item, environment, activated)
        else:
            current = current and _evaluate_atom(item, environment, activated)
    groups.append(current)
    return any(groups)


def _evaluate_atom(atom: Any, environment: dict[str, str], activated: frozenset[str]) -> bool:
    lhs, op, rhs = atom
    names = {type(lhs).__name__: lhs.value, type(rhs).__name__: rhs.value}
    if names.get("Variable") == "extra" and "Value" in names:
        present = names["Value"] in activated
        if op.value == "==":
            return present
        if op.value == "!=":
            return not present
    return _atom_marker(f"{lhs.serialize()} {op.serialize()} {rhs.serialize()}").evaluate(
        environment
    )


# Each atom parsed once: the walk meets the same atoms on many edges and again in every round of
# the fixed point, and their parsing was a visible part of the benchmark's no-op build.
@lru_cache(maxsize=1024)
def _atom_marker(text: str) -> Marker:
    return Marker(text)
