"""Read a ``uv.lock`` file into a :class:`~.lock.Lock` (parsing only, no network)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from ._compat import TOMLError, loads_toml
from .credentials import realm, redact
from .lock import (
    SOURCE_KINDS,
    Declared,
    Dependency,
    Dist,
    Hash,
    Lock,
    LockedPackage,
    LockError,
    Source,
    normalize_specifier,
)

SUPPORTED_VERSION = 1
SUPPORTED_REVISIONS = range(1, 6)  # revisions 1..5 are what uv writes for lock version 1

# PEP 508's project names: names and versions become parts of file and directory names, so
# nothing else may pass, however the lock was written
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def read_lock(path: Path) -> Lock:
    """Parse ``uv.lock`` at ``path``."""
    return decode_lock(read_lock_bytes(path), path)


def read_lock_bytes(path: Path) -> bytes:
    """The content of the lock file at ``path``, or an error saying why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LockError(f"{path}: lock file not found; run `uv lock` to create it") from None
    except OSError as error:
        raise LockError(f"{path}: cannot read the lock file: {error.strerror}") from None


def decode_lock(data: bytes, path: Path) -> Lock:
    """Parse ``data``, the content of the lock file at ``path``."""
    return parse_lock(decode_document(data, path), path)


def decode_document(data: bytes, path: Path) -> dict[str, Any]:
    """The TOML document of ``data``, the content of the lock file at ``path``."""
    try:
        # newlines as reading the file as text gives them (in UTF-8 no other character holds
        # these bytes)
        return loads_toml(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    except TOMLError as error:
        raise LockError(f"{path}: {error}; run `uv lock` to rewrite it") from None


def parse_lock(document: Mapping[str, Any], path: Path) -> Lock:
    """Turn a decoded ``uv.lock`` document into a :class:`Lock`."""
    reader = _Reader(path)
    version = document.get("version")
    revision = document.get("revision", 1)
    if version != SUPPORTED_VERSION or not isinstance(revision, int) or isinstance(revision, bool):
        raise LockError(
            f"{path}: lock `version = {version!r}` is not supported (this hatch-lockbundle reads "
            f"version {SUPPORTED_VERSION}); lock with a uv release that writes version "
            f"{SUPPORTED_VERSION}, or upgrade hatch-lockbundle"
        )
    if revision not in SUPPORTED_REVISIONS:
        raise LockError(
            f"{path}: lock `revision = {revision}` is newer than this hatch-lockbundle understands "
            f"(revisions {SUPPORTED_REVISIONS.start}-{SUPPORTED_REVISIONS.stop - 1}); upgrade "
            "hatch-lockbundle, or lock with the uv release that wrote the previous revision"
        )
    requires_python = reader.optional_str(document, "requires-python", "lock")
    manifest = reader.table(document, "manifest", "lock")
    members = tuple(
        canonicalize_name(member) for member in reader.str_list(manifest, "members", "[manifest]")
    )
    raw_packages = document.get("package", [])
    if not isinstance(raw_packages, list):
        raise LockError(f"{path}: `package` must be an array of tables")
    packages = tuple(reader.package(raw, index) for index, raw in enumerate(raw_packages))
    raw_conflicts = document.get("conflicts", manifest.get("conflicts", []))
    conflicts: list[tuple[Mapping[str, str], ...]] = []
    if isinstance(raw_conflicts, list):
        for group in raw_conflicts:
            if isinstance(group, list):
                conflicts.append(tuple(item for item in group if isinstance(item, dict)))
    return Lock(
        path=path,
        version=version,
        revision=revision,
        requires_python=requires_python,
        members=members,
        packages=packages,
        conflicts=tuple(conflicts),
        credentials=reader.credentials,
    )


class _Reader:
    """Typed field access that names the exact place of a malformed value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.credentials: dict[str, tuple[str, str]] = {}

    def bare(self, url: str, where: str) -> str:
        """``url`` without its ``user:password@``, which is kept in :attr:`credentials` (an
        ssh URL keeps its user, and loses only a password).

        uv never writes credentials into a lock; a lock that has them was written by hand (or by
        someone who wants them copied into every output), and a URL is copied into many.
        """
        if not url.isprintable():
            # uv writes URLs percent-encoded: a raw one would reach requests, logs and
            # rewritten locks as it is (and a request fails only after every retry)
            raise self.fail(where, f"{redact(url)!r} holds a control character")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises for a host part that is not `host[:port]`)
            if "@" not in parts.netloc and ":" in parts.netloc and "@" in url.partition("://")[2]:
                # `user:2024/s3cret@host` parses as host `user`, port 2024: a password with a
                # raw `/`, `?` or `#` that uv would have written percent-encoded
                raise ValueError
            if parts.username is None and parts.password is None:
                return url
            place = realm(url)
        except ValueError:
            raise self.fail(where, f"{redact(url)!r} is not a valid URL") from None
        if parts.scheme.endswith("ssh"):
            # ssh's user (`git@host`) names an account, not a secret, and ssh needs it
            if parts.password is None:
                return url
            user = parts.netloc.rpartition("@")[0].partition(":")[0]
            return parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}").geturl()
        found = (unquote(parts.username or ""), unquote(parts.password or ""))
        self.credentials.setdefault(place, found)
        return redact(url)

    def fail(self, where: str, message: str) -> LockError:
        return LockError(f"{self.path}: {where}: {message}; run `uv lock` to rewrite the lock")

    def name(self, raw: str, where: str) -> NormalizedName:
        if not _NAME.fullmatch(raw):
            raise self.fail(where, f"{raw!r} is not a valid package name")
        return canonicalize_name(raw)

    def version(self, raw: Mapping[str, Any], where: str) -> str | None:
        value = self.optional_str(raw, "version", where)
        if value is not None:
            try:
                Version(value)
            except InvalidVersion:
                raise self.fail(where, f"version {value!r} is not a valid version") from None
            # packaging ignores whitespace around a version; the lock's text goes on into
            # rewritten locks, requirements and messages, where a newline starts another line
            if value != value.strip():
                raise self.fail(where, f"version {value!r} has whitespace around it")
        return value

    def filename(self, name: str, where: str) -> str:
        """A file name that stays one file name wherever it is joined: no directories, no
        hidden files, nothing a terminal or a file system treats specially (empty: a ``path``
        source's sdist, which is the source's file)."""
        if name and (
            name.startswith(".") or any(char in name for char in "/\\:") or not name.isprintable()
        ):
            raise self.fail(where, f"{name!r} is not a plain file name")
        return name

    def table(self, raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(where, f"`{key}` must be a table")
        return value

    def optional_str(self, raw: Mapping[str, Any], key: str, where: str) -> str | None:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(where, f"`{key}` must be a string")
        return value

    def str_list(self, raw: Mapping[str, Any], key: str, where: str) -> list[str]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(where, f"`{key}` must be an array of strings")
        return value

    def source(self, raw: Any, where: str) -> Source:
        if not isinstance(raw, dict):
            raise self.fail(where, "`source` must be an inline table")
        kinds = [kind for kind in SOURCE_KINDS if kind in raw]
        if len(kinds) != 1 or not isinstance(raw[kinds[0]], str):
            raise self.fail(
                where, f"`source` must have exactly one of {', '.join(SOURCE_KINDS)} as a string"
            )
        subdirectory = raw.get("subdirectory")
        location = raw[kinds[0]]
        if "://" in location:  # a registry, url or git source; not a path
            location = self.bare(location, where)
        return Source(kinds[0], location, subdirectory if isinstance(subdirectory, str) else None)

    def hash(self, raw: Mapping[str, Any], where: str) -> Hash | None:
        value = raw.get("hash")
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(where, "`hash` must be a string")
        return Hash.parse(value, f"{self.path}: {where}")

    def dist(self, raw: Any, where: str) -> Dist:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be an inline table")
        url = self.optional_str(raw, "url", where)
        if url is not None:
            url = self.bare(url, where)
        path = self.optional_str(raw, "path", where)
        filename = self.optional_str(raw, "filename", where)
        if filename is None:
            if url is not None:
                try:
                    filename = unquote(PurePosixPath(urlsplit(url).path).name)
                except ValueError:
                    raise self.fail(where, f"`url` {url!r} is not a valid URL") from None
            elif path is not None:
                filename = PurePosixPath(path.replace("\\", "/")).name
        size = raw.get("size")
        return Dist(
            filename=self.filename(filename or "", where),
            url=url,
            path=path,
            hash=self.hash(raw, where),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )

    def dependencies(self, raw: Any, where: str) -> tuple[Dependency, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail(where, "must be an array of inline tables")
        edges = []
        for index, item in enumerate(raw):
            here = f"{where}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise self.fail(here, "must be an inline table with a string `name`")
            marker = None
            marker_text = self.optional_str(item, "marker", here)
            if marker_text:
                try:
                    marker = Marker(marker_text)
                except InvalidMarker as error:
                    raise self.fail(here, f"invalid marker {marker_text!r} ({error})") from None
            extras = tuple(canonicalize_name(e) for e in self.str_list(item, "extra", here))
            source = item.get("source")
            edges.append(
                Dependency(
                    name=self.name(item["name"], here),
                    extras=extras,
                    marker=marker,
                    version=self.version(item, here),
                    source=self.source(source, here) if source is not None else None,
                )
            )
        return tuple(edges)

    def package(self, raw: Any, index: int) -> LockedPackage:
        where = f"[[package]] #{index + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise self.fail(where, "must be a table with a string `name`")
        name = self.name(raw["name"], where)
        where = f"[[package]] {name}"
        version = self.version(raw, where)
        if "source" not in raw:
            raise self.fail(where, "has no `source`")
        source = self.source(raw["source"], where)
        sdist_raw = raw.get("sdist")
        wheels_raw = raw.get("wheels", [])
        if not isinstance(wheels_raw, list):
            raise self.fail(where, "`wheels` must be an array of inline tables")
        metadata = self.table(raw, "metadata", where)
        provides = self.str_list(metadata, "provides-extras", f"{where} metadata")
        requires_dev = self.table(metadata, "requires-dev", f"{where} metadata")
        requires_dist = metadata.get("requires-dist")
        # uv records what a project of the workspace declared, and writes nothing for a project
        # that declared nothing: then it is locked with no requirements, not unknown ones
        own = source.is_source_tree
        return LockedPackage(
            name=name,
            version=version,
            source=source,
            dependencies=self.dependencies(raw.get("dependencies"), f"{where} dependencies"),
            optional_dependencies=self.edge_groups(raw, "optional-dependencies", where),
            dependency_groups=self.edge_groups(raw, "dev-dependencies", where),
            sdist=self.dist(sdist_raw, f"{where} sdist") if sdist_raw is not None else None,
            wheels=tuple(
                self.dist(wheel, f"{where} wheels[{i}]") for i, wheel in enumerate(wheels_raw)
            ),
            provides_extras=tuple(canonicalize_name(extra) for extra in provides),
            declared_groups=tuple(canonicalize_name(group) for group in requires_dev),
            requires_dist=_declared(requires_dist)
            if isinstance(requires_dist, list)
            else (() if own else None),
            requires_dev={
                canonicalize_name(group): _declared(items)
                for group, items in requires_dev.items()
                if isinstance(items, list)
            }
            if "requires-dev" in metadata or own
            else None,
        )

    def edge_groups(
        self, raw: Mapping[str, Any], key: str, where: str
    ) -> dict[NormalizedName, tuple[Dependency, ...]]:
        table = self.table(raw, key, where)
        return {
            canonicalize_name(group): self.dependencies(edges, f"{where} {key}.{group}")
            for group, edges in table.items()
        }


def _declared(items: list[Any]) -> tuple[Declared, ...]:
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        extras = item.get("extras", [])
        extras = extras if isinstance(extras, list) else []
        specifier = item.get("specifier", "")
        found.append(
            Declared(
                canonicalize_name(item["name"]),
                tuple(sorted(canonicalize_name(e) for e in extras if isinstance(e, str))),
                normalize_specifier(specifier if isinstance(specifier, str) else ""),
            )
        )
    return tuple(sorted(found))
