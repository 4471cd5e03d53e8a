"""Sizes as a build's size report shows them, and as the bundle on disk has them.

A report may write a size in bytes or in any unit (``48213 bytes``, ``48,213 B``, ``48.2 kB``,
``47.08 KiB``); :func:`shown_sizes` reads each one as the range of byte counts it can stand for, so a
test can check that a report shows a given size without depending on how it formats it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .bundle import files

UNITS = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SHOWN = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s?(bytes|byte|[kmg]i?b|b)(?![a-z])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ShownSize:
    """A size written in a report: its text and the byte counts it can stand for."""

    text: str
    low: float
    high: float

    def shows(self, actual: int, tolerance: float = 0.0) -> bool:
        """Whether ``actual`` bytes, give or take ``tolerance`` (a fraction of it), reads as this.

        The range allows for rounding or truncating to the digits written, whichever the report does.
        """
        slack = actual * tolerance
        return self.low - slack <= actual <= self.high + slack


def shown_sizes(text: str) -> list[ShownSize]:
    """Every size written in ``text`` (a number followed by a unit of bytes)."""
    found = []
    for match in _SHOWN.finditer(text):
        whole, decimals, unit = match.groups()
        value = float(whole.replace(",", "") + (f".{decimals}" if decimals else ""))
        step = 10.0 ** -len(decimals) if decimals else 1.0
        scale = UNITS[unit.lower()]
        if scale == 1:  # an exact count of bytes
            found.append(ShownSize(match[0], value, value))
        else:
            found.append(ShownSize(match[0], (value - step) * scale, (value + step) * scale))
    return found


def shows_size(text: str, actual: int, tolerance: float = 0.0) -> bool:
    """Whether any size written in ``text`` reads as ``actual`` bytes (see :meth:`ShownSize.shows`)."""
    return any(size.shows(actual, tolerance) for size in shown_sizes(text))


def tree_size(root: Path) -> int:
    """Total bytes of the files under ``root`` (symlinks not followed)."""
    return sum(os.lstat(path).st_size for path in files(root))


def file_count(root: Path) -> int:
    """The number of files under ``root``."""
    return sum(1 for _ in files(root))
