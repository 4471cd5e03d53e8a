"""The wheelhouse's rewritten locks, read back: pruned, local, hashed, narrowed to the target;
and what a wheelhouse made from a PEP 751 lock holds instead."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.pylock import Pylock
from packaging.tags import sys_tags

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.fetched import FetchedPlan, FetchedWheel, WheelOrigin
from hatch_lockbundle.layouts.wheelhouse import write_wheelhouse
from hatch_lockbundle.lock import LockFormat
from hatch_lockbundle.select import Plan, select
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import read_lock
from support.artifacts import write_wheel

WORKSPACE = Path(__file__).parent.parent / "fixtures" / "locks" / "workspace"
LINUX = Target(
    environment={**default_environment(), "sys_platform": "linux", "platform_machine": "x86_64"},
    tags=tuple(sys_tags()),
    python_version="3.11",
)


def fetched_plan(tmp_path: Path) -> FetchedPlan:
    """The workspace's ``api`` with a wheel for each package, as fetch hands them on."""
    plan = select(read_lock(WORKSPACE / "uv.lock"), LINUX, "api", ["socks"], ["dev"])
    wheels = []
    for planned in plan.packages:
        made = write_wheel(tmp_path, planned.name.replace("-", "_"), str(planned.version), {})
        if planned.artifact.kind == "tree":
            origin = WheelOrigin.BUILT_FROM_SOURCE_TREE
        else:
            origin = WheelOrigin.DOWNLOADED if planned.artifact.url else WheelOrigin.LOCAL_FILE
        wheels.append(FetchedWheel(planned, made, origin))
    return FetchedPlan(plan, tuple(wheels))


def wheelhouse(
    tmp_path: Path, binary_only: bool = False, lock_format: LockFormat = LockFormat.UV_LOCK
) -> tuple[Plan, Path]:
    fetched = fetched_plan(tmp_path)
    out = tmp_path / "house"
    write_wheelhouse(
        [fetched], out, lock_sha256="ab" * 32, lock_format=lock_format, binary_only=binary_only
    )
    return fetched.plan, out


def test_the_rewritten_lock_holds_exactly_the_selected_packages(tmp_path: Path) -> None:
    plan, out = wheelhouse(tmp_path)
    lock = read_lock(out / "uv.lock")

    assert {p.name for p in lock.packages} == {p.name for p in plan.packages} | {"api-wheelhouse"}
    assert "worker" not in {p.name for p in lock.packages}
    selected = {p.name for p in lock.packages}
    for package in lock.packages:
        assert {edge.name for edge in package.dependencies} <= selected
        assert not package.optional_dependencies and not package.dependency_groups
        assert package.sdist is None


def test_members_are_path_wheels_and_the_rest_come_from_wheels_dir(tmp_path: Path) -> None:
    _, out = wheelhouse(tmp_path)
    packages = {p.name: p for p in read_lock(out / "uv.lock").packages}

    assert packages["shared"].source.kind == "path"
    assert packages["shared"].source.location.startswith("wheels/shared-0.3.0-")
    assert (packages["idna"].source.kind, packages["idna"].source.location) == (
        "registry",
        "wheels",
    )
    for name, package in packages.items():
        for wheel in package.wheels:
            assert wheel.url is None
            file = out / "wheels" / wheel.filename
            assert wheel.hash is not None, name
            assert wheel.hash.value == hashlib.sha256(file.read_bytes()).hexdigest()


def test_the_lock_is_narrowed_to_the_target_python_and_platform(tmp_path: Path) -> None:
    _, out = wheelhouse(tmp_path)
    document = tomllib.loads((out / "uv.lock").read_text())
    project = tomllib.loads((out / "pyproject.toml").read_text())

    assert document["requires-python"] == "==3.11.*"
    assert document["supported-markers"] == [
        "platform_machine == 'x86_64' and sys_platform == 'linux'"
    ]
    assert project["tool"]["uv"]["environments"] == document["supported-markers"]
    assert project["project"]["dependencies"] == ["api"]


def test_requirements_and_pylock_list_every_wheel_with_its_hash(tmp_path: Path) -> None:
    plan, out = wheelhouse(tmp_path)
    requirements = (out / "requirements.txt").read_text()
    pylock = tomllib.loads((out / "pylock.toml").read_text())

    assert "--no-index\n--find-links wheels\n" in requirements
    assert {p["name"] for p in pylock["packages"]} == {p.name for p in plan.packages}
    for package in pylock["packages"]:
        (wheel,) = package["wheels"]
        data = (out / wheel["path"]).read_bytes()
        assert wheel["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert wheel["size"] == len(data)
        assert (
            f"{package['name']}=={package['version']} \\\n    --hash=sha256:{wheel['hashes']['sha256']}"
            in requirements
        )


@pytest.mark.parametrize("binary_only", [False, True], ids=["local", "binary-only"])
def test_the_pylock_is_valid_pep_751_and_records_each_package_s_dependencies(
    tmp_path: Path, binary_only: bool
) -> None:
    plan, out = wheelhouse(tmp_path, binary_only=binary_only)
    document = Pylock.from_dict(tomllib.loads((out / "pylock.toml").read_text()))
    installed = {planned.name for planned in plan.packages}

    assert {package.name for package in document.packages} == installed
    for package in document.packages:
        wanted = sorted(child for child in plan.edges.get(package.name, ()) if child in installed)
        assert [dependency["name"] for dependency in package.dependencies or ()] == wanted
    assert any(package.dependencies for package in document.packages)
    urls = {planned.artifact.url for planned in plan.packages}
    for wheel in (wheel for package in document.packages for wheel in package.wheels or ()):
        # relative to the wheelhouse, or (binary-only) the wheel's URL on its index
        assert wheel.path == f"wheels/{wheel.filename}" or wheel.url in urls
        assert (wheel.path is None) == (wheel.url is not None)


def test_binary_only_leaves_downloaded_pure_wheels_on_their_index(tmp_path: Path) -> None:
    _, out = wheelhouse(tmp_path, binary_only=True)
    packages = {p.name: p for p in read_lock(out / "uv.lock").packages}
    manifest = json.loads((out / "lockbundle.json").read_text())

    assert sorted(p.name for p in (out / "wheels").iterdir()) == [
        "api-1.0.0-py3-none-any.whl",
        "shared-0.3.0-py3-none-any.whl",
    ]
    assert packages["idna"].source.location == "https://pypi.org/simple"
    assert packages["idna"].wheels[0].url is not None
    assert (
        "--index-url https://pypi.org/simple\n--find-links wheels\n"
        in (out / "requirements.txt").read_text()
    )
    assert {w["name"]: w["file"] for w in manifest["wheels"]}["idna"] is None


def test_the_manifest_says_where_each_wheel_came_from(tmp_path: Path) -> None:
    fetched = fetched_plan(tmp_path)
    out = tmp_path / "house"
    write_wheelhouse([fetched], out, lock_sha256="ab" * 32, lock_format=LockFormat.UV_LOCK)
    manifest = json.loads((out / "lockbundle.json").read_text())

    entries = {entry["name"]: entry for entry in manifest["wheels"]}
    for wheel in fetched.wheels:
        entry = entries[wheel.planned.name]
        artifact = wheel.planned.artifact
        if wheel.origin is WheelOrigin.BUILT_FROM_SOURCE_TREE:
            assert (entry["origin"], entry["built-from"]) == ("built", "source tree")
        elif wheel.origin is WheelOrigin.DOWNLOADED:
            assert (entry["origin"], entry["url"]) == ("downloaded", artifact.url)
        else:
            assert entry["origin"] == "copied"
    assert {entry["origin"] for entry in entries.values()} >= {"built", "downloaded"}


def test_the_wheelhouse_says_which_wheels_it_ships_and_their_sizes(tmp_path: Path) -> None:
    fetched = fetched_plan(tmp_path)
    out = tmp_path / "house"

    shipped = write_wheelhouse(
        [fetched], out, lock_sha256="ab" * 32, lock_format=LockFormat.UV_LOCK, binary_only=True
    )

    on_disk = [(path.name, path.stat().st_size) for path in (out / "wheels").iterdir()]
    assert sorted(shipped) == sorted(on_disk)
    assert len(shipped) < len(fetched.wheels)  # binary-only left the pure downloads out


# -- made from a PEP 751 lock -------------------------------------------------------------------------


def test_a_wheelhouse_from_a_pylock_has_no_rewritten_uv_lock(tmp_path: Path) -> None:
    plan, out = wheelhouse(tmp_path, lock_format=LockFormat.PYLOCK)
    manifest = json.loads((out / "lockbundle.json").read_text())
    pylock = tomllib.loads((out / "pylock.toml").read_text())

    on_top = sorted(path.name for path in out.iterdir())
    assert on_top == ["INSTALL.md", "lockbundle.json", "pylock.toml", "requirements.txt", "wheels"]
    assert sorted(manifest["files"]) == ["INSTALL.md", "pylock.toml", "requirements.txt"]
    assert manifest["lock"] == {"sha256": "ab" * 32, "format": "pylock.toml", "path": "pylock.toml"}
    assert {p["name"] for p in pylock["packages"]} == {p.name for p in plan.packages}


def test_a_wheelhouse_from_a_uv_lock_has_both_locks_and_says_so(tmp_path: Path) -> None:
    _, out = wheelhouse(tmp_path, lock_format=LockFormat.UV_LOCK)
    manifest = json.loads((out / "lockbundle.json").read_text())

    assert {"uv.lock", "pyproject.toml", "pylock.toml", "requirements.txt"} <= set(
        manifest["files"]
    )
    assert manifest["lock"] == {"sha256": "ab" * 32, "format": "uv.lock", "path": "uv.lock"}
    assert "uv sync --frozen --offline\n" in (out / "INSTALL.md").read_text()


def test_the_guide_of_a_wheelhouse_from_a_pylock_gives_only_commands_it_can_run(
    tmp_path: Path,
) -> None:
    _, out = wheelhouse(tmp_path, lock_format=LockFormat.PYLOCK)
    guide = (out / "INSTALL.md").read_text()
    requirements = (out / "requirements.txt").read_text()

    assert "uv sync" not in guide
    assert "uv pip install --offline --python /opt/app/venv/bin/python -r pylock.toml" in guide
    assert "pip install --no-index -r requirements.txt" in guide
    assert "the sha256 of the\n`pylock.toml` it was made from" in guide
    assert requirements.startswith("# Written by hatch-lockbundle from pylock.toml (sha256 ")
