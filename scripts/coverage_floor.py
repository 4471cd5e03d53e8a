"""Fail when line coverage is under its floor: overall, and in every module of the package.

Reads a report written by ``coverage json`` (after ``coverage combine``), prints each module under
its floor with its numbers, and exits 1 if there is one, 0 otherwise. The floors are the project's
(issue 17): 90 % of the lines overall, 80 % of the lines of every module. A module with no
statements (an empty ``__init__.py``) is fully covered.

    python scripts/coverage_floor.py .cache/coverage/coverage.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

TOTAL_FLOOR = 90.0
MODULE_FLOOR = 80.0


@dataclass(frozen=True)
class Lines:
    """Executable lines of a module (or of all of them) and how many of those ran."""

    covered: int
    statements: int

    @property
    def percent(self) -> float:
        # exact, not the report's rounded figure: 79.96 % is under 80 % even if printed as 80.0
        return 100.0 if self.statements == 0 else 100.0 * self.covered / self.statements


def module_name(path: str) -> str:
    """``src/hatch_lockbundle/layouts/target.py`` -> ``hatch_lockbundle.layouts.target``."""
    parts = list(PurePosixPath(path.replace("\\", "/")).with_suffix("").parts)
    if "src" in parts:
        parts = parts[len(parts) - parts[::-1].index("src") :]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_report(report: dict[str, object]) -> tuple[Lines, dict[str, Lines]]:
    """The total and the per-module lines of a ``coverage json`` report."""
    files = report.get("files")
    totals = report.get("totals")
    if not isinstance(files, dict) or not isinstance(totals, dict):
        raise ValueError("not a `coverage json` report: no `files` and `totals`")
    modules = {
        module_name(path): Lines(
            entry["summary"]["covered_lines"], entry["summary"]["num_statements"]
        )
        for path, entry in files.items()
    }
    return Lines(totals["covered_lines"], totals["num_statements"]), modules


def under_floor(
    total: Lines,
    modules: dict[str, Lines],
    *,
    total_floor: float = TOTAL_FLOOR,
    module_floor: float = MODULE_FLOOR,
) -> list[str]:
    """One line for the total and for each module under its floor; none when all meet them."""
    failures = [
        f"{name}: {lines.percent:.1f} % of {lines.statements} lines "
        f"({lines.statements - lines.covered} not run), under its floor ({module_floor:g} %)"
        for name, lines in sorted(modules.items())
        if lines.percent < module_floor
    ]
    if total.percent < total_floor:
        failures.append(
            f"total: {total.percent:.1f} % of {total.statements} lines "
            f"({total.statements - total.covered} not run), under its floor ({total_floor:g} %)"
        )
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the file `coverage json -o` wrote")
    args = parser.parse_args(argv)
    try:
        total, modules = read_report(json.loads(args.report.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"coverage floor: cannot read {args.report}: {error}", file=sys.stderr)
        return 2
    if not modules:
        print(f"coverage floor: {args.report} measured no module", file=sys.stderr)
        return 1
    failures = under_floor(total, modules)
    for failure in failures:
        print(f"coverage floor: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(
        f"coverage floor: {total.percent:.1f} % of lines overall (floor {TOTAL_FLOOR:g} %), every "
        f"one of {len(modules)} modules at {MODULE_FLOOR:g} % or more"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
