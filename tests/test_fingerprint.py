"""The fingerprints that make an unchanged rebuild a no-op."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatch_lockbundle import fingerprint


def tree(root: Path) -> Path:
    """A bundle-like tree: files at several depths, an empty directory, an executable."""
    for relative, data in {
        "top.py": b"x = 1\n",
        "pkg/__init__.py": b"",
        "pkg/sub/deep/module.py": b"y = 2\n" * 100,
        "pkg-1.0.dist-info/RECORD": b"pkg/__init__.py,,\n",
        "bin/tool": b"#!/bin/sh\n",
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "bin" / "tool").chmod(0o755)
    (root / "empty").mkdir()
    return root


def test_a_scan_finds_every_file_with_its_size(tmp_path: Path) -> None:
    found = fingerprint.scan(tree(tmp_path / "bundle"))

    assert (found.files, found.size) == (5, 6 + 600 + 18 + 10)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda root: (root / "pkg" / "sub" / "deep" / "module.py").write_bytes(b"z"),
            id="content",
        ),
        pytest.param(lambda root: (root / "bin" / "tool").chmod(0o644), id="mode"),
        pytest.param(lambda root: (root / "empty" / "new.py").write_bytes(b""), id="new-file"),
        pytest.param(lambda root: (root / "top.py").unlink(), id="removed-file"),
        pytest.param(
            lambda root: os.utime(root / "pkg" / "__init__.py", ns=(0, 10**9)), id="mtime"
        ),
    ],
)
def test_any_change_to_a_file_changes_the_fingerprint(tmp_path: Path, change: object) -> None:
    root = tree(tmp_path / "bundle")
    before = fingerprint.scan(root).digest

    change(root)  # type: ignore[operator]

    assert fingerprint.scan(root).digest != before


def test_the_fingerprint_is_the_same_wherever_the_tree_is(tmp_path: Path) -> None:
    root = tree(tmp_path / "staging")
    before = fingerprint.scan(root).digest

    moved = root.rename(tmp_path / "final")

    assert fingerprint.scan(moved).digest == before


def test_a_walk_by_path_finds_what_the_scan_by_directory_descriptors_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # platforms without dir_fd (Windows) walk by full paths: both must agree
    root = tree(tmp_path / "bundle")
    by_descriptors = fingerprint.scan(root)

    monkeypatch.setattr(os, "supports_dir_fd", set())
    by_paths = fingerprint.scan(root)

    assert by_paths == by_descriptors


def test_a_fingerprint_from_known_statuses_is_the_scans(tmp_path: Path) -> None:
    root = tree(tmp_path / "bundle")
    statuses = {}
    for path in root.rglob("*"):
        if path.is_file():
            status = path.lstat()
            relative = str(path.relative_to(root))
            statuses[relative] = (status.st_size, status.st_mtime_ns, status.st_mode)

    assert fingerprint.of_files(statuses) == fingerprint.scan(root)
