"""Which lock a bundle reads (a ``uv.lock`` or a PEP 751 ``pylock.toml``), and its plans.

The one place that knows there are two lock formats: each is read and selected by its own
stage (:mod:`.uvlock` and :mod:`.select`; :mod:`.pylock_input`, through :mod:`.pylock` and
:mod:`.pylock_select`) into the
same :class:`~.lock.Lock` and :class:`~.select.Plan`, which is all the engine goes on with.
The format is told by the file's content, never by its name: hatch lets an environment name
its lock anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import BundleConfig
from .errors import LockbundleError
from .lock import Lock
from .project import LOCK_NAME, Project, find_lock
from .select import Plan, select
from .staleness import check_lock_current
from .target import Target

if TYPE_CHECKING:
    from .pylock import PylockFile

#: the PEP 751 file looked for in the project's directory when there is no ``uv.lock``
PYLOCK_NAME = "pylock.toml"


@dataclass(frozen=True)
class LockInput:
    """The lock read for a bundle, and the install set it selects for each target."""

    lock: Lock
    plans: list[Plan]
    #: one line for the build's log: which lock was read
    description: str
    #: what the reader should be told (a newer ``lock-version``, a project left out)
    warnings: tuple[str, ...] = ()
    #: what the user does to make the lock again, for the remedies of later stages (None:
    #: a uv.lock, whose remedies name uv's commands)
    relock: str | None = None
    #: the PEP 751 file as read, when the lock is one (None: a uv.lock)
    pylock: PylockFile | None = None


def read_lock_input(
    project: Project, config: BundleConfig, read_uv_lock: Callable[[Path], Lock]
) -> LockInput:
    """Find the project's lock, read it, and select each target's install set from it.

    :param read_uv_lock: how a ``uv.lock`` is read (:func:`~.uvlock.read_lock`, or a cache)
    """
    path = _found_pylock(project)
    if config.hatch_env is not None or config.lock is not None or path is not None:
        # Imported here, for a lock that may be a PEP 751 one: the reader and packaging.pylock
        # are about 10 ms of imports, a twentieth of a uv.lock's no-op build, which issue 18
        # holds within 5 % of before (benchmarks/README.md, "issue 18's restructuring").
        from .pylock_input import read_named_lock

        named = read_named_lock(project, config, path)
        if isinstance(named, LockInput):
            return named
        path = named  # a uv.lock, named by `lock` (or a hatch environment's lock file)
    lock = read_uv_lock(path) if path is not None else _find_uv_lock(project, config, read_uv_lock)
    if not config.frozen:
        check_lock_current(lock, project)
    root = root_name(project, config)
    plans = [
        select(lock, target, root, config.extras, config.groups) for target in targets_of(config)
    ]
    return LockInput(lock, plans, f"Lock: {lock.path}")


def targets_of(config: BundleConfig) -> list[Target]:
    return [Target.for_(config.python, platform) for platform in config.platforms or [None]]


def root_name(project: Project, config: BundleConfig) -> str:
    root = config.package or project.name
    if root is None:
        raise no_name(project)
    return root


def _found_pylock(project: Project) -> Path | None:
    """``pylock.toml`` in the project's directory when no ``uv.lock`` is at or above it."""
    candidate = project.root / PYLOCK_NAME
    if not candidate.is_file():
        return None
    if any(
        (directory / LOCK_NAME).is_file() for directory in (project.root, *project.root.parents)
    ):
        return None
    return candidate


def _find_uv_lock(project: Project, config: BundleConfig, read: Callable[[Path], Lock]) -> Lock:
    if project.name is None:
        # a virtual workspace root (no [project]): its members are in its own lock
        own = project.root / LOCK_NAME
        if config.package is not None and own.is_file():
            return read(own)
        raise no_name(project, sorted(read(own).members) if own.is_file() else [])
    try:
        return find_lock(project.root, project.name, read)
    except LockbundleError as error:
        if not (project.root / PYLOCK_NAME).is_file():
            raise
        # a uv.lock above wins over the pylock.toml beside the project: say why it was not read
        raise LockbundleError(
            f"{error}; `{PYLOCK_NAME}` beside the project is not read while a `uv.lock` is "
            f'above it: set `lock = "{PYLOCK_NAME}"` (or `hatch-env = "default"`)'
        ) from None


def no_name(project: Project, members: Sequence[str] = ()) -> LockbundleError:
    if members:
        return LockbundleError(
            f"{project.root / 'pyproject.toml'} is a virtual workspace root (no `[project]` "
            "table): it has nothing of its own to bundle. Pick a workspace member with "
            f'`tool.lockbundle.package = "{members[0]}"` or `--package {members[0]}` (the '
            f"members: {', '.join(members)}), or build in the member's directory"
        )
    return LockbundleError(
        f"{project.root / 'pyproject.toml'} has no `project.name`; set "
        "`tool.lockbundle.package` to the package to bundle"
    )
