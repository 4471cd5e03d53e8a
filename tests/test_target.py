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


@pytest.mark.parametrize(
    ("oldest", "older"),
    [("manylinux_2_5_x86_64", "manylinux_2_4_x86_64"), ("manylinux_2_5_i686", "manylinux_2_4_i686"),
     ("manylinux_2_17_aarch64", "manylinux_2_16_aarch64"),
     ("manylinux_2_17_ppc64le", "manylinux_2_16_ppc64le")],
)  # fmt: skip
def test_manylinux_starts_at_the_oldest_glibc_of_its_architecture(oldest: str, older: str) -> None:
    """PEP 600 platforms begin where manylinux1 (x86) or manylinux2014 (the others) did."""
    assert resolve_platform(oldest) == oldest
    with pytest.raises(UnknownPlatformError):
        resolve_platform(older)


@pytest.mark.parametrize("bad", ["manylinux_1_28_x86_64", "manylinux_3_28_x86_64"])
def test_manylinux_of_another_major_glibc_is_refused(bad: str) -> None:
    with pytest.raises(UnknownPlatformError):
        resolve_platform(bad)


def test_the_oldest_manylinux_accepts_only_itself_its_legacy_name_and_plain_linux() -> None:
    platforms, markers = platform_family("manylinux_2_5_i686")

    assert platforms == ["manylinux_2_5_i686", "manylinux1_i686", "linux_i686"]
    assert markers == {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                       "platform_machine": "i686"}  # fmt: skip


def test_legacy_manylinux_names_exist_only_for_their_architectures() -> None:
    """manylinux2014 was defined for ppc64le, armv7l, s390x...; riscv64 came with PEP 600 only."""
    ppc64le, _ = platform_family("manylinux_2_28_ppc64le")
    riscv64, _ = platform_family("manylinux_2_28_riscv64")

    assert ppc64le[-3:] == ["manylinux_2_17_ppc64le", "manylinux2014_ppc64le", "linux_ppc64le"]
    assert riscv64[-2:] == ["manylinux_2_17_riscv64", "linux_riscv64"]


@pytest.mark.parametrize(
    "bad", ["manylinux2014_riscv64", "manylinux2010_aarch64", "manylinux1_s390x"]
)
def test_a_legacy_manylinux_name_outside_its_architectures_is_refused(bad: str) -> None:
    with pytest.raises(UnknownPlatformError):
        resolve_platform(bad)


@pytest.mark.parametrize(
    ("legacy", "pep600"),
    [("manylinux1_x86_64", "manylinux_2_5_x86_64"), ("manylinux2010_i686", "manylinux_2_12_i686"),
     ("manylinux2014_s390x", "manylinux_2_17_s390x")],
)  # fmt: skip
def test_a_legacy_manylinux_name_has_the_family_of_its_pep_600_name(
    legacy: str, pep600: str
) -> None:
    assert platform_family(legacy) == platform_family(pep600)


@pytest.mark.parametrize(
    "bad", ["musllinux_2_1_x86_64", "musllinux_0_2_x86_64", "musllinux_1_2_sparc"]
)
def test_musllinux_of_another_major_or_an_unknown_architecture_is_refused(bad: str) -> None:
    with pytest.raises(UnknownPlatformError):
        resolve_platform(bad)


def test_musllinux_has_the_linux_markers_of_its_architecture() -> None:
    _, markers = platform_family("musllinux_1_1_armv7l")

    assert markers == {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                       "platform_machine": "armv7l"}  # fmt: skip


def test_macos_10_is_the_oldest_major_version() -> None:
    platforms, markers = platform_family("macosx_10_9_x86_64")

    assert platforms[:3] == ["macosx_10_9_x86_64", "macosx_10_9_intel", "macosx_10_9_fat64"]
    assert markers["platform_machine"] == "x86_64"
    with pytest.raises(UnknownPlatformError):
        resolve_platform("macosx_9_0_x86_64")


def test_intel_macos_has_the_x86_64_machine_marker() -> None:
    _, markers = platform_family("macosx_13_0_x86_64")

    assert markers == {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                       "platform_machine": "x86_64"}  # fmt: skip


@pytest.mark.parametrize(("tag", "machine"), [("win32", "x86"), ("win_arm64", "ARM64")])
def test_windows_accepts_only_its_own_tag_with_its_machine_marker(tag: str, machine: str) -> None:
    assert platform_family(tag) == (
        [tag],
        {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
         "platform_machine": machine},
    )  # fmt: skip


def test_a_plain_linux_family_is_the_tag_alone() -> None:
    """`resolve_platform` refuses it as a target, but it is still a known platform."""
    assert platform_family("linux_s390x") == (
        ["linux_s390x"],
        {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
         "platform_machine": "s390x"},
    )  # fmt: skip


def test_a_linux_tag_of_an_unknown_architecture_is_not_a_platform() -> None:
    with pytest.raises(UnknownPlatformError) as caught:
        resolve_platform("linux_sparc")

    assert not isinstance(caught.value, PlainLinuxPlatformError)


def test_a_plain_linux_tag_error_records_its_architecture() -> None:
    with pytest.raises(PlainLinuxPlatformError) as caught:
        resolve_platform("linux_armv7l")

    assert caught.value.arch == "armv7l"


def test_a_foreign_platform_alone_targets_the_running_python() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    full = ".".join(str(part) for part in sys.version_info[:3])

    target = Target.for_(platform="windows-arm64")

    assert (target.python_version, target.environment["python_full_version"]) == (running, full)
    assert target.platform == "win_arm64"
    assert target.native is False


def test_a_foreign_target_without_a_patch_version_is_its_first_release() -> None:
    target = Target.for_("3.12", "linux-aarch64")

    assert target.environment["python_full_version"] == "3.12.0"
    assert target.environment["implementation_version"] == "3.12.0"
    assert target.python_version == "3.12"


def test_a_foreign_target_has_no_kernel_release_or_version_of_this_machine() -> None:
    """The build machine's kernel says nothing about the target's: markers on it see ''."""
    env = Target.for_("3.12", "manylinux_2_28_x86_64").environment

    assert (env["platform_release"], env["platform_version"]) == ("", "")
    assert (env["implementation_name"], env["platform_python_implementation"]) == (
        "cpython",
        "CPython",
    )


def test_another_python_on_this_machine_keeps_this_machines_markers_and_platforms() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = "3.12" if running != "3.12" else "3.13"
    here = Target.current()

    target = Target.for_(other)

    assert target.platform is None and target.native is False
    assert target.environment["sys_platform"] == here.environment["sys_platform"]
    assert target.environment["platform_release"] == here.environment["platform_release"]
    assert {tag.platform for tag in target.tags} == {tag.platform for tag in here.tags}
    assert target.tags[0].interpreter == f"cp{other.replace('.', '')}"


def test_the_running_python_named_or_not_is_this_interpreter_with_its_full_version() -> None:
    """Naming the running minor version means this interpreter: markers see 3.11.7, not 3.11.0."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    full = ".".join(str(part) for part in sys.version_info[:3])

    assert Target.for_(running) == Target.current()
    assert Target.for_(full) == Target.current()
    assert Target.for_() == Target.current()


def test_a_target_made_from_its_parts_is_foreign_and_for_no_named_platform() -> None:
    target = Target(environment={"sys_platform": "linux"}, tags=(), python_version="3.12")

    assert (target.native, target.platform) == (False, None)


def test_wheels_built_here_fit_the_running_python_on_this_machines_platform_asked_by_name() -> None:
    """Not native (it is named), yet a wheel compiled here carries tags it accepts."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    here = next(
        tag.platform
        for tag in Target.current().tags
        if tag.abi not in ("none", "abi3") and _is_target_platform(tag.platform)
    )

    target = Target.for_(running, here)

    assert target.native is False
    assert target.fits_builds_here is True


def _is_target_platform(tag: str) -> bool:
    try:
        resolve_platform(tag)
    except UnknownPlatformError:
        return False
    return True


def test_a_wheel_of_no_tag_of_the_target_or_a_malformed_name_has_no_rank() -> None:
    target = Target.for_("3.12", "win_amd64")

    assert target.wheel_rank("x-1-cp312-cp312-win_arm64.whl") is None
    assert target.wheel_rank("not-a-wheel.zip") is None
    assert target.wheel_rank("x-1-py3-none-any.whl") is not None


def test_a_compressed_tag_set_ranks_as_its_best_tag() -> None:
    target = Target.for_("3.12", "manylinux_2_28_x86_64")
    best = target.wheel_rank("x-1-cp312-cp312-manylinux_2_28_x86_64.whl")

    assert (
        target.wheel_rank("x-1-cp312-cp312-manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl") == best
    )
    assert target.wheel_rank("x-1-py3-none-any.whl") == target.tags.index(Tag("py3", "none", "any"))


def test_a_foreign_target_is_described_by_its_python_and_platform_tag() -> None:
    assert Target.for_("3.12", "macos-arm64").describe() == "cpython 3.12.0 on macosx_13_0_arm64"
    assert Target.for_("3.13.2", "win_amd64").describe() == "cpython 3.13.2 on win_amd64"


def test_a_target_on_this_machine_is_described_by_its_markers() -> None:
    env = Target.current().environment

    assert Target.current().describe() == (
        f"cpython {env['python_full_version']} on {env['sys_platform']} {env['platform_machine']}"
    )
    assert Target(environment={}, tags=(), python_version="3.12").describe() == "? ? on ? ?"


def test_the_marker_of_a_target_names_its_machine_and_system() -> None:
    assert Target.for_("3.12", "linux-aarch64").marker == (
        "platform_machine == 'aarch64' and sys_platform == 'linux'"
    )
    assert Target.for_("3.12", "windows-x86").marker == (
        "platform_machine == 'x86' and sys_platform == 'win32'"
    )
