"""Choose the one artifact a locked package is fetched as for a target, or say why none fits.

Pure, as selection is: everything comes from the :class:`~.lock.Lock` it is handed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .errors import SelectionError
from .lock import Dist, Hash, Lock, LockedPackage, LockFormat, Source
from .target import Target, canonical_platform

ArtifactKind = Literal["wheel", "sdist", "tree", "git"]


@dataclass(frozen=True)
class Artifact:
    """The one thing fetched for a package.

    ``wheel``/``sdist``: a file at ``url`` (http, https, file) or a local ``path``, with its hash.
    ``tree``: a local project directory at ``path``, built into a wheel.
    ``git``: ``url`` is the repository, ``commit`` the locked revision, built into a wheel.
    """

    kind: ArtifactKind
    filename: str | None = None
    url: str | None = None
    path: Path | None = None
    hash: Hash | None = None
    size: int | None = None
    commit: str | None = None
    subdirectory: str | None = None
    #: ``tree``: one of the user's own projects (the project, a member or path dependency its
    #: pyproject declares, as a ``uv.lock`` holds them), which may be built in this process;
    #: any other tree a lock names is built like an sdist, isolated and without credentials
    own: bool = False

    @property
    def location(self) -> str:
        """Where it comes from, for messages."""
        if self.url is not None:
            return self.url if self.commit is None else f"{self.url}@{self.commit}"
        return str(self.path)


def choose_artifact(lock: Lock, target: Target, package: LockedPackage) -> Artifact:
    """The artifact an installer on ``target`` would use for ``package``."""
    source = package.source
    if source.is_source_tree:
        # a uv.lock's trees are the workspace's and its pyproject's (the staleness check
        # holds them to it); nothing ties a pylock's to the project (its own: lock_input)
        own = lock.format is not LockFormat.PYLOCK
        return Artifact(kind="tree", path=lock.root / source.location, own=own)
    if source.kind == "git":
        return _git_artifact(source)
    ranked = [
        (rank, index, wheel)
        for index, wheel in enumerate(package.wheels)
        if (rank := target.wheel_rank(wheel.filename)) is not None
    ]
    if ranked:
        _, _, wheel = min(ranked, key=lambda item: (item[0], item[1]))
        return _file_artifact(lock, package, wheel, "wheel")
    if package.sdist is not None:
        if package.wheels and not target.fits_builds_here and not _publishes_pure_wheels(package):
            # every wheel published is for one platform: the sdist compiles, and what it
            # compiles here would be for this machine, not the target; say so before building
            raise SelectionError(
                f"{package.label}: no wheel in the lock fits {target.describe()}, and its sdist "
                "would be compiled for this machine, not for the target (every wheel it "
                f"publishes is for one platform: it is not pure Python). "
                f"{wheels_summary(package.wheels)}. {remedies(package.name, buildable=True)}"
            )
        return _file_artifact(lock, package, package.sdist, "sdist")
    if source.kind == "path" and not package.wheels:
        # ``source = { path = "x.tar.gz" }`` without an sdist table: the file is the sdist
        return Artifact(kind="sdist", path=lock.root / source.location)
    raise SelectionError(
        f"{package.label}: no wheel in the lock fits {target.describe()}, and there is no sdist "
        f"to build. {wheels_summary(package.wheels)}. {remedies(package.name, buildable=False)}"
    )


def remedies(name: str, *, buildable: bool) -> str:
    """The ways out when no wheel of ``name`` suits the target, for every message that says so.

    :param buildable: the package has a source to build (on a machine that matches the target)
    """
    staging = (
        "build a wheelhouse on a staging machine that matches the target; " if buildable else ""
    )
    return (
        f"Remedies: {staging}lock a version of {name} that publishes wheels for the target; or "
        "bundle for another platform"
    )


def wheels_summary(wheels: Sequence[Dist]) -> str:
    """What the wheels of a package are for, each Python and platform named once, e.g.
    ``The lock has 12 wheels, for cp311, cp312, cp38-abi3 on macosx_11_0_arm64, win_amd64``.

    A package can publish dozens of wheels: their file names, one after the other, hide the
    one thing a reader looks for (is my platform there?).
    """
    pythons: set[str] = set()
    platforms: set[str] = set()
    for wheel in wheels:
        try:
            tags = parse_wheel_filename(wheel.filename)[3]
        except InvalidWheelFilename:
            continue
        for tag in tags:
            same = tag.abi in ("none", tag.interpreter)
            pythons.add(tag.interpreter if same else f"{tag.interpreter}-{tag.abi}")
            platforms.add(canonical_platform(tag.platform))
    if not wheels:
        return "The lock has no wheel of it"
    count = f"{len(wheels)} wheel{'s' if len(wheels) > 1 else ''}"
    return (
        f"The lock has {count}, for {', '.join(sorted(pythons, key=_natural))} "
        f"on {', '.join(sorted(platforms, key=_natural))}"
    )


def _natural(text: str) -> list[Any]:
    """Sort key that orders numbers by value: cp39 before cp310, macosx_10_9 before macosx_11_0."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _publishes_pure_wheels(package: LockedPackage) -> bool:
    for wheel in package.wheels:
        try:
            tags = parse_wheel_filename(wheel.filename)[3]
        except InvalidWheelFilename:
            continue
        if any(tag.platform == "any" for tag in tags):
            return True
    return False


def _file_artifact(lock: Lock, package: LockedPackage, dist: Dist, kind: ArtifactKind) -> Artifact:
    source = package.source
    url: str | None = None
    path: Path | None = None
    if dist.url is not None:
        url = dist.url
    elif dist.path is not None:
        base = lock.root / source.location if source.kind == "registry" else lock.root
        path = base / dist.path
    elif source.kind == "url":
        url = source.location
    elif source.kind == "path":
        path = lock.root / source.location
    else:
        raise SelectionError(
            f"{lock.path}: {package.label} has a {kind} without a url or path; run `uv lock` again"
        )
    try:
        filename = dist.filename or PurePosixPath(urlsplit(url).path if url else str(path)).name
    except ValueError:
        raise SelectionError(f"{lock.path}: {package.label} has an invalid URL {url!r}") from None
    if not filename or filename in (".", "..") or "/" in filename or "\\" in filename:
        raise SelectionError(f"{lock.path}: {package.label} has an unusable file name {filename!r}")
    return Artifact(
        kind,
        filename,
        url=url,
        path=path,
        hash=dist.hash,
        size=dist.size,
        subdirectory=source.subdirectory if source.kind in ("url", "path") else None,
    )


def _git_artifact(source: Source) -> Artifact:
    """``git = "https://host/repo?subdirectory=x&rev=main#<commit>"`` as uv writes it."""
    try:
        parts = urlsplit(source.location)
    except ValueError:
        raise SelectionError(f"git source {source.location!r} is not a valid URL") from None
    query = parse_qs(parts.query)
    subdirectory = source.subdirectory or next(iter(query.get("subdirectory", [])), None)
    repository = parts._replace(query="", fragment="").geturl()
    if repository.startswith("git+"):
        repository = repository[len("git+") :]
    commit = parts.fragment or next(iter(query.get("rev", [])), None)
    return Artifact(kind="git", url=repository, commit=commit, subdirectory=subdirectory)
