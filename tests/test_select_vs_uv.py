"""Selection agrees with `uv export` on real locks written by `uv lock` (fixtures/locks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.lock import read_lock
from hatch_lockbundle.select import select
from hatch_lockbundle.target import Target

LOCKS = Path(__file__).parent.parent / "fixtures" / "locks"

FOREIGN = {
    "py310-windows": {
        "python_version": "3.10",
        "python_full_version": "3.10.14",
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    },
    "py313-macos": {
        "python_version": "3.13",
        "python_full_version": "3.13.1",
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "arm64",
    },
}

CASES = [
    ("conflicts", "pc", [], []),
    ("conflicts", "pc", ["cpu"], []),
    ("conflicts", "pc", ["gpu"], []),
    ("conflicts", "pc", ["gpu"], ["lint"]),
    ("conflicts", "pc", [], ["dev"]),
    ("workspace", "api", [], []),
    ("workspace", "api", ["socks"], ["dev"]),
    ("workspace", "worker", [], []),
    ("workspace", "shared", [], []),
    ("package-conflicts", "a", [], []),
    ("package-conflicts", "b", [], []),
    ("package-conflicts", "a", ["empty"], ["nothing"]),
]


def uv_export(project: Path, package: str, extras: list[str], groups: list[str]) -> list[str]:
    command = [
        str(find_uv_bin()),
        "export",
        "--frozen",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
        "--no-editable",
        "--no-default-groups",
        "--package",
        package,
        "--quiet",
        "--no-cache",  # no HOME here, and a normal user's cache is not /root's
    ]
    command += [arg for extra in extras for arg in ("--extra", extra)]
    command += [arg for group in groups for arg in ("--group", group)]
    result = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "UV_NO_CONFIG": "1", "UV_OFFLINE": "1"},
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def expected_set(
    project: Path, lines: list[str], environment: dict[str, str]
) -> set[tuple[str, str]]:
    """What `uv export` says is installed in `environment`: (name, version) pairs."""
    wanted = set()
    for line in lines:
        requirement, _, marker = line.partition(" ; ")
        if marker and not Marker(marker).evaluate(environment):
            continue
        requirement = requirement.strip()
        if requirement.startswith(("./", ".")):
            pyproject = tomllib.loads((project / requirement / "pyproject.toml").read_text())
            wanted.add(
                (canonicalize_name(pyproject["project"]["name"]), pyproject["project"]["version"])
            )
        else:
            name, _, version = requirement.partition("==")
            wanted.add((canonicalize_name(name.split("[")[0]), version))
    return wanted


@pytest.mark.parametrize("environment_name", ["running", *FOREIGN])
@pytest.mark.parametrize(("fixture", "package", "extras", "groups"), CASES)
def test_install_set_equals_uv_export(
    tmp_path: Path,
    fixture: str,
    package: str,
    extras: list[str],
    groups: list[str],
    environment_name: str,
) -> None:
    project = tmp_path / fixture
    shutil.copytree(LOCKS / fixture, project)
    environment = dict(default_environment())
    environment.update(FOREIGN.get(environment_name, {}))
    target = Target(environment=environment, tags=tuple(sys_tags()), python_version="3.x")

    plan = select(read_lock(project / "uv.lock"), target, package, extras, groups)

    selected = {(p.name, p.version) for p in plan.packages}
    assert selected == expected_set(
        project, uv_export(project, package, extras, groups), environment
    )
