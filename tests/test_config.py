"""`[tool.lockbundle]` validation: every problem reported at once, each naming its field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hatch_lockbundle.config import OPTIONS, BundleConfig
from hatch_lockbundle.config_tables import bundle_names, load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError
from hatch_lockbundle.options import parse_size


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
    assert config.archive == "zip"


def test_binary_only_is_read_for_a_wheelhouse(tmp_path: Path) -> None:
    assert load_and_validate_config({"binary-only": True}, tmp_path, "wheelhouse").binary_only


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
        "groups, hatch-env, implementation, include, keyring-provider, link-mode, lock, "
        "lock-made-for-target, max-archive-size, max-size, mirrors, native-tls, package, "
        "platforms, prefix, preset, python, "
        "require-hashes, sbom, trim",
    ]
    assert str(caught.value).startswith(
        f"Invalid configuration in {tmp_path / 'pyproject.toml'}:\n  - Field"
    )


@pytest.mark.parametrize("option", [option.key for option in OPTIONS])
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
        "groups, hatch-env, implementation, include, keyring-provider, layout, link-mode, lock, "
        "lock-made-for-target, max-archive-size, max-size, mirrors, native-tls, package, "
        "platforms, prefix, preset, "
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

    assert (arm.layout, arm.bundle, arm.python, arm.extras, arm.archive) == (
        "target",
        "lambda-arm64",
        "3.12",
        ("fast",),
        "zip",
    )
    assert arm.platforms == ("manylinux_2_28_aarch64",)
    assert (offline.layout, offline.python, offline.extras) == ("wheelhouse", "3.13", ())
    assert (plain.platforms, plain.archive, plain.bundle) == ((), None, "target")


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
    config = load_and_validate_config(
        {"archive": "zip", "max-size": "250MB", "max-archive-size": "50 MiB"}, tmp_path
    )

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
            {"preset": "gcp", "architecture": "sparc", "archive": "zip", "prefix": "../x"},
            tmp_path,
        )

    assert caught.value.errors == [
        'Field `tool.lockbundle.prefix` must be a relative path inside the archive, like "python"',
        "Field `tool.lockbundle.preset` must be one of \"aws-lambda\", not 'gcp'",
        'Field `tool.lockbundle.architecture` must be one of "x86_64", "arm64", not \'sparc\'',
    ]


def test_the_defaults_are_a_checked_target_bundle_for_this_machine(tmp_path: Path) -> None:
    config = load_and_validate_config({}, tmp_path)

    assert (config.layout, config.bundle, config.platforms, config.python) == (
        "target",
        "target",
        (),
        None,
    )
    assert (config.require_hashes, config.frozen, config.binary_only) == (True, False, False)
    assert (config.trim, config.sbom, config.archive, config.compression_level) == (
        False,
        False,
        None,
        6,
    )
    assert (config.link_mode, config.implementation, config.include_field) == (
        "hardlink",
        "cpython",
        "tool.lockbundle.include",
    )


def test_where_include_was_set_does_not_make_two_configurations_differ(tmp_path: Path) -> None:
    """The configuration's repr is part of the bundle's fingerprint: the same settings read from
    another table must not rebuild the bundle."""
    from_table = load_and_validate_config({"include": ["a.py"]}, tmp_path)
    from_command_line = load_and_validate_config({}, tmp_path, overrides={"include": ["a.py"]})

    assert from_table.include_field != from_command_line.include_field
    assert from_table == from_command_line
    assert repr(from_table) == repr(from_command_line)


def test_bundle_names_are_the_names_of_the_bundle_tables() -> None:
    assert bundle_names({"bundles": {"lambda": {}, "offline": {}}}) == ["lambda", "offline"]
    assert bundle_names({"bundles": ["lambda"]}) == []
    assert bundle_names(None) == []


def test_bundles_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"bundles": ["lambda"]}, tmp_path)

    assert caught.value.errors == ["Field `tool.lockbundle.bundles` must be a table of tables"]


def test_a_bundle_that_is_not_a_table_is_reported_with_the_other_bundles_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"bundles": {"a": "zip", "b": {"trim": 1}}}, tmp_path)

    assert caught.value.errors == [
        "Field `tool.lockbundle.bundles.a` must be a table",
        "Field `tool.lockbundle.bundles.b.trim` must be a boolean",
    ]


@pytest.mark.parametrize("name", [".hidden", "two words", "a/b", ""])
def test_a_bundle_name_is_letters_digits_dots_underscores_and_dashes(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"bundles": {name: {}, "ok_1.2-x": {}}}, tmp_path)

    assert caught.value.errors == [
        f"Bundle name `{name}` in `tool.lockbundle.bundles` must be letters, digits, `.`, `_` "
        "and `-`, and not a layout name (target, wheelhouse)"
    ]


def test_the_top_table_cannot_set_the_layout(tmp_path: Path) -> None:
    """The layout is chosen by the build (`lockbundle:wheelhouse`) or by a named bundle."""
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"layout": "zip"}, tmp_path)

    assert caught.value.errors == [
        "Unknown field `tool.lockbundle.layout`; known fields are: architecture, archive, "
        "binary-only, bundles, compile-bytecode, compression-level, exclude, extras, frozen, "
        "groups, hatch-env, implementation, include, keyring-provider, link-mode, lock, "
        "lock-made-for-target, max-archive-size, max-size, mirrors, native-tls, package, "
        "platforms, prefix, preset, python, require-hashes, sbom, trim"
    ]


def test_the_command_line_overrides_the_top_table_and_the_named_bundle(tmp_path: Path) -> None:
    raw = {"python": "3.12", "archive": "zip", "bundles": {"fn": {"archive": "zip"}}}

    config = load_and_validate_config(
        raw,
        tmp_path,
        "fn",
        overrides={"archive": "tar.gz", "python": "3.13", "layout": "wheelhouse"},
    )

    assert (config.archive, config.python, config.layout, config.bundle) == (
        "tar.gz",
        "3.13",
        "wheelhouse",
        "fn",
    )


def test_the_command_line_cannot_name_bundles(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({}, tmp_path, overrides={"bundles": {}})

    assert caught.value.errors[0].startswith("Unknown field `command line.bundles`;")


def test_a_combination_set_on_the_command_line_is_reported_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(
            {"platforms": ["linux-x86_64"]},
            tmp_path,
            overrides={"platforms": ["linux-x86_64", "linux-aarch64"]},
        )

    assert caught.value.errors == [
        "Field `command line.platforms` lists 2 platforms, but a target bundle is for one "
        "platform: make one named bundle per platform, or use the wheelhouse layout"
    ]


def test_a_named_bundle_with_two_platforms_names_its_table(tmp_path: Path) -> None:
    raw = {"bundles": {"fn": {"platforms": ["linux-x86_64", "win_amd64", "macos-arm64"]}}}

    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(raw, tmp_path, "fn")

    assert caught.value.errors == [
        "Field `tool.lockbundle.bundles.fn.platforms` lists 3 platforms, but a target bundle is "
        "for one platform: make one named bundle per platform, or use the wheelhouse layout"
    ]


def test_combinations_are_not_checked_when_a_field_is_already_wrong(tmp_path: Path) -> None:
    """A combination of a value already reported (python "twelve") would only repeat it."""
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"python": "twelve", "compile-bytecode": True}, tmp_path)

    assert caught.value.errors == [
        'Field `tool.lockbundle.python` must be a Python version like "3.12" or "3.12.4"'
    ]


def test_bytecode_for_the_running_python_by_its_full_version_is_allowed(tmp_path: Path) -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}.99"

    config = load_and_validate_config({"python": python, "compile-bytecode": True}, tmp_path)

    assert (config.python, config.compile_bytecode) == (python, True)


def test_the_top_tables_bytecode_is_left_out_of_a_wheelhouse_for_another_python(
    tmp_path: Path,
) -> None:
    """A wheelhouse holds wheels (the installer compiles, on the target): the top table's
    `compile-bytecode` serves the target bundles, and says nothing about this Python."""
    config = load_and_validate_config(
        {"python": "3.9", "compile-bytecode": True}, tmp_path, "wheelhouse"
    )

    assert (config.python, config.compile_bytecode) == ("3.9", False)


def test_the_aws_lambda_preset_defaults_to_x86_64_and_the_running_python(tmp_path: Path) -> None:
    glibc = 34 if sys.version_info >= (3, 12) else 26

    config = load_and_validate_config({"preset": "aws-lambda"}, tmp_path)

    assert config.platforms == (f"manylinux_2_{glibc}_x86_64",)
    assert config.python is None


def test_the_aws_lambda_preset_reads_the_minor_version_of_a_full_python(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {"preset": "aws-lambda", "python": "3.11.12", "architecture": "x86_64"}, tmp_path
    )

    assert config.platforms == ("manylinux_2_26_x86_64",)


@pytest.mark.parametrize(
    ("size", "size_bytes"),
    [(0, 0), ("1000", 1000), (" 2 KiB ", 2048), ("1.5gb", 1_500_000_000), ("3tb", 3 * 10**12),
     ("1TiB", 2**40), ("7 b", 7)],
)  # fmt: skip
def test_a_size_is_whole_bytes_or_a_number_with_a_unit(
    size: int | str, size_bytes: int, tmp_path: Path
) -> None:
    assert load_and_validate_config({"max-size": size}, tmp_path).max_size == size_bytes


@pytest.mark.parametrize("size", [-1, True, "5 parsecs", "MB", 1.5])
def test_a_negative_size_a_boolean_or_a_unit_alone_is_refused(size: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"archive": "zip", "max-archive-size": size}, tmp_path)

    assert caught.value.errors == [
        "Field `tool.lockbundle.max-archive-size` must be a number of bytes or a size like "
        f'"250MB", "50 MiB" or "1.5GB", not {size!r}'
    ]


def test_parse_size_says_none_for_what_is_not_a_size() -> None:
    assert parse_size(None) is None
    assert parse_size(["1MB"]) is None
    assert parse_size("2MiB") == 2 * 2**20


def test_exclude_patterns_are_kept_in_order(tmp_path: Path) -> None:
    config = load_and_validate_config({"exclude": ["tests/", "*.pyi", "tests/"]}, tmp_path)

    assert config.exclude == ("tests/", "*.pyi", "tests/")


def test_a_relative_prefix_is_accepted(tmp_path: Path) -> None:
    config = load_and_validate_config({"archive": "zip", "prefix": "python/lib"}, tmp_path)

    assert config.prefix == "python/lib"


@pytest.mark.parametrize("prefix", ["/opt/python", "python\\lib", "python/../.."])
def test_a_prefix_must_stay_inside_the_archive(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"archive": "tar.gz", "prefix": prefix}, tmp_path)

    assert caught.value.errors == [
        'Field `tool.lockbundle.prefix` must be a relative path inside the archive, like "python"'
    ]


@pytest.mark.parametrize("package", ["", "  "])
def test_the_package_must_not_be_empty(package: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"package": package}, tmp_path)

    assert caught.value.errors == ["Field `tool.lockbundle.package` must not be empty"]


@pytest.mark.parametrize("implementation", ["cpython", "CPython", "cp", "CP"])
def test_cpython_may_be_named_in_any_case_or_by_its_tag_prefix(
    implementation: str, tmp_path: Path
) -> None:
    config = load_and_validate_config({"implementation": implementation}, tmp_path)

    assert config.implementation == "cpython"


@pytest.mark.parametrize("level", [0, 9])
def test_the_compression_level_is_read(level: int, tmp_path: Path) -> None:
    assert (
        load_and_validate_config(
            {"archive": "zip", "compression-level": level}, tmp_path
        ).compression_level
        == level
    )


@pytest.mark.parametrize("level", [10, -1, True, "9"])
def test_the_compression_level_is_a_whole_number_from_0_to_9(level: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"archive": "zip", "compression-level": level}, tmp_path)

    assert caught.value.errors == [
        "Field `tool.lockbundle.compression-level` must be a whole number from 0 (no compression, "
        f"fastest) to 9 (smallest, slowest), not {level!r}"
    ]


def test_a_platform_named_twice_is_listed_once(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {"platforms": ["linux-x86_64", "manylinux_2_28_x86_64", "linux-amd64"]}, tmp_path
    )

    assert config.platforms == ("manylinux_2_28_x86_64",)


def test_every_flag_is_read(tmp_path: Path) -> None:
    config = load_and_validate_config(
        {"frozen": True, "sbom": True, "trim": True, "require-hashes": True}, tmp_path
    )

    assert (config.frozen, config.sbom, config.trim) == (True,) * 3
    assert config.require_hashes is True


# -- every problem at once -------------------------------------------------------------------------


def errors_of(
    raw: object, tmp_path: Path, bundle: str = "target", overrides: dict[str, object] | None = None
) -> list[str]:
    """The problems a configuration is refused with (it must be refused)."""
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config(raw, tmp_path, bundle, overrides)
    return caught.value.errors


def test_types_values_combinations_and_misplaced_options_are_reported_together(
    tmp_path: Path,
) -> None:
    """Whichever bundle is built, with each problem in the table that has it."""
    raw = {
        "groups": 3,
        "python": "3.9",
        "compile-bytecode": True,
        "architecture": "arm64",
        "bundles": {"offline": {"layout": "wheelhouse", "trim": True}},
    }

    assert errors_of(raw, tmp_path, overrides={"platforms": ["linux-x86_64", "linux-aarch64"]}) == [
        "Field `tool.lockbundle.groups` must be an array of strings",
        "Field `tool.lockbundle.bundles.offline.trim` applies to target bundles only (a "
        "wheelhouse holds wheels): remove it",
        "Field `tool.lockbundle.architecture` applies only with `preset` (it is the architecture "
        'the preset picks wheels for), which no bundle sets: set `preset = "aws-lambda"`, or '
        "name the platform in `platforms` and remove it",
        "Field `tool.lockbundle.compile-bytecode` needs the target Python (3.9) to be the one "
        f"running the build ({sys.version_info.major}.{sys.version_info.minor}): bytecode is "
        "specific to a Python version. Build with Python 3.9, or turn it off",
        "Field `command line.platforms` lists 2 platforms, but a target bundle is for one "
        "platform: make one named bundle per platform, or use the wheelhouse layout",
    ]


# -- where an option applies -----------------------------------------------------------------------

TARGET_ONLY = ["compile-bytecode", "link-mode", "exclude", "trim", "include"]
VALUES = {
    "compile-bytecode": True,
    "link-mode": "copy",
    "exclude": ["bin/"],
    "trim": True,
    "include": ["handler.py"],
}


@pytest.mark.parametrize("option", TARGET_ONLY)
def test_a_target_option_in_a_wheelhouse_bundle_is_an_error(option: str, tmp_path: Path) -> None:
    raw = {"bundles": {"offline": {"layout": "wheelhouse", option: VALUES[option]}}}

    assert errors_of(raw, tmp_path, "offline") == [
        f"Field `tool.lockbundle.bundles.offline.{option}` applies to target bundles only (a "
        "wheelhouse holds wheels): remove it"
    ]


@pytest.mark.parametrize("option", TARGET_ONLY)
def test_a_target_option_on_the_command_line_of_a_wheelhouse_is_an_error(
    option: str, tmp_path: Path
) -> None:
    assert errors_of({}, tmp_path, "wheelhouse", {option: VALUES[option]}) == [
        f"Field `command line.{option}` applies to target bundles only (a wheelhouse holds "
        "wheels): remove it"
    ]


@pytest.mark.parametrize("option", TARGET_ONLY)
def test_a_target_option_of_the_top_table_is_left_out_of_a_wheelhouse(
    option: str, tmp_path: Path
) -> None:
    """The top table serves every bundle: its target options are for the target bundles."""
    raw = {option: VALUES[option], "bundles": {"offline": {"layout": "wheelhouse"}}}

    for bundle in ("wheelhouse", "offline"):
        config = load_and_validate_config(raw, tmp_path, bundle)

        assert config == BundleConfig(layout="wheelhouse", bundle=bundle)
    assert load_and_validate_config(raw, tmp_path) != BundleConfig()


def test_binary_only_in_a_target_bundle_is_an_error(tmp_path: Path) -> None:
    raw = {"bundles": {"fn": {"binary-only": True}}}

    assert errors_of(raw, tmp_path, "fn") == [
        "Field `tool.lockbundle.bundles.fn.binary-only` applies to wheelhouses only (a target "
        "bundle holds installed distributions, not wheels): remove it"
    ]


def test_binary_only_of_the_top_table_is_left_out_of_a_target_bundle(tmp_path: Path) -> None:
    raw = {"binary-only": True, "bundles": {"fn": {"archive": "zip"}}}

    assert load_and_validate_config(raw, tmp_path).binary_only is False
    assert load_and_validate_config(raw, tmp_path, "fn").binary_only is False
    assert load_and_validate_config(raw, tmp_path, "wheelhouse").binary_only is True


def test_architecture_without_a_preset_is_an_error(tmp_path: Path) -> None:
    assert errors_of({"architecture": "arm64"}, tmp_path) == [
        "Field `tool.lockbundle.architecture` applies only with `preset` (it is the architecture "
        'the preset picks wheels for), which no bundle sets: set `preset = "aws-lambda"`, or '
        "name the platform in `platforms` and remove it"
    ]


def test_architecture_in_a_bundle_without_a_preset_is_an_error(tmp_path: Path) -> None:
    raw = {"bundles": {"fn": {"architecture": "arm64"}}}

    assert errors_of(raw, tmp_path, "fn") == [
        "Field `tool.lockbundle.bundles.fn.architecture` applies only with `preset` (it is the "
        'architecture the preset picks wheels for): set `preset = "aws-lambda"`, or name the '
        "platform in `platforms` and remove it"
    ]


def test_a_top_level_architecture_serves_the_bundles_with_a_preset(tmp_path: Path) -> None:
    raw = {"architecture": "arm64", "python": "3.12", "bundles": {"fn": {"preset": "aws-lambda"}}}

    assert load_and_validate_config(raw, tmp_path, "fn").platforms == ("manylinux_2_34_aarch64",)
    assert load_and_validate_config(raw, tmp_path).architecture is None


@pytest.mark.parametrize("option", ["prefix", "compression-level", "max-archive-size"])
def test_an_archive_option_of_a_bundle_without_an_archive_is_an_error(
    option: str, tmp_path: Path
) -> None:
    value = {"prefix": "python", "compression-level": 9, "max-archive-size": "1MB"}[option]
    raw = {"bundles": {"fn": {option: value}}}

    assert errors_of(raw, tmp_path, "fn") == [
        f"Field `tool.lockbundle.bundles.fn.{option}` applies only with `archive` (without an "
        'archive the bundle is a directory): set `archive = "zip"` or `archive = "tar.gz"`, or '
        "remove it"
    ]


def test_an_archive_option_of_the_top_table_serves_the_bundles_with_an_archive(
    tmp_path: Path,
) -> None:
    raw = {"prefix": "python", "bundles": {"layer": {"archive": "zip"}}}

    assert load_and_validate_config(raw, tmp_path, "layer").prefix == "python"
    assert load_and_validate_config(raw, tmp_path).prefix is None


def test_an_archive_option_of_the_top_table_with_no_archive_anywhere_is_an_error(
    tmp_path: Path,
) -> None:
    assert errors_of({"prefix": "python"}, tmp_path) == [
        "Field `tool.lockbundle.prefix` applies only with `archive` (without an archive the "
        'bundle is a directory), which no bundle sets: set `archive = "zip"` or '
        '`archive = "tar.gz"`, or remove it'
    ]


def test_an_archive_given_on_the_command_line_serves_the_top_tables_prefix(
    tmp_path: Path,
) -> None:
    config = load_and_validate_config({"prefix": "python"}, tmp_path, overrides={"archive": "zip"})

    assert (config.archive, config.prefix) == ("zip", "python")


def test_the_aws_lambda_preset_is_an_archive_for_the_archive_options(tmp_path: Path) -> None:
    raw = {"bundles": {"layer": {"preset": "aws-lambda", "prefix": "python"}}}

    assert load_and_validate_config(raw, tmp_path, "layer").prefix == "python"


def test_a_misplaced_option_is_reported_even_when_its_value_is_wrong(tmp_path: Path) -> None:
    raw = {"bundles": {"offline": {"layout": "wheelhouse", "trim": "yes"}}}

    assert errors_of(raw, tmp_path, "offline") == [
        "Field `tool.lockbundle.bundles.offline.trim` must be a boolean",
        "Field `tool.lockbundle.bundles.offline.trim` applies to target bundles only (a "
        "wheelhouse holds wheels): remove it",
    ]


def test_where_an_option_applies_is_not_judged_on_a_refused_layout(tmp_path: Path) -> None:
    """`layout = "wheelhous"` is not a target: `binary-only` is not called out of place."""
    raw = {"bundles": {"offline": {"layout": "wheelhous", "binary-only": True}}}

    assert errors_of(raw, tmp_path, "offline") == [
        'Field `tool.lockbundle.bundles.offline.layout` must be one of "target", '
        "\"wheelhouse\", not 'wheelhous'"
    ]


def test_a_misplaced_option_of_a_bundle_is_reported_whichever_bundle_is_built(
    tmp_path: Path,
) -> None:
    """As a wrong value is: the table is wrong for every build, so it is said at once."""
    raw = {"bundles": {"offline": {"layout": "wheelhouse", "link-mode": "copy"}}}

    assert errors_of(raw, tmp_path, "target") == [
        "Field `tool.lockbundle.bundles.offline.link-mode` applies to target bundles only (a "
        "wheelhouse holds wheels): remove it"
    ]
