"""Exclusions on an installed bundle: files and RECORD rows go together; entry points survive."""

from __future__ import annotations

import csv
from pathlib import Path

from hatch_lockbundle.cache import Cache
from hatch_lockbundle.layouts.target import write_target
from hatch_lockbundle.report import measure, over_budget
from hatch_lockbundle.trim import exclude_files, trim_patterns
from test_layout_target import fetched, make_wheel


def bundle(tmp_path: Path, cache: Cache | None = None) -> Path:
    files = {
        "alpha/__init__.py": "",
        "alpha/core.py": "X = 1\n",
        "alpha/core.pyi": "X: int\n",
        "alpha/py.typed": "",
        "alpha/tests/__init__.py": "",
        "alpha/tests/test_core.py": "def test(): pass\n",
        "alpha/tests/cli.py": "def main(): return 0\n",
        "alpha/docs/guide.txt": "words\n" * 100,
        "tests/__init__.py": "",  # a top-level package called tests is somebody's code
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-selftest = alpha.tests.cli:main\n",
    }
    wheel = make_wheel(tmp_path, "alpha", "1.0", files)
    root = tmp_path / "bundle"
    write_target([fetched(wheel)], root, compile_bytecode=False, cache=cache)
    return root


def record_paths(root: Path) -> set[str]:
    with (root / "alpha-1.0.dist-info" / "RECORD").open() as record:
        return {row[0] for row in csv.reader(record)}


def test_trim_removes_tests_docs_and_stubs_from_disk_and_record(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    result = exclude_files(root, trim_patterns(False), protect_entry_points=True)

    gone = ["alpha/core.pyi", "alpha/py.typed", "alpha/tests/test_core.py", "alpha/docs/guide.txt"]
    for path in gone:
        assert not (root / path).exists()
        assert path not in record_paths(root)
    assert not (root / "alpha" / "docs").exists()  # emptied directories go too
    assert result.files == 4
    assert result.size > 600


def test_trim_keeps_entry_point_modules_and_top_level_packages(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    exclude_files(root, trim_patterns(False), protect_entry_points=True)

    for path in [
        "alpha/tests/cli.py",
        "alpha/tests/__init__.py",
        "alpha/__init__.py",
        "tests/__init__.py",
    ]:
        assert (root / path).exists()
        assert path in record_paths(root)


def test_every_remaining_record_row_exists(tmp_path: Path) -> None:
    root = bundle(tmp_path)

    exclude_files(root, ["alpha/", "!alpha/__init__.py"], protect_entry_points=False)

    assert all((root / path).exists() for path in record_paths(root))
    assert (root / "alpha" / "__init__.py").exists()
    assert not (root / "alpha" / "core.py").exists()
    assert (root / "alpha-1.0.dist-info" / "METADATA").exists()


def test_trimming_a_bundle_linked_to_the_cache_leaves_the_cache_alone(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    root = bundle(tmp_path, cache)
    (cached_record,) = cache.root.glob("installed/*/*/tree/alpha-1.0.dist-info/RECORD")
    assert cached_record.samefile(root / "alpha-1.0.dist-info" / "RECORD")
    before = cached_record.read_bytes()

    exclude_files(root, trim_patterns(False), protect_entry_points=True)

    assert "alpha/core.pyi" not in record_paths(root)
    assert cached_record.read_bytes() == before
    assert (cached_record.parents[1] / "alpha" / "core.pyi").exists()


def test_the_report_lists_sizes_and_savings(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    excluded = exclude_files(root, ["*.txt"], protect_entry_points=False)

    report = measure(root, excluded)
    text = report.render()

    assert report.size == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert f"in {report.files} files" in text
    assert "Exclusions removed 1 files, 600 B" in text
    assert "alpha-1.0" in text


def test_a_budget_is_exceeded_only_above_it() -> None:
    assert over_budget("max-size", 100, 100) is None
    assert over_budget("max-size", 100, None) is None
    message = over_budget("max-size", 2048, 1000)
    assert message is not None
    assert (
        "over its `max-size` budget: 2.0 KiB (2048 bytes) is more than 1000 B (1000 bytes)"
        in message
    )
