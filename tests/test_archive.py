"""Deterministic archives: same files, same bytes, whatever the mtimes; one prefix; normal modes."""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from hatch_lockbundle.archive import DEFAULT_EPOCH, archive_epoch, write_archive


def make_tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "data.txt").write_text("data\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o775)
    (root / "pkg" / "__init__.py").chmod(0o600)
    return root


def touch_everything(root: Path, when: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (when, when))


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_same_files_give_the_same_bytes_whatever_the_mtimes(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    first = write_archive(tree, tmp_path / f"one.{fmt}", fmt, "bundle", DEFAULT_EPOCH)
    touch_everything(tree, 1_700_000_000)
    second = write_archive(tree, tmp_path / f"two.{fmt}", fmt, "bundle", DEFAULT_EPOCH)

    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_changed_file_changes_the_archive(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    first = write_archive(tree, tmp_path / f"one.{fmt}", fmt, "bundle", DEFAULT_EPOCH).read_bytes()
    (tree / "pkg" / "sub" / "data.txt").write_text("other\n")

    assert (
        write_archive(tree, tmp_path / f"two.{fmt}", fmt, "bundle", DEFAULT_EPOCH).read_bytes()
        != first
    )


def test_tar_entries_are_sorted_prefixed_owned_by_root_with_normal_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.tar.gz", "tar.gz", "bundle", 1234567890)

    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == ["bundle", *sorted(names[1:])]
    assert all(name == "bundle" or name.startswith("bundle/") for name in names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "", "", 1234567890)
    }
    modes = {m.name: m.mode for m in members}
    assert modes["bundle/bin/tool"] == 0o755
    assert modes["bundle/pkg/__init__.py"] == 0o644
    assert modes["bundle/pkg"] == 0o755


def test_zip_entries_are_unix_with_normal_modes_and_clamped_times(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.zip", "zip", "python", 0)

    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
    assert all(info.filename.startswith("python/") for info in infos)
    assert {info.create_system for info in infos} == {3}
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert modes["python/bin/tool"] == 0o755
    assert modes["python/pkg/__init__.py"] == 0o644


def test_source_date_epoch_sets_the_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert archive_epoch() == 1700000000
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert archive_epoch() == DEFAULT_EPOCH


def test_a_failed_archive_leaves_nothing_behind(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "link").symlink_to(tree / "bin" / "tool")
    out = tmp_path / "out"

    with pytest.raises(Exception, match=r"refusing to archive symlink"):
        write_archive(tree, out / "a.zip", "zip", "bundle", DEFAULT_EPOCH)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_without_a_prefix_entries_are_at_the_top(tmp_path: Path, fmt: str) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / f"a.{fmt}", fmt, "", DEFAULT_EPOCH)

    if fmt == "zip":
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
    else:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
    assert "pkg/__init__.py" in names
    assert "bin/tool" in names


def test_a_nested_prefix_gets_its_directory_entries(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    archive = write_archive(tree, tmp_path / "a.zip", "zip", "opt/app", DEFAULT_EPOCH)

    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
    assert names[:2] == ["opt/", "opt/app/"]
    assert all(name.startswith("opt/") for name in names)


def test_a_failed_check_keeps_the_archive_out(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    out = tmp_path / "out"

    def refuse(path: Path) -> None:
        raise ValueError(f"too big: {path.stat().st_size}")

    with pytest.raises(ValueError, match=r"too big"):
        write_archive(tree, out / "a.zip", "zip", "", DEFAULT_EPOCH, check=refuse)
    assert list(out.iterdir()) == []
