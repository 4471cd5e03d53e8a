"""Every configuration shown in the documentation is valid, for every layout and bundle it defines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.config import LAYOUTS, bundle_names, load_and_validate_config

ROOT = Path(__file__).parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def toml_blocks() -> list[tuple[str, str]]:
    found = []
    for page in DOCS:
        for number, block in enumerate(BLOCK.findall(page.read_text()), 1):
            if "[tool.lockbundle" in block:
                found.append((f"{page.relative_to(ROOT)}#{number}", block))
    return found


@pytest.mark.parametrize(("where", "block"), toml_blocks(), ids=[w for w, _ in toml_blocks()])
def test_documented_configuration_is_valid(where: str, block: str, tmp_path: Path) -> None:
    table = tomllib.loads(block)["tool"]["lockbundle"]

    for version in [*LAYOUTS, *bundle_names(table)]:
        load_and_validate_config(table, tmp_path, version)


def test_the_docs_show_configuration_at_all() -> None:
    assert len(toml_blocks()) >= 10
