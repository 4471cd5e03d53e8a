"""The documentation against the code: every configuration it shows is valid, every option and
command the code accepts has its row in the reference (and every row is one the code accepts), and
the MkDocs site builds with every page in its navigation and no broken link."""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.cli import _parser
from hatch_lockbundle.config import (
    LAMBDA_UNZIPPED_LIMIT,
    LAMBDA_ZIP_LIMIT,
    LAYOUTS,
    LINK_MODES,
    OPTION,
    OPTIONS,
    BundleConfig,
)
from hatch_lockbundle.config_tables import bundle_names, load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError
from hatch_lockbundle.options import Option, Table

ROOT = Path(__file__).parent.parent
DOCS_DIR = ROOT / "docs"
DOCS = sorted([ROOT / "README.md", *DOCS_DIR.rglob("*.md")])
BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")


def toml_blocks() -> list[tuple[str, str]]:
    found = []
    for page in DOCS:
        for number, block in enumerate(BLOCK.findall(page.read_text()), 1):
            if "[tool.lockbundle" in block:
                found.append((f"{page.relative_to(ROOT)}#{number}", block))
    return found


def sections(markdown: str) -> list[tuple[str, str]]:
    """``(heading, body)`` for each ``##`` section; the text before the first one has heading ""."""
    parts = re.split(r"^## (.*)$", markdown, flags=re.MULTILINE)
    return [("", parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]


def tables(markdown: str) -> list[list[list[str]]]:
    """Every pipe table, as rows of stripped cells: the header row first, the |---| row dropped."""
    found: list[list[list[str]]] = []
    previous_was_row = False
    for line in markdown.splitlines():
        is_row = line.startswith("|")
        if is_row and not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line):
            # a `\|` inside a cell is a literal pipe, not a column separator
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if not previous_was_row:
                found.append([])
            found[-1].append(cells)
        previous_was_row = is_row
    return found


# -- every configuration shown is valid ------------------------------------------------------------


@pytest.mark.parametrize(("where", "block"), toml_blocks(), ids=[w for w, _ in toml_blocks()])
def test_documented_configuration_is_valid(where: str, block: str, tmp_path: Path) -> None:
    table = tomllib.loads(block)["tool"]["lockbundle"]

    for version in [*LAYOUTS, *bundle_names(table)]:
        load_and_validate_config(table, tmp_path, version)


def test_the_docs_show_configuration_at_all() -> None:
    assert len(toml_blocks()) >= 10


# -- the options table of docs/configuration.md is [tool.lockbundle] -------------------------------

OPTIONS_HEADER = ["option", "type", "default", "applies to", "meaning"]
KEYS = [option.key for option in OPTIONS]


def option_rows() -> list[dict[str, str]]:
    """The rows of the options table of docs/configuration.md, keyed by its header."""
    found = [
        table
        for table in tables((DOCS_DIR / "configuration.md").read_text())
        if table[0] == OPTIONS_HEADER
    ]
    assert len(found) == 1, "docs/configuration.md has one options table"
    return [dict(zip(OPTIONS_HEADER, row, strict=True)) for row in found[0][1:]]


def documented_option(row: dict[str, str]) -> str:
    name = CODE_SPAN.fullmatch(row["option"])
    assert name, f"an option cell is the option's name in backticks, not {row['option']!r}"
    return name[1]


def option_row(option: str) -> dict[str, str]:
    return next(row for row in option_rows() if documented_option(row) == option)


def code_default(option: str) -> Any:
    """The declared default of an option (``bundles`` has none)."""
    return OPTION[option].default


def documented_default(option: Option) -> str:
    """The default as the reference states it: a value as TOML writes it, or what "unset" means."""
    if option.default in (None, ()):
        return option.unset
    # TOML writes booleans, numbers and simple strings as JSON does
    return f"`{json.dumps(option.default)}`"


def documented_scope(option: Option) -> str:
    """Where an option applies, as the reference's "applies to" column states it."""
    if option.tables == {Table.TOP}:
        return "top table"
    if Table.TOP not in option.tables:
        return "named bundles"
    layouts = "all" if option.layouts == LAYOUTS else " and ".join(option.layouts)
    if option.needs is None:
        return layouts
    needs = f"with `{option.needs.option}`"
    return needs if layouts == "all" else f"{layouts}, {needs}"


def configure(option: str, value: Any, tmp_path: Path) -> BundleConfig:
    """Load a configuration setting one option, in the table that accepts it."""
    if option == "layout":
        # only a named bundle chooses its layout: the top table's layout is the builder's version
        return load_and_validate_config({"bundles": {"b": {option: value}}}, tmp_path, "b")
    return load_and_validate_config({option: value}, tmp_path)


def accepted_choices(option: str) -> tuple[str, ...] | None:
    """The values an option accepts, as the error for a value outside them lists them; or None."""
    try:
        configure(option, "no-such-value", Path.cwd())
    except ConfigurationError as error:
        for message in error.errors:
            listing = re.fullmatch(r"Field `[^`]*` must be one of (.*), not '.*'", message)
            if listing:
                return tuple(re.findall(r'"([^"]*)"', listing[1]))
    return None


LITERAL_DEFAULTS = [option for option in KEYS if isinstance(code_default(option), bool | str)]
UNSET_DEFAULTS = [option for option in KEYS if code_default(option) in (None, ())]
CHOICES = {option: accepted_choices(option) for option in KEYS}


def test_every_option_has_exactly_one_row_in_the_configuration_reference() -> None:
    rows = Counter(documented_option(row) for row in option_rows())

    assert {option: rows[option] for option in KEYS if rows[option] != 1} == {}


def test_every_row_of_the_configuration_reference_is_an_accepted_option() -> None:
    documented = [documented_option(row) for row in option_rows()]

    assert [option for option in documented if option not in KEYS] == []


def test_the_reference_lists_the_options_in_their_declared_order() -> None:
    assert [documented_option(row) for row in option_rows()] == KEYS


@pytest.mark.parametrize("option", KEYS)
def test_the_documented_default_is_the_declared_one(option: str) -> None:
    assert option_row(option)["default"] == documented_default(OPTION[option])


@pytest.mark.parametrize("option", KEYS)
def test_where_an_option_applies_is_documented_as_declared(option: str) -> None:
    assert option_row(option)["applies to"] == documented_scope(OPTION[option])


@pytest.mark.parametrize("option", LITERAL_DEFAULTS)
def test_a_literal_default_is_documented_as_the_code_has_it(option: str) -> None:
    # TOML writes booleans and simple strings as JSON does
    assert option_row(option)["default"] == f"`{json.dumps(code_default(option))}`"


@pytest.mark.parametrize(
    "option",
    # the aws-lambda preset is what gives `architecture` a value: tested on its own below
    [option for option in UNSET_DEFAULTS if option != "architecture"],
)
def test_an_option_unset_by_default_is_documented_without_a_value(option: str) -> None:
    # "none", or in words what is used instead ("this machine"), but never a value of the option
    assert not option_row(option)["default"].startswith("`")


def test_the_documented_architecture_default_is_the_one_the_preset_builds_for(
    tmp_path: Path,
) -> None:
    config = load_and_validate_config({"preset": "aws-lambda", "python": "3.12"}, tmp_path)

    assert option_row("architecture")["default"] == '`"x86_64"`'
    assert config.platforms == ("manylinux_2_34_x86_64",)


@pytest.mark.parametrize(
    ("option", "limit"),
    [("max-size", LAMBDA_UNZIPPED_LIMIT), ("max-archive-size", LAMBDA_ZIP_LIMIT)],
    ids=["max-size", "max-archive-size"],
)
def test_the_documented_aws_lambda_budget_is_the_one_the_preset_sets(
    option: str, limit: int, tmp_path: Path
) -> None:
    config = load_and_validate_config({"preset": "aws-lambda"}, tmp_path)
    documented = re.search(r"`aws-lambda`: (\d+) MiB", option_row(option)["default"])

    assert documented
    assert int(documented[1]) * 2**20 == getattr(config, option.replace("-", "_")) == limit


@pytest.mark.parametrize("option", [option for option in KEYS if CHOICES[option]])
def test_the_documented_values_of_an_option_are_the_ones_it_accepts(option: str) -> None:
    documented = re.findall(r'`"([^"`]*)"`', option_row(option)["type"])

    assert sorted(documented) == sorted(CHOICES[option] or ())


def test_the_values_an_option_accepts_are_read_from_its_error() -> None:
    # guards the test above against an error wording that it no longer parses
    assert CHOICES["link-mode"] == LINK_MODES


# -- docs/cli.md is the `lockbundle` parser ---------------------------------------------------------

CLI_PAGE = DOCS_DIR / "cli.md"
COMMAND_HEADING = re.compile(r"`lockbundle (\w+)[^`]*`")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def parser_of(command: str) -> argparse.ArgumentParser:
    """The parser of a subcommand; "" is the top-level ``lockbundle`` itself."""
    return subcommands()[command] if command else _parser()


def parser_options(command: str) -> dict[str, argparse.Action]:
    """Option strings (``-o``, ``--out-dir``) of a command, except argparse's own ``--help``."""
    return {
        string: action
        for action in parser_of(command)._actions
        if not isinstance(action, argparse._HelpAction)
        for string in action.option_strings
    }


def documented_options(command: str) -> dict[str, list[str]]:
    """Option strings in the first column of the option tables of every section naming a command.

    A section is about the commands its heading names (`` `lockbundle build` ``); the text before
    the first section is about ``lockbundle`` itself. Maps each option to its code spans
    (``--layout {target,wheelhouse}``), which show the values it accepts.
    """
    found: dict[str, list[str]] = {}
    for heading, body in sections(CLI_PAGE.read_text()):
        if command not in (COMMAND_HEADING.findall(heading) if heading else [""]):
            continue
        for table in tables(body):
            for row in table[1:]:
                for span in CODE_SPAN.findall(row[0]):
                    if span.startswith("-"):
                        found.setdefault(span.split()[0], []).append(span)
    return found


COMMANDS = ["", *subcommands()]
PARSER_OPTIONS = [(command, option) for command in COMMANDS for option in parser_options(command)]
DOCUMENTED_OPTIONS = [
    (command, option) for command in COMMANDS for option in documented_options(command)
]


def ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"lockbundle {command} {option}".replace("  ", " ") for command, option in pairs]


def test_the_cli_reference_has_one_section_per_command() -> None:
    headings = [COMMAND_HEADING.fullmatch(heading) for heading, _ in sections(CLI_PAGE.read_text())]
    headed = [heading[1] for heading in headings if heading]

    assert sorted(headed) == sorted(subcommands())


@pytest.mark.parametrize("command", list(subcommands()))
def test_a_command_section_is_headed_by_its_usage(command: str) -> None:
    positionals = [
        f"[{name}]" if action.nargs == "?" else name
        for action in parser_of(command)._actions
        if not action.option_strings
        for name in [action.metavar or action.dest]
    ]
    usage = " ".join(["lockbundle", command, *map(str, positionals)])

    assert f"`{usage}`" in [heading for heading, _ in sections(CLI_PAGE.read_text())]


@pytest.mark.parametrize(("command", "option"), PARSER_OPTIONS, ids=ids(PARSER_OPTIONS))
def test_every_cli_option_is_documented_with_its_command(command: str, option: str) -> None:
    assert option in documented_options(command)


@pytest.mark.parametrize(("command", "option"), DOCUMENTED_OPTIONS, ids=ids(DOCUMENTED_OPTIONS))
def test_every_documented_cli_option_exists(command: str, option: str) -> None:
    assert option in parser_options(command)


CHOICE_OPTIONS = [
    (command, option)
    for command, option in PARSER_OPTIONS
    if parser_options(command)[option].choices and option.startswith("--")
]


@pytest.mark.parametrize(("command", "option"), CHOICE_OPTIONS, ids=ids(CHOICE_OPTIONS))
def test_a_cli_option_is_documented_with_the_values_it_accepts(command: str, option: str) -> None:
    accepted = list(parser_options(command)[option].choices or ())

    for span in documented_options(command).get(option, []):
        assert span == f"{option} {{{','.join(accepted)}}}"


# -- the MkDocs site ------------------------------------------------------------------------------


def nav_pages(config_file: Path) -> list[str]:
    def walk(items: Any) -> list[str]:
        if isinstance(items, str):
            return [items]
        if isinstance(items, dict):
            return [page for value in items.values() for page in walk(value)]
        return [page for item in items for page in walk(item)]

    return walk(yaml.safe_load(config_file.read_text())["nav"])


def mkdocs_build(config_file: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    """The real ``mkdocs build --strict``, as a maintainer runs it."""
    command = ["mkdocs", "build", "--strict", "--config-file", str(config_file)]
    return subprocess.run(
        [sys.executable, "-m", *command, "--site-dir", str(site_dir)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    """A copy of mkdocs.yml and docs/ to break on purpose; returns the copy's mkdocs.yml."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS_DIR, tmp_path / "docs")
    return tmp_path / "mkdocs.yml"


def test_every_page_is_in_the_nav_once() -> None:
    pages = sorted(page.relative_to(DOCS_DIR).as_posix() for page in DOCS_DIR.rglob("*.md"))

    assert sorted(nav_pages(ROOT / "mkdocs.yml")) == pages


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()


def test_a_page_left_out_of_the_nav_fails_the_build(site_copy: Path, tmp_path: Path) -> None:
    (site_copy.parent / "docs" / "orphan.md").write_text("# Nobody links here\n")

    result = mkdocs_build(site_copy, tmp_path / "site")

    assert result.returncode != 0
    assert "orphan.md" in result.stderr


@pytest.mark.parametrize(
    "link",
    ["no-such-page.md", "configuration.md#no-such-heading", "/configuration.md"],
    ids=["page", "anchor", "absolute"],
)
def test_a_broken_link_fails_the_build(link: str, site_copy: Path, tmp_path: Path) -> None:
    with (site_copy.parent / "docs" / "cli.md").open("a") as page:
        page.write(f"\nSee [there]({link}).\n")

    result = mkdocs_build(site_copy, tmp_path / "site")

    assert result.returncode != 0
    assert link in result.stderr


# -- the pipeline of how-it-works.md names every module ---------------------------------------------

SOURCE_DIR = ROOT / "src" / "hatch_lockbundle"
MODULES = sorted(p.relative_to(SOURCE_DIR).as_posix() for p in SOURCE_DIR.rglob("*.py"))


def pipeline_diagram() -> str:
    page = (DOCS_DIR / "how-it-works.md").read_text(encoding="utf-8")
    return page.split("```", 2)[1]


@pytest.mark.parametrize("module", [m for m in MODULES if not m.endswith("__init__.py")])
def test_the_pipeline_of_how_it_works_names_every_module(module: str) -> None:
    # layouts/ modules are named with their folder or, in the layouts/ line, after it
    named = re.findall(r"(?<![\w/.])((?:layouts/)?\w+\.py)\b", pipeline_diagram())
    assert module in named or module.removeprefix("layouts/") in named


@pytest.mark.parametrize("module", MODULES)
def test_every_module_opens_with_a_one_line_docstring_of_what_it_is_for(module: str) -> None:
    docstring = ast.get_docstring(ast.parse((SOURCE_DIR / module).read_text(encoding="utf-8")))
    assert docstring, f"{module} has no docstring"
    first = docstring.splitlines()[0]
    assert first.endswith(".") and len(first) <= 100, first
