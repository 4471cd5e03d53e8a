"""The fingerprints that make an unchanged rebuild a no-op."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hatchling.builders.utils import safe_walk

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


# -- source trees: links as hatchling follows them ---------------------------------------------------


def project(root: Path) -> Path:
    """A project tree: a package, and data outside it."""
    for relative, data in {
        "pyproject.toml": "[project]\nname = 'p'\n",
        "src/p/__init__.py": "",
        "src/p/core.py": "x = 1\n",
        "data/table.csv": "a,b\n",
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
    return root


def counted(root: Path) -> set[str]:
    return {relative for relative, _ in fingerprint.source_files(root)}


def test_a_dangling_link_in_a_source_tree_is_counted_as_the_link(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").symlink_to(tmp_path / "nowhere.md")

    assert fingerprint.source_tree(root)
    assert "docs/guide.md" in counted(root)


def test_pointing_a_dangling_link_elsewhere_changes_the_fingerprint(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    link = root / "guide.md"
    link.symlink_to(tmp_path / "nowhere.md")
    before = fingerprint.source_tree(root)

    link.unlink()
    link.symlink_to(tmp_path / "elsewhere.md")

    assert fingerprint.source_tree(root) != before


def test_a_link_to_itself_is_counted_as_the_link(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / "loop").symlink_to(root / "loop")

    assert "loop" in counted(root)


def test_a_directory_link_back_up_the_tree_is_walked_once(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / "src" / "p" / "up").symlink_to(root / "src")

    assert counted(root) == {
        "pyproject.toml",
        "src/p/__init__.py",
        "src/p/core.py",
        "data/table.csv",
    }


def test_a_change_to_a_linked_file_changes_the_fingerprint(tmp_path: Path) -> None:
    shared = tmp_path / "shared.py"
    shared.write_text("y = 1\n")
    root = project(tmp_path / "p")
    (root / "src" / "p" / "shared.py").symlink_to(shared)
    before = fingerprint.source_tree(root)

    shared.write_text("y = 22\n")

    assert fingerprint.source_tree(root) != before


def test_a_change_inside_a_linked_directory_changes_the_fingerprint(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "logo.svg").write_text("<svg/>")
    root = project(tmp_path / "p")
    (root / "src" / "p" / "assets").symlink_to(assets)
    before = fingerprint.source_tree(root)

    (assets / "icon.svg").write_text("<svg/>")

    assert "src/p/assets/logo.svg" in counted(root)
    assert fingerprint.source_tree(root) != before


def test_the_files_counted_are_those_hatchling_walks(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "icons").mkdir(parents=True)
    (assets / "icons" / "a.svg").write_text("<svg/>")
    root = project(tmp_path / "p")
    (root / "src" / "p" / "assets").symlink_to(assets)
    (root / "src" / "p" / "again").symlink_to(root / "src" / "p")
    (root / "src" / "p" / "alias.py").symlink_to(root / "src" / "p" / "core.py")
    (root / "dangling.txt").symlink_to(tmp_path / "nowhere")
    walked = set()
    for directory, dirs, names in safe_walk(str(root)):
        dirs.sort()
        relative = Path(directory).relative_to(root)
        walked |= {(relative / name).as_posix() for name in names}

    assert counted(root) == walked
