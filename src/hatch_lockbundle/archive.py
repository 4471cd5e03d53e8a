"""Deterministic ``.tar.gz`` and ``.zip`` archives of a bundle directory.

Same files, same bytes: entries sorted, one timestamp (``SOURCE_DATE_EPOCH``, else hatchling's
default), modes normalised to 0o644 / 0o755, no owner names, ``create_system = 3`` in zips.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import LockbundleError
from .staging import remove, sibling, sweep

FORMATS = ("tar.gz", "zip")
DEFAULT_EPOCH = 1580601600  # hatchling's reproducible default: 2020-02-02
ZIP_EPOCH_MIN = 315532800  # 1980-01-01, the earliest time a zip entry can hold


def archive_epoch(reproducible: bool = True) -> int:
    """The timestamp every entry gets."""
    if not reproducible:
        return int(time.time())
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise LockbundleError(
            f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds"
        ) from None


def write_archive(
    directory: Path,
    destination: Path,
    fmt: str,
    prefix: str,
    epoch: int,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Pack ``directory`` into ``destination`` with every entry under ``prefix/`` (or at the top
    when ``prefix`` is empty).

    The file is written beside ``destination`` and renamed into place when complete, after
    ``check(written_file)`` (which may raise to keep it out) has passed. What killed builds of
    ``destination`` left beside it goes first.
    """
    sweep(destination)
    with sibling(destination, ".tmp", directory=False) as temporary:
        try:
            with temporary.open("wb") as raw:
                if fmt == "tar.gz":
                    _write_tar(directory, raw, prefix, epoch)
                elif fmt == "zip":
                    _write_zip(directory, raw, prefix, epoch)
                else:
                    raise LockbundleError(f"unknown archive format {fmt!r}: use one of {FORMATS}")
            if check is not None:
                check(temporary)
            os.replace(temporary, destination)
        finally:
            remove(temporary)
    return destination


def _entries(directory: Path) -> Iterator[tuple[str, Path]]:
    """Every directory and file below ``directory``, sorted, as (posix relative path, path)."""
    found = []
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root) / name
            found.append((path.relative_to(directory).as_posix(), path))
    yield from sorted(found)


def _prefix_directories(prefix: str) -> list[str]:
    """``a/b`` -> ``["a", "a/b"]``: the directory entries above every file."""
    parts = [part for part in prefix.split("/") if part]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]


def _mode(path: Path) -> int:
    if path.is_dir() or path.stat().st_mode & 0o111:
        return 0o755
    return 0o644


def _write_tar(directory: Path, raw: BinaryIO, prefix: str, epoch: int) -> None:
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for part in _prefix_directories(prefix):
            tar.addfile(_tar_info(part, tarfile.DIRTYPE, 0o755, epoch))
        for relative, path in _entries(directory):
            name = f"{prefix}/{relative}" if prefix else relative
            if path.is_symlink():
                raise LockbundleError(f"refusing to archive symlink {path}")
            if path.is_dir():
                tar.addfile(_tar_info(name, tarfile.DIRTYPE, 0o755, epoch))
                continue
            info = _tar_info(name, tarfile.REGTYPE, _mode(path), epoch)
            info.size = path.stat().st_size
            with path.open("rb") as content:
                tar.addfile(info, content)


def _tar_info(name: str, kind: bytes, mode: int, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_zip(directory: Path, raw: BinaryIO, prefix: str, epoch: int) -> None:
    stamp = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part in _prefix_directories(prefix):
            info = zipfile.ZipInfo(f"{part}/", stamp)
            info.create_system = 3
            info.external_attr = ((stat.S_IFDIR | 0o755) << 16) | 0x10
            archive.writestr(info, b"")
        for relative, path in _entries(directory):
            if path.is_symlink():
                raise LockbundleError(f"refusing to archive symlink {path}")
            is_dir = path.is_dir()
            name = f"{prefix}/{relative}" if prefix else relative
            info = zipfile.ZipInfo(name + ("/" if is_dir else ""), stamp)
            info.create_system = 3
            kind = stat.S_IFDIR if is_dir else stat.S_IFREG
            info.external_attr = (kind | _mode(path)) << 16
            if is_dir:
                info.external_attr |= 0x10  # MS-DOS directory flag
                archive.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())


class UnsafeArchiveError(LockbundleError):
    """An archive entry would land outside the extraction directory."""


def extract_safely(archive: Path, destination: Path) -> Path:
    """Extract a ``.zip`` or a tar archive into ``destination``; return its resolved path.

    Entries with absolute paths, ``..`` or links that point outside are refused.
    """
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    if archive.name.endswith((".zip", ".whl")):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                _check_inside(root, name)
            zipped.extractall(root)
        return root
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            # the data filter would quietly strip a leading "/": refuse instead
            if member.name.startswith("/") or ".." in member.name.replace("\\", "/").split("/"):
                raise UnsafeArchiveError(f"entry {member.name!r} points outside the archive")
        if hasattr(tarfile, "data_filter"):
            try:
                tar.extractall(root, filter="data")
            except tarfile.FilterError as error:
                raise UnsafeArchiveError(str(error)) from None
        else:  # pragma: no cover - Pythons without extraction filters (before 3.10.12)
            for member in tar.getmembers():
                _check_inside(root, member.name)
                if member.issym() or member.islnk():
                    _check_inside(root, os.path.join(os.path.dirname(member.name), member.linkname))
            tar.extractall(root)
    return root


def _check_inside(root: Path, name: str) -> None:
    if not Path(os.path.abspath(root / name)).is_relative_to(root):
        raise UnsafeArchiveError(f"entry {name!r} points outside the archive")
