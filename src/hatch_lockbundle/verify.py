"""Check a bundle before deploying it: files against their RECORD, wheels against the locks."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .archive import extract_safely
from .errors import LockbundleError
from .http import hash_file
from .include import INCLUDED_RECORD
from .inspect import record_digest
from .lock import read_lock


def verify_bundle(path: Path) -> list[str]:
    """Every difference between the bundle at ``path`` and what it records about itself.

    :param path: a target bundle (directory, ``.zip`` or ``.tar.gz``) or a wheelhouse
    :returns: lines ``changed: <file>``, ``missing: <file>``, ``added: <file>``; empty if intact
    """
    if not path.exists():
        raise LockbundleError(f"{path}: no such bundle")
    if path.is_dir():
        return _verify_tree(path)
    with tempfile.TemporaryDirectory(prefix="lockbundle-verify-") as scratch:
        _extract(path, Path(scratch))
        return _verify_tree(Path(scratch))


def _verify_tree(root: Path) -> list[str]:
    # an archive holds the bundle at its top, or under one prefix directory (python/, NAME/)
    while not _is_bundle(root):
        entries = list(root.iterdir())
        if len(entries) != 1 or not entries[0].is_dir():
            raise LockbundleError(
                f"{root}: not a bundle (no *.dist-info directories, no lockbundle.json)"
            )
        root = entries[0]
    if (root / "lockbundle.json").is_file():
        return _verify_wheelhouse(root)
    return _verify_target(root)


def _is_bundle(root: Path) -> bool:
    return (
        (root / "lockbundle.json").is_file()
        or any(root.glob("*.dist-info"))
        or (root / INCLUDED_RECORD).is_file()
    )


def _verify_target(root: Path) -> list[str]:
    problems = []
    recorded: set[str] = set()
    # the project's own files that `include` copied are listed in a RECORD of their own
    records = [*root.glob("*.dist-info/RECORD"), *root.glob(INCLUDED_RECORD)]
    for record in sorted(records):
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
            if not row:
                continue
            relative = os.path.normpath(row[0]).replace(os.sep, "/")
            recorded.add(relative)
            file = root / relative
            if not file.is_file():
                problems.append(f"missing: {relative}")
                continue
            if len(row) > 1 and row[1]:
                algorithm, _, expected = row[1].partition("=")
                digest = hashlib.new(algorithm, file.read_bytes()).digest()
                actual = record_digest(digest)
                if actual != expected:
                    problems.append(f"changed: {relative}")
    for directory, _, names in os.walk(root):
        for name in names:
            relative = (Path(directory) / name).relative_to(root).as_posix()
            if relative not in recorded:
                problems.append(f"added: {relative}")
    return sorted(problems)


def _verify_wheelhouse(root: Path) -> list[str]:
    problems = []
    manifest = json.loads((root / "lockbundle.json").read_text(encoding="utf-8"))
    listed: dict[str, str] = {
        entry["file"]: entry["sha256"] for entry in manifest.get("wheels", []) if entry.get("file")
    }
    for relative, sha256 in sorted(listed.items()):
        file = root / relative
        if not file.is_file():
            problems.append(f"missing: {relative}")
        elif hash_file(file, "sha256") != sha256:
            problems.append(f"changed: {relative}")
    for file in sorted((root / "wheels").iterdir()):
        relative = f"wheels/{file.name}"
        if relative not in listed:
            problems.append(f"added: {relative}")
    # the rewritten lock must name the same bytes as the manifest
    for package in read_lock(root / "uv.lock").packages:
        for wheel in package.wheels:
            if wheel.hash is None or wheel.url is not None:
                continue
            relative = f"wheels/{wheel.filename}"
            if relative in listed and listed[relative] != wheel.hash.value:
                problems.append(f"uv.lock disagrees with lockbundle.json: {relative}")
    return sorted(set(problems))


def _extract(archive: Path, destination: Path) -> None:
    try:
        extract_safely(archive, destination)
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise LockbundleError(f"{archive}: cannot read the archive: {error}") from None
