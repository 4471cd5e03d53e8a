"""`[tool.lockbundle]` validation: every problem reported at once, each naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_lockbundle.config import BundleConfig, load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError


def test_no_table_gives_the_defaults(tmp_path: Path) -> None:
    config = load_and_validate_config(None, tmp_path)

    assert config == BundleConfig()
    assert config.groups == ()  # `dev` is never bundled unless named
    assert config.compile_bytecode is False


def test_every_option_is_read(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {
            "lock": "../uv.lock",
            "package": "api",
            "extras": ["Fast_Path", "socks"],
            "groups": ["prod"],
            "compile-bytecode": True,
            "require-hashes": False,
            "binary-only": True,
            "archive": "zip",
        },
        tmp_path / "project",
    )

    assert config.lock == (tmp_path / "uv.lock").resolve()
    assert config.package == "api"
    assert config.extras == ("fast-path", "socks")
    assert config.groups == ("prod",)
    assert config.compile_bytecode is True
    assert config.require_hashes is False
    assert config.binary_only is True
    assert config.archive == "zip"


def test_extras_may_be_all(tmp_path: Path) -> None:
    assert load_and_validate_config({"extras": "all"}, tmp_path).extras == "all"


def test_every_error_is_collected_and_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(
            {
                "lock": 3,
                "extras": "some",
                "groups": ["dev", 4],
                "compile-bytecode": "yes",
                "colour": "blue",
            },
            tmp_path,
        )

    assert caught.value.errors == [
        "Field `tool.lockbundle.lock` must be a string",
        'Field `tool.lockbundle.extras` must be an array of strings or the string "all"',
        "Entry #2 of field `tool.lockbundle.groups` must be a non-empty string",
        "Field `tool.lockbundle.compile-bytecode` must be a boolean",
        "Unknown field `tool.lockbundle.colour`; known fields are: archive, binary-only, "
        "compile-bytecode, extras, groups, lock, package, require-hashes",
    ]
    assert str(caught.value).startswith(
        f"Invalid configuration in {tmp_path / 'pyproject.toml'}:\n  - Field"
    )


def test_table_of_wrong_type_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Field `tool.lockbundle` must be a table"):
        load_and_validate_config(["x"], tmp_path)


def test_archive_format_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r'Field `tool.lockbundle.archive` must be one of "tar.gz", "zip", not \'rar\''):
        load_and_validate_config({"archive": "rar"}, tmp_path)


def test_unknown_layout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown layout `zipapp`"):
        load_and_validate_config({}, tmp_path, layout="zipapp")
