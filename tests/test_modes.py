"""Bundles get the modes the umask gives; temporaries beside them are new files, never links.

The umask belongs to the whole process: each build runs the real ``lockbundle`` in a child that
sets it, never in the pytest process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.cli import LOCKBUNDLE
from support.environ import Sandbox, describe, run
from support.projects import MakeProject

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and umask"),
]

UMASKS = [0o022, 0o027]


def lockbundle_with_umask(
    sandbox: Sandbox, project: Path, umask: int, *args: str, cache: Path
) -> subprocess.CompletedProcess[str]:
    """The real ``lockbundle <args>`` in ``project``, in a shell that set ``umask`` first."""
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache)})
    command = [
        "/bin/sh",
        "-c",
        f'umask {umask:03o} && exec "$0" "$@"',
        str(LOCKBUNDLE),
        *args,
    ]
    return run(command, cwd=project, env=env, check=False)


def with_sbom(project: Path) -> Path:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.lockbundle]\nsbom = true\n")
    return project


@dataclass
class Built:
    umask: int
    target: Path
    wheelhouse: Path
    zip: Path
    tar: Path
    sbom: Path

    @property
    def directory_mode(self) -> int:
        return 0o777 & ~self.umask

    @property
    def file_mode(self) -> int:
        return 0o666 & ~self.umask


@pytest.fixture(scope="module", params=UMASKS, ids=lambda umask: f"umask-{umask:03o}")
def built(
    request: pytest.FixtureRequest,
    make_project: MakeProject,
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """Every kind of output of the app, built under one umask with a cache of its own (so
    that what the cache holds was also made under it)."""
    umask: int = request.param
    project = with_sbom(make_project("app"))
    cache = tmp_path_factory.mktemp("cache")
    outputs = []
    for args in (
        [],
        ["--layout", "wheelhouse"],
        ["--archive", "zip"],
        ["--layout", "wheelhouse", "--archive", "tar.gz"],
    ):
        result = lockbundle_with_umask(sandbox, project, umask, "build", *args, cache=cache)
        assert result.returncode == 0, describe(result)
        outputs.append(Path(result.stdout.strip().splitlines()[-1]))
    target, wheelhouse, zipped, tarred = outputs
    return Built(umask, target, wheelhouse, zipped, tarred, Path(f"{target}.cdx.json"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def directories(root: Path) -> list[Path]:
    return [root, *(path for path in root.rglob("*") if path.is_dir())]


def test_a_target_bundle_and_its_directories_get_the_umasks_mode(built: Built) -> None:
    modes = {str(path.relative_to(built.target)): mode(path) for path in directories(built.target)}

    assert modes == dict.fromkeys(modes, built.directory_mode)


def test_a_wheelhouse_and_its_directories_get_the_umasks_mode(built: Built) -> None:
    found = directories(built.wheelhouse)
    modes = {str(path.relative_to(built.wheelhouse)): mode(path) for path in found}

    assert modes == dict.fromkeys(modes, built.directory_mode)


def test_the_files_of_a_wheelhouse_get_the_umasks_mode(built: Built) -> None:
    files = [path for path in built.wheelhouse.rglob("*") if path.is_file()]
    modes = {str(path.relative_to(built.wheelhouse)): mode(path) for path in files}

    assert modes == dict.fromkeys(modes, built.file_mode)


def test_the_files_of_a_target_are_readable_as_the_umask_allows(built: Built) -> None:
    # files linked from the cache are read-only: only the read bits are the umask's to decide
    files = [path for path in built.target.rglob("*") if path.is_file()]
    readable = {str(path.relative_to(built.target)): mode(path) & 0o444 for path in files}

    assert files
    assert readable == dict.fromkeys(readable, 0o444 & ~built.umask)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_an_archive_gets_the_umasks_mode(built: Built, kind: str) -> None:
    assert mode(getattr(built, kind)) == built.file_mode


def test_the_sbom_gets_the_umasks_mode(built: Built) -> None:
    assert mode(built.sbom) == built.file_mode


def test_modes_inside_a_zip_stay_normalised(built: Built) -> None:
    with zipfile.ZipFile(built.zip) as archive:
        modes = {stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}

    assert modes == {0o644, 0o755}


def test_modes_inside_a_tar_stay_normalised(built: Built) -> None:
    with tarfile.open(built.tar) as archive:
        modes = {member.mode for member in archive.getmembers()}

    assert modes == {0o644, 0o755}


# -- temporaries beside the bundle (issue 16) -------------------------------------------------------


@pytest.fixture(scope="module")
def sbom_project(make_project: MakeProject) -> Path:
    return with_sbom(make_project("app"))


def test_a_link_planted_at_the_old_sbom_temporary_is_not_followed(
    sbom_project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("not the bundler's\n")
    dist = sbom_project / "dist"
    dist.mkdir(exist_ok=True)
    planted = dist / ".app-0.1.0-target.cdx.json.tmp"  # the fixed name it used to write through
    planted.symlink_to(victim)

    result = lockbundle_with_umask(sandbox, sbom_project, 0o022, "build", cache=tmp_path / "c")

    assert result.returncode == 0, describe(result)
    assert victim.read_text() == "not the bundler's\n"
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    assert json.loads((dist / "app-0.1.0-target.cdx.json").read_text())["bomFormat"]


def test_concurrent_builds_into_one_dist_all_succeed(
    make_project: MakeProject, sandbox: Sandbox, tmp_path: Path
) -> None:
    project = with_sbom(make_project("app"))
    cache = tmp_path / "cache"
    warm = lockbundle_with_umask(sandbox, project, 0o022, "build", cache=cache)
    assert warm.returncode == 0, describe(warm)
    (project / "dist" / "app-0.1.0-target").rename(tmp_path / "previous")  # each must write
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache)})
    builds = [
        subprocess.Popen(
            [LOCKBUNDLE, "build", *args],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in ([], [], [], ["--archive", "zip"], ["--archive", "zip"])
    ]
    outcomes = [(*build.communicate(timeout=600), build.returncode) for build in builds]

    assert [code for _, _, code in outcomes] == [0] * len(builds), outcomes
    assert sorted(path.name for path in (project / "dist").iterdir()) == [
        "app-0.1.0-target",
        "app-0.1.0-target.cdx.json",
        "app-0.1.0-target.zip",
    ]
