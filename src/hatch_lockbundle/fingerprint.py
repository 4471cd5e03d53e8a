"""Cheap fingerprints that tell whether a source tree or a bundle changed since last time."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pathspec

#: os.open flags of a directory opened to look inside (Windows has no O_DIRECTORY, nor dir_fd)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
#: never part of a project's sources: outputs, caches, environments, version control
IGNORED = (
    "dist/", "build/", ".git/", ".hg/", ".venv/", "venv/", "__pycache__/", "*.pyc", "*.egg-info/",
    ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/", ".nox/", "node_modules/",
)  # fmt: skip


def source_tree(root: Path) -> str:
    """A fingerprint of the files of the project at ``root`` (path, size and mtime of each, as
    :func:`source_files` finds them), and of the git commit, for backends that take the
    version from it."""
    digest = hashlib.sha256()
    for relative, state in source_files(root):
        digest.update(f"{relative}\0{state}\n".encode())
    digest.update(_git_commit(root).encode())
    return digest.hexdigest()


def source_files(root: Path) -> Iterator[tuple[str, str]]:
    """(posix relative path, state) of each file of the project at ``root``, sorted by directory.

    Files in IGNORED and in ``root/.gitignore`` do not count. The tree is walked as hatchling
    walks a project for its builds: linked directories are followed, each real directory once
    (so a loop of links ends), and a linked file counts as the file it points to. A link that
    points nowhere (or into a loop) counts as the link itself: a backend that includes it fails
    with its own error, and one that leaves it out builds, so it must not stop anything here.
    """
    patterns = list(IGNORED)
    gitignore = root / ".gitignore"
    if gitignore.is_file():
        patterns += gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    seen: set[tuple[int, int]] = set()
    for directory, dirs, names in os.walk(root, followlinks=True):
        identity = _identity(directory)
        if identity is None or identity in seen:
            dirs[:] = []
            continue
        seen.add(identity)
        relative_dir = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative_dir == "." else f"{relative_dir}/"
        dirs[:] = sorted(d for d in dirs if not spec.match_file(f"{prefix}{d}/"))
        for name in sorted(names):
            relative = f"{prefix}{name}"
            if not spec.match_file(relative):
                yield relative, _file_state(os.path.join(directory, name))


def _identity(directory: str) -> tuple[int, int] | None:
    """The device and inode of a directory the walk reached, or None if it went away since."""
    try:
        status = os.stat(directory)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _file_state(path: str) -> str:
    """Size and mtime of a file; of a link's target too, with the link's text."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:  # removed since the walk listed it
        return "gone"
    if not stat.S_ISLNK(status.st_mode):
        return f"{status.st_size}\0{status.st_mtime_ns}"
    link = f"-> {os.readlink(path)}"
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return f"{link}\0dangling"
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        return f"{link}\0loop"
    return f"{link}\0{status.st_size}\0{status.st_mtime_ns}"


@dataclass(frozen=True)
class Scan:
    """One walk over a bundle directory: its fingerprint, and what the size report needs."""

    digest: str
    size: int
    files: int


def scan(root: Path) -> Scan:
    """Fingerprint the directory ``root`` (by relative path, so it survives a rename) and add
    up its files."""
    if os.stat in os.supports_dir_fd and os.scandir in os.supports_fd:
        return of_files(_statuses_by_fd(root))
    files = {}
    base = len(str(root)) + 1
    for directory, _, names in os.walk(root):
        for name in names:
            full = os.path.join(directory, name)
            status = os.lstat(full)
            files[full[base:]] = (status.st_size, status.st_mtime_ns, status.st_mode)
    return of_files(files)


def _statuses_by_fd(root: Path) -> dict[str, tuple[int, int, int]]:
    """What :func:`scan` needs of every file under ``root``, each looked up relative to its
    open directory: about half the time of a walk by full paths (a no-op rebuild is mostly
    this)."""
    files = {}
    pending = [("", os.open(root, _DIRECTORY))]
    try:
        while pending:
            prefix, fd = pending.pop()
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        name = entry.name
                        if entry.is_dir(follow_symlinks=False):
                            inner = os.open(name, _DIRECTORY, dir_fd=fd)
                            pending.append((f"{prefix}{name}{os.sep}", inner))
                            continue
                        status = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        files[prefix + name] = (
                            status.st_size,
                            status.st_mtime_ns,
                            status.st_mode,
                        )
            finally:
                os.close(fd)
    finally:
        for _, fd in pending:  # an error left directories open
            os.close(fd)
    return files


def of_files(files: Mapping[str, tuple[int, int, int]]) -> Scan:
    """What :func:`scan` finds in a directory holding ``files``: relative path (with the
    platform's separator) -> size, modification time and ``st_mode`` as lstat gives them."""
    digest = hashlib.sha256()
    size = 0
    for relative in sorted(files):
        file_size, mtime_ns, mode = files[relative]
        digest.update(f"{relative}\0{file_size}\0{mtime_ns}\0{mode}\n".encode())
        size += file_size
    return Scan(digest.hexdigest(), size, len(files))


def output(path: Path) -> str:
    """A fingerprint of a bundle (a directory or an archive file) as it is on disk now."""
    if path.is_file():
        stat = path.stat()
        return hashlib.sha256(f"{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()
    return scan(path).digest


def _git_commit(root: Path) -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
