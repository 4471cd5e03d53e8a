"""What fetching yields: each verified wheel, how it was obtained, and each plan with its wheels.

The types the later stages (layouts, SBOM, stamp) read, apart from :mod:`.fetch` that makes them,
and the sha256 each wheel is known by from its check (:func:`verified_sha256`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .credentials import redact
from .errors import LockbundleError
from .select import Plan, PlannedPackage


class HashMismatchError(LockbundleError):
    """An artifact's bytes are not the ones the lock recorded."""


class WheelOrigin(Enum):
    """How a wheel was obtained."""

    DOWNLOADED = "downloaded"
    #: downloaded with ``require-hashes`` off: nothing to check it against
    DOWNLOADED_UNVERIFIED = "downloaded (unverified)"
    #: downloaded by an earlier build, found in the cache by its hash
    CACHED_DOWNLOAD = "cached"
    #: a wheel file the lock names by path
    LOCAL_FILE = "local file"
    BUILT_FROM_SDIST = "built from sdist"
    BUILT_FROM_SOURCE_TREE = "built from source tree"
    BUILT_FROM_GIT = "built from git"

    @property
    def built_here(self) -> bool:
        """Whether the wheel was built on this machine (from an sdist, a tree or git)."""
        return self in (
            WheelOrigin.BUILT_FROM_SDIST,
            WheelOrigin.BUILT_FROM_SOURCE_TREE,
            WheelOrigin.BUILT_FROM_GIT,
        )


@dataclass(frozen=True)
class FetchedWheel:
    """The verified wheel file of one planned package, and how it was obtained."""

    planned: PlannedPackage
    path: Path
    origin: WheelOrigin
    #: the sha256 of the file when already known (verified against the lock)
    sha256: str | None = None

    def describe_origin(self) -> str:
        """How the wheel was obtained, for messages, e.g. ``built from foo-1.0.tar.gz``."""
        artifact = self.planned.artifact
        if self.origin is WheelOrigin.BUILT_FROM_SDIST:
            return f"built from {artifact.filename}"
        if self.origin is WheelOrigin.BUILT_FROM_GIT and artifact.url is not None:
            return f"built from git {redact(artifact.url)}@{artifact.commit}"
        return str(self.origin.value)

    def check_identity(self, relock: str) -> None:
        """The wheel must be the package and version the lock names (``relock``: the remedy)."""
        package = self.planned.package
        try:
            name, version, _, _ = parse_wheel_filename(self.path.name)
        except InvalidWheelFilename as error:
            raise LockbundleError(
                f"{package.label}: {self.path.name} is not a valid wheel name: {error}"
            ) from None
        mismatch = name != package.name
        if package.version is not None and not mismatch:
            try:
                mismatch = version != Version(package.version)
            except InvalidVersion:
                mismatch = str(version) != package.version
        if mismatch:
            raise LockbundleError(
                f"{package.label}: got {self.path.name} ({self.describe_origin()}), which is "
                f"{name} {version}, not what the lock records. {relock} if the project changed "
                "since it was locked"
            )

    @property
    def identity(self) -> str:
        """The distribution the wheel is checked as, its locked name and version: what a
        check of its content is remembered for in the cache, with its hash."""
        package = self.planned.package
        return f"{package.name} {package.version}"


@dataclass(frozen=True)
class FetchedPlan:
    """A plan (one target) with the verified wheel of each of its packages."""

    plan: Plan
    #: the wheel of each package of ``plan.packages``, in the same order
    wheels: tuple[FetchedWheel, ...]


def verified_sha256(planned: PlannedPackage, path: Path) -> str | None:
    """The sha256 of the verified file at ``path``, which the layouts compare with the bytes
    they ship (None: the lock has no hash, nothing was verified).

    A lock's sha256 is that already. For another algorithm the file is read again here, both
    digests at once, so that a file replaced in the cache after its check is caught then or,
    through the sha256, when a layout reads it.
    """
    expected = planned.artifact.hash
    if expected is None:
        return None
    if expected.algorithm == "sha256":
        return expected.value
    locked, sha256 = hashlib.new(expected.algorithm), hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(1 << 20):
            locked.update(chunk)
            sha256.update(chunk)
    if locked.hexdigest() != expected.value:
        raise HashMismatchError(
            f"{planned.package.label}: {path} changed after it was verified (expected "
            f"{expected}, got {expected.algorithm}:{locked.hexdigest()}): something replaced "
            "it in the cache. Remove that file from the cache and build again"
        )
    return sha256.hexdigest()
