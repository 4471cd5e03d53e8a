"""The `lockbundle` console script: the same engine as the hatch builder, with no hatch."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle.cli import plan_table
from support.bundle import distributions, snapshot
from support.cli import lockbundle
from support.environ import Sandbox, run
from support.hatch import HatchBuild, built_artifact
from support.index import IndexServer
from support.projects import MakeProject

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class MemberBuilds:
    member: Path
    hatch_bundle: Path
    cli_bundle: Path
    cli_output: str


@pytest.fixture(scope="module")
def member_builds(
    make_project: MakeProject,
    hatch_build: HatchBuild,
    sandbox: Sandbox,
    package_index: IndexServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> MemberBuilds:
    workspace = make_project("workspace")
    member = workspace / "packages" / "api"
    cache = tmp_path_factory.mktemp("cli-cache")
    hatch_bundle = built_artifact(hatch_build(member), member)
    kept = tmp_path_factory.mktemp("hatch") / hatch_bundle.name
    shutil.move(hatch_bundle, kept)
    result = lockbundle(sandbox, member, "build", "-o", str(member / "cli-dist"), cache=cache)
    return MemberBuilds(member, kept, Path(result.stdout.strip().splitlines()[-1]), result.stderr)


def test_build_in_a_member_gives_the_same_bundle_as_hatch(member_builds: MemberBuilds) -> None:
    assert (
        member_builds.cli_bundle
        == member_builds.member / "cli-dist" / member_builds.hatch_bundle.name
    )
    assert snapshot(member_builds.cli_bundle) == snapshot(member_builds.hatch_bundle)


def test_build_logs_the_size_report(member_builds: MemberBuilds) -> None:
    assert "Bundle size:" in member_builds.cli_output


def test_plan_json_names_exactly_the_distributions_of_the_bundle(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(sandbox, member_builds.member, "plan", "--format", "json", cache=tmp_path)
    document = json.loads(result.stdout)

    planned = {(package["name"], package["version"]) for package in document["packages"]}
    assert planned == distributions(member_builds.cli_bundle)
    assert document["target"]["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    shared = next(package for package in document["packages"] if package["name"] == "shared")
    assert shared["why"] == ["api", "shared"]
    assert shared["kind"] == "tree"


def test_plan_text_keeps_its_columns_aligned_whatever_the_lengths() -> None:
    packages = [
        {"name": "a", "version": "1.0", "size": 10, "artifact": "a.whl", "why": ["app", "a"]},
        {
            "name": "a-name-longer-than-any-fixed-column-would-be",
            "version": "2024.10.1+local.build.123456789",
            "size": None,
            "artifact": "long.whl",
            "why": ["app"],
        },
        {"name": "app", "version": None, "size": 1234567, "artifact": "app.tar.gz", "why": []},
    ]

    lines = plan_table(packages)

    assert len(lines) == len(packages)
    for column in ("version", "artifact"):
        starts = {
            line.index(f" {package[column]} ")
            for line, package in zip(lines, packages, strict=True)
            if package[column]
        }
        assert len(starts) == 1, (column, lines)
    assert lines[0].startswith("a  ") and lines[0].endswith("a.whl  (app -> a)")


def test_verify_passes_on_a_fresh_bundle(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(member_builds.cli_bundle, copy)

    result = lockbundle(sandbox, tmp_path, "verify", str(copy), cache=tmp_path, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_verify_names_a_changed_a_missing_and_an_added_file(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(member_builds.cli_bundle, copy)
    (copy / "api" / "__init__.py").chmod(0o644)  # bundle files are read-only
    (copy / "api" / "__init__.py").write_text("tampered = True\n")
    (copy / "shared" / "__init__.py").unlink()
    (copy / "api" / "backdoor.py").write_text("")

    result = lockbundle(sandbox, tmp_path, "verify", str(copy), cache=tmp_path, check=False)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "added: api/backdoor.py",
        "changed: api/__init__.py",
        "missing: shared/__init__.py",
    ]


def test_options_override_the_configuration(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(
        sandbox, member_builds.member, "plan", "--format", "json", "--extra", "nope",
        cache=tmp_path, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert "error: api==" in result.stderr and "has no extra `nope`" in result.stderr
    assert "Traceback" not in result.stderr


def test_target_options_on_the_command_line_of_a_wheelhouse_are_errors(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = lockbundle(
        sandbox, member_builds.member, "plan", "--layout", "wheelhouse", "--link-mode", "copy",
        "--compile-bytecode", cache=tmp_path, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: Invalid configuration in the command line:",
        "  - Field `command line.compile-bytecode` applies to target bundles only (a wheelhouse "
        "holds wheels): remove it",
        "  - Field `command line.link-mode` applies to target bundles only (a wheelhouse holds "
        "wheels): remove it",
    ]


def test_python_m_runs_the_same_command(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run(
        [sys.executable, "-m", "hatch_lockbundle", "--version"], cwd=tmp_path, env=sandbox.environ()
    )

    assert result.stdout.startswith("lockbundle ")


def test_the_command_answers_to_the_package_name_too(
    member_builds: MemberBuilds, sandbox: Sandbox, tmp_path: Path
) -> None:
    # `uvx hatch-lockbundle build` runs the command named as the package
    command = Path(sys.executable).parent / "hatch-lockbundle"

    result = run(
        [command, "plan", "--format", "json"],
        cwd=member_builds.member,
        env=sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(tmp_path)}),
    )

    assert json.loads(result.stdout)["packages"]
