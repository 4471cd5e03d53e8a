"""Looking into a ``.zip`` or ``.tar.gz`` bundle: its entries, their times and modes, its contents."""

from __future__ import annotations

import calendar
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .bundle import files


@dataclass(frozen=True)
class ArchiveEntry:
    """One member of an archive, as an unpacking tool sees it."""

    name: str  # as stored (directories of a zip end with `/`)
    mtime: int  # seconds since the epoch, UTC
    mode: int  # permission bits
    is_dir: bool


def archive_entries(archive: Path) -> list[ArchiveEntry]:
    """Every entry of a ``.zip`` or ``.tar.gz`` file, in archive order.

    A zip stores a date and time without a zone: it is read as UTC, as deterministic archives write it.
    """
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as opened:
            return [
                ArchiveEntry(
                    name=info.filename,
                    mtime=calendar.timegm((*info.date_time, 0, 0, 0)),
                    mode=(info.external_attr >> 16) & 0o7777,
                    is_dir=info.is_dir(),
                )
                for info in opened.infolist()
            ]
    with tarfile.open(archive) as opened:
        return [
            ArchiveEntry(
                name=member.name,
                mtime=int(member.mtime),
                mode=member.mode & 0o7777,
                is_dir=member.isdir(),
            )
            for member in opened.getmembers()
        ]


def extract(archive: Path, destination: Path) -> Path:
    """Unpack a ``.zip`` (a wheel too) or ``.tar.gz`` into ``destination`` (made if missing).

    Zip modes are restored as ``unzip`` does (``zipfile`` alone drops the executable bits). The one
    helper the tests unpack with: it runs on every Python the tests support.
    """
    destination.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith((".zip", ".whl")):
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(destination)
            for info in opened.infolist():
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    os.chmod(destination / info.filename, mode)
    else:
        with tarfile.open(archive) as opened:
            if hasattr(tarfile, "data_filter"):
                opened.extractall(destination, filter="data")
            else:  # Python before 3.11.4 and 3.10.12 (Debian 12's python3): no filters to ask for
                opened.extractall(destination)
    return destination


def touch_tree(root: Path, mtime: float, *, skip: tuple[str, ...] = ("dist",)) -> int:
    """Set the access and modification times of every file under ``root`` to ``mtime``.

    :param skip: top-level directory names left alone (``dist/`` holds earlier builds).
    :returns: the number of files touched.
    """
    touched = 0
    for path in files(root):
        if path.relative_to(root).parts[0] in skip or path.is_symlink():
            continue
        os.utime(path, (mtime, mtime))
        touched += 1
    return touched
