"""Check a bundle before deploying it: files against their RECORD, wheels against the locks."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .digest import hash_file
from .errors import LockbundleError
from .include import INCLUDED_RECORD
from .uvlock import read_lock
from .wheelsource import record_digest

MANIFEST = "lockbundle.json"
#: what a RECORD may use: the algorithms of PEP 376 / the wheel spec (never md5 or sha1)
RECORD_ALGORITHMS = frozenset({"sha256", "sha384", "sha512"})


@dataclass
class Verification:
    """What :func:`verify_bundle` found."""

    #: ``changed: PATH``, ``missing: PATH``, ``added: PATH``, ``link: PATH``,
    #: ``outside: PATH``, ``unreadable: PATH (why)``, ``digest: ...``
    problems: list[str] = field(default_factory=list)
    #: ``__pycache__`` files that no RECORD lists: what Python writes when the bundle runs
    #: (reported apart, but reported: bytecode is code that Python may load instead of the source)
    runtime: list[str] = field(default_factory=list)
    #: the bundle's digest (see :func:`bundle_digest`), or None when it cannot be told
    digest: str | None = None


def verify_bundle(path: Path, expect: str | None = None) -> Verification:
    """Every difference between the bundle at ``path`` and what it records about itself.

    RECORD files and ``lockbundle.json`` vouch only for themselves: ``expect``, the digest the
    build printed, anchors them from outside.

    :param path: a target bundle (directory, ``.zip`` or ``.tar.gz``) or a wheelhouse
    :param expect: ``sha256:<hex>`` as printed by the build; a different digest is a problem
    """
    if not path.exists():
        raise LockbundleError(f"{path}: no such bundle")
    if path.is_dir():
        result = _verify_tree(path)
    else:
        with tempfile.TemporaryDirectory(prefix="lockbundle-verify-") as scratch:
            links = _extract(path, Path(scratch))
            result = _verify_tree(Path(scratch))
            result.problems = sorted({*result.problems, *links})
    if expect is not None and not (
        result.digest is not None and hmac.compare_digest(result.digest, expect.strip())
    ):
        result.problems.append(f"digest: {result.digest or 'unknown'}, expected {expect.strip()}")
    if expect is not None:
        # bytecode is code Python may run instead of its source (an unchecked hash-based .pyc
        # always is): a bundle that holds any the build did not write is not the one built
        result.problems += [f"added: {relative} (bytecode)" for relative in result.runtime]
        result.problems.sort()
        result.runtime = []
    return result


def bundle_digest(root: Path) -> str:
    """One digest for the whole bundle in the directory ``root``, printed by the build.

    A wheelhouse's is that of its ``lockbundle.json`` (which gives every other file's hash); a
    target bundle's covers every ``*.dist-info/RECORD`` and the record of the project's
    included files (which give every file's hash, and a file no record lists is a problem of its
    own). Reading a few small files, it costs a rebuild nothing worth measuring.
    """
    listed = [root / MANIFEST] if (root / MANIFEST).is_file() else _records(root)
    digest = hashlib.sha256()
    for file in listed:
        relative = file.relative_to(root).as_posix()
        # a link or a fifo in a record's place is not read (a fifo would block)
        content = hash_file(file, "sha256") if _regular(file) else "not a file"
        digest.update(f"{relative}\0{content}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _verify_tree(root: Path) -> Verification:
    # an archive holds the bundle at its top, or under one prefix directory (python/, NAME/)
    while not _is_bundle(root):
        entries = list(root.iterdir())
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            raise LockbundleError(
                f"{root}: not a bundle (no *.dist-info directories, no {MANIFEST})"
            )
        root = entries[0]
    result = Verification()
    files: list[str] = []
    for relative, kind in _walk(root):
        if kind == "link":
            result.problems.append(f"link: {relative}")
        elif kind == "special":
            result.problems.append(f"special: {relative} (not a regular file; not read)")
        else:
            files.append(relative)
    if (root / MANIFEST).is_file() and not (root / MANIFEST).is_symlink():
        _verify_wheelhouse(root, files, result)
    else:
        _verify_target(root, files, result)
    result.problems = sorted(set(result.problems))
    result.runtime.sort()
    return result


def _is_bundle(root: Path) -> bool:
    return (
        (root / MANIFEST).is_file()
        or any(root.glob("*.dist-info"))
        or (root / INCLUDED_RECORD).is_file()
    )


def _records(root: Path) -> list[Path]:
    """Every RECORD of a target bundle: its distributions', and its included files'."""
    return sorted([*root.glob("*.dist-info/RECORD"), *root.glob(INCLUDED_RECORD)])


def _walk(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, ``file``, ``link`` or ``special``) of every file, of every link to
    anything, and of every fifo, socket or device (never opened: a fifo would block); links
    are never followed."""
    for directory, dirnames, names in os.walk(root):
        here = Path(directory)
        for name in [*dirnames, *names]:
            path = here / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                kind = "link"
            elif name in dirnames:
                continue
            else:
                kind = "file" if stat.S_ISREG(mode) else "special"
            yield path.relative_to(root).as_posix(), kind
        dirnames[:] = [name for name in dirnames if not (here / name).is_symlink()]


def _regular(path: Path) -> bool:
    """A regular file, not reached through a link."""
    return stat.S_ISREG(path.lstat().st_mode)


def _inside(relative: str) -> str | None:
    """``relative`` (a path a RECORD or manifest gives) normalised, or None if it leaves the
    bundle."""
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        return None
    return path.as_posix()


def _verify_target(root: Path, files: list[str], result: Verification) -> None:
    recorded: set[str] = set()
    for record in _records(root):
        where = record.relative_to(root).as_posix()
        if not _regular(record):
            continue  # reported as a link or a special file
        try:
            rows = list(csv.reader(io.StringIO(record.read_bytes().decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error) as error:
            result.problems.append(f"unreadable: {where} ({error})")
            continue
        for row in rows:
            if not row:
                continue
            relative = _inside(row[0])
            if relative is None:
                result.problems.append(f"outside: {row[0]!r} in {where}")
                continue
            recorded.add(relative)
            file = root / relative
            if relative not in files:
                if not file.is_symlink():
                    result.problems.append(f"missing: {relative}")
                continue
            if len(row) > 1 and row[1]:
                algorithm, _, expected = row[1].partition("=")
                if algorithm not in RECORD_ALGORITHMS:
                    result.problems.append(
                        f"unreadable: {where} (hash algorithm {algorithm!r} for {relative})"
                    )
                    continue
                if record_digest(_digest(file, algorithm)) != expected:
                    result.problems.append(f"changed: {relative}")
    for relative in files:
        if relative in recorded:
            continue
        if "/__pycache__/" in f"/{relative}" and relative.endswith(".pyc"):
            result.runtime.append(relative)
        else:
            result.problems.append(f"added: {relative}")
    result.digest = bundle_digest(root)


def _verify_wheelhouse(root: Path, files: list[str], result: Verification) -> None:
    try:
        manifest: Any = json.loads((root / MANIFEST).read_bytes())
        listed = _listed(manifest)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        result.problems.append(f"unreadable: {MANIFEST} ({type(error).__name__}: {error})")
        return
    for relative, sha256 in sorted(listed.items()):
        if relative not in files:
            if not (root / relative).is_symlink():
                result.problems.append(f"missing: {relative}")
        elif hash_file(root / relative, "sha256") != sha256:
            result.problems.append(f"changed: {relative}")
    for relative in files:
        if relative != MANIFEST and relative not in listed:
            result.problems.append(f"added: {relative}")
    # the rewritten lock must name the same bytes as the manifest
    if "uv.lock" in files:
        try:
            packages = read_lock(root / "uv.lock").packages
        except LockbundleError as error:
            result.problems.append(f"unreadable: uv.lock ({error})")
            packages = ()
        for package in packages:
            for wheel in package.wheels:
                if wheel.hash is None or wheel.url is not None:
                    continue
                relative = f"wheels/{wheel.filename}"
                if relative in listed and listed[relative] != wheel.hash.value:
                    result.problems.append(f"uv.lock disagrees with {MANIFEST}: {relative}")
    result.digest = bundle_digest(root)


def _listed(manifest: Any) -> dict[str, str]:
    """Every file ``lockbundle.json`` gives a sha256 for: its wheels, and the other files of the
    wheelhouse (``files``; absent from manifests of hatch-lockbundle before 0.2)."""
    listed: dict[str, str] = {}
    entries = [(entry.get("file"), entry["sha256"]) for entry in manifest.get("wheels", [])] + list(
        manifest.get("files", {}).items()
    )
    for relative, sha256 in entries:
        if relative is None:
            continue  # a wheel left on its index (binary-only)
        if not isinstance(relative, str) or not isinstance(sha256, str):
            raise TypeError(f"a file entry is not a path and a sha256: {relative!r}")
        inside = _inside(relative)
        if inside is None:
            raise ValueError(f"{relative!r} is outside the wheelhouse")
        listed[inside] = sha256
    return listed


def _digest(file: Path, algorithm: str) -> bytes:
    digest = hashlib.new(algorithm)
    with file.open("rb") as reader:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def _extract(archive: Path, destination: Path) -> list[str]:
    """Extract ``archive``; return ``link: NAME`` for each link in it (a zip's are extracted as
    plain files holding their target, a tar's hard links as copies: only the archive tells)."""
    # imported by what verifies an archive: a build imports this module for bundle_digest,
    # and extract.py (with bz2, lzma) is part of no build that builds nothing from source
    from .extract import extract_safely, open_tar

    links: list[str] = []
    try:
        # first: it refuses what would exhaust memory or disk, before the listing reads it all
        extract_safely(archive, destination)
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for info in zipped.infolist():
                    if stat.S_ISLNK(info.external_attr >> 16):
                        links.append(f"link: {info.filename}")
        else:
            with open_tar(archive) as tar:
                for member in tar:
                    if member.islnk() or member.issym():
                        links.append(f"link: {member.name}")
                    elif not (member.isfile() or member.isdir()):
                        links.append(f"link: {member.name} (a device or pipe)")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise LockbundleError(f"{archive}: cannot read the archive: {error}") from None
    return links
