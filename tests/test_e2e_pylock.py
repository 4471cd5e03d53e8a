"""Bundles of PEP 751 locks written by the real tools, built by the real hatch, checked against uv.

The fixture project `crossapp` is locked five ways against the index on 127.0.0.1: `hatch env
lock` (hatch's uv locker, read through `hatch-env`), `uv export --format pylock.toml` (with
`environments`, from `tool.uv.environments`), `uv pip compile --universal --format pylock.toml`,
`pip lock`, and `pdm lock` with `lock.format = "pylock"` (pdm's own lock in PEP 751's format,
with `environments` for the Python versions it locked, on every platform, and each entry under
its dependency group). From each, a target bundle holds what `uv pip install --target -r <lock>`
installs from the same file for the same target (each distribution's version and, read from its
installed `WHEEL` tags, the index's wheel file), plus the project itself; a foreign target is
bundled from the locks that cover it and refused from those made for one machine; and a
wheelhouse made from hatch's or pdm's lock installs offline from its own `pylock.toml` with uv
and with pip.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from support.builds import Build, assert_failed_cleanly, build_and_move, dist_entries
from support.bundle import Distribution
from support.cli import lockbundle
from support.environ import Sandbox, describe, run
from support.hatch import Hatch, HatchBuild
from support.index import IndexServer
from support.projects import MakeProject, add_to_pyproject, set_config, uv_lock
from support.wheelhouse import (
    UV_PIP_INSTALL_PYLOCK,
    Install,
    Server,
    build_cache_entries,
    build_lines,
)
from test_pylock import ENVIRONMENTS, Installed, uv_installs, write_lock
from test_select_vs_uv import SCRIPT_MODULE as GOLDEN_SCRIPT

pytestmark = pytest.mark.slow

PROJECT = "crossapp"
#: what the bundle adds to any lock: the project, built from its tree (hatch's, `uv pip
#: compile`'s and pdm's locks leave it out, uv's export and pip's hold it as a directory)
THE_PROJECT: Installed = {PROJECT: ("0.1.0", None)}
HATCH_ENV_LOCK = "hatch env lock"
TOOLS = (HATCH_ENV_LOCK, "uv export", "uv pip compile --universal", "pip lock", "pdm lock")
#: hatch's default environment, installed with uv and locked: `hatch env lock` runs its uv locker
HATCH_ENVIRONMENT = '[tool.hatch.envs.default]\ninstaller = "uv"\nlocked = true\n'
FOREIGN = ("linux-aarch64", "3.12")
#: pip 26 installs from a PEP 751 lock (`pip install -r pylock.toml`, experimental in 26)
PIP_INSTALL_PYLOCK = ("pip", "install", "--no-index", "-r", "pylock.toml")


@pytest.fixture(scope="module")
def project(make_project: MakeProject, sandbox: Sandbox) -> Path:
    """crossapp with `environments` for uv's export and a hatch environment that locks with uv,
    shared by the module: each build writes its own configuration."""
    project = make_project(PROJECT)
    add_to_pyproject(project, ENVIRONMENTS + HATCH_ENVIRONMENT)
    uv_lock(project, env=sandbox.environ())
    return project


@pytest.fixture(scope="module")
def locks(
    project: Path, hatch: Hatch, package_index: IndexServer, sandbox: Sandbox
) -> dict[str, Path]:
    """Each tool of :data:`TOOLS` -> the lock it wrote of the project, in the project."""
    written = {
        tool: write_lock(project, tool, package_index, sandbox)
        for tool in TOOLS
        if tool != HATCH_ENV_LOCK
    }
    result = hatch.run(project, "env", "lock", "default")
    assert result.returncode == 0, describe(result)
    written[HATCH_ENV_LOCK] = project / "pylock.toml"  # the default environment's
    return written


def lock_option(tool: str, locks: dict[str, Path]) -> str:
    """How the configuration names the lock ``tool`` wrote: hatch's by its environment."""
    if tool == HATCH_ENV_LOCK:
        return 'hatch-env = "default"'
    return f'lock = "{locks[tool].name}"'


def build(
    hatch_build: HatchBuild, project: Path, elsewhere: Path, config: str, target: str
) -> Build:
    return build_and_move(
        hatch_build, project, elsewhere, target, config=f"[tool.lockbundle]\n{config}\n"
    )


def bundled(target: Path, package_index: IndexServer) -> Installed:
    """What a target bundle holds, as :func:`~test_pylock.uv_installs` says what uv installed:
    each distribution's version and the index's wheel file its `WHEEL` tags name (None: built)."""
    return {
        item["name"]: (item["version"], item["wheel"])
        for item in GOLDEN_SCRIPT.installed(target, package_index.directory)
    }


# -- target bundles -------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
def test_a_target_bundle_holds_what_uv_installs_from_the_lock_and_the_project(
    tool: str,
    project: Path,
    locks: dict[str, Path],
    hatch_build: HatchBuild,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    made = build(hatch_build, project, tmp_path, lock_option(tool, locks), "lockbundle")
    uv = uv_installs(locks[tool], project, package_index, sandbox, tmp_path / "uv")

    assert f"Lock: {locks[tool]} (PEP 751" in made.result.stdout + made.result.stderr
    assert bundled(made.bundle, package_index) == {**uv, **THE_PROJECT}


@pytest.mark.parametrize(
    ("tool", "vouched"),
    [("uv export", False), ("pdm lock", False), ("uv pip compile --universal", True)],
)
def test_a_foreign_target_bundle_holds_what_uv_installs_for_that_platform(
    tool: str,
    vouched: bool,
    project: Path,
    locks: dict[str, Path],
    hatch_build: HatchBuild,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """uv's export and pdm's lock state the environments they cover; a universal lock that
    states none is bundled for another platform when the configuration vouches for it."""
    platform, python = FOREIGN
    config = f'{lock_option(tool, locks)}\npython = "{python}"\nplatforms = ["{platform}"]'
    if vouched:
        config += "\nlock-made-for-target = true"
    made = build(hatch_build, project, tmp_path, config, "lockbundle")
    uv = uv_installs(locks[tool], project, package_index, sandbox, tmp_path / "uv", *FOREIGN)

    assert bundled(made.bundle, package_index) == {**uv, **THE_PROJECT}
    assert "armonly" in uv  # the platform's own dependency, which this machine's lock lacks


@pytest.mark.parametrize("tool", [HATCH_ENV_LOCK, "pip lock"])
def test_a_lock_made_for_one_machine_is_refused_for_a_foreign_platform(
    tool: str, project: Path, locks: dict[str, Path], hatch_build: HatchBuild
) -> None:
    platform, python = FOREIGN
    set_config(
        project,
        f'[tool.lockbundle]\n{lock_option(tool, locks)}\npython = "{python}"\n'
        f'platforms = ["{platform}"]\n',
    )
    (project / "dist").mkdir(exist_ok=True)
    for entry in (project / "dist").iterdir():
        entry.unlink()
    result = hatch_build(project, "lockbundle")
    output = " ".join(assert_failed_cleanly(result, dist_entries(project)).split())

    assert f"{locks[tool]} does not say which environments it was locked for" in output
    assert "Lock with `environments` that cover the target" in output


# -- a wheelhouse made from a lock ----------------------------------------------------------------


@pytest.fixture(scope="module", params=[HATCH_ENV_LOCK, "pdm lock"])
def wheelhouse_tool(request: pytest.FixtureRequest) -> str:
    """The tool whose lock a wheelhouse is made from: hatch's (one environment), and pdm's
    (every platform, each entry under its dependency group)."""
    tool: str = request.param
    return tool


@pytest.fixture(scope="module")
def wheelhouse(
    project: Path,
    locks: dict[str, Path],
    wheelhouse_tool: str,
    hatch_build: HatchBuild,
    tmp_path_factory: pytest.TempPathFactory,
) -> Build:
    """The wheelhouse of the lock :func:`wheelhouse_tool` wrote, for this machine."""
    elsewhere = tmp_path_factory.mktemp("pylock-wheelhouse")
    return build(
        hatch_build,
        project,
        elsewhere,
        lock_option(wheelhouse_tool, locks),
        "lockbundle:wheelhouse",
    )


@pytest.fixture(scope="module")
def locked_here(
    project: Path,
    locks: dict[str, Path],
    wheelhouse_tool: str,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> set[Distribution]:
    """What uv installs from the same lock, with the project."""
    dest = tmp_path_factory.mktemp("uv-from-lock") / "target"
    uv = uv_installs(locks[wheelhouse_tool], project, package_index, sandbox, dest)
    installed = {**uv, **THE_PROJECT}.items()
    return {(canonicalize_name(name), version) for name, (version, _) in installed if version}


def pip_install_pylock(server: Server, wheelhouse: Path) -> Install:
    """pip 26 (this test environment's) installs ``pylock.toml`` into a new environment
    without pip, offline, in a copy of ``wheelhouse`` (``pip --python`` targets it)."""
    copy, cache = server.receive(wheelhouse, "pip-pylock")
    environment = server.venv(copy.parent.parent / "venv")
    command = [sys.executable, "-m", "pip", "--python", str(environment / "bin" / "python")]
    command += PIP_INSTALL_PYLOCK[1:]
    with server.index.stopped():
        result = run(command, cwd=copy, env=server.environ(cache), check=False)
    return Install(result, copy, environment, cache / "pip", frozenset())


def test_a_wheelhouse_from_a_pylock_has_no_rewritten_uv_lock(wheelhouse: Build) -> None:
    on_top = sorted(path.name for path in wheelhouse.bundle.iterdir())
    guide = (wheelhouse.bundle / "INSTALL.md").read_text()

    assert on_top == ["INSTALL.md", "lockbundle.json", "pylock.toml", "requirements.txt", "wheels"]
    assert "uv sync" not in guide
    assert " ".join(UV_PIP_INSTALL_PYLOCK[:-2]) in guide


@pytest.mark.parametrize("installer", ["uv pip -r pylock.toml", "pip -r pylock.toml", "pip"])
def test_a_wheelhouse_from_a_pylock_installs_offline(
    installer: str, wheelhouse: Build, server: Server, locked_here: set[Distribution]
) -> None:
    """From its own pylock.toml with uv and pip 26, and from requirements.txt with the pip of
    the server's Python."""
    installers: dict[str, Callable[[Path], Install]] = {
        "uv pip -r pylock.toml": server.uv_pip_install_pylock,
        "pip -r pylock.toml": partial(pip_install_pylock, server),
        "pip": server.pip_install,
    }
    install = installers[installer](wheelhouse.bundle)

    assert install.succeeded, describe(install.result)
    assert install.installed == locked_here
    assert build_lines(install.output) == []
    assert build_cache_entries(install.cache) == []


def test_verify_checks_a_wheelhouse_from_a_pylock_against_its_manifest(
    wheelhouse: Build, sandbox: Sandbox, tmp_path: Path
) -> None:
    copy = shutil.copytree(wheelhouse.bundle, tmp_path / wheelhouse.bundle.name)
    intact = lockbundle(sandbox, tmp_path, "verify", str(copy), cache=tmp_path / "cache")
    (copy / "pylock.toml").write_text((copy / "pylock.toml").read_text() + "\n")
    changed = lockbundle(
        sandbox, tmp_path, "verify", str(copy), cache=tmp_path / "cache", check=False
    )

    assert intact.returncode == 0, describe(intact)
    assert (changed.returncode, changed.stdout.splitlines()[0]) == (1, "changed: pylock.toml")


TWO_PLATFORMS = ("linux-x86_64", "linux-aarch64")


def test_a_wheelhouse_for_two_platforms_holds_the_wheels_uv_chooses_for_each(
    project: Path,
    locks: dict[str, Path],
    hatch_build: HatchBuild,
    package_index: IndexServer,
    sandbox: Sandbox,
    server: Server,
    tmp_path: Path,
) -> None:
    """From uv's export, which states the environments it covers; it installs here from its
    pylock.toml, which has both platforms' wheels."""
    python = "{}.{}".format(*sys.version_info[:2])
    platforms = ", ".join(f'"{platform}"' for platform in TWO_PLATFORMS)
    config = f'{lock_option("uv export", locks)}\npython = "{python}"\nplatforms = [{platforms}]'
    made = build(hatch_build, project, tmp_path, config, "lockbundle:wheelhouse")
    chosen = {
        platform: uv_installs(
            locks["uv export"],
            project,
            package_index,
            sandbox,
            tmp_path / platform,
            platform,
            python,
        )
        for platform in TWO_PLATFORMS
    }
    downloaded = {
        path.name
        for path in (made.bundle / "wheels").iterdir()
        if (package_index.directory / path.name).is_file()
    }
    install = server.uv_pip_install_pylock(made.bundle)

    assert downloaded == {wheel for uv in chosen.values() for _, wheel in uv.values() if wheel}
    assert install.succeeded, describe(install.result)
    here = {**chosen["linux-x86_64"], **THE_PROJECT}
    assert install.installed == {(canonicalize_name(n), v) for n, (v, _) in here.items() if v}
