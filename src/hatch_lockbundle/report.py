"""The size report printed after every build, and the budgets checked against it."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .fingerprint import Scan, scan

if TYPE_CHECKING:  # trim uses this module's `human`
    from .trim import Exclusion

SHOWN = 10  # distributions listed, heaviest first


@dataclass
class SizeReport:
    size: int
    files: int
    #: (distribution, bytes), heaviest first
    distributions: list[tuple[str, int]] = field(default_factory=list)
    archive: int | None = None
    excluded: Exclusion | None = None

    def render(self) -> str:
        lines = [f"Bundle size: {human(self.size)} unpacked in {self.files} files"]
        if self.archive is not None:
            lines[0] += f", {human(self.archive)} archived"
        if self.excluded is not None:
            lines.append(
                f"Exclusions removed {self.excluded.files} files, {human(self.excluded.size)}"
            )
            if self.excluded.kept:
                lines[-1] += (
                    f"; kept {self.excluded.kept_files} files they matched that the bundle imports"
                )
        if self.distributions:
            lines.append("Heaviest distributions:")
            width = max(len(name) for name, _ in self.distributions[:SHOWN])
            for name, size in self.distributions[:SHOWN]:
                lines.append(f"  {name:<{width}}  {human(size):>10}")
            rest = self.distributions[SHOWN:]
            if rest:
                lines.append(f"  ... {len(rest)} more, {human(sum(s for _, s in rest))}")
        return "\n".join(lines)


def measure(
    root: Path,
    excluded: Exclusion | None = None,
    walked: Scan | None = None,
    distributions: list[tuple[str, int]] | None = None,
) -> SizeReport:
    """Sizes of the bundle at ``root``: in total, and per distribution.

    :param walked: the totals of ``root`` if a walk already added them up
    :param distributions: the size of each distribution (a wheel, an installed distribution),
        if the layout knows them; else each installed distribution's, from its RECORD
    """
    walked = walked or scan(root)
    report = SizeReport(walked.size, walked.files, excluded=excluded)
    if distributions is not None:
        report.distributions = list(distributions)
    else:
        for record in root.glob("*.dist-info/RECORD"):
            size = 0
            for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"))):
                if len(row) > 2 and row[2].isdigit():
                    size += int(row[2])  # RECORD states the size of what was installed
                elif row and os.path.isfile(path := os.path.join(root, row[0])):
                    size += os.lstat(path).st_size
            report.distributions.append((record.parent.name.removesuffix(".dist-info"), size))
    report.distributions.sort(key=lambda item: (-item[1], item[0]))
    return report


def over_budget(name: str, size: int, budget: int | None) -> str | None:
    """A message when ``size`` exceeds ``budget``."""
    if budget is None or size <= budget:
        return None
    return (
        f"The bundle is over its `{name}` budget: {human(size)} ({size} bytes) is more than "
        f"{human(budget)} ({budget} bytes). Trim it (`exclude`, `trim = true`), drop "
        "dependencies, or raise the budget"
    )


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
