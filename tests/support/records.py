"""The ``RECORD`` files of a target directory: what each distribution says it installed."""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RecordEntry:
    path: str  # relative to the directory holding the .dist-info, as written
    hash: str  # `sha256=<urlsafe base64, no padding>`, or "" (RECORD itself, bytecode)
    size: str  # decimal, or ""

    @property
    def location(self) -> str:
        """The path normalised (installers may write ``./share/...`` for data files)."""
        return posixpath.normpath(self.path)


def record(dist_info: Path) -> list[RecordEntry]:
    """The rows of ``dist_info/RECORD``."""
    with (dist_info / "RECORD").open(newline="", encoding="utf-8") as opened:
        return [RecordEntry(*[*row, "", ""][:3]) for row in csv.reader(opened) if row]


def records(target: Path) -> dict[str, list[RecordEntry]]:
    """``.dist-info`` directory name -> its RECORD rows, for every distribution in ``target``."""
    return {dist_info.name: record(dist_info) for dist_info in sorted(target.glob("*.dist-info"))}


def record_hash(data: bytes) -> str:
    """The hash of ``data`` as a RECORD writes it."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def record_mismatches(target: Path) -> list[str]:
    """RECORD rows of ``target`` that do not describe the file they name: missing, other hash, other
    size. Empty when every RECORD is truthful."""
    problems = []
    for dist_info, rows in records(target).items():
        for row in rows:
            path = target / row.path
            if not path.is_file():
                problems.append(f"{dist_info}: {row.path} is listed but missing")
                continue
            data = path.read_bytes()
            if row.hash and row.hash != record_hash(data):
                problems.append(f"{dist_info}: {row.path} has another hash than listed")
            if row.size and int(row.size) != len(data):
                problems.append(f"{dist_info}: {row.path} is {len(data)} bytes, listed {row.size}")
    return problems


def distribution_sizes(target: Path) -> dict[str, int]:
    """``.dist-info`` directory name -> total bytes of the files its RECORD lists (those present)."""
    return {
        dist_info: sum(
            (target / row.path).stat().st_size for row in rows if (target / row.path).is_file()
        )
        for dist_info, rows in records(target).items()
    }
