"""A wheel installed alone in the cache: where its entry is, how it is made, and its manifest."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .cache import Cache, atomic_directory, discard, replace_file
from .destination import RUNNING_PYTHON, TargetDestination, without_write_bits
from .digest import hash_file
from .errors import LockbundleError
from .install import LockedDistribution, install_wheel
from .wheelsource import record_digest

if TYPE_CHECKING:
    from .fetched import FetchedWheel
    from .progress import Reporter


class CachedFile(NamedTuple):
    """One file of a cached installation, as its manifest records it (a tuple: a bundle has tens
    of thousands)."""

    relative: str
    #: the mode it was installed with (copies get it; the cached file is read-only)
    mode: int
    #: the cached file's size, modification time and ``st_mode`` (a hardlink shares them)
    size: int
    mtime_ns: int
    st_mode: int


class InstalledManifest:
    """The manifest of a cached installation: ``<entry>/files``, beside the installed
    ``<entry>/tree/``, one line a file, sorted by path::

        <mode installed, octal> <mode cached, octal> <size> <mtime_ns> <sha256> <relative path>

    (the sha256 as RECORD writes it). The files are read-only, and the manifest is checked
    before every use, so that a file edited through a bundle's hardlink is noticed.
    """

    def __init__(self, entry: Path) -> None:
        """:param entry: the cached installation's directory"""
        self.entry = entry
        self.path = entry / "files"

    def exists(self) -> bool:
        return self.path.is_file()

    def write(self, written: dict[str, tuple[int, os.stat_result, str]]) -> list[CachedFile]:
        """Write the manifest of the files ``written`` (by relative path: the mode they were
        installed with, their status once read-only, their sha256); their :class:`CachedFile`s.
        """
        lines = []
        listing = []
        for relative, (mode, status, digest) in sorted(written.items()):
            lines.append(
                f"{mode:o} {stat.S_IMODE(status.st_mode):o} {status.st_size} "
                f"{status.st_mtime_ns} {digest} {relative}"
            )
            listing.append(
                CachedFile(relative, mode, status.st_size, status.st_mtime_ns, status.st_mode)
            )
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return listing

    def read(self, log: Reporter) -> list[CachedFile] | None:
        """The files of the cached installation; None if there is none, or if any of its files
        changed since it was made (it is then thrown away, to be installed again).

        A file whose modification time alone changed (a cache restored by a CI system from an
        archive that keeps whole seconds) is hashed: if its content is as made, the manifest
        takes the new time, and the entry is used.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        # paths by concatenation, not os.path.join: this runs for every file of every warm build
        tree = os.path.join(self.entry, "tree", "")
        files = []
        retimed: dict[str, int] = {}
        #: every folder a row's path goes through (``a``, ``a/b`` for ``a/b/c.py``)
        folders: set[str] = set()
        last = ""
        for line in text.splitlines():
            try:
                octal, cached_octal, size, mtime_ns, digest, relative = line.split(" ", 5)
                mode, cached_mode = int(octal, 8), int(cached_octal, 8)
                recorded = (int(size), int(mtime_ns))
            except ValueError:
                self._damaged("an unreadable manifest", log)
                return None
            # the cache is input: a row must name a file inside the entry, as a wheel member must
            # name one inside the wheel (the bundle's link is made at the same relative path)
            if relative.startswith("/") or "/../" in f"/{relative}/" or "\0" in relative:
                self._damaged(f"a path outside it, `{relative}`", log)
                return None
            path = tree + relative
            try:
                status = os.lstat(path)
            except FileNotFoundError:
                self._damaged(f"no file `{relative}`", log)
                return None
            if status.st_mode != stat.S_IFREG | cached_mode or status.st_size != recorded[0]:
                self._damaged(f"a changed file, `{relative}`", log)
                return None
            if status.st_mtime_ns != recorded[1]:
                if _file_digest(path) != digest:
                    self._damaged(f"a changed file, `{relative}`", log)
                    return None
                retimed[line] = status.st_mtime_ns
            files.append(
                CachedFile(relative, mode, status.st_size, status.st_mtime_ns, status.st_mode)
            )
            folder = relative.rpartition("/")[0]
            if folder != last:  # rows are sorted: most follow one of the same folder
                last = folder
                while folder and folder not in folders:
                    folders.add(folder)
                    folder = folder.rpartition("/")[0]
        # a directory of the tree swapped for a link would lead a row's path elsewhere, and lstat
        # follows links in all but the last part: each folder once (thousands, not the files),
        # a folder before those inside it
        for folder in sorted(folders):
            try:
                is_folder = stat.S_ISDIR(os.lstat(tree + folder).st_mode)
            except OSError:
                is_folder = False
            if not is_folder:
                self._damaged(f"a folder that is not one, `{folder}`", log)
                return None
        if retimed:
            self._retime(text, retimed)
            log.detail(
                f"{len(retimed)} files of {self.entry.name} have new times but their contents"
            )
        return files

    def _retime(self, text: str, retimed: dict[str, int]) -> None:
        """Write the manifest ``text`` again with the new modification times (atomically)."""
        lines = []
        for line in text.splitlines():
            if line in retimed:
                octal, cached_octal, size, _, digest, relative = line.split(" ", 5)
                line = f"{octal} {cached_octal} {size} {retimed[line]} {digest} {relative}"
            lines.append(line)
        replace_file(self.path, ("\n".join(lines) + "\n").encode())

    def _damaged(self, what: str, log: Reporter) -> None:
        """Say what is wrong with the cached installation, and move it aside (atomically) and
        delete it."""
        entry = self.entry
        log.warning(
            f"The cached installation {entry.name} has {what} (was a bundle file edited in "
            "place?); installing that wheel again"
        )
        discard(entry)


def entry_of(
    wheel: FetchedWheel, cache: Cache, compile_bytecode: bool, python: str = RUNNING_PYTHON
) -> Path:
    """Where the wheel, installed alone, is cached (by its hash, the install flavour and the
    target's Python version, which a ``pip3.<minor>`` script names)."""
    digest = wheel.sha256 or hash_file(wheel.path, "sha256")
    flavour = f"pyc-{sys.implementation.cache_tag}" if compile_bytecode else f"py{python}"
    return cache.installed(digest, wheel.identity, flavour)


def package_of(wheel: FetchedWheel) -> LockedDistribution:
    """The locked distribution ``wheel`` is of."""
    package = wheel.planned.package
    return package.label, package.name, package.version


def install_into_cache(
    wheel: Path,
    package: LockedDistribution,
    entry: Path,
    compile_bytecode: bool,
    python: str,
    sha256: str | None = None,
) -> list[CachedFile]:
    """Install ``wheel`` alone into its cache ``entry`` (relocatable: nothing in it names its
    place), with a manifest of its files.

    The files are made read-only and the manifest records each one's mode, size and mtime, so
    that a bundle sharing them (hardlinks) cannot be edited in place by accident, and an edit
    that still happens (root ignores modes) is noticed before the files are used again.

    :param package: the locked distribution the wheel must be
    :param python: ``major.minor`` of the target interpreter
    :param sha256: the digest of the wheel's verified bytes: the cache is input, and a file
        replaced there after its check must not be installed
    :return: the entry's files, as :meth:`InstalledManifest.read` would read them
    """
    if sha256 is not None and (found := hash_file(wheel, "sha256")) != sha256:
        raise LockbundleError(
            f"{package[0]}: {wheel} changed after it was verified (sha256 {sha256} expected, "
            f"{found} found): something replaced it in the cache. Remove that file from the "
            "cache and build again"
        )
    with atomic_directory(entry) as staging:
        result = staging.entry
        tree = result / "tree"
        label, name, _ = package
        destination = TargetDestination(
            tree, {}, compile_bytecode, True, name=name, distribution=label, python=python
        )
        install_wheel(wheel, package, destination)
        written = destination.written
        if compile_bytecode:  # bytecode is written by py_compile, not through installer
            base = len(str(tree)) + 1
            for directory, _, filenames in os.walk(tree):
                for filename in filenames:
                    path = os.path.join(directory, filename)
                    relative = path[base:].replace(os.sep, "/")
                    if relative not in written:
                        mode = stat.S_IMODE(os.lstat(path).st_mode)
                        os.chmod(path, without_write_bits(mode))
                        written[relative] = (mode, os.lstat(path), _file_digest(path))
        listing = InstalledManifest(result).write(written)
    return listing


def _file_digest(path: str) -> str:
    """The file's sha256 as RECORD writes it (urlsafe base64, unpadded)."""
    return record_digest(bytes.fromhex(hash_file(Path(path), "sha256")))
