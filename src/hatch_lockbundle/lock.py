"""What a lock says, as typed, immutable records: packages, their sources, files and edges.

:mod:`.uvlock` reads them from ``uv.lock``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path

from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from .errors import LockbundleError

SOURCE_KINDS = ("registry", "git", "url", "path", "directory", "editable", "virtual")


class LockFormat(Enum):
    """The kind of file a :class:`Lock` was read from (its value is the format's usual name)."""

    UV_LOCK = "uv.lock"
    #: PEP 751, whatever the file is named (``pylock.toml``, ``pylock.<env>.toml``)
    PYLOCK = "pylock.toml"


class LockError(LockbundleError):
    """``uv.lock`` cannot be read or does not say what is needed."""


@dataclass(frozen=True)
class Source:
    """Where uv found a package: ``kind`` is one of :data:`SOURCE_KINDS`."""

    kind: str
    location: str
    subdirectory: str | None = None

    @property
    def is_remote_registry(self) -> bool:
        return self.kind == "registry" and "://" in self.location

    @property
    def is_source_tree(self) -> bool:
        """A local project directory (the project, a workspace member, a path dependency)."""
        return self.kind in ("directory", "editable", "virtual")

    def __str__(self) -> str:
        return f"{self.kind} = {self.location!r}"


# the algorithms a hash may use, with their digests' lengths in hex digits: fixed-length ones
# that every Python has (shake_* need a length, and would fail only when used)
_DIGEST_LENGTHS = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
    "sha3_224": 56, "sha3_256": 64, "sha3_384": 96, "sha3_512": 128, "blake2b": 128, "blake2s": 64,
}  # fmt: skip
#: broken algorithms: a file is not verified by them (they do not satisfy `require-hashes`)
WEAK_ALGORITHMS = frozenset({"md5", "sha1"})


@dataclass(frozen=True)
class Hash:
    algorithm: str
    value: str

    @classmethod
    def parse(cls, text: str, where: str) -> Hash:
        algorithm, sep, value = text.lower().partition(":")
        length = _DIGEST_LENGTHS.get(algorithm)
        if not sep or not value or value.strip(string.hexdigits):
            raise LockError(f"{where}: hash {text!r} is not of the form `<algorithm>:<hex digest>`")
        if length is None:
            raise LockError(
                f"{where}: hash algorithm `{algorithm}` is not one hatch-lockbundle checks "
                f"({', '.join(sorted(_DIGEST_LENGTHS))}); lock with uv, which records sha256"
            )
        if len(value) != length:
            raise LockError(f"{where}: hash {text!r} is not of the form `<algorithm>:<hex digest>`")
        return cls(algorithm, value)

    @property
    def weak(self) -> bool:
        """Made with a broken algorithm (md5, sha1): it does not prove a file is the locked one."""
        return self.algorithm in WEAK_ALGORITHMS

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value}"


@dataclass(frozen=True)
class Dist:
    """One file of a package: a wheel or an sdist, remote (``url``) or local (``path``)."""

    filename: str
    url: str | None = None
    path: str | None = None
    hash: Hash | None = None
    size: int | None = None


@dataclass(frozen=True)
class Dependency:
    """An edge of the lock graph; ``version``/``source`` are only set when the name is ambiguous."""

    name: NormalizedName
    extras: tuple[NormalizedName, ...] = ()
    marker: Marker | None = None
    version: str | None = None
    source: Source | None = None


@dataclass(frozen=True, order=True)
class Declared:
    """A requirement as a project declares it, reduced to what uv records without rewriting."""

    name: NormalizedName
    extras: tuple[NormalizedName, ...] = ()
    specifier: str = ""

    def __str__(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


# Compared by identity: each locked package is one object of its Lock (and usable as a dict key).
@dataclass(frozen=True, eq=False)
class LockedPackage:
    name: NormalizedName
    version: str | None
    source: Source
    dependencies: tuple[Dependency, ...] = ()
    optional_dependencies: Mapping[NormalizedName, tuple[Dependency, ...]] = field(
        default_factory=dict
    )
    dependency_groups: Mapping[NormalizedName, tuple[Dependency, ...]] = field(default_factory=dict)
    sdist: Dist | None = None
    wheels: tuple[Dist, ...] = ()
    #: every extra the project declares, including those without locked dependencies
    provides_extras: tuple[NormalizedName, ...] = ()
    #: every dependency group the project declares, including empty ones
    declared_groups: tuple[NormalizedName, ...] = ()
    #: what the project declared when it was locked (``[package.metadata]``), for staleness checks
    requires_dist: tuple[Declared, ...] | None = None
    requires_dev: Mapping[NormalizedName, tuple[Declared, ...]] | None = None

    @property
    def extras(self) -> tuple[NormalizedName, ...]:
        return tuple(sorted({*self.optional_dependencies, *self.provides_extras}))

    @property
    def groups(self) -> tuple[NormalizedName, ...]:
        return tuple(sorted({*self.dependency_groups, *self.declared_groups}))

    @property
    def label(self) -> str:
        """``name==version`` (or the name alone for a package without a locked version)."""
        return f"{self.name}=={self.version}" if self.version else str(self.name)


@dataclass(frozen=True)
class Lock:
    path: Path
    version: int
    revision: int
    requires_python: str | None
    members: tuple[NormalizedName, ...]
    packages: tuple[LockedPackage, ...]
    conflicts: tuple[tuple[Mapping[str, str], ...], ...] = ()
    #: ``user:password`` found in the lock's URLs, by realm (see :func:`~.http.realm`); the
    #: URLs themselves are kept without it, so that no output made from them holds a secret
    credentials: Mapping[str, tuple[str, str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: which file it was read from: what a later stage writes may depend on it (a wheelhouse
    #: rewrites a ``uv.lock`` only from a ``uv.lock``), never on the file's name
    format: LockFormat = LockFormat.UV_LOCK

    @property
    def root(self) -> Path:
        """The workspace root: relative paths in the lock are relative to it."""
        return self.path.parent

    @cached_property
    def _by_name(self) -> dict[NormalizedName, list[LockedPackage]]:
        # every edge is resolved by name: a scan per edge made large locks quadratic
        index: dict[NormalizedName, list[LockedPackage]] = {}
        for package in self.packages:
            index.setdefault(package.name, []).append(package)
        return index

    def by_name(self, name: str) -> list[LockedPackage]:
        return list(self._by_name.get(canonicalize_name(name), ()))

    def resolve(self, dependency: Dependency, parent: LockedPackage) -> LockedPackage:
        """The locked package an edge points to."""
        candidates = self.by_name(dependency.name)
        if dependency.version is not None:
            candidates = [p for p in candidates if p.version == dependency.version]
        if dependency.source is not None:
            candidates = [p for p in candidates if p.source == dependency.source]
        if len(candidates) == 1:
            return candidates[0]
        what = "no package" if not candidates else "several packages"
        raise LockError(
            f"{self.path}: {parent.label} depends on `{dependency.name}`, but the lock has {what} "
            "matching that edge; the lock is inconsistent: run `uv lock` again"
        )


def normalize_specifier(text: str) -> str:
    """A specifier set written one way, whatever its order and spacing."""
    try:
        return ",".join(sorted(str(spec) for spec in SpecifierSet(text)))
    except InvalidSpecifier:
        return text.replace(" ", "")
