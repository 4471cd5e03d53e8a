"""Deterministic archives: same files, same bytes, whatever the mtimes; one prefix; normal modes."""

from __future__ import annotations

import gzip
import os
import random
import stat
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

import hatch_lockbundle.archive as archive_module
from hatch_lockbundle.archive import DEFAULT_EPOCH, DEFAULT_LEVEL, archive_epoch, write_archive
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.deflate import BLOCK_SIZE
from hatch_lockbundle.errors import ConfigurationError
from support.projects import MakeProject


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


# -- packing on every core: the bytes depend on the files and the level only ----------------------


def make_big_tree(root: Path, *, reverse: bool = False) -> Path:
    """Files of every size class: empty, small, several blocks of text, incompressible, non-ASCII
    and executable; made in reverse order when asked (the order must not show)."""
    words = [b"alpha ", b"beta ", b"gamma\n", b"delta ", b"epsilon "]
    text = b"".join(words[(i * 7919) % 5] for i in range(700_000))  # ~4 MiB: several blocks
    noise = os.urandom(1_500_000)
    contents: list[tuple[str, bytes, int]] = [
        ("pkg/__init__.py", b"", 0o644),
        ("pkg/module.py", b"x = 1\n" * 500, 0o644),
        ("pkg/data/text.txt", text, 0o644),
        ("pkg/data/noise.bin", noise, 0o644),
        ("pkg/data/small-noise.bin", noise[:5000], 0o644),
        ("pkg/données/é.txt", "é\n".encode(), 0o644),
        ("bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
    ]
    for name, data, mode in reversed(contents) if reverse else contents:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    return root


@pytest.fixture(scope="module")
def big_trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same files twice, made in opposite orders."""
    first = make_big_tree(tmp_path_factory.mktemp("first"))
    second = tmp_path_factory.mktemp("second")
    for path in sorted(first.rglob("*"), reverse=True):
        copy = second / path.relative_to(first)
        if path.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
            copy.chmod(path.stat().st_mode)
    return first, second


def read_back(archive: Path, root: str = "") -> dict[str, tuple[bytes, int]]:
    """Each file of a ``.zip`` or ``.tar.gz`` as the system's ``unzip`` or ``tar`` unpacks it."""
    out = archive.parent / f"{archive.name}.unpacked"
    out.mkdir()
    if archive.name.endswith(".zip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(out)], check=True)
    else:
        subprocess.run(["tar", "xzf", str(archive), "-C", str(out)], check=True)
    return {
        path.relative_to(out / root).as_posix(): (
            path.read_bytes(),
            stat.S_IMODE(path.stat().st_mode),
        )
        for path in (out / root).rglob("*")
        if path.is_file()
    }


def files_of(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(root).as_posix(): (
            path.read_bytes(),
            0o755 if path.stat().st_mode & 0o111 else 0o644,
        )
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_the_bytes_do_not_depend_on_the_worker_count_or_the_order_files_were_made(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str
) -> None:
    first, second = big_trees

    one = write_archive(first, tmp_path / f"one.{fmt}", fmt, "app", DEFAULT_EPOCH, workers=1)
    four = write_archive(second, tmp_path / f"four.{fmt}", fmt, "app", DEFAULT_EPOCH, workers=4)

    assert one.read_bytes() == four.read_bytes()


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_unzip_and_tar_read_back_every_file_at_every_level(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str, level: int, workers: int
) -> None:
    first, _ = big_trees

    archive = write_archive(
        first, tmp_path / f"a.{fmt}", fmt, "app", DEFAULT_EPOCH, level=level, workers=workers
    )

    assert read_back(archive, "app") == files_of(first)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_higher_compression_level_gives_a_smaller_archive(
    tmp_path: Path, big_trees: tuple[Path, Path], fmt: str
) -> None:
    first, _ = big_trees

    sizes = [
        write_archive(first, tmp_path / f"{level}.{fmt}", fmt, "", DEFAULT_EPOCH, level=level)
        .stat()
        .st_size
        for level in (0, 1, 9)
    ]

    assert sizes[0] > sizes[1] > sizes[2]


def test_zip_stores_what_deflate_does_not_shrink_and_everything_at_level_0(
    tmp_path: Path, big_trees: tuple[Path, Path]
) -> None:
    first, _ = big_trees

    methods = {}
    for level in (0, 6):
        with zipfile.ZipFile(
            write_archive(first, tmp_path / f"{level}.zip", "zip", "", 0, level=level)
        ) as zipped:
            methods[level] = {
                info.filename: info.compress_type for info in zipped.infolist() if not info.is_dir()
            }

    assert set(methods[0].values()) == {zipfile.ZIP_STORED}
    assert methods[6]["pkg/data/noise.bin"] == zipfile.ZIP_STORED  # several blocks, rewritten
    assert methods[6]["pkg/data/small-noise.bin"] == zipfile.ZIP_STORED
    assert methods[6]["pkg/data/text.txt"] == zipfile.ZIP_DEFLATED
    assert methods[6]["pkg/module.py"] == zipfile.ZIP_DEFLATED


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_each_block_is_compressed_with_the_data_before_it(tmp_path: Path, fmt: str) -> None:
    # a block reaches back across the cut, as one deflate stream would: what repeats the data
    # before it is not stored again (a block compressed alone would store the piece once more)
    piece = random.Random(18).randbytes(16 * 1024)
    data = piece * (3 * BLOCK_SIZE // len(piece) + 1)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "repeated.bin").write_bytes(data)

    archive = write_archive(tmp_path / "tree", tmp_path / f"a.{fmt}", fmt, "", DEFAULT_EPOCH)

    if fmt == "zip":
        with zipfile.ZipFile(archive) as zipped:
            compressed = zipped.getinfo("repeated.bin").compress_size
    else:
        compressed = archive.stat().st_size
        data = gzip.decompress(archive.read_bytes())  # the tar stream, headers and all
    compressor = zlib.compressobj(DEFAULT_LEVEL, zlib.DEFLATED, -15)
    assert compressed <= len(compressor.compress(data) + compressor.flush()) + 1024


def test_zip64_records_are_written_when_sizes_offsets_or_the_count_need_them(
    tmp_path: Path, big_trees: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # where zip64 begins, moved down from 4 GiB and 65535 entries
    monkeypatch.setattr(archive_module, "ZIP64_LIMIT", 100_000)
    monkeypatch.setattr(archive_module, "ZIP64_COUNT_LIMIT", 5)
    first, _ = big_trees

    archive = write_archive(first, tmp_path / "a.zip", "zip", "app", DEFAULT_EPOCH)

    data = archive.read_bytes()
    assert b"PK\x06\x06" in data  # the zip64 end of central directory
    with zipfile.ZipFile(archive) as zipped:
        # the central directory's 32-bit sizes say "in the zip64 record"
        entry = data.index(b"app/pkg/data/noise.bin", zipped.start_dir) - 46  # type: ignore[attr-defined]
        assert struct.unpack_from("<LL", data, entry + 20) == (0xFFFFFFFF, 0xFFFFFFFF)
        assert zipped.testzip() is None
        assert zipped.getinfo("app/pkg/data/text.txt").file_size == len(
            (first / "pkg/data/text.txt").read_bytes()
        )
    assert read_back(archive, "app") == files_of(first)


def test_an_unknown_compression_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"compression level must be 0 to 9, not 10"):
        write_archive(make_tree(tmp_path / "tree"), tmp_path / "a.zip", "zip", "", 0, level=10)


# -- the compression level setting ---------------------------------------------------------------


def test_compression_level_defaults_to_zip_and_gzips_own(tmp_path: Path) -> None:
    assert load_and_validate_config({}, tmp_path).compression_level == DEFAULT_LEVEL == 6


@pytest.mark.parametrize("level", [0, 9])
def test_compression_level_is_read_from_the_table_and_a_named_bundle(
    tmp_path: Path, level: int
) -> None:
    raw = {
        "archive": "zip",
        "compression-level": 1,
        "bundles": {"small": {"compression-level": level}},
    }

    assert load_and_validate_config(raw, tmp_path).compression_level == 1
    assert load_and_validate_config(raw, tmp_path, "small").compression_level == level


@pytest.mark.parametrize("value", [10, -1, 6.0, True, "6"])
def test_compression_level_outside_0_to_9_is_an_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"archive": "zip", "compression-level": value}, tmp_path)

    assert caught.value.errors == [
        "Field `tool.lockbundle.compression-level` must be a whole number from 0 (no compression, "
        f"fastest) to 9 (smallest, slowest), not {value!r}"
    ]


@pytest.mark.slow
def test_a_bundle_archive_is_packed_at_the_configured_level(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project("app")
    sizes = {}
    for level in (0, 9):
        archive = build_bundle(
            project,
            tmp_path / "dist",
            cache_dir=tmp_path / "cache",
            overrides={"archive": "zip", "compression-level": level},
        )
        sizes[level] = archive.stat().st_size
        with zipfile.ZipFile(archive) as zipped:
            methods = {info.compress_type for info in zipped.infolist() if not info.is_dir()}
        assert (methods == {zipfile.ZIP_STORED}) == (level == 0)

    assert sizes[0] > sizes[9]  # the second build was not taken for a no-op
