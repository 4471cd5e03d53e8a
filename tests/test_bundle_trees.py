"""Bundles byte for byte as recorded: every shape of ``scripts/record_bundles.py``, built with the
code under test, is the tree recorded in ``fixtures/bundles/`` (every path, type, mode, size and
sha256, and the members of each archive), so that a refactoring that moves any byte of an output
fails here, naming the file and what differs."""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
        return str(entry.get("content", "recorded by its members"))
    return f"{entry['size']} bytes, sha256 {entry['sha256'][:16]}…"


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(SHAPES))
def test_the_bundle_is_the_recorded_tree(key: str, built_shapes: BuiltShapes) -> None:
    shape = SHAPES[key]
    path = RECORD.recording_path(RECORD.RECORDINGS, shape)
    recorded = json.loads(path.read_text())
    if recorded["python"] != RECORD.PYTHON:
        pytest.skip(f"recorded with Python {recorded['python']}, whose bundles differ by design")
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


def _recorded(out: Path, volatile: Any = None) -> dict[str, Any]:
    tree = RECORD.record_output(out, volatile or RECORD.Volatile())
    return RECORD.recording(RECORD.SHAPES[0], tree)["tree"]  # type: ignore[no-any-return]


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def test_a_difference_names_the_file_and_what_differs(tmp_path: Path) -> None:
    recorded, now = tmp_path / "recorded", tmp_path / "now"
    before, after = b"x = 1\n", b"x = 2\n"
    for out in (recorded, now):
        _write(out / "bundle" / "module.py", before)
        _write(out / "bundle" / "tool", b"#!/bin/sh\n")
        _write(out / "bundle" / "old.txt", b"")
    _write(now / "bundle" / "module.py", after)
    (now / "bundle" / "tool").chmod(0o755)
    (now / "bundle" / "old.txt").rename(now / "bundle" / "new.txt")

    found = differences(_recorded(recorded), _recorded(now))

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    assert found == [
        f"content: bundle/module.py was 6 bytes, sha256 {sha(before)}…, "
        f"now 6 bytes, sha256 {sha(after)}…",
        f"added: bundle/new.txt (file, mode 0o644, 0 bytes, sha256 {sha(b'')}…)",
        f"removed: bundle/old.txt (file, mode 0o644, 0 bytes, sha256 {sha(b'')}…)",
        "mode: bundle/tool was '0o644', now '0o755'",
    ]


def test_the_index_port_and_code_compiled_here_are_recorded_alike(tmp_path: Path) -> None:
    """Two outputs as two runs write them: the index on another port, the C extension compiled
    by another compiler (other bytes, another size, so another RECORD line)."""
    trees = []
    for out, port, native in ((tmp_path / "one", 4000, b"ELF"), (tmp_path / "two", 50111, b"ELF2")):
        so = "cext/_native.cpython-311-x86_64-linux-gnu.so"
        dist_info = out / "bundle" / "cext-1.0.dist-info"
        _write(out / "bundle" / so, native, 0o755)
        _write(dist_info / "WHEEL", b"Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n")
        record = f"{so},sha256={hashlib.sha256(native).hexdigest()},{len(native)}\n"
        _write(dist_info / "RECORD", record.encode())
        url = f"--index-url http://127.0.0.1:{port}/simple/\n"
        _write(out / "bundle" / "requirements.txt", url.encode())
        volatile = RECORD.Volatile({f"http://127.0.0.1:{port}".encode(): b"<index>"})
        trees.append(_recorded(out, volatile))

    assert differences(trees[0], trees[1]) == []
    assert trees[0]["bundle/cext/_native.cpython-311-x86_64-linux-gnu.so"]["content"] == (
        RECORD.COMPILED_HERE
    )
