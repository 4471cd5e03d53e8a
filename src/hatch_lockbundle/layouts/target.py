"""The target layout: every wheel installed flat into one directory, as ``pip install --target``.

Unlike ``pip``/``uv pip install --target``, nothing in the result names the build machine: no
``direct_url.json``, no ``.pth`` files, and console scripts find the bundle relative to themselves.
"""

from __future__ import annotations

import base64
import filecmp
import hashlib
import io
import os
import py_compile
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from importlib.util import cache_from_source
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from ..cache import Cache, publish
from ..errors import LockbundleError
from ..fetch import FetchedWheel
from ..http import hash_file
from ..inspect import inspect_wheel

INSTALLER_NAME = b"hatch-lockbundle\n"
COPY_THREADS = 4
#: changes whenever this module lays out a wheel differently, so older cached installs are not used
INSTALL_FORMAT = "v2"
SCRIPTS_DIR = "bin"

# A console-script launcher that works wherever the bundle is moved: it puts the bundle root
# (the parent of bin/, symlinks resolved) first on sys.path in place of bin/ itself.
LAUNCHER = """\
#!/usr/bin/env python3
import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
from {module} import {import_name}

if __name__ == "__main__":
    sys.argv[0] = os.path.basename(sys.argv[0])
    sys.exit({call}())
"""

# For ``#!python`` scripts shipped in a wheel: a line that is a no-op for sh and the start of a
# string for Python, so sh re-executes the file with python3 and the bundle on PYTHONPATH.
SCRIPT_PRELUDE = b"""\
#!/bin/sh
'''':
here=$(dirname "$(readlink -f "$0" 2>/dev/null || printf '%s' "$0")")
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$0" "$@"
'''
"""


class FileConflictError(LockbundleError):
    """Two distributions write the same file."""


class TargetDestination(SchemeDictionaryDestination):
    """installer's destination, with relocatable scripts, ownership checks and hash-based pycs."""

    def __init__(self, root: Path, owners: dict[str, str], compile_bytecode: bool) -> None:
        super().__init__(
            scheme_dict={
                "purelib": str(root),
                "platlib": str(root),
                "scripts": str(root / SCRIPTS_DIR),
                "data": str(root),
                "headers": str(root / "include"),
            },
            interpreter="python3",
            script_kind="posix",
        )
        self.root = root
        self.owners = owners
        self.compile_bytecode = compile_bytecode
        self.distribution = ""

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        target = self._path_with_destdir(scheme, path)
        relative = target.relative_to(self.root).as_posix()
        owner = self.owners.get(relative)
        if owner is not None:
            # Identical files are fine (pkgutil-style namespace __init__.py files, as pip and uv
            # allow); different ones would make the bundle depend on installation order.
            data = stream.read()
            if target.read_bytes() != data:
                raise FileConflictError(
                    f"{owner} and {self.distribution} both install `{relative}` with different "
                    "contents; a flat bundle can hold only one of them. Remove one of the two "
                    "from the dependencies"
                )
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            return RecordEntry(path, Hash("sha256", digest.decode("ascii")), len(data))
        self.owners[relative] = self.distribution
        return super().write_to_fs(scheme, path, stream, is_executable)

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        if scheme == "scripts":
            head = stream.read(2 + len(b"pythonw"))
            stream.seek(0)
            if head.startswith((b"#!python", b"#!pythonw")):
                stream.readline()
                body = SCRIPT_PRELUDE + stream.read()
                return self.write_to_fs(scheme, os.fspath(path), io.BytesIO(body), True)
            return self.write_to_fs(scheme, os.fspath(path), stream, is_executable)
        return super().write_file(scheme, path, stream, is_executable)

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        import_name = attr.split(".")[0]
        text = LAUNCHER.format(module=module, import_name=import_name, call=attr)
        entry = self.write_to_fs(
            Scheme("scripts"), name, io.BytesIO(text.encode("utf-8")), is_executable=True
        )
        return entry

    def finalize_installation(
        self,
        scheme: Scheme,
        record_file_path: str,
        records: Iterable[tuple[Scheme, RecordEntry]],
    ) -> None:
        records = list(records)
        if self.compile_bytecode:
            records += self._compile(records)
        # data files land in the bundle root itself: list them as root files ("share/x", not
        # "./share/x", which installer would write for a scheme directory equal to the root's)
        records = [(scheme if kind == "data" else kind, record) for kind, record in records]
        super().finalize_installation(scheme, record_file_path, records)

    def _compile(
        self, records: list[tuple[Scheme, RecordEntry]]
    ) -> list[tuple[Scheme, RecordEntry]]:
        """Hash-based pycs (they stay valid whatever the mtimes), naming files by relative path."""
        compiled = []
        for scheme, record in records:
            if scheme not in ("purelib", "platlib") or not record.path.endswith(".py"):
                continue
            source = self.root / record.path
            pyc = Path(cache_from_source(str(source)))
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(pyc),
                    dfile=record.path,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue  # as pip does: a file that is not valid Python here is left uncompiled
            compiled.append(
                (scheme, RecordEntry(pyc.relative_to(self.root).as_posix(), None, None))
            )
        return compiled


def write_target(
    wheels: Sequence[FetchedWheel],
    destination: Path,
    *,
    compile_bytecode: bool,
    cache: Cache | None = None,
) -> None:
    """Install ``wheels`` into the empty directory ``destination``.

    :param wheels: verified wheels, one per distribution
    :param destination: the (staging) bundle directory
    :param compile_bytecode: also write hash-based ``.pyc`` files, listed in each RECORD
    :param cache: keep each wheel installed on its own in the cache, and copy from there: a
        warm build then only copies files (never links: editing a bundle must not change the cache)
    """
    destination.mkdir(parents=True, exist_ok=True)
    destination = destination.resolve()
    owners: dict[str, str] = {}
    ordered = sorted(wheels, key=lambda w: w.planned.name)
    if cache is None:
        for wheel in ordered:
            _install(wheel.path, wheel.planned.package.label, destination, owners, compile_bytecode)
        return
    entries = [_tree_entry(wheel, cache, compile_bytecode) for wheel in ordered]
    missing = [
        (
            str(wheel.path),
            wheel.planned.package.label,
            str(entry),
            str(cache.root),
            compile_bytecode,
        )
        for wheel, entry in zip(ordered, entries, strict=True)
        if not (entry / "files").is_file()
    ]
    if len(missing) > 1 and (os.cpu_count() or 1) > 1:
        # installing is CPU-bound (inflate, hash, write): one process per core
        with ProcessPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1)) as pool:
            for future in [pool.submit(_make_tree, *job) for job in missing]:
                future.result()
    else:
        for job in missing:
            _make_tree(*job)
    copies: list[tuple[str, str, int]] = []
    sources: dict[str, str] = {}
    for wheel, entry in zip(ordered, entries, strict=True):
        label = wheel.planned.package.label
        copies += _plan_copies(entry, destination, owners, sources, label)
    copiers = ThreadPoolExecutor(max_workers=COPY_THREADS)
    try:
        list(copiers.map(lambda job: _copy_file(*job), copies))
    finally:
        # on Ctrl-C, drop the copies not yet started instead of finishing them
        copiers.shutdown(wait=True, cancel_futures=True)


def _install(
    path: Path,
    label: str,
    root: Path,
    owners: dict[str, str],
    compile_bytecode: bool,
    inspected: bool = False,
) -> None:
    """Install one wheel into ``root`` with installer, after inspecting it unless already done."""
    if not inspected:
        inspect_wheel(path, label, label.split("==")[0], None)
    target = TargetDestination(root, owners, compile_bytecode)
    target.distribution = label
    try:
        with WheelFile.open(path) as source:
            install(source, target, {"INSTALLER": INSTALLER_NAME})
    except InstallerError as error:
        raise LockbundleError(f"{label}: cannot install {path.name}: {error}") from None
    except (ValueError, zipfile.BadZipFile) as error:
        raise LockbundleError(f"{label}: {path.name} is not a valid wheel: {error}") from None


def _tree_entry(wheel: FetchedWheel, cache: Cache, compile_bytecode: bool) -> Path:
    """Where the wheel, installed alone, is cached (by its hash and the install flavour)."""
    digest = wheel.sha256 or hash_file(wheel.path, "sha256")
    flavour = f"pyc-{sys.implementation.cache_tag}" if compile_bytecode else "plain"
    return cache.directory("installed", digest[:2], f"{digest[2:]}-{INSTALL_FORMAT}-{flavour}")


def _make_tree(wheel: str, label: str, entry: str, cache_root: str, compile_bytecode: bool) -> None:
    """Install ``wheel`` alone into the cache entry ``entry`` (relocatable: nothing in it names
    its place), with a manifest of its files; runs in worker processes, hence plain arguments."""
    final = Path(entry)
    with Cache(Path(cache_root)).staging(final) as stage:
        result = stage / "result"
        tree = result / "tree"
        # the engine's fetch stage inspected every wheel (RECORD, paths, bombs, metadata)
        _install(Path(wheel), label, tree, {}, compile_bytecode, inspected=True)
        listing = []
        for directory, _, names in os.walk(tree):
            for name in names:
                path = os.path.join(directory, name)
                permissions = os.stat(path).st_mode & 0o777
                listing.append(f"{permissions:o} {Path(path).relative_to(tree).as_posix()}")
        (result / "files").write_text("\n".join(sorted(listing)) + "\n", encoding="utf-8")
        publish(result, final)


def _plan_copies(
    entry: Path, root: Path, owners: dict[str, str], sources: dict[str, str], label: str
) -> list[tuple[str, str, int]]:
    """The files of a cached tree to copy into ``root``, after checking they clash with none."""
    tree = str(entry / "tree")
    base = str(root)
    made: set[str] = set()
    copies = []
    for line in (entry / "files").read_text(encoding="utf-8").splitlines():
        octal, _, relative = line.partition(" ")
        source = os.path.join(tree, relative)
        target = os.path.join(base, relative)
        owner = owners.get(relative)
        if owner is not None:
            # identical files are fine (pkgutil namespace __init__.py), different ones are not
            if not filecmp.cmp(source, sources[relative], shallow=False):
                raise FileConflictError(
                    f"{owner} and {label} both install `{relative}` with different contents; a "
                    "flat bundle can hold only one of them. Remove one of the two from the "
                    "dependencies"
                )
            continue
        owners[relative] = label
        sources[relative] = source
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        copies.append((source, target, int(octal, 8)))
    return copies


def _copy_file(source: str, target: str, mode: int) -> None:
    """A real copy (never a link, so editing the bundle cannot change the cache), in the kernel."""
    if not sys.platform.startswith("linux"):  # sendfile to a file is Linux's
        shutil.copyfile(source, target)
        if mode & 0o111:
            os.chmod(target, mode)
        return
    with open(source, "rb") as reader, open(target, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(writer.fileno(), reader.fileno(), offset, size - offset)
            if sent == 0:
                break
            offset += sent
    if mode & 0o111:
        os.chmod(target, mode)
