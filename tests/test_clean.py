"""`hatch clean -t lockbundle`: every bundle this target wrote for the project goes, nothing else.

Bundles are built with the real ``lockbundle`` command (the same engine, quicker than hatch) and
cleaned with the real ``hatch clean``.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from support.cli import lockbundle
from support.environ import Sandbox, describe
from support.hatch import Hatch
from support.projects import MakeProject

pytestmark = pytest.mark.slow

CONFIG = """
[tool.lockbundle]
sbom = true

[tool.lockbundle.bundles.zipped]
archive = "zip"

[tool.lockbundle.bundles.packed]
layout = "wheelhouse"
archive = "tar.gz"
"""

#: what `lockbundle build --layout/--bundle X` writes for each, SBOM included
WRITTEN = {
    "target": ["app-0.1.0-target", "app-0.1.0-target.cdx.json"],
    "wheelhouse": ["app-0.1.0-wheelhouse", "app-0.1.0-wheelhouse.cdx.json"],
    "zipped": ["app-0.1.0-zipped.cdx.json", "app-0.1.0-zipped.zip"],
    "packed": ["app-0.1.0-packed.cdx.json", "app-0.1.0-packed.tar.gz"],
}
ALL_WRITTEN = sorted(name for names in WRITTEN.values() for name in names)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def built(make_project: MakeProject, sandbox: Sandbox, cache: Path) -> Path:
    """The app with both layouts and two named bundles (a zip and a tar.gz) built into dist/,
    each with its SBOM, and a file of the user's."""
    project = make_project("app")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + CONFIG)
    for option, name in (
        ("--layout", "target"),
        ("--layout", "wheelhouse"),
        ("--bundle", "zipped"),
        ("--bundle", "packed"),
    ):
        lockbundle(sandbox, project, "build", option, name, cache=cache)
    (project / "dist" / "notes.txt").write_text("the user's\n")
    assert dist_entries(project) == sorted(["notes.txt", *ALL_WRITTEN])
    return project


def dist_entries(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "dist").iterdir())


def clean(hatch: Hatch, project: Path, target: str, cache: Path) -> str:
    result = hatch.clean(project, target, cache_dir=cache)
    assert result.returncode == 0, describe(result)
    return result.stdout + result.stderr


def test_clean_without_a_version_removes_every_bundle_with_its_archive_and_sbom(
    built: Path, hatch: Hatch, cache: Path
) -> None:
    clean(hatch, built, "lockbundle", cache)

    assert dist_entries(built) == ["notes.txt"]


def test_clean_says_what_it_removed(built: Path, hatch: Hatch, cache: Path) -> None:
    output = clean(hatch, built, "lockbundle", cache)

    removed = sorted(
        Path(line.split("Removed ", 1)[1].strip()).name
        for line in output.splitlines()
        if "Removed " in line
    )
    assert removed == ALL_WRITTEN


def test_clean_of_a_named_version_removes_only_that_bundle(
    built: Path, hatch: Hatch, cache: Path
) -> None:
    clean(hatch, built, "lockbundle:packed", cache)

    assert dist_entries(built) == sorted(
        ["notes.txt", *WRITTEN["target"], *WRITTEN["wheelhouse"], *WRITTEN["zipped"]]
    )


def test_clean_removes_the_bundles_of_earlier_versions_of_the_project(
    built: Path, hatch: Hatch, cache: Path
) -> None:
    dist = built / "dist"
    (dist / "app-0.1.0-target").rename(dist / "app-0.0.9-target")
    (dist / "app-0.1.0-zipped.zip").rename(dist / "app-0.0.9-zipped.zip")

    clean(hatch, built, "lockbundle", cache)

    assert dist_entries(built) == ["notes.txt"]


def test_clean_removes_what_a_killed_build_left(built: Path, hatch: Hatch, cache: Path) -> None:
    left = built / "dist" / ".app-0.1.0-target.lb-k1ll3d.tmp"
    left.mkdir()
    (left / "half.py").write_text("")

    clean(hatch, built, "lockbundle", cache)

    assert dist_entries(built) == ["notes.txt"]


def look_alikes(dist: Path) -> list[str]:
    """Entries named like bundles of the app that hatch-lockbundle did not write."""
    directory = dist / "app-0.2.0-target"
    (directory / "app").mkdir(parents=True)
    (directory / "app" / "__init__.py").write_text("")
    with zipfile.ZipFile(dist / "app-0.2.0-zipped.zip", "w") as archive:
        archive.writestr("app/__init__.py", "")
        archive.writestr("app-0.2.0.dist-info/INSTALLER", "pip\n")
    with tarfile.open(dist / "app-0.2.0-packed.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("app-0.2.0-packed/lockbundle.json")
        data = b'{"generator": "another-tool 1.0"}'
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (dist / "app-0.2.0-wheelhouse.cdx.json").write_text('{"bomFormat": "CycloneDX"}')
    (dist / "app-0.2.0-target.zip").symlink_to(dist / "app-0.1.0-target.zip.elsewhere")
    return [
        "app-0.2.0-packed.tar.gz",
        "app-0.2.0-target",
        "app-0.2.0-target.zip",
        "app-0.2.0-wheelhouse.cdx.json",
        "app-0.2.0-zipped.zip",
    ]


def test_clean_keeps_what_is_named_like_a_bundle_but_was_not_written_by_it(
    built: Path, hatch: Hatch, cache: Path
) -> None:
    kept = look_alikes(built / "dist")

    output = clean(hatch, built, "lockbundle", cache)

    assert dist_entries(built) == sorted(["notes.txt", *kept])
    for name in kept:
        assert f"Kept {built / 'dist' / name}: named like a bundle" in output


def test_clean_finds_the_mark_of_an_archive_under_a_deep_prefix(
    built: Path, hatch: Hatch, sandbox: Sandbox, cache: Path
) -> None:
    pyproject = built / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[tool.lockbundle.bundles.deep]\nlayout = "wheelhouse"\narchive = "zip"\n'
        + 'prefix = "srv/app/wheelhouse"\n'
    )
    lockbundle(sandbox, built, "build", "--bundle", "deep", cache=cache)
    assert "app-0.1.0-deep.zip" in dist_entries(built)

    clean(hatch, built, "lockbundle", cache)

    assert dist_entries(built) == ["notes.txt"]


# -- the same through the `lockbundle clean` command (projects hatch cannot build) ---------------


def test_lockbundle_clean_removes_every_bundle_and_prints_each(
    built: Path, sandbox: Sandbox, cache: Path
) -> None:
    kept = look_alikes(built / "dist")

    result = lockbundle(sandbox, built, "clean", cache=cache)

    assert sorted(Path(line).name for line in result.stdout.splitlines()) == ALL_WRITTEN
    assert dist_entries(built) == sorted(["notes.txt", *kept])
    for name in kept:
        assert f"Kept {built / 'dist' / name}: named like a bundle" in result.stderr


def test_lockbundle_clean_of_named_bundles_removes_only_those(
    built: Path, sandbox: Sandbox, cache: Path
) -> None:
    lockbundle(sandbox, built, "clean", "--bundle", "packed", "--bundle", "target", cache=cache)

    assert dist_entries(built) == sorted(["notes.txt", *WRITTEN["wheelhouse"], *WRITTEN["zipped"]])


def test_a_second_bundle_option_of_build_is_refused_not_ignored(
    built: Path, sandbox: Sandbox, cache: Path
) -> None:
    result = lockbundle(
        sandbox, built, "build", "--bundle", "zipped", "--bundle", "packed", cache=cache,
        check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "--bundle is given once" in result.stderr
