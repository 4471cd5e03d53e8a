"""`[tool.lockbundle]` validation: every problem reported at once, each naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hatch_lockbundle.config import OPTIONS, BundleConfig, load_and_validate_config
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


def test_link_mode_is_hardlink_or_copy(tmp_path: Path) -> None:
    assert load_and_validate_config({}, tmp_path).link_mode == "hardlink"
    assert load_and_validate_config({"link-mode": "copy"}, tmp_path).link_mode == "copy"
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"link-mode": "symlink"}, tmp_path)
    assert caught.value.errors == [
        'Field `tool.lockbundle.link-mode` must be one of "hardlink", "copy", not \'symlink\''
    ]


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
        "Unknown field `tool.lockbundle.colour`; known fields are: architecture, archive, "
        "binary-only, bundles, compile-bytecode, compression-level, exclude, extras, frozen, "
        "groups, implementation, include, link-mode, lock, "
        "max-archive-size, max-size, package, platforms, prefix, preset, python, "
        "require-hashes, sbom, trim",
    ]
    assert str(caught.value).startswith(
        f"Invalid configuration in {tmp_path / 'pyproject.toml'}:\n  - Field"
    )


@pytest.mark.parametrize("option", OPTIONS)
def test_every_accepted_option_is_validated(option: str, tmp_path: Path) -> None:
    # an accepted key that nothing reads would be silently ignored: each one rejects a float
    table = (
        f"tool.lockbundle.bundles.b.{option}" if option == "layout" else f"tool.lockbundle.{option}"
    )
    raw = {"bundles": {"b": {option: 1.5}}} if option == "layout" else {option: 1.5}

    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(raw, tmp_path, "b" if option == "layout" else "target")

    assert [error for error in caught.value.errors if error.startswith(f"Field `{table}` must be")]


def test_a_named_bundle_cannot_hold_named_bundles(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"bundles": {"b": {"bundles": {}}}}, tmp_path, "b")

    assert caught.value.errors == [
        "Unknown field `tool.lockbundle.bundles.b.bundles`; known fields are: architecture, "
        "archive, binary-only, compile-bytecode, compression-level, exclude, extras, frozen, "
        "groups, implementation, include, layout, link-mode, lock, max-archive-size, max-size, "
        "package, platforms, prefix, preset, "
        "python, require-hashes, sbom, trim"
    ]


def test_table_of_wrong_type_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Field `tool.lockbundle` must be a table"):
        load_and_validate_config(["x"], tmp_path)


def test_archive_format_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r'Field `tool.lockbundle.archive` must be one of "tar.gz", "zip", not \'rar\'',
    ):
        load_and_validate_config({"archive": "rar"}, tmp_path)


def test_an_unknown_bundle_lists_the_layouts_and_bundles(tmp_path: Path) -> None:
    raw = {"bundles": {"lambda-arm64": {"platforms": ["linux-aarch64"]}}}

    with pytest.raises(
        ConfigurationError,
        match=r"Unknown bundle `zipapp`: use one of target, wheelhouse, lambda-arm64",
    ):
        load_and_validate_config(raw, tmp_path, "zipapp")


def test_platform_aliases_and_tags_are_resolved(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {"python": "3.12", "platforms": ["linux-aarch64", "musllinux_1_2_x86_64", "macos-arm64"]},
        tmp_path,
        "wheelhouse",
    )

    assert config.platforms == (
        "manylinux_2_28_aarch64",
        "musllinux_1_2_x86_64",
        "macosx_13_0_arm64",
    )
    assert config.python == "3.12"


def test_an_unknown_platform_is_named_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"platforms": ["win_amd64", "linux_x86"]}, tmp_path, "wheelhouse")

    assert caught.value.errors[0].startswith(
        "Platform #2 of field `tool.lockbundle.platforms` is not a known platform tag: `linux_x86`"
    )


def test_a_plain_linux_platform_is_refused_naming_the_aliases_meant(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"platforms": ["linux_aarch64"]}, tmp_path)

    assert caught.value.errors == [
        "Platform #1 of field `tool.lockbundle.platforms`, `linux_aarch64`, accepts no manylinux "
        "or musllinux wheel (only wheels built on one machine): use `linux-aarch64` "
        "(`manylinux_2_28_aarch64`), `musllinux-aarch64` (`musllinux_1_2_aarch64`) for musl "
        "systems such as Alpine, or another manylinux or musllinux tag"
    ]


def test_a_plain_linux_platform_on_the_command_line_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({}, tmp_path, overrides={"platforms": ["linux_x86_64"]})

    assert caught.value.errors == [
        "Platform #1 of `--python-platform`, `linux_x86_64`, accepts no manylinux or musllinux "
        "wheel (only wheels built on one machine): use `linux-x86_64` (`manylinux_2_28_x86_64`), "
        "`musllinux-x86_64` (`musllinux_1_2_x86_64`) for musl systems such as Alpine, or another "
        "manylinux or musllinux tag"
    ]


def test_include_entries_are_normalised_relative_paths(tmp_path: Path) -> None:
    config = load_and_validate_config({"include": ["./handler.py", "src//app/"]}, tmp_path)

    assert config.include == ("handler.py", "src/app")


@pytest.mark.parametrize(
    "entry", ["/etc/passwd", "../secrets.py", "app/../../x", "a\\b", ".", "./"]
)
def test_an_include_entry_must_be_a_relative_path_inside_the_project(
    entry: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"include": ["handler.py", entry]}, tmp_path)

    assert caught.value.errors == [
        "Entry #2 of field `tool.lockbundle.include` must be a path relative to the project, with "
        f'`/` and without `..`, like "handler.py" or "app": not {entry!r}'
    ]


def test_a_wheelhouse_leaves_out_the_include_of_the_top_table(tmp_path: Path) -> None:
    """The top table's `include` serves the target bundles built beside the wheelhouse."""
    config = load_and_validate_config({"include": ["handler.py"]}, tmp_path, "wheelhouse")

    assert config.include == ()


def test_a_wheelhouse_bundle_cannot_set_include(tmp_path: Path) -> None:
    raw = {"bundles": {"offline": {"layout": "wheelhouse", "include": ["handler.py"]}}}

    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(raw, tmp_path, "offline")

    assert caught.value.errors == [
        "Field `tool.lockbundle.bundles.offline.include` applies to target bundles only (a "
        "wheelhouse holds wheels): remove it"
    ]


def test_include_remembers_the_table_that_set_it(tmp_path: Path) -> None:
    raw = {"include": ["a.py"], "bundles": {"fn": {"include": ["handler.py"]}}}

    assert load_and_validate_config(raw, tmp_path).include_field == "tool.lockbundle.include"
    assert (
        load_and_validate_config(raw, tmp_path, "fn").include_field
        == "tool.lockbundle.bundles.fn.include"
    )


def test_python_and_implementation_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"python": "twelve", "implementation": "pypy"}, tmp_path)

    assert caught.value.errors == [
        'Field `tool.lockbundle.python` must be a Python version like "3.12" or "3.12.4"',
        "Field `tool.lockbundle.implementation` must be `cpython`: only CPython targets are "
        "supported, not 'pypy'",
    ]


def test_bytecode_for_another_python_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"compile-bytecode` needs the target Python \(3.9\) to be the one running the build",
    ):
        load_and_validate_config({"python": "3.9", "compile-bytecode": True}, tmp_path)


def test_a_target_bundle_takes_one_platform(tmp_path: Path) -> None:
    raw = {"platforms": ["linux-x86_64", "linux-aarch64"]}

    with pytest.raises(
        ConfigurationError, match=r"lists 2 platforms, but a target bundle is for one platform"
    ):
        load_and_validate_config(raw, tmp_path, "target")
    assert load_and_validate_config(raw, tmp_path, "wheelhouse").platforms == (
        "manylinux_2_28_x86_64",
        "manylinux_2_28_aarch64",
    )


def test_named_bundles_inherit_and_override_the_top_level(tmp_path: Path) -> None:
    raw = {
        "python": "3.12",
        "extras": ["fast"],
        "bundles": {
            "lambda-arm64": {"platforms": ["linux-aarch64"], "archive": "zip"},
            "offline": {"layout": "wheelhouse", "python": "3.13", "extras": []},
        },
    }

    arm = load_and_validate_config(raw, tmp_path, "lambda-arm64")
    offline = load_and_validate_config(raw, tmp_path, "offline")
    plain = load_and_validate_config(raw, tmp_path, "target")

    assert (arm.layout, arm.variant, arm.python, arm.extras, arm.archive) == (
        "target",
        "lambda-arm64",
        "3.12",
        ("fast",),
        "zip",
    )
    assert arm.platforms == ("manylinux_2_28_aarch64",)
    assert (offline.layout, offline.python, offline.extras) == ("wheelhouse", "3.13", ())
    assert (plain.platforms, plain.archive, plain.variant) == ((), None, "target")


def test_errors_in_every_bundle_are_reported_with_their_table(tmp_path: Path) -> None:
    raw = {"bundles": {"a": {"layout": "zipapp"}, "target": {}, "b": {"colour": 1}}}

    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(raw, tmp_path, "wheelhouse")

    assert caught.value.errors[0] == (
        'Field `tool.lockbundle.bundles.a.layout` must be one of "target", "wheelhouse", not \'zipapp\''
    )
    assert caught.value.errors[1].startswith(
        "Bundle name `target` in `tool.lockbundle.bundles` must be"
    )
    assert caught.value.errors[2].startswith("Unknown field `tool.lockbundle.bundles.b.colour`")


def test_sizes_accept_bytes_and_units(tmp_path: Path) -> None:
    config = load_and_validate_config({"max-size": "250MB", "max-archive-size": "50 MiB"}, tmp_path)

    assert (config.max_size, config.max_archive_size) == (250_000_000, 50 * 1024 * 1024)
    assert load_and_validate_config({"max-size": 1000}, tmp_path).max_size == 1000


def test_a_malformed_size_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r'Field `tool.lockbundle.max-size` must be a number of bytes or a size like "250MB"',
    ):
        load_and_validate_config({"max-size": "lots"}, tmp_path)


@pytest.mark.parametrize(
    ("python", "glibc"), [("3.12", "2_34"), ("3.13", "2_34"), ("3.11", "2_26")]
)
def test_the_aws_lambda_preset_sets_platform_zip_and_limits(
    tmp_path: Path, python: str, glibc: str
) -> None:
    config = load_and_validate_config(
        {"preset": "aws-lambda", "architecture": "arm64", "python": python}, tmp_path
    )

    assert config.platforms == (f"manylinux_{glibc}_aarch64",)
    assert (config.archive, config.max_archive_size, config.max_size) == (
        "zip",
        52428800,
        262144000,
    )


def test_explicit_options_override_the_preset(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {
            "preset": "aws-lambda",
            "archive": "tar.gz",
            "max-size": "10MB",
            "platforms": ["linux-x86_64"],
        },
        tmp_path,
    )

    assert (config.archive, config.max_size, config.platforms) == (
        "tar.gz",
        10_000_000,
        ("manylinux_2_28_x86_64",),
    )
    assert config.max_archive_size == 52428800


def test_preset_architecture_and_prefix_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(
            {"preset": "gcp", "architecture": "sparc", "prefix": "../x"}, tmp_path
        )

    assert caught.value.errors == [
        "Field `tool.lockbundle.preset` must be one of \"aws-lambda\", not 'gcp'",
        'Field `tool.lockbundle.architecture` must be one of "x86_64", "arm64", not \'sparc\'',
        'Field `tool.lockbundle.prefix` must be a relative path inside the archive, like "python"',
    ]
