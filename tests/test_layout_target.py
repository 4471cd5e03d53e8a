"""The target layout on hand-made wheels: conflicts, scripts, bytecode, RECORD."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.fetch import FetchedWheel
from hatch_lockbundle.layouts.target import FileConflictError, write_target
from hatch_lockbundle.lock import LockedPackage, Source
from hatch_lockbundle.select import Artifact, PlannedPackage


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal valid wheel with a correct RECORD."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_lines = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record_lines.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record_lines.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


def fetched(wheel: Path) -> FetchedWheel:
    name, version = wheel.name.split("-")[:2]
    package = LockedPackage(name=name, version=version, source=Source("registry", "x"))  # type: ignore[arg-type]
    return FetchedWheel(
        PlannedPackage(package, Artifact("wheel", wheel.name), (name,)), wheel, "test"
    )


def run_with_only_python3(
    tmp_path: Path, script: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with no PYTHONPATH and a PATH whose only Python is ``python3``."""
    only_python = tmp_path / "pybin"
    only_python.mkdir(exist_ok=True)
    if not (only_python / "python3").exists():
        (only_python / "python3").symlink_to(sys.executable)
    return subprocess.run(
        [str(script), *args],
        env={"PATH": f"{only_python}{os.pathsep}/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_distributions_writing_one_file_is_an_error_naming_both(tmp_path: Path) -> None:
    first = make_wheel(tmp_path, "alpha", "1.0", {"shared/util.py": "A = 1\n"})
    second = make_wheel(tmp_path, "beta", "2.0", {"shared/util.py": "B = 2\n"})

    with pytest.raises(
        FileConflictError, match=r"alpha==1.0 and beta==2.0 both install `shared/util.py`"
    ):
        write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)


def test_identical_files_may_be_shared(tmp_path: Path) -> None:
    # pkgutil-style namespace packages ship the same __init__.py in every distribution
    init = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    first = make_wheel(tmp_path, "alpha", "1.0", {"ns/__init__.py": init, "ns/a.py": ""})
    second = make_wheel(tmp_path, "beta", "2.0", {"ns/__init__.py": init, "ns/b.py": ""})

    write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)

    assert (tmp_path / "bundle" / "ns" / "__init__.py").read_text() == init
    assert (
        "ns/__init__.py,sha256="
        in (tmp_path / "bundle" / "beta-2.0.dist-info" / "RECORD").read_text()
    )


def test_namespace_directories_may_be_shared(tmp_path: Path) -> None:
    first = make_wheel(tmp_path, "alpha", "1.0", {"ns/a/__init__.py": "A = 1\n"})
    second = make_wheel(tmp_path, "beta", "2.0", {"ns/b/__init__.py": "B = 2\n"})

    write_target([fetched(first), fetched(second)], tmp_path / "bundle", compile_bytecode=False)

    assert (tmp_path / "bundle" / "ns" / "a" / "__init__.py").exists()
    assert (tmp_path / "bundle" / "ns" / "b" / "__init__.py").exists()


def test_a_wheel_whose_record_does_not_match_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "alpha", "1.0", {"alpha.py": "A = 1\n"})
    tampered = tmp_path / "t" / wheel.name
    tampered.parent.mkdir()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, b"A = 2\n" if item.filename == "alpha.py" else data)

    with pytest.raises(LockbundleError, match=r"alpha==1.0: .*alpha.py"):
        write_target([fetched(tampered)], tmp_path / "bundle", compile_bytecode=False)


def test_bytecode_is_hash_based_relative_and_recorded(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path, "alpha", "1.0", {"alpha/__init__.py": "def f():\n    raise ValueError\n"}
    )
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=True)

    pyc = Path(importlib.util.cache_from_source(str(bundle / "alpha" / "__init__.py")))
    data = pyc.read_bytes()
    flags = int.from_bytes(data[4:8], "little")
    assert flags & 0b01  # hash-based
    assert flags & 0b10  # checked against the source
    assert str(tmp_path).encode() not in data
    record = (bundle / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert pyc.relative_to(bundle).as_posix() + ",," in record


def test_console_script_runs_from_a_moved_bundle_with_only_python3(tmp_path: Path) -> None:
    files = {
        "alpha/__init__.py": "import sys\ndef main():\n    print('alpha says', sys.argv[1:])\n    return 3\n",
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:main\n",
    }
    wheel = make_wheel(tmp_path, "alpha", "1.0", files)
    write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)
    moved = tmp_path / "elsewhere" / "app"
    moved.parent.mkdir()
    (tmp_path / "bundle").rename(moved)

    result = run_with_only_python3(tmp_path, moved / "bin" / "alpha-cli", "x")

    assert result.stdout == "alpha says ['x']\n"
    assert result.returncode == 3
    assert "#!/usr/bin/env python3" in (moved / "bin" / "alpha-cli").read_text()


def test_python_shebang_scripts_run_with_the_bundle_on_the_path(tmp_path: Path) -> None:
    files = {
        "alpha/__init__.py": "VALUE = 42\n",
        "alpha-1.0.data/scripts/alpha-tool": "#!python\nimport alpha\nprint('tool', alpha.VALUE)\n",
    }
    wheel = make_wheel(tmp_path, "alpha", "1.0", files)
    write_target([fetched(wheel)], tmp_path / "bundle", compile_bytecode=False)
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "alpha-tool").symlink_to(tmp_path / "bundle" / "bin" / "alpha-tool")

    result = run_with_only_python3(tmp_path, link_dir / "alpha-tool")

    assert result.stdout == "tool 42\n", result.stderr


def test_cached_installs_are_copied_so_editing_a_bundle_leaves_the_cache_alone(
    tmp_path: Path,
) -> None:
    cache = Cache(tmp_path / "cache")
    wheel = make_wheel(tmp_path, "alpha", "1.0", {"alpha/__init__.py": "VALUE = 1\n"})
    first = tmp_path / "first"
    write_target([fetched(wheel)], first, compile_bytecode=False, cache=cache)

    (first / "alpha" / "__init__.py").write_text("VALUE = 'edited'\n")
    second = tmp_path / "second"
    write_target([fetched(wheel)], second, compile_bytecode=False, cache=cache)

    assert (second / "alpha" / "__init__.py").read_text() == "VALUE = 1\n"
    assert sorted(p.relative_to(second) for p in second.rglob("*")) == sorted(
        p.relative_to(first) for p in first.rglob("*")
    )


def test_cached_installs_still_refuse_conflicting_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = make_wheel(tmp_path, "alpha", "1.0", {"shared/util.py": "A = 1\n"})
    second = make_wheel(tmp_path, "beta", "2.0", {"shared/util.py": "B = 2\n"})

    with pytest.raises(
        FileConflictError, match=r"alpha==1.0 and beta==2.0 both install `shared/util.py`"
    ):
        write_target(
            [fetched(first), fetched(second)], tmp_path / "b", compile_bytecode=False, cache=cache
        )


def test_cached_installs_keep_scripts_executable_and_bytecode(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    files = {
        "alpha/__init__.py": "def main():\n    return 0\n",
        "alpha-1.0.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = alpha:main\n",
    }
    wheel = make_wheel(tmp_path, "alpha", "1.0", files)
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=True, cache=cache)

    assert (bundle / "bin" / "alpha-cli").stat().st_mode & 0o111
    pyc = Path(importlib.util.cache_from_source(str(bundle / "alpha" / "__init__.py")))
    assert pyc.exists()
    assert str(tmp_path).encode() not in pyc.read_bytes()


def test_data_files_are_recorded_relative_to_the_bundle_root(tmp_path: Path) -> None:
    files = {"alpha/__init__.py": "", "alpha-1.0.data/data/share/alpha/notes.txt": "notes\n"}
    wheel = make_wheel(tmp_path, "alpha", "1.0", files)
    bundle = tmp_path / "bundle"

    write_target([fetched(wheel)], bundle, compile_bytecode=False)

    record = (bundle / "alpha-1.0.dist-info" / "RECORD").read_text()
    assert (bundle / "share" / "alpha" / "notes.txt").read_text() == "notes\n"
    assert "\nshare/alpha/notes.txt,sha256=" in record
    assert "./" not in record


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "alpha", "1.0", {"alpha/__init__.py": ""})
    with zipfile.ZipFile(wheel, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alpha/zeros.bin", b"\0" * (100 * 1024 * 1024))
    bundle = tmp_path / "bundle"

    with pytest.raises(
        LockbundleError, match=r"alpha==1.0: refusing .*zeros.bin` expands \d+ times"
    ):
        write_target([fetched(wheel)], bundle, compile_bytecode=False)
    assert not bundle.exists() or list(bundle.iterdir()) == []
