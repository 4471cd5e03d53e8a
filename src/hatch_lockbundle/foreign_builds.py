"""Wheels built here for a target this machine is not: refused, with what to do instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .artifact import remedies, wheels_summary
from .errors import BackendFailedError, LockbundleError, indented
from .select import Plan, PlannedPackage

if TYPE_CHECKING:  # fetch, which makes the wheels, imports this module
    from .fetched import FetchedWheel


def check_fits(plan: Plan, wheel: FetchedWheel) -> None:
    """A wheel built here must suit the target too (it does unless the target is foreign)."""
    target = plan.target
    if target.wheel_rank(wheel.path.name) is not None:
        return
    package = wheel.planned.package
    raise LockbundleError(
        f"{package.label}: no wheel in the lock fits {target.describe()}, and building it here "
        f"gives {wheel.path.name}, which is for this machine only (it is not pure Python). "
        f"{wheels_summary(package.wheels)}. {remedies(package.name, buildable=True)}"
    )


#: lines of a backend's output quoted when it failed to build for a foreign target: the
#: compiler's last words; what comes before is the backend's progress (and often its
#: traceback), of no use to the reader, who is told what to do instead
FOREIGN_OUTPUT_TAIL = 12


def check_build_was_for_here(
    plans: Sequence[Plan], planned: PlannedPackage, error: BackendFailedError
) -> None:
    """A build that failed for a target this machine cannot build for gets the remedies of
    :func:`check_fits` (whether it would have compiled here does not matter: what it compiles
    here is not for the target)."""
    foreign = [
        plan.target
        for plan in plans
        if not plan.target.fits_builds_here
        and any(
            (other.package, other.artifact) == (planned.package, planned.artifact)
            for other in plan.packages
        )
    ]
    if not foreign:
        return
    package = planned.package
    artifact = planned.artifact
    targets = " or ".join(target.describe() for target in foreign)
    raise LockbundleError(
        f"{package.label}: no wheel in the lock fits {targets}, and building one here from "
        f"{artifact.filename or artifact.location} failed (had it compiled, it would have been "
        f"for this machine, not the target). {wheels_summary(package.wheels)}. "
        f"{remedies(package.name, buildable=True)}. The last lines of the build's output:\n"
        f"{indented(error.output[-FOREIGN_OUTPUT_TAIL:])}"
    ) from None
