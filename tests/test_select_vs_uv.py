"""Selection makes uv's decisions: per fixture lock, root and target, the same packages, versions
and wheel files that real ``uv pip install --python-platform`` installs.

uv's decisions are recorded in ``fixtures/golden/`` by ``scripts/regenerate_golden.py`` (which runs
``uv export | uv pip install --target --no-deps --python-platform P --python-version V`` against a
local index holding the lock's files, and reads each installed ``WHEEL``'s tags); the fast tests
compare with them offline and check, by each directory's ``inputs.json``, that nothing they were
made from has changed since; the slow test checks that the script still records what uv decides,
on a sample.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from hatch_lockbundle.errors import LockbundleError, SelectionError
from hatch_lockbundle.lock import Lock
from hatch_lockbundle.select import Plan, select
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import read_lock

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "fixtures" / "golden"
SCRIPT = REPO / "scripts" / "regenerate_golden.py"


def golden_script() -> ModuleType:
    """``scripts/regenerate_golden.py``, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("regenerate_golden", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def golden_files(directory: Path | None = None) -> list[Path]:
    """The golden files of ``directory`` (of every directory if None): one per target; not the
    directory's ``inputs.json``, which fingerprints what they were made from."""
    pattern = "*.json" if directory is not None else "*/*.json"
    return sorted(
        path for path in (directory or GOLDEN).glob(pattern) if path.name != "inputs.json"
    )


#: What uv installs a package from, as the golden files say: the file of a ``wheel`` on the
#: index, a ``source tree`` it builds (the project, a workspace member), an ``sdist`` (the only
#: way for the target: the script does not let uv build it, as what a build gives depends on the
#: build machine), or ``nothing`` (no wheel fits and there is no sdist).
UNBUILT = ("sdist", "nothing")


def golden_cases(kind: str) -> list[Any]:
    """One parameter per (golden file, case), named ``<lock>/<platform>-<python>/<root>[extras]
    +groups``, for the cases of ``kind``: ``refused`` (uv refuses the case), ``installed`` (uv
    installs every package from a wheel or source tree) or ``unbuilt`` (some package only from
    its sdist, or not at all)."""
    params = []
    for path in golden_files():
        document = json.loads(path.read_text())
        for case in document["cases"]:
            if "refused" in case:
                found = "refused"
            elif any(item["from"] in UNBUILT for item in case["installed"]):
                found = "unbuilt"
            else:
                found = "installed"
            if found != kind:
                continue
            extras = f"[{','.join(case['extras'])}]" if case["extras"] else ""
            groups = f"+{','.join(case['groups'])}" if case["groups"] else ""
            name = f"{path.parent.name}/{path.stem}/{case['package']}{extras}{groups}"
            params.append(pytest.param(document, case, id=name))
    return params


@cache
def golden_lock(relative: str) -> Lock:
    return read_lock(REPO / relative)


@cache
def golden_target(python: str, platform: str) -> Target:
    return Target.for_(python=python, platform=platform)


def plan_for(document: dict[str, Any], case: dict[str, Any]) -> Plan:
    """The product's selection for a golden file's target and one of its cases."""
    target = golden_target(document["python"], document["platform"])
    return select(
        golden_lock(document["lock"]), target, case["package"], case["extras"], case["groups"]
    )


Choice = tuple[str, str, str, str | None, tuple[str, ...] | None]


def chosen(plan: Plan) -> list[Choice]:
    """(name, version, from, wheel file, its tags) of each planned package, ``from`` as in the
    golden files."""
    found = []
    for planned in plan.packages:
        artifact = planned.artifact
        wheel, tags = None, None
        if artifact.kind == "wheel":
            origin, wheel = "wheel", artifact.filename
            tags = tuple(sorted(str(tag) for tag in parse_wheel_filename(str(wheel))[3]))
        elif artifact.kind == "sdist" and planned.package.source.kind == "registry":
            origin = "sdist"
        else:
            origin = "source tree"  # built from the project's own files, a path, a git commit
        found.append((str(planned.name), str(planned.version), origin, wheel, tags))
    return sorted(found)


def uv_chose(case: dict[str, Any]) -> list[Choice]:
    """The same for what uv installed; the tags of what uv built are not compared (they are
    those of the build machine)."""
    return sorted(
        (
            canonicalize_name(item["name"]),
            item["version"],
            item["from"],
            item["wheel"],
            tuple(item["tags"]) if item["wheel"] is not None else None,
        )
        for item in case["installed"]
    )


@pytest.mark.parametrize(("document", "case"), golden_cases("installed"))
def test_selection_installs_what_uv_installs(
    document: dict[str, Any], case: dict[str, Any]
) -> None:
    assert chosen(plan_for(document, case)) == uv_chose(case)


@pytest.mark.parametrize(("document", "case"), golden_cases("unbuilt"))
def test_selection_builds_from_sdist_or_refuses_where_uv_has_no_wheel(
    document: dict[str, Any], case: dict[str, Any]
) -> None:
    """Where uv has no wheel of a package for the target, the product plans its sdist, or
    refuses naming that package (it refuses early an sdist that would compile for this machine
    only, as uv does once it has built it); with no sdist either, it must refuse."""
    unbuilt = {
        f"{item['name']}=={item['version']}": item["from"]
        for item in case["installed"]
        if item["from"] in UNBUILT
    }
    try:
        plan = plan_for(document, case)
    except SelectionError as error:
        assert any(label in str(error) for label in unbuilt), str(error)
        return
    assert "nothing" not in unbuilt.values(), "uv has nothing to install; the product must refuse"
    assert chosen(plan) == uv_chose(case)


@pytest.mark.parametrize(("document", "case"), golden_cases("refused"))
def test_selection_refuses_what_uv_refuses(document: dict[str, Any], case: dict[str, Any]) -> None:
    with pytest.raises(LockbundleError):
        plan_for(document, case)


SCRIPT_MODULE = golden_script()


def test_every_fixture_lock_has_golden_files_for_every_target() -> None:
    script = SCRIPT_MODULE
    expected = {}
    for source in script.lock_sources():
        if source.lock_here:
            requires_python = None  # the golden copy of the lock says, below
        else:
            requires_python = read_lock(source.directory / "uv.lock").requires_python
        lock_path = GOLDEN / source.name / "uv.lock"
        if source.lock_here and lock_path.is_file():
            requires_python = read_lock(lock_path).requires_python
        expected[source.name] = sorted(
            f"{platform}-{python}.json"
            for platform in script.UV_PLATFORMS
            for python in script.PYTHONS
            if script.python_allowed(requires_python, python)
        )
    found = {
        directory.name: sorted(path.name for path in golden_files(directory))
        for directory in GOLDEN.iterdir()
        if directory.is_dir()
    }
    wrong = sorted(
        name for name in found.keys() | expected.keys() if found.get(name) != expected.get(name)
    )
    assert found == expected, (
        f"golden files missing, extra or for the wrong targets: {', '.join(wrong)}; run "
        + " and ".join(
            f"`{script.COMMAND.format(name=name)}`" for name in wrong if name in expected
        )
        + " (or, for a lock that is gone, remove fixtures/golden/<name>)"
    )


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a / b": 1}``: each input by its own name."""
    if not isinstance(value, dict):
        return {prefix: value}
    found: dict[str, Any] = {}
    for key, item in value.items():
        found.update(_flat(item, f"{prefix} / {key}" if prefix else key))
    return found


@pytest.mark.parametrize("source", SCRIPT_MODULE.lock_sources(), ids=lambda source: source.name)
def test_golden_files_were_made_from_the_inputs_as_they_are(source: Any) -> None:
    """A golden directory's ``inputs.json`` still fingerprints the repository: the lock or
    project files, what the index served, the script and uv (as uv.lock pins it) are those the
    golden files were made from. Computed without running uv, so that a stale directory fails at
    once; the slow test checks that the script records what uv decides."""
    script = SCRIPT_MODULE
    command = script.COMMAND.format(name=source.name)
    recorded = GOLDEN / source.name / script.INPUTS
    assert recorded.is_file(), (
        f"{source.name}: no {recorded.relative_to(REPO)} (a new lock, or an interrupted or "
        f"partial run): run `{command}`"
    )
    then = _flat(json.loads(recorded.read_text()))
    now = _flat(script.inputs(source, script.locked_uv_version()))
    changed = [
        f"{key}: {then.get(key, '(none)')} -> {now.get(key, '(none)')}"
        for key in sorted(then.keys() | now.keys())
        if then.get(key) != now.get(key)
    ]
    assert not changed, (
        f"the golden files of {source.name} were made from other inputs; run `{command}`:\n"
        + "\n".join(changed)
    )


# -- the golden files are what uv decides today -------------------------------------------------

_LOCK_VOLATILE = re.compile(r'(hash = "sha256:[0-9a-f]+"|size = \d+|upload-time = "[^"]+")')


def _comparable(path: Path) -> str:
    """A golden file's text; in a fixture project's lock, hashes, sizes and upload times are
    masked: the setuptools sdists of the fixture packages are not byte-reproducible, and
    selection does not read them."""
    text = path.read_text()
    return _LOCK_VOLATILE.sub("…", text) if path.name == "uv.lock" else text


@pytest.mark.slow
def test_the_script_records_what_uv_decides_now_on_a_sample(tmp_path: Path) -> None:
    """The script, run by real uv over the sample (a lock with conflicts and a fixture project,
    on three OS families), writes the committed golden files again: it still records what uv
    decides. The other files are kept current by their fingerprints; the full run is the
    script's default (about ten minutes on two cores, too long for every CI run)."""
    sample = SCRIPT_MODULE.SAMPLE
    command = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", *sample["locks"]]
    result = subprocess.run(
        [*command, "--targets", *sample["targets"]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    regenerated = {p.relative_to(tmp_path): p for p in tmp_path.glob("*/*") if p.is_file()}
    expected = {
        Path(lock, name)
        for lock in sample["locks"]
        for name in [f"{target}.json" for target in sample["targets"]]
        + (["uv.lock"] if lock.startswith("projects-") else [])
    }
    assert set(regenerated) == expected, sorted(map(str, regenerated))
    stale = []
    for relative, path in sorted(regenerated.items()):
        committed = _comparable(GOLDEN / relative)
        now = _comparable(path)
        if committed != now:
            diff = difflib.unified_diff(
                committed.splitlines(), now.splitlines(), str(relative), "now", lineterm=""
            )
            stale.append("\n".join(list(diff)[:40]))
    assert not stale, (
        "the script no longer writes the committed golden files: regenerate all of them "
        "(`.venv/bin/python scripts/regenerate_golden.py`) and review the diff:\n"
        + "\n".join(stale)
    )
