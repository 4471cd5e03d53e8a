"""scripts/coverage_floor.py, CI's coverage floor, on reports that real coverage writes.

Each test measures a small package of its own with ``coverage run`` (a module runs a chosen number
of its lines) and gives the floor script the ``coverage json`` report, as CI does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.environ import Sandbox, describe, run

FLOOR = Path(__file__).resolve().parent.parent / "scripts" / "coverage_floor.py"


def module(run_lines: int, missed_lines: int) -> str:
    """A module of which importing it and calling ``used()`` runs ``run_lines`` statements.

    ``unused()`` holds the other ``missed_lines``. Two statements are the two ``def`` lines.
    """
    assert run_lines >= 3 and missed_lines >= 1
    used = [f"    a{n} = {n}" for n in range(run_lines - 3)]
    unused = [f"    b{n} = {n}" for n in range(missed_lines - 1)]
    return "\n".join(
        ["def used():", *used, "    return 0", "def unused():", *unused, "    return 1", ""]
    )


def measured(tmp_path: Path, sandbox: Sandbox, modules: dict[str, str]) -> Path:
    """The ``coverage json`` report of a run that imports each module and calls its ``used()``."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text)
    driver = tmp_path / "driver.py"
    driver.write_text(
        "".join(f"import pkg.{name}\npkg.{name}.used()\n" for name in modules),
    )
    (tmp_path / ".coveragerc").write_text("[run]\nsource = pkg\n")
    # measured on its own, not as part of a measured test run
    env = {
        name: value for name, value in sandbox.environ().items() if not name.startswith("COVERAGE_")
    }
    coverage = [sys.executable, "-m", "coverage"]
    run([*coverage, "run", driver.name], cwd=tmp_path, env=env)
    run([*coverage, "json", "-q", "-o", "report.json"], cwd=tmp_path, env=env)
    return tmp_path / "report.json"


def floor(report: Path, sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, FLOOR, report], cwd=report.parent, env=sandbox.environ(), check=False
    )


def test_floor_passes_when_the_total_and_every_module_meet_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    report = measured(tmp_path, sandbox, {"whole": module(19, 1), "most": module(9, 1)})

    result = floor(report, sandbox)

    assert result.returncode == 0, describe(result)


def test_floor_fails_naming_the_module_under_80_percent(tmp_path: Path, sandbox: Sandbox) -> None:
    # enough covered lines elsewhere that the total stays over 90 %: only the module fails
    report = measured(tmp_path, sandbox, {"whole": module(60, 1), "half": module(3, 2)})

    result = floor(report, sandbox)

    assert result.returncode == 1, describe(result)
    assert "pkg.half:" in result.stderr
    assert "pkg.whole" not in result.stderr
    assert "total:" not in result.stderr


def test_floor_fails_when_the_total_is_under_90_percent_though_every_module_meets_80(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    report = measured(tmp_path, sandbox, {"first": module(5, 1), "second": module(5, 1)})

    result = floor(report, sandbox)

    assert result.returncode == 1, describe(result)
    assert "total:" in result.stderr
    assert "pkg.first" not in result.stderr
    assert "pkg.second" not in result.stderr


def test_floor_refuses_a_file_that_is_not_a_coverage_report(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"meta": {}}')

    result = floor(report, sandbox)

    assert result.returncode == 2, describe(result)
    assert "not a `coverage json` report" in result.stderr
