"""Targets for another Python and platform: marker environments and ordered tags from packaging."""

from __future__ import annotations

import sys

import pytest
from packaging.tags import Tag

from hatch_lockbundle.target import (
    PlainLinuxPlatformError,
    Target,
    UnknownPlatformError,
    canonical_platform,
    platform_family,
    resolve_platform,
)


def test_manylinux_accepts_older_glibc_and_the_legacy_names_in_order() -> None:
    platforms, markers = platform_family("manylinux_2_28_x86_64")

    assert platforms[0] == "manylinux_2_28_x86_64"
    assert platforms.index("manylinux2014_x86_64") == platforms.index("manylinux_2_17_x86_64") + 1
    assert platforms.index("manylinux2010_x86_64") == platforms.index("manylinux_2_12_x86_64") + 1
    assert platforms[-2:] == ["manylinux1_x86_64", "linux_x86_64"]
    assert "manylinux_2_29_x86_64" not in platforms
    assert markers["platform_machine"] == "x86_64" and markers["sys_platform"] == "linux"


def test_aarch64_manylinux_starts_at_glibc_2_17() -> None:
    platforms, _ = platform_family("manylinux_2_28_aarch64")

    assert platforms[-3:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]
    assert not any("musllinux" in platform for platform in platforms)


def test_musllinux_accepts_older_musl_only() -> None:
    platforms, _ = platform_family("musllinux_1_2_aarch64")

    assert platforms == [
        "musllinux_1_2_aarch64",
        "musllinux_1_1_aarch64",
        "musllinux_1_0_aarch64",
        "linux_aarch64",
    ]


def test_macos_includes_older_versions_and_universal2() -> None:
    platforms, markers = platform_family("macosx_14_0_arm64")

    assert platforms[:2] == ["macosx_14_0_arm64", "macosx_14_0_universal2"]
    assert "macosx_11_0_arm64" in platforms
    assert "macosx_14_0_x86_64" not in platforms
    assert markers == {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                       "platform_machine": "arm64"}  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "tag"),
    [("linux-aarch64", "manylinux_2_28_aarch64"), ("linux-x86_64", "manylinux_2_28_x86_64"),
     ("musllinux-x86_64", "musllinux_1_2_x86_64"), ("macos-arm64", "macosx_13_0_arm64"),
     ("windows-x86_64", "win_amd64"), ("manylinux2014_aarch64", "manylinux2014_aarch64")],
)  # fmt: skip
def test_aliases(alias: str, tag: str) -> None:
    assert resolve_platform(alias) == tag


@pytest.mark.parametrize(
    "bad", ["linux_x86", "manylinux_2_28_sparc", "win64", "macosx_14_0_risc", ""]
)
def test_unknown_platforms_are_refused(bad: str) -> None:
    with pytest.raises(UnknownPlatformError):
        resolve_platform(bad)


def test_a_foreign_target_prefers_its_own_abi_then_abi3_then_pure() -> None:
    target = Target.for_("3.12", "manylinux_2_28_aarch64")

    ranks = {
        name: target.wheel_rank(name)
        for name in [
            "x-1-cp312-cp312-manylinux_2_28_aarch64.whl",
            "x-1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "x-1-cp38-abi3-manylinux_2_17_aarch64.whl",
            "x-1-py3-none-any.whl",
            "x-1-cp312-cp312-musllinux_1_2_aarch64.whl",
            "x-1-cp311-cp311-manylinux_2_28_aarch64.whl",
            "x-1-cp312-cp312-manylinux_2_28_x86_64.whl",
        ]
    }

    order = sorted((rank, name) for name, rank in ranks.items() if rank is not None)
    assert [name.split("-", 2)[2] for _, name in order] == [
        "cp312-cp312-manylinux_2_28_aarch64.whl",
        "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "cp38-abi3-manylinux_2_17_aarch64.whl",
        "py3-none-any.whl",
    ]


def test_a_foreign_target_has_the_markers_of_its_platform_and_python() -> None:
    target = Target.for_("3.13.1", "win_amd64")

    env = target.environment
    assert (
        env["sys_platform"],
        env["platform_system"],
        env["os_name"],
        env["platform_machine"],
    ) == (
        "win32",
        "Windows",
        "nt",
        "AMD64",
    )
    assert (env["python_version"], env["python_full_version"]) == ("3.13", "3.13.1")
    assert target.native is False
    assert target.tags[0] == Tag("cp313", "cp313", "win_amd64")


def test_the_running_python_without_platforms_is_native() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"

    assert Target.for_(running).native is True
    assert Target.for_().native is True
    assert Target.for_(running, "manylinux_2_28_aarch64").native is False


@pytest.mark.parametrize("plain", ["linux_x86_64", "linux_aarch64", "linux_ppc64le"])
def test_a_plain_linux_tag_is_refused(plain: str) -> None:
    """`linux_<arch>` accepts no manylinux wheel: a target of it would build everything."""
    with pytest.raises(PlainLinuxPlatformError):
        resolve_platform(plain)


def test_a_plain_linux_tag_names_the_aliases_probably_meant() -> None:
    with pytest.raises(PlainLinuxPlatformError) as caught:
        resolve_platform("linux_aarch64")

    assert caught.value.meant == (
        "`linux-aarch64` (`manylinux_2_28_aarch64`), `musllinux-aarch64` "
        "(`musllinux_1_2_aarch64`) for musl systems such as Alpine"
    )


def test_a_plain_linux_tag_without_an_alias_names_the_tags_probably_meant() -> None:
    with pytest.raises(PlainLinuxPlatformError) as caught:
        resolve_platform("linux_s390x")

    assert caught.value.meant == (
        "`manylinux_2_28_s390x`, `musllinux_1_2_s390x` for musl systems such as Alpine"
    )


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("manylinux2014_aarch64", "manylinux_2_17_aarch64"), ("manylinux1_x86_64", "manylinux_2_5_x86_64"),
     ("manylinux2010_i686", "manylinux_2_12_i686"), ("manylinux_2_28_x86_64", "manylinux_2_28_x86_64"),
     ("win_amd64", "win_amd64")],
)  # fmt: skip
def test_legacy_manylinux_names_are_spelt_as_pep_600(tag: str, canonical: str) -> None:
    assert canonical_platform(tag) == canonical


def test_wheels_built_here_fit_the_running_interpreter_and_this_machine_only() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = "3.12" if running != "3.12" else "3.13"

    assert Target.current().fits_builds_here is True
    assert Target.for_(running, "windows-arm64").fits_builds_here is False
    assert Target.for_(other).fits_builds_here is False
