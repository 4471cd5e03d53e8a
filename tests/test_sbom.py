"""`sbom = true`: a CycloneDX SBOM beside the bundle, valid against the published schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from support.bundle import distributions
from support.environ import Sandbox, run
from support.projects import MakeProject

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(
    make_project: MakeProject, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """``lockbundle build`` (the real console script) of the app with ``sbom = true``."""
    project = make_project("app")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.lockbundle]\nsbom = true\n")
    cache = tmp_path_factory.mktemp("cache")
    env = sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(cache)})
    result = run([Path(sys.executable).parent / "lockbundle", "build"], cwd=project, env=env)
    bundle = Path(result.stdout.strip().splitlines()[-1])
    return bundle, bundle.with_name(bundle.name + ".cdx.json")


def test_the_sbom_is_valid_cyclonedx(built: tuple[Path, Path]) -> None:
    _, sbom = built

    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(sbom.read_text())

    assert error is None, error


def test_the_sbom_lists_every_distribution_with_purl_and_hash(built: tuple[Path, Path]) -> None:
    bundle, sbom = built
    document = json.loads(sbom.read_text())

    listed = {(c["name"], c["version"]) for c in document["components"]}
    assert listed == distributions(bundle)
    for component in document["components"]:
        assert component["purl"] == f"pkg:pypi/{component['name']}@{component['version']}"
        assert component["hashes"][0]["alg"] == "SHA-256"
        assert len(component["hashes"][0]["content"]) == 64
    assert document["metadata"]["component"]["name"] == "app"


def test_the_sbom_records_dependencies_between_components(built: tuple[Path, Path]) -> None:
    _, sbom = built
    document = json.loads(sbom.read_text())

    edges = {entry["ref"]: entry["dependsOn"] for entry in document["dependencies"]}
    app = next(ref for ref in edges if ref.startswith("pkg:pypi/app@"))
    assert any(ref.startswith("pkg:pypi/cext@") for ref in edges[app])
