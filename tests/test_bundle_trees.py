"""Bundles byte for byte as recorded: every shape of ``scripts/record_bundles.py``, built with the
code under test, is the tree recorded in ``fixtures/bundles/`` (every path, type, mode, size and
sha256, and the members of each archive), so that a refactoring that moves any byte of an output
fails here, naming the file and what differs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.environ import Sandbox
from support.index import IndexServer

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "record_bundles.py"


def _script() -> ModuleType:
    """``scripts/record_bundles.py``, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("record_bundles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


RECORD = _script()
SHAPES = {shape.key: shape for shape in RECORD.SHAPES}
#: at most this many differences are listed in a failure (the rest are counted)
SHOWN = 40

BuiltShapes = Callable[[str], Mapping[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def built_shapes(
    tmp_path_factory: pytest.TempPathFactory, package_index: IndexServer, sandbox: Sandbox
) -> BuiltShapes:
    """``built_shapes(project)``: the recordings of every shape of ``project``, built with the
    code under test the first time they are asked for, sharing one cache and locked project."""
    cache = tmp_path_factory.mktemp("bundle-trees-cache")
    built: dict[str, Mapping[str, dict[str, Any]]] = {}

    def build(project: str) -> Mapping[str, dict[str, Any]]:
        if project not in built:
            shapes = [shape for shape in RECORD.SHAPES if shape.project == project]
            workdir = tmp_path_factory.mktemp(f"bundle-trees-{project}")
            built[project] = RECORD.record_project(
                project, shapes, workdir, package_index, sandbox, cache
            )
        return built[project]

    return build


def differences(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between two recorded trees, one line per path: added, removed, or each
    property (type, mode, content, link target, an archive member's time or owner) that
    changed. An archive's member is named ``archive!member``."""
    found = []
    for path in sorted(set(recorded) | set(now)):
        if path not in recorded:
            found.append(f"added: {path} ({_describe(now[path])})")
            continue
        if path not in now:
            found.append(f"removed: {path} ({_describe(recorded[path])})")
            continue
        before, after = recorded[path], now[path]
        if before.get("sha256") != after.get("sha256") or before.get("size") != after.get("size"):
            found.append(f"content: {path} was {_content(before)}, now {_content(after)}")
        for key in sorted((set(before) | set(after)) - {"sha256", "size"}):
            if before.get(key) != after.get(key):
                found.append(f"{key}: {path} was {before.get(key)!r}, now {after.get(key)!r}")
    return found


def _describe(entry: Mapping[str, Any]) -> str:
    if entry["type"] == "file":
        return f"file, mode {entry['mode']}, {_content(entry)}"
    return f"{entry['type']}, mode {entry['mode']}"


def _content(entry: Mapping[str, Any]) -> str:
    if "sha256" not in entry:
        return entry.get("content", "recorded by its members")
    return f"{entry['size']} bytes, sha256 {entry['sha256'][:16]}…"


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(SHAPES))
def test_the_bundle_is_the_recorded_tree(key: str, built_shapes: BuiltShapes) -> None:
    shape = SHAPES[key]
    path = RECORD.recording_path(RECORD.RECORDINGS, shape)
    recorded = RECORD.json.loads(path.read_text())
    now = built_shapes(shape.project)[key]

    found = differences(recorded["tree"], now["tree"])

    assert recorded["bundle"] == now["bundle"], (
        f"{key} is configured differently from its recording: record it again with "
        f"`{RECORD.COMMAND.format(shape=key)}`"
    )
    assert not found, (
        f"{key} differs from {path.relative_to(REPO)} in {len(found)} places:\n"
        + "\n".join(found[:SHOWN])
        + (f"\n… and {len(found) - SHOWN} more" if len(found) > SHOWN else "")
        + "\nIf the change is intended, record the shape again with "
        f"`{RECORD.COMMAND.format(shape=key)}` (or every shape, without `--only`) and review "
        "the diff of fixtures/bundles/ before committing it."
    )


def test_every_shape_has_a_recording_and_every_recording_a_shape() -> None:
    recorded = {
        path.relative_to(RECORD.RECORDINGS).as_posix()
        for path in RECORD.RECORDINGS.glob("*/*.json")
    }
    expected = {
        RECORD.recording_path(RECORD.RECORDINGS, shape).relative_to(RECORD.RECORDINGS).as_posix()
        for shape in RECORD.SHAPES
    }

    assert recorded == expected, (
        f"missing: {sorted(expected - recorded)}, without a shape: {sorted(recorded - expected)}; "
        "run `.venv/bin/python scripts/record_bundles.py` (every shape) to record them again"
    )
