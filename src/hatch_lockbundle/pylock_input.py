"""A PEP 751 ``pylock.toml`` read into the bundle's :class:`~.lock_input.LockInput`.

Which file (a hatch environment's, the one ``lock`` names, or ``pylock.toml`` beside the
project), whether its content is a PEP 751 lock, and each target's plan from it with the
project itself added or checked. :mod:`.lock_input` calls it only when such a lock may be read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ._compat import TOMLError, loads_toml
from .artifact import Artifact
from .config import BundleConfig
from .errors import LockbundleError
from .hatch_env import HatchEnvironment, hatch_environment
from .lock import LockedPackage, Source
from .lock_input import LockInput, root_name, targets_of
from .project import Project
from .pylock import RELOCK, PylockFile, decode_pylock, is_pylock, parse_pylock
from .pylock_select import check_requirements, select_pylock
from .select import Plan, PlannedPackage
from .uvlock import read_lock_bytes


def read_named_lock(project: Project, config: BundleConfig, found: Path | None) -> LockInput | Path:
    """The lock a hatch environment or ``lock`` names (else ``found``, a ``pylock.toml`` beside
    the project), read when it is a PEP 751 lock; else its path, to be read as a ``uv.lock``."""
    environment = None
    if config.hatch_env is not None:
        environment = hatch_environment(project.root, project.document, config.hatch_env)
        if not environment.lock_path.is_file():
            raise LockbundleError(
                f"{environment.lock_path}: the lock of hatch environment `{environment.name}` "
                f"(`tool.lockbundle.hatch-env`) does not exist; run `hatch env lock "
                f"{environment.name}` first"
            )
        path = environment.lock_path
    elif config.lock is not None:
        path = config.lock
        if not path.is_file():
            raise LockbundleError(
                f"{path}: lock file not found (`tool.lockbundle.lock`, `--lock`); correct the "
                "path, or write the lock (`uv lock`, `uv export --format pylock.toml -o FILE`, "
                "`hatch env lock`, `pip lock -o FILE`)"
            )
    else:
        assert found is not None
        path = found
    document = decoded_if_pylock(path)
    if document is None:
        return path
    return from_pylock(parse_pylock(document, path), project, config, environment)


def decoded_if_pylock(path: Path) -> dict[str, Any] | None:
    """The decoded file when it is a PEP 751 lock (None: read it as a uv.lock).

    Only the top-level keys are decoded to tell: they come before the first table in any TOML
    file, and a ``uv.lock`` (decoded through the cache on a rebuild) is then not decoded twice.
    """
    data = read_lock_bytes(path)
    head, _, _ = data.partition(b"\n[")
    try:
        top = loads_toml(head)
    except TOMLError:
        top = None  # e.g. a multi-line value that holds "\n[": decode it all to tell
    if top is None or ("lock-version" not in top and "version" not in top):
        try:
            top = loads_toml(data)
        except TOMLError:
            return None  # the uv.lock reader says what is wrong with it
    if not is_pylock(top):
        return None
    return decode_pylock(data, path) if "packages" not in top else top


def from_pylock(
    pylock: PylockFile,
    project: Project,
    config: BundleConfig,
    environment: HatchEnvironment | None,
) -> LockInput:
    root = root_name(project, config)
    extras = pylock.model.extras or () if config.extras == "all" else config.extras
    # no groups asked for: the lock's `default-groups` (PEP 751)
    groups = config.groups or None
    skips_project = environment is not None and environment.skips_project
    plans = []
    for target in targets_of(config):
        plan = select_pylock(
            pylock,
            target,
            root,
            extras,
            groups,
            made_for_target=config.lock_made_for_target,
        )
        if plan.root.source.kind == "virtual":
            plan = _with_project(plan, pylock, project, root, bundled=not skips_project)
        else:
            plan = _own_entry(plan, pylock, project)
        if not config.frozen and not skips_project:
            features = environment.features if environment is not None else ()
            wanted = (*plan.extras, *(canonicalize_name(name) for name in features))
            check_requirements(
                pylock,
                plan,
                project_requirements(project, wanted),
                wanted,
                **_requirements_error(project, plan.extras, environment),
            )
        plans.append(plan)
    warnings = list(pylock.warnings)
    foreign = [plan.target.describe() for plan in plans if not plan.target.native]
    if foreign and pylock.single_environment and config.lock_made_for_target:
        warnings.append(
            f"{pylock.path} has no `environments`: it is bundled for {', '.join(foreign)} "
            "because `lock-made-for-target` says it was locked for that target; a lock made "
            "for another machine would miss the target's dependencies"
        )
    if skips_project:
        assert environment is not None
        warnings.append(
            f"hatch environment `{environment.name}` sets `skip-install`: the project is not "
            "installed in it, so the bundle holds what its lock holds, without the project"
        )
    where = f", hatch environment `{environment.name}`" if environment is not None else ""
    description = f"Lock: {pylock.path} (PEP 751, lock-version {pylock.lock_version}{where})"
    # a hatch environment's lock is made again by hatch, and the command is known
    relock = (
        RELOCK if environment is None else f"lock again with `hatch env lock {environment.name}`"
    )
    return LockInput(pylock.lock, plans, description, tuple(warnings), relock, pylock)


def _requirements_error(
    project: Project, extras: Sequence[str], environment: HatchEnvironment | None
) -> dict[str, str]:
    """What the error of a lock that does not meet the project's requirements says: the lock,
    where the requirements come from, and how to lock again."""
    sources = ["`project.dependencies`"]
    if extras:
        sources.append(f"the extras {', '.join(f'`{extra}`' for extra in extras)}")
    if environment is None:
        return {"required_by": f"{project.root / 'pyproject.toml'} ({', and '.join(sources)})"}
    if environment.features:
        named = ", ".join(f"`{feature}`" for feature in environment.features)
        sources.append(f"the extras of the environment's `features` ({named})")
    return {
        "lock": f"{environment.lock_path} (hatch environment `{environment.name}`)",
        "required_by": f"{project.root / 'pyproject.toml'} ({', and '.join(sources)})",
        "relock": f"Lock again with `hatch env lock {environment.name}`",
    }


def _with_project(
    plan: Plan, pylock: PylockFile, project: Project, root: str, *, bundled: bool
) -> Plan:
    """``plan`` with the project itself as its root, built from its directory: a hatch
    environment's lock holds what the project needs, never the project (``bundled=False``: an
    environment that does not install it, whose bundle holds only the lock's packages)."""
    if canonicalize_name(root) != canonicalize_name(project.name or ""):
        raise LockbundleError(
            f"{pylock.path}: the lock has no package `{root}` "
            "(`tool.lockbundle.package`); bundle the project itself, or a package the lock holds"
        )
    package = LockedPackage(
        name=canonicalize_name(root),
        version=project.version,
        source=Source("directory", str(project.root)),
    )
    packages: Sequence[PlannedPackage] = plan.packages
    if bundled:
        tree = Artifact(kind="tree", path=project.root, own=True)
        own = PlannedPackage(package, tree, (package.name,))
        packages = sorted([*packages, own], key=lambda item: (item.name, item.version or ""))
    return dataclasses.replace(plan, root=package, packages=tuple(packages))


def _own_entry(plan: Plan, pylock: PylockFile, project: Project) -> Plan:
    """``plan`` whose entry of the project (``uv export`` writes it as a ``directory``, ``path =
    "."``) is checked to be the project's own directory, and built as the project."""
    if plan.root.name != canonicalize_name(project.name or ""):
        return plan  # a package of the lock the configuration picked: built as the lock says
    packages = []
    for planned in plan.packages:
        if planned.name == plan.root.name:
            path = planned.artifact.path
            if (
                planned.artifact.kind != "tree"
                or path is None
                or (path.resolve() != project.root.resolve())
            ):
                raise LockbundleError(
                    f"{pylock.path}: the entry of the project `{plan.root.name}` is "
                    f"{planned.artifact.location}, not the project's directory "
                    f"{project.root}: the lock would replace the project's code. Lock again "
                    "from the project (`uv export --format pylock.toml`)"
                )
            planned = dataclasses.replace(
                planned, artifact=dataclasses.replace(planned.artifact, own=True)
            )
        packages.append(planned)
    return dataclasses.replace(plan, packages=tuple(packages))


def project_requirements(project: Project, extras: Sequence[str]) -> list[str]:
    """What the project declares it needs (``project.dependencies``), with the requirements of
    its ``extras``, as PEP 508 text."""
    table = project.document.get("project")
    table = table if isinstance(table, Mapping) else {}
    found = [item for item in table.get("dependencies", []) if isinstance(item, str)]
    optional = table.get("optional-dependencies", {})
    optional = optional if isinstance(optional, Mapping) else {}
    wanted = {canonicalize_name(extra) for extra in extras}
    for extra, items in optional.items():
        if canonicalize_name(extra) in wanted and isinstance(items, list):
            found.extend(item for item in items if isinstance(item, str))
    return found
