"""Read a PEP 751 ``pylock.toml`` and select from it the install set of one target.

The file is read and validated by ``packaging.pylock``; its entries become the same
:class:`~.lock.LockedPackage` records a ``uv.lock`` gives, and a selection becomes the same
:class:`~.select.Plan`, so that fetching and the layouts do not care which lock was read.
Pure, as :mod:`.select` is: no network, and no disk access beyond reading the file.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.markers import (
    InvalidMarker,
    Marker,
    UndefinedComparison,
    UndefinedEnvironmentName,
)
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockValidationError,
)
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from ._compat import tomllib
from .errors import LockbundleError
from .http import realm, redact
from .lock import Dist, Hash, Lock, LockedPackage, LockError, Source
from .select import Artifact, Plan, PlannedPackage, SelectionError, choose_artifact
from .target import Target

#: the lock-version this reads: another major version is refused, a later minor one is read
#: with a warning (PEP 751)
SUPPORTED_VERSION = Version("1.0")

#: the hash algorithms read, strongest first: a file is verified by the first its entry offers
#: (md5 and sha1 last: alone, they do not satisfy ``require-hashes``)
HASH_PREFERENCE = (
    "sha512", "sha3_512", "blake2b", "sha384", "sha3_384", "sha256", "sha3_256", "blake2s",
    "sha224", "sha3_224", "sha1", "md5",
)  # fmt: skip

# a full git object id, sha1 or sha256: anything shorter is not a pin
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")

_RELOCK = "lock again with the tool that wrote it"


class PylockError(LockbundleError):
    """A ``pylock.toml`` cannot be read, or does not fit the request."""


@dataclass(frozen=True)
class PylockEntry:
    """One ``[[packages]]`` entry: as written, and as the pipeline's record."""

    #: its position in ``packages``, from 0
    index: int
    written: Package
    package: LockedPackage

    @property
    def where(self) -> str:
        return _where(self.index, self.written.name)


def _where(index: int, name: object) -> str:
    """An entry, for messages: ``[[packages]] #3 (name)``, counted from 1 as a reader does."""
    named = f" ({name})" if isinstance(name, str) and name.isprintable() else ""
    return f"[[packages]] #{index + 1}{named}"


@dataclass(frozen=True)
class PylockFile:
    """A read ``pylock.toml``: the validated model, its entries, and what to warn about."""

    path: Path
    model: Pylock
    lock_version: Version
    entries: tuple[PylockEntry, ...]
    #: the entries as a :class:`~.lock.Lock` (paths relative to the file's directory)
    lock: Lock
    #: things the reader should be told, e.g. a newer minor ``lock-version``
    warnings: tuple[str, ...] = ()

    @property
    def single_environment(self) -> bool:
        """Made for one environment (``pip lock``, ``uv pip compile`` without ``--universal``,
        hatch's uv locker): no ``environments``, and no entry under a marker."""
        return not self.model.environments and not any(
            entry.written.marker for entry in self.entries
        )


def is_pylock(document: Mapping[str, Any]) -> bool:
    """Whether a decoded lock is a PEP 751 file: it says so by ``lock-version`` (hatch lets an
    environment name its lock file anything, so the name says nothing)."""
    return "lock-version" in document


def read_pylock(path: Path) -> PylockFile:
    """Read and validate the ``pylock.toml`` at ``path``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PylockError(f"{path}: lock file not found") from None
    except OSError as error:
        raise PylockError(f"{path}: cannot read the lock file: {error.strerror}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PylockError(f"{path}: not UTF-8 text; {_RELOCK}") from None
    except tomllib.TOMLDecodeError as error:
        raise PylockError(f"{path}: not valid TOML ({error}); {_RELOCK}") from None
    return parse_pylock(document, path)


def parse_pylock(document: Mapping[str, Any], path: Path) -> PylockFile:
    """Validate a decoded ``pylock.toml`` (``path`` is where it was read, for messages and
    relative paths)."""
    lock_version, warnings = _check_lock_version(document, path)
    # the version was judged above; packaging would log its own warning for a newer minor one
    try:
        model = Pylock.from_dict({**document, "lock-version": str(SUPPORTED_VERSION)})
    except PylockValidationError as error:
        raise PylockError(f"{path}: {_place(document, error)}; {_RELOCK}") from None
    reader = _EntryReader(path)
    entries = tuple(
        PylockEntry(index, written, reader.package(written, index))
        for index, written in enumerate(model.packages)
    )
    lock = Lock(
        path=path,
        version=lock_version.major,
        revision=lock_version.minor,
        requires_python=str(model.requires_python) if model.requires_python else None,
        members=(),
        packages=tuple(entry.package for entry in entries),
        credentials=reader.credentials,
    )
    return PylockFile(path, model, lock_version, entries, lock, tuple(warnings))


def _check_lock_version(document: Mapping[str, Any], path: Path) -> tuple[Version, list[str]]:
    raw = document.get("lock-version")
    try:
        version = Version(raw) if isinstance(raw, str) else None
    except InvalidVersion:
        version = None
    if version is None:
        raise PylockError(f"{path}: `lock-version = {raw!r}` is not a version; {_RELOCK}")
    if version.major != SUPPORTED_VERSION.major:
        raise PylockError(
            f"{path}: `lock-version = {raw!r}` is not supported (this hatch-lockbundle reads "
            f"version {SUPPORTED_VERSION.major}.x); lock with a tool that writes version "
            f"{SUPPORTED_VERSION}, or upgrade hatch-lockbundle"
        )
    if version > SUPPORTED_VERSION:
        return version, [
            f"{path}: `lock-version = {raw!r}` is newer than {SUPPORTED_VERSION}, which this "
            "hatch-lockbundle reads; what the newer version adds is ignored. Upgrade "
            "hatch-lockbundle if the bundle is not what the lock says"
        ]
    return version, []


_CONTEXT_ENTRY = re.compile(r"packages\[(\d+)\]\.?(.*)")


def _place(document: Mapping[str, Any], error: PylockValidationError) -> str:
    """packaging's message with its place (``packages[3].wheels[0].hashes``) said as the
    entry and field."""
    context = error.context or ""
    match = _CONTEXT_ENTRY.fullmatch(context)
    if match is None:
        return f"{error.message} (field `{context}`)" if context else error.message
    index = int(match[1])
    raw = document.get("packages")
    written = raw[index] if isinstance(raw, list) and index < len(raw) else None
    name = written.get("name") if isinstance(written, dict) else None
    field_name = f", field `{match[2]}`" if match[2] else ""
    return f"{_where(index, name)}{field_name}: {error.message}"


class _EntryReader:
    """Turns validated entries into :class:`LockedPackage` records, checking what packaging
    leaves to the installer: file names, URLs, hashes, the kind of VCS and its pin."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # relative paths are relative to the lock file (PEP 751); made absolute here, so that
        # every later join with the lock's directory leaves them as they are
        self.directory = path.parent.absolute()
        self.credentials: dict[str, tuple[str, str]] = {}

    def fail(self, where: str, message: str) -> PylockError:
        return PylockError(f"{self.path}: {where}: {message}; {_RELOCK}")

    def package(self, written: Package, index: int) -> LockedPackage:
        where = _where(index, written.name)
        version = str(written.version) if written.version is not None else None
        common: dict[str, Any] = {"name": written.name, "version": version}
        if written.vcs is not None:
            return LockedPackage(source=self.vcs(written.vcs, f"{where} vcs"), **common)
        if written.directory is not None:
            return LockedPackage(source=self.directory_source(written.directory), **common)
        if written.archive is not None:
            return self.archive(written.archive, common, f"{where} archive")
        wheels = tuple(
            self.dist(wheel, wheel.filename, f"{where} wheels[{i}]")
            for i, wheel in enumerate(written.wheels or ())
        )
        sdist = written.sdist
        files = [*(written.wheels or ()), *([sdist] if sdist else [])]
        location = files[0].url or files[0].path or ""
        source = (
            Source("registry", self.url(written.index, f"{where} index"))
            if written.index
            else Source("url", redact(location))
        )
        return LockedPackage(
            source=source,
            wheels=wheels,
            sdist=self.dist(sdist, sdist.filename, f"{where} sdist") if sdist else None,
            **common,
        )

    def vcs(self, vcs: PackageVcs, where: str) -> Source:
        if vcs.type != "git":
            raise self.fail(
                where,
                f"`type = {vcs.type!r}`: hatch-lockbundle builds git sources only; depend on a "
                "release of the package, or on its git repository",
            )
        if not _COMMIT.fullmatch(vcs.commit_id):
            raise self.fail(where, f"`commit-id = {vcs.commit_id!r}` is not a full commit id")
        url = (
            self.url(vcs.url, f"{where} url")
            if vcs.url
            else (self.directory / (vcs.path or "")).as_uri()
        )
        if "#" in url:
            raise self.fail(where, f"`url = {redact(url)!r}` has a fragment")
        # the commit goes where uv writes it, in the fragment, which select reads
        return Source("git", f"{url}#{vcs.commit_id}", vcs.subdirectory)

    def directory_source(self, directory: PackageDirectory) -> Source:
        # bundles install every project non-editable, so `editable` changes nothing here
        path = Path(directory.path, directory.subdirectory or "")
        return Source("directory", str(self.directory / path))

    def archive(self, archive: PackageArchive, common: dict[str, Any], where: str) -> LockedPackage:
        location = (
            self.url(archive.url, f"{where} url")
            if archive.url
            else str(self.directory / (archive.path or ""))
        )
        try:
            name = unquote(urlsplit(location).path.rsplit("/", 1)[-1]) if archive.url else ""
        except ValueError:
            raise self.fail(where, f"`url = {location!r}` is not a valid URL") from None
        name = name or Path(archive.path or "").name
        dist = self.dist(archive, name, where)
        # an archive is a wheel or a source archive, as its name says (what the file holds is
        # checked when it is built or installed)
        wheel = name.endswith(".whl")
        return LockedPackage(
            source=Source("path" if archive.path else "url", location, archive.subdirectory),
            wheels=(dist,) if wheel else (),
            sdist=None if wheel else dist,
            **common,
        )

    def dist(
        self, written: PackageWheel | PackageSdist | PackageArchive, filename: str, where: str
    ) -> Dist:
        if (
            not filename
            or filename.startswith(".")
            or any(char in filename for char in "/\\:")
            or not filename.isprintable()
        ):
            raise self.fail(where, f"{filename!r} is not a plain file name")
        return Dist(
            filename=filename,
            url=self.url(written.url, f"{where} url") if written.url else None,
            path=str(self.directory / written.path) if written.path else None,
            hash=self.hash(written.hashes, where),
            size=written.size,
        )

    def hash(self, hashes: Mapping[str, str], where: str) -> Hash:
        offered = {algorithm.lower(): value for algorithm, value in hashes.items()}
        known = [algorithm for algorithm in HASH_PREFERENCE if algorithm in offered]
        if not known:
            listing = ", ".join(repr(name) for name in sorted(offered))
            raise self.fail(
                where,
                f"`hashes` offers {listing}, none of which hatch-lockbundle checks "
                f"({', '.join(HASH_PREFERENCE)})",
            )
        parsed = []
        for name in known:
            # every hash is checked for its form, so that a damaged lock is found at once
            try:
                parsed.append(Hash.parse(f"{name}:{offered[name]}", f"`hashes.{name}`"))
            except LockError as error:
                raise self.fail(where, str(error)) from None
        return parsed[0]

    def url(self, url: str, where: str) -> str:
        """``url`` without its ``user:password@``, which is kept in :attr:`credentials`, so
        that no output made from the lock holds a secret (ssh keeps its user name)."""
        if not url.isprintable():
            raise self.fail(where, f"{redact(url)!r} holds a control character")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises for a host part that is not `host[:port]`)
        except ValueError:
            raise self.fail(where, f"{redact(url)!r} is not a valid URL") from None
        if parts.password is None and (parts.username is None or parts.scheme.endswith("ssh")):
            return url
        found = (unquote(parts.username or ""), unquote(parts.password or ""))
        self.credentials.setdefault(realm(url), found)
        return redact(url)


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
            f"{path} was locked for one environment (it has no `environments` and no entry "
            f"under a marker, as `pip lock`, `uv pip compile` and hatch's lockers write), and "
            f"nothing says which; a bundle for {target.describe()} could miss that platform's "
            "dependencies. Lock for the target (`uv pip compile --universal --format "
            "pylock.toml`, or `--python-platform` and `--python-version` for that platform), "
            "or bundle for this machine"
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
                f"of {written.name}. {_RELOCK.capitalize()}"
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
            f"{path}: {where}: the marker cannot be evaluated ({error}); {_RELOCK}"
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
    plan: Plan, requirements: Iterable[str], extras: Sequence[str] = ()
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
    """
    locked = {planned.name: planned.version for planned in plan.packages}
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
            found.append(Unsatisfied(text, "not in the lock"))
            continue
        version = locked[name]
        if version is not None and not requirement.specifier.contains(version, prereleases=True):
            found.append(Unsatisfied(text, f"the lock has {name} {version}"))
    return found


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


def check_requirements(
    pylock: PylockFile, plan: Plan, requirements: Iterable[str], extras: Sequence[str] = ()
) -> None:
    """Refuse a lock that does not meet the project's requirements (see
    :func:`unsatisfied_requirements`), listing every one."""
    found = unsatisfied_requirements(plan, requirements, extras)
    if found:
        listing = "\n".join(f"  - {item}" for item in found)
        raise PylockError(
            f"{pylock.path} is out of date with the project's requirements for "
            f"{plan.target.describe()}:\n{listing}\nLock again (`hatch env lock`, "
            "`uv export`, `pip lock`)"
        )
