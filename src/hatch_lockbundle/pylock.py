"""Read a PEP 751 ``pylock.toml`` into typed records (parsing only, no network).

The file is read and validated by ``packaging.pylock``; its entries become the same
:class:`~.lock.LockedPackage` records a ``uv.lock`` gives (selection: :mod:`.pylock_select`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
from packaging.version import InvalidVersion, Version

from ._compat import TOMLError, loads_toml
from .credentials import realm, redact
from .errors import LockbundleError
from .lock import Dist, Hash, Lock, LockedPackage, LockError, LockFormat, Source

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

RELOCK = "lock again with the tool that wrote it"


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
        return _entry_place(self.index, self.written.name)


def _entry_place(index: int, name: object) -> str:
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
        """Taken as made for the one environment it was locked in: it has no ``environments``.

        ``pip lock``, ``uv pip compile`` and hatch's lockers lock for the machine they run on
        and say so nowhere; uv even keeps the markers that held there (``sys_platform ==
        'linux'``) and drops the entries whose markers did not, so markers prove nothing.
        """
        return not self.model.environments


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
    return parse_pylock(decode_pylock(data, path), path)


def decode_pylock(data: bytes, path: Path) -> dict[str, Any]:
    """The TOML document of ``data``, the content of the ``pylock.toml`` at ``path``."""
    try:
        return loads_toml(data)
    except TOMLError as error:
        raise PylockError(f"{path}: {error}; {RELOCK}") from None


def parse_pylock(document: Mapping[str, Any], path: Path) -> PylockFile:
    """Validate a decoded ``pylock.toml`` (``path`` is where it was read, for messages and
    relative paths)."""
    lock_version, warnings = _check_lock_version(document, path)
    # the version was judged above; packaging would log its own warning for a newer minor one
    try:
        model = Pylock.from_dict({**document, "lock-version": str(SUPPORTED_VERSION)})
    except PylockValidationError as error:
        raise PylockError(f"{path}: {_place(document, error)}; {RELOCK}") from None
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
        format=LockFormat.PYLOCK,
    )
    return PylockFile(path, model, lock_version, entries, lock, tuple(warnings))


def _check_lock_version(document: Mapping[str, Any], path: Path) -> tuple[Version, list[str]]:
    raw = document.get("lock-version")
    try:
        version = Version(raw) if isinstance(raw, str) else None
    except InvalidVersion:
        version = None
    if version is None:
        raise PylockError(f"{path}: `lock-version = {raw!r}` is not a version; {RELOCK}")
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
    return f"{_entry_place(index, name)}{field_name}: {error.message}"


class _EntryReader:
    """Turns validated entries into :class:`LockedPackage` records, checking what packaging
    leaves to the installer: file names, URLs, hashes, the kind of VCS and its pin, and that
    every local file or tree it names is under the lock's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # relative paths are relative to the lock file (PEP 751); made absolute here, so that
        # every later join with the lock's directory leaves them as they are
        self.directory = path.parent.absolute()
        # the lock is untrusted (a pull request may change it): the local files and trees it
        # names stay under its directory, symlinks resolved, or it could read any file of
        # this machine (learning its hash from a mismatch) or build any tree
        self.tree = path.parent.resolve()
        self.credentials: dict[str, tuple[str, str]] = {}

    def fail(self, where: str, message: str) -> PylockError:
        return PylockError(f"{self.path}: {where}: {message}; {RELOCK}")

    def local(self, written: str, where: str, field_name: str) -> Path:
        """The local path ``written`` in ``field_name`` (relative to the lock), refused unless
        it is under the lock's directory."""
        path = self.directory / written
        if not path.resolve().is_relative_to(self.tree):
            raise PylockError(
                f"{self.path}: {where}: `{field_name} = {written!r}` is outside {self.tree}, "
                "the lock's directory: a lock may name local files and projects only under "
                "its own directory, so that a changed lock cannot read or build anything else "
                "on this machine. Move them under that directory and lock again, or publish "
                "them to an index"
            )
        return path

    def package(self, written: Package, index: int) -> LockedPackage:
        where = _entry_place(index, written.name)
        version = str(written.version) if written.version is not None else None
        common: dict[str, Any] = {"name": written.name, "version": version}
        if written.vcs is not None:
            return LockedPackage(source=self.vcs(written.vcs, f"{where} vcs"), **common)
        if written.directory is not None:
            directory = self.directory_source(written.directory, f"{where} directory")
            return LockedPackage(source=directory, **common)
        if written.archive is not None:
            return self.archive(written.archive, common, f"{where} archive")
        wheels = tuple(
            self.dist(wheel, wheel.filename, f"{where} wheels[{i}]")
            for i, wheel in enumerate(written.wheels or ())
        )
        sdist = written.sdist
        files: list[PackageWheel | PackageSdist] = [*(written.wheels or ()), *filter(None, [sdist])]
        location = files[0].url or files[0].path or ""
        source = (
            Source("registry", self.index(written.index, f"{where} index"))
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
            else self.local(vcs.path or "", f"{where} path", "path").as_uri()
        )
        if "#" in url:
            raise self.fail(where, f"`url = {redact(url)!r}` has a fragment")
        # the commit goes where uv writes it, in the fragment, which select reads
        return Source("git", f"{url}#{vcs.commit_id}", vcs.subdirectory)

    def directory_source(self, directory: PackageDirectory, where: str) -> Source:
        # bundles install every project non-editable, so `editable` changes nothing here
        path = Path(directory.path, directory.subdirectory or "")
        return Source("directory", str(self.local(str(path), where, "path")))

    def archive(self, archive: PackageArchive, common: dict[str, Any], where: str) -> LockedPackage:
        location = (
            self.url(archive.url, f"{where} url")
            if archive.url
            else str(self.local(archive.path or "", where, "path"))
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
            path=str(self.local(written.path, where, "path")) if written.path else None,
            hash=self.hash(written.hashes, where),
            size=self.size(written.size, where),
        )

    def size(self, size: int | None, where: str) -> int | None:
        if size is not None and size < 0:
            raise self.fail(where, f"`size = {size}` is negative")
        return size

    def hash(self, hashes: Mapping[str, str], where: str) -> Hash:
        offered = {algorithm.lower(): value for algorithm, value in hashes.items()}
        if len(offered) != len(hashes):
            # two spellings of one algorithm: keeping either would ignore the other's value
            listing = ", ".join(repr(name) for name in sorted(hashes))
            raise self.fail(where, f"`hashes` names one algorithm twice ({listing})")
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

    def index(self, url: str, where: str) -> str:
        """An index URL: http or https (it is written into requirements files, where anything
        else, or a space, could pass options to pip)."""
        checked = self.url(url, where)
        if urlsplit(checked).scheme not in ("http", "https"):
            raise self.fail(where, f"{redact(url)!r} is not an http or https URL")
        return checked

    def url(self, url: str, where: str) -> str:
        """``url`` without its ``user:password@``, which is kept in :attr:`credentials`, so
        that no output made from the lock holds a secret (ssh keeps its user name)."""
        if not url.isprintable() or any(char.isspace() for char in url):
            raise self.fail(where, f"{redact(url)!r} holds a space or a control character")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises for a host part that is not `host[:port]`)
        except ValueError:
            raise self.fail(where, f"{redact(url)!r} is not a valid URL") from None
        if parts.scheme == "file":
            if parts.netloc:
                raise self.fail(
                    where, f"{redact(url)!r} names another host: a file URL must be `file:///…`"
                )
            self.local(unquote(parts.path), where, "url")
        if parts.password is None and (parts.username is None or parts.scheme.endswith("ssh")):
            return url
        found = (unquote(parts.username or ""), unquote(parts.password or ""))
        self.credentials.setdefault(realm(url), found)
        return redact(url)
