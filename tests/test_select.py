"""Selection: roots, extras, groups, artifact choice and the reasons it records (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.tags import Tag

from hatch_lockbundle.errors import BackendFailedError, LockbundleError, SelectionError
from hatch_lockbundle.foreign_builds import check_build_was_for_here
from hatch_lockbundle.lock import Hash, Lock
from hatch_lockbundle.select import WHY_LENGTH, check_virtual_root, select
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import read_lock
from test_lock import EVERY_SOURCE

LINUX_CP311 = Target(
    environment={**default_environment(), "sys_platform": "linux", "python_version": "3.11"},
    tags=(
        Tag("cp311", "cp311", "manylinux_2_28_x86_64"),
        Tag("cp311", "abi3", "manylinux_2_28_x86_64"),
        Tag("cp311", "none", "any"),
        Tag("py3", "none", "any"),
    ),
    python_version="3.11",
)

WHEELS = """
version = 1
revision = 3

[[package]]
name = "root"
version = "1.0"
source = { editable = "." }
dependencies = [{ name = "native" }, { name = "sdist-only" }, { name = "foreign-only", marker = "sys_platform == 'win32'" }]

[package.optional-dependencies]
win = [{ name = "foreign-only" }]

[[package]]
name = "native"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://f.example/native-1.0.tar.gz", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000" }
wheels = [
    { url = "https://f.example/native-1.0-py3-none-any.whl", hash = "sha256:0101010101010101010101010101010101010101010101010101010101010101" },
    { url = "https://f.example/native-1.0-cp311-abi3-manylinux_2_28_x86_64.whl", hash = "sha256:0202020202020202020202020202020202020202020202020202020202020202" },
    { url = "https://f.example/native-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", hash = "sha256:0303030303030303030303030303030303030303030303030303030303030303" },
    { url = "https://f.example/native-1.0-cp311-cp311-win_amd64.whl", hash = "sha256:0404040404040404040404040404040404040404040404040404040404040404" },
]

[[package]]
name = "sdist-only"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://f.example/sdist_only-1.0.tar.gz", hash = "sha256:0505050505050505050505050505050505050505050505050505050505050505" }

[[package]]
name = "foreign-only"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://f.example/foreign_only-1.0-cp311-cp311-win_amd64.whl", hash = "sha256:0606060606060606060606060606060606060606060606060606060606060606" }]
"""


def lock_from(tmp_path: Path, text: str) -> Lock:
    (tmp_path / "uv.lock").write_text(text)
    return read_lock(tmp_path / "uv.lock")


def test_chooses_the_wheel_an_installer_prefers(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, WHEELS), LINUX_CP311, "root")

    native = next(p for p in plan.packages if p.name == "native")
    assert native.artifact.kind == "wheel"
    assert native.artifact.filename == "native-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert native.artifact.hash == Hash("sha256", "03" * 32)


def test_falls_back_to_the_sdist_when_no_wheel_fits(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, WHEELS), LINUX_CP311, "root")

    sdist_only = next(p for p in plan.packages if p.name == "sdist-only")
    assert sdist_only.artifact.kind == "sdist"
    assert sdist_only.artifact.url == "https://f.example/sdist_only-1.0.tar.gz"


def test_marker_false_edges_are_not_followed(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, WHEELS), LINUX_CP311, "root")

    assert [p.name for p in plan.packages] == ["native", "root", "sdist-only"]


def test_an_edge_marker_that_cannot_be_evaluated_is_an_error_naming_the_edge(
    tmp_path: Path,
) -> None:
    # `~=` compares versions; `os_name` is not one, so packaging cannot evaluate it
    text = WHEELS.replace("marker = \"sys_platform == 'win32'\"", "marker = \"os_name ~= 'posix'\"")

    with pytest.raises(
        SelectionError,
        match=r"root==1.0 depends on `foreign-only` under the marker `os_name ~= \"posix\"`, "
        r"which cannot be evaluated .*; run `uv lock` again",
    ):
        select(lock_from(tmp_path, text), LINUX_CP311, "root")


def test_no_fitting_artifact_names_package_target_and_wheels(tmp_path: Path) -> None:
    with pytest.raises(SelectionError) as caught:
        select(lock_from(tmp_path, WHEELS), LINUX_CP311, "root", extras=["win"])

    assert str(caught.value) == (
        f"foreign-only==1.0: no wheel in the lock fits {LINUX_CP311.describe()}, and there is "
        "no sdist to build. The lock has 1 wheel, for cp311 on win_amd64. Remedies: lock a "
        "version of foreign-only that publishes wheels for the target; or bundle for another "
        "platform"
    )


def many_platforms_lock(wheel_tags: list[str], *, sdist: bool = True) -> str:
    """A root depending on `many`, which publishes a wheel for each of ``wheel_tags``."""
    wheels = ",\n".join(
        f'  {{ url = "https://f.example/many-2.0-{tags}.whl", hash = "sha256:{index:064x}" }}'
        for index, tags in enumerate(wheel_tags)
    )
    source = (
        f'sdist = {{ url = "https://f.example/many-2.0.tar.gz", hash = "sha256:{"ab" * 32}" }}\n'
        if sdist
        else ""
    )
    return (
        'version = 1\nrevision = 3\n[[package]]\nname = "root"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [{ name = "many" }]\n'
        '[[package]]\nname = "many"\nversion = "2.0"\n'
        f'source = {{ registry = "https://pypi.org/simple" }}\n{source}wheels = [\n{wheels}\n]\n'
    )


# what a package like pyarrow publishes: every wheel for one platform and CPython
NATIVE_ONLY = [
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-cp311-manylinux_2_28_aarch64",
    "cp39-cp39-manylinux_2_28_aarch64",
    "cp310-cp310-manylinux_2_28_aarch64",
    "cp312-cp312-macosx_11_0_arm64",
    "cp312-cp312-macosx_10_9_x86_64",
    "cp38-abi3-musllinux_1_2_x86_64",
    "cp312-cp312-win_amd64",
]
WINDOWS_ARM64 = Target.for_("3.12", "windows-arm64")  # never the machine running the tests


def test_no_fitting_wheel_error_names_each_python_and_platform_once(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, many_platforms_lock(NATIVE_ONLY, sdist=False))

    with pytest.raises(SelectionError) as caught:
        select(lock, WINDOWS_ARM64, "root")

    assert str(caught.value) == (
        "many==2.0: no wheel in the lock fits cpython 3.12.0 on win_arm64, and there is no "
        "sdist to build. The lock has 9 wheels, for cp38-abi3, cp39, cp310, cp311, cp312 on "
        "macosx_10_9_x86_64, macosx_11_0_arm64, manylinux_2_17_x86_64, manylinux_2_28_aarch64, "
        "musllinux_1_2_x86_64, win_amd64. Remedies: lock a version of many that publishes wheels "
        "for the target; or bundle for another platform"
    )


def test_a_foreign_target_does_not_build_the_sdist_of_a_package_without_a_pure_wheel(
    tmp_path: Path,
) -> None:
    lock = lock_from(tmp_path, many_platforms_lock(NATIVE_ONLY))

    with pytest.raises(SelectionError) as caught:
        select(lock, WINDOWS_ARM64, "root")

    assert str(caught.value) == (
        "many==2.0: no wheel in the lock fits cpython 3.12.0 on win_arm64, and its sdist would "
        "be compiled for this machine, not for the target (every wheel it publishes is for one "
        "platform: it is not pure Python). The lock has 9 wheels, for cp38-abi3, cp39, cp310, "
        "cp311, cp312 on macosx_10_9_x86_64, macosx_11_0_arm64, manylinux_2_17_x86_64, "
        "manylinux_2_28_aarch64, musllinux_1_2_x86_64, win_amd64. Remedies: build a wheelhouse "
        "on a staging machine that matches the target; lock a version of many that publishes "
        "wheels for the target; or bundle for another platform"
    )


def test_a_foreign_target_builds_the_sdist_of_a_package_with_a_pure_wheel(
    tmp_path: Path,
) -> None:
    """A pure wheel for an older Python says the sdist builds a pure wheel too."""
    lock = lock_from(tmp_path, many_platforms_lock([*NATIVE_ONLY, "py2-none-any"]))

    plan = select(lock, WINDOWS_ARM64, "root")

    assert next(p for p in plan.packages if p.name == "many").artifact.kind == "sdist"


def test_a_wheel_whose_name_cannot_be_read_is_left_out_of_the_summary(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, many_platforms_lock(["bad", *NATIVE_ONLY], sdist=False))

    with pytest.raises(
        SelectionError,
        match=r"The lock has 10 wheels, for cp38-abi3, cp39, cp310, cp311, cp312 on macosx_10_9",
    ):
        select(lock, WINDOWS_ARM64, "root")


def test_a_wheel_whose_name_cannot_be_read_is_not_taken_as_pure_or_not(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, many_platforms_lock(["bad", *NATIVE_ONLY, "py2-none-any"]))

    plan = select(lock, WINDOWS_ARM64, "root")

    assert next(p for p in plan.packages if p.name == "many").artifact.kind == "sdist"


def test_the_running_interpreter_builds_the_sdist_when_no_wheel_fits(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, many_platforms_lock(["cp27-cp27m-win_amd64"]))

    plan = select(lock, Target.current(), "root")

    assert next(p for p in plan.packages if p.name == "many").artifact.kind == "sdist"


def test_a_path_source_without_an_sdist_table_is_its_own_sdist(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [{ name = "y" }]\n'
        '[[package]]\nname = "y"\nversion = "1.0"\nsource = { path = "vendor/y-1.0.tar.gz" }\n'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "app")

    artifact = {p.name: p.artifact for p in plan.packages}["y"]
    assert (artifact.kind, artifact.path) == ("sdist", tmp_path / "vendor" / "y-1.0.tar.gz")


def test_a_package_from_an_index_with_neither_wheel_nor_sdist_is_an_error(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [{ name = "y" }]\n'
        '[[package]]\nname = "y"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n'
    )

    with pytest.raises(
        SelectionError,
        match=r"y==1.0: no wheel in the lock fits .*, and there is no sdist to build\. "
        r"The lock has no wheel of it\.",
    ):
        select(lock_from(tmp_path, text), LINUX_CP311, "app")


def test_a_file_from_an_index_without_a_url_or_path_is_an_error(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [{ name = "y" }]\n'
        '[[package]]\nname = "y"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n'
        'wheels = [{ filename = "y-1.0-py3-none-any.whl" }]\n'
    )

    with pytest.raises(SelectionError, match=r"y==1.0 has a wheel without a url or path"):
        select(lock_from(tmp_path, text), LINUX_CP311, "app")


def test_a_path_source_that_names_no_file_is_an_error(tmp_path: Path) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [{ name = "y" }]\n'
        '[[package]]\nname = "y"\nversion = "1.0"\nsource = { path = ".." }\n'
        f'sdist = {{ hash = "sha256:{"a" * 64}" }}\n'
    )

    with pytest.raises(SelectionError, match=r"y==1.0 has an unusable file name '\.\.'"):
        select(lock_from(tmp_path, text), LINUX_CP311, "app")


def test_why_is_the_path_from_the_root(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app")

    why = {p.name: p.why for p in plan.packages}
    assert why["from-registry"] == ("app", "from-registry")
    assert why["app"] == ("app",)


def chain_lock(length: int) -> str:
    """A lock of ``length`` packages, each depending on the next: ``p0 -> p1 -> ...``."""
    packages = [
        'version = 1\nrevision = 3\n[[package]]\nname = "p0"\nversion = "1.0"\nsource = { editable = "." }\ndependencies = [{ name = "p1" }]\n'
    ]
    for number in range(1, length):
        edge = f'dependencies = [{{ name = "p{number + 1}" }}]\n' if number < length - 1 else ""
        packages.append(
            f'[[package]]\nname = "p{number}"\nversion = "1.0"\n'
            'source = { registry = "https://pypi.org/simple" }\n' + edge +
            f'wheels = [{{ url = "https://f.example/p{number}-1.0-py3-none-any.whl", hash = "sha256:{"a" * 64}" }}]\n'
        )  # fmt: skip
    return "".join(packages)


def test_a_long_dependency_path_is_kept_as_the_root_and_its_last_steps(tmp_path: Path) -> None:
    # a 3,000-deep chain kept every whole path: 4.5 million names, printed by `plan`
    plan = select(lock_from(tmp_path, chain_lock(3000)), LINUX_CP311, "p0")

    why = {p.name: p.why for p in plan.packages}
    assert len(plan.packages) == 3000
    assert max(len(path) for path in why.values()) == WHY_LENGTH
    assert why["p2999"] == ("p0", "…", *(f"p{n}" for n in range(2990, 3000)))
    assert why["p10"] == tuple(f"p{n}" for n in range(11))  # short enough to keep whole


def test_a_dependency_path_of_the_kept_length_is_kept_whole(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, chain_lock(40)), LINUX_CP311, "p0")

    why = {p.name: p.why for p in plan.packages}
    assert why[f"p{WHY_LENGTH - 1}"] == tuple(f"p{n}" for n in range(WHY_LENGTH))


def test_every_shortened_dependency_path_has_the_kept_length(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, chain_lock(40)), LINUX_CP311, "p0")

    shortened = [p.why for p in plan.packages if "…" in p.why]
    assert len(shortened) == 40 - WHY_LENGTH
    assert {len(path) for path in shortened} == {WHY_LENGTH}


def test_a_dependency_cycle_is_walked_once(tmp_path: Path) -> None:
    # p2 depends back on p0: the walk must end, with each package once
    text = chain_lock(3).replace(
        'name = "p2"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n',
        'name = "p2"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n'
        'dependencies = [{ name = "p0" }]\n',
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "p0")

    assert [p.name for p in plan.packages] == ["p0", "p1", "p2"]
    assert plan.edges["p2"] == ("p0",)


def test_groups_are_only_included_when_named(tmp_path: Path) -> None:
    text = (
        EVERY_SOURCE.format(revision=3)
        .replace('dev = [{ name = "from-registry" }]', 'dev = [{ name = "from-flat" }]')
        .replace('    { name = "from-flat", marker = "sys_platform == \'linux\'" },\n', "")
    )
    lock = lock_from(tmp_path, text)

    without = {p.name for p in select(lock, LINUX_CP311, "app").packages}
    with_dev = select(lock, LINUX_CP311, "app", groups=["dev"])

    assert "from-flat" not in without
    assert next(p for p in with_dev.packages if p.name == "from-flat").why == (
        "app",
        "app:dev",
        "from-flat",
    )


def test_virtual_packages_contribute_only_their_dependencies(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app")

    assert "member" not in {p.name for p in plan.packages}


def test_local_paths_resolve_against_the_workspace_root(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app")
    artifacts = {p.name: p.artifact for p in plan.packages}

    assert artifacts["from-flat"].path == tmp_path / "wheels" / "from_flat-1.0-py3-none-any.whl"
    assert artifacts["from-path-wheel"].path == (
        tmp_path / "vendor" / "from_path_wheel-1.0-py3-none-any.whl"
    )
    assert artifacts["from-path-sdist"].kind == "sdist"
    assert artifacts["from-path-sdist"].path == tmp_path / "vendor" / "from_path_sdist-1.0.tar.gz"
    assert artifacts["from-directory"].kind == "tree"
    assert artifacts["from-directory"].path == tmp_path / "libs" / "dir"
    assert artifacts["app"].kind == "tree"
    assert artifacts["from-url"].url == "https://example.com/from_url-1.0-py3-none-any.whl"


def test_git_sources_are_fetched_at_the_locked_commit(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app")

    git = next(p for p in plan.packages if p.name == "from-git").artifact
    assert git.kind == "git"
    assert git.url == "https://example.com/repo.git"
    assert git.commit == "0123456789abcdef0123456789abcdef01234567"
    assert git.subdirectory == "lib"


def test_a_git_source_written_with_git_plus_is_fetched_from_the_repository_url(
    tmp_path: Path,
) -> None:
    text = EVERY_SOURCE.format(revision=3).replace(
        'git = "https://example.com/repo.git', 'git = "git+https://example.com/repo.git'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "app")

    git = next(p for p in plan.packages if p.name == "from-git").artifact
    assert git.url == "https://example.com/repo.git"


def test_unknown_root_lists_the_lock_projects(tmp_path: Path) -> None:
    with pytest.raises(
        SelectionError, match=r"package `nope` is not in the lock.*: app, from-directory, member"
    ):
        select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "nope")


def test_a_package_from_an_index_can_be_the_root(tmp_path: Path) -> None:
    plan = select(
        lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "from-registry"
    )

    assert [package.package.label for package in plan.packages] == ["from-registry==2.0"]


def test_the_root_is_the_project_when_an_index_has_a_package_of_its_name(tmp_path: Path) -> None:
    text = EVERY_SOURCE.format(revision=3) + (
        '\n[[package]]\nname = "app"\nversion = "9.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "app")

    assert plan.root.source.kind == "editable"


def test_a_name_locked_at_two_versions_cannot_be_the_root() -> None:
    with pytest.raises(
        SelectionError, match=r"package `six` is locked more than once and cannot be a bundle root"
    ):
        select(read_lock(EXTRA_AND_GROUP_CONFLICTS), LINUX_CP311, "six")


def test_unknown_extra_and_group_are_named_with_the_available_ones(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, EVERY_SOURCE.format(revision=3))

    with pytest.raises(
        SelectionError, match=r"app==1.0 has no extra `nope` .*its extras there: `extra-one`"
    ):
        select(lock, LINUX_CP311, "app", extras=["nope"])
    with pytest.raises(SelectionError, match=r"has no groups `a`, `b` .*its groups there: `dev`"):
        select(lock, LINUX_CP311, "app", groups=["a", "b"])


def test_all_extras(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app", "all")

    assert plan.extras == ("extra-one",)


def test_an_interpreter_outside_requires_python_is_an_error(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, EVERY_SOURCE.format(revision=3))  # requires-python = ">=3.10"
    old = Target(
        environment={**LINUX_CP311.environment, "python_full_version": "3.9.18"},
        tags=LINUX_CP311.tags,
        python_version="3.9",
    )

    with pytest.raises(
        SelectionError, match=r"locked for Python >=3.10, but the target is Python 3.9.18"
    ):
        select(lock, old, "app")


def test_an_invalid_requires_python_is_an_error_naming_it(tmp_path: Path) -> None:
    text = EVERY_SOURCE.format(revision=3).replace(
        'requires-python = ">=3.10"', 'requires-python = "3.10 or newer"'
    )

    with pytest.raises(
        SelectionError, match=r"`requires-python = '3.10 or newer'` is not a valid specifier"
    ):
        select(lock_from(tmp_path, text), LINUX_CP311, "app")


def test_a_prerelease_interpreter_within_requires_python_is_accepted(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, EVERY_SOURCE.format(revision=3))  # requires-python = ">=3.10"
    prerelease = Target(
        environment={**LINUX_CP311.environment, "python_full_version": "3.14.0rc1"},
        tags=LINUX_CP311.tags,
        python_version="3.14",
    )

    assert select(lock, prerelease, "app").root.name == "app"


CONFLICTS_LOCK = Path(__file__).parent.parent / "fixtures" / "locks" / "conflicts" / "uv.lock"


@pytest.mark.parametrize("extras", [["cpu", "gpu"], "all"])
def test_extras_declared_as_conflicting_cannot_be_bundled_together(extras: list[str] | str) -> None:
    with pytest.raises(
        SelectionError, match=r"pc==0.1.0: extra `cpu` and extra `gpu` are declared as conflicting"
    ):
        select(read_lock(CONFLICTS_LOCK), LINUX_CP311, "pc", extras)  # type: ignore[arg-type]


FIXTURE_LOCKS = Path(__file__).parent.parent / "fixtures" / "locks"
# `eg`: extras `old` (six 1.16.0) and `new` (six 1.17.0, idna) conflict, and so do the groups
# `legacy` (idna<3) and `modern` (idna>=3); `both` depends on `eg[old]`; six unpinned otherwise
EXTRA_AND_GROUP_CONFLICTS = FIXTURE_LOCKS / "extra-and-group-conflicts" / "uv.lock"
# `app` depends on `lib[old]` (six 1.16.0), its group `new` on `lib[new]` (six 1.17.0); the
# conflict is between the extras of the workspace member `lib`
MEMBER_EXTRA_CONFLICTS = FIXTURE_LOCKS / "member-extra-conflicts" / "uv.lock"


def selected(plan_lock: Path, root: str, extras: list[str], groups: list[str]) -> set[str]:
    plan = select(read_lock(plan_lock), LINUX_CP311, root, extras, groups)
    return {package.package.label for package in plan.packages}


def test_a_not_equal_conflict_marker_leaves_out_what_the_requested_extra_replaces() -> None:
    # uv writes the unpinned six as `extra == 'extra-2-eg-new' or extra != 'extra-2-eg-old' ...`
    assert selected(EXTRA_AND_GROUP_CONFLICTS, "eg", ["old"], []) == {"six==1.16.0"}


def test_a_not_equal_conflict_marker_holds_when_that_extra_is_not_requested() -> None:
    assert selected(EXTRA_AND_GROUP_CONFLICTS, "eg", [], []) == {"six==1.17.0"}


def test_a_requested_group_is_active_in_conflict_markers() -> None:
    # idna 3.20 of the extra `new` is locked under `extra != 'group-2-eg-legacy'`
    assert selected(EXTRA_AND_GROUP_CONFLICTS, "eg", ["new"], ["legacy"]) == {
        "idna==2.10",
        "six==1.17.0",
    }


def test_groups_declared_as_conflicting_cannot_be_bundled_together() -> None:
    with pytest.raises(
        SelectionError,
        match=r"eg==0.1.0: group `legacy` and group `modern` are declared as conflicting",
    ):
        select(read_lock(EXTRA_AND_GROUP_CONFLICTS), LINUX_CP311, "eg", [], ["legacy", "modern"])


def test_an_extra_a_group_asks_for_is_active_in_its_own_edge_marker() -> None:
    # `both = ["eg[old]"]` is locked as `{ name = "eg", extra = ["old"], marker = "extra ==
    # 'extra-2-eg-old' or ..." }`: the edge itself activates the extra, as uv installs it
    assert selected(EXTRA_AND_GROUP_CONFLICTS, "eg", [], ["both"]) == {"six==1.16.0"}


def test_an_extra_of_a_conflicting_member_is_installed_through_the_edge_that_asks_for_it() -> None:
    assert selected(MEMBER_EXTRA_CONFLICTS, "app", [], []) == {"lib==1.0", "six==1.16.0"}


def test_an_install_set_with_two_versions_of_one_package_is_an_error() -> None:
    # the conflict is declared on `lib`'s extras, not on the root's: only the walk finds it
    with pytest.raises(
        SelectionError,
        match=r"uv.lock: the install set holds `six` more than once \(six==1.17.0, six==1.16.0\); "
        r"a bundle can hold one version",
    ):
        select(read_lock(MEMBER_EXTRA_CONFLICTS), LINUX_CP311, "app", [], ["new"])


def test_an_artifact_is_located_by_its_url_its_repository_and_commit_or_its_path(
    tmp_path: Path,
) -> None:
    plan = select(lock_from(tmp_path, EVERY_SOURCE.format(revision=3)), LINUX_CP311, "app")

    locations = {package.name: package.artifact.location for package in plan.packages}

    assert locations["from-registry"] == "https://files.example/from_registry-2.0-py3-none-any.whl"
    assert locations["from-git"] == (
        "https://example.com/repo.git@0123456789abcdef0123456789abcdef01234567"
    )
    assert locations["from-directory"] == str(tmp_path / "libs" / "dir")


def chained_activations(rounds: int) -> str:
    """A lock whose conflict markers activate one extra of `x` per round of the walk: the
    edge to `x[eN]` is guarded by `extra-1-x-e(N-1)`, which only the previous round activates."""
    edges = ['{ name = "x", extra = ["e1"] }'] + [
        f'{{ name = "x", extra = ["e{n}"], marker = "extra == \'extra-1-x-e{n - 1}\'" }}'
        for n in range(2, rounds)
    ]
    extras = "\n".join(f"e{n} = []" for n in range(1, rounds))
    return (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\n'
        f"dependencies = [{', '.join(edges)}]\n"
        '[[package]]\nname = "x"\nversion = "1"\nsource = { directory = "x" }\n'
        f"[package.optional-dependencies]\n{extras}\n"
    )


def test_conflict_markers_that_settle_within_eight_rounds_are_followed(tmp_path: Path) -> None:
    plan = select(lock_from(tmp_path, chained_activations(8)), LINUX_CP311, "app")

    assert [package.name for package in plan.packages] == ["app", "x"]


def test_conflict_markers_that_do_not_settle_in_eight_rounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        SelectionError, match=r"the extras activated for app==1 do not settle.*Please report it"
    ):
        select(lock_from(tmp_path, chained_activations(9)), LINUX_CP311, "app")


def test_a_virtual_package_is_not_counted_as_a_version_of_its_name(tmp_path: Path) -> None:
    # a virtual package installs no files: beside it, the same name from an index is one version
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\ndependencies = [\n'
        '  { name = "tool", version = "0.1", source = { virtual = "tools/tool" } },\n'
        '  { name = "tool", version = "1.0", source = { registry = "https://pypi.org/simple" } },\n]\n'
        '[[package]]\nname = "tool"\nversion = "0.1"\nsource = { virtual = "tools/tool" }\n'
        '[[package]]\nname = "tool"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = "https://f.example/tool-1.0-py3-none-any.whl", hash = "sha256:{"a" * 64}" }}]\n'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "app")

    assert [p.package.label for p in plan.packages] == ["app==1", "tool==1.0"]


def test_an_environment_atom_beside_an_extra_atom_is_evaluated_on_the_target(
    tmp_path: Path,
) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "app"\nversion = "1"\n'
        'source = { editable = "." }\n'
        "dependencies = [{ name = \"x\", marker = \"sys_platform == 'linux' and extra == 'extra-3-app-cpu'\" }]\n"
        "[package.optional-dependencies]\ncpu = []\n"
        '[[package]]\nname = "x"\nversion = "1"\nsource = { directory = "x" }\n'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "app", ["cpu"])

    assert [p.name for p in plan.packages] == ["app", "x"]


def test_extras_and_groups_without_locked_dependencies_are_known() -> None:
    lock = read_lock(
        Path(__file__).parent.parent / "fixtures" / "locks" / "package-conflicts" / "uv.lock"
    )

    plan = select(lock, LINUX_CP311, "a", ["empty"], ["nothing"])

    assert plan.extras == ("empty",)
    assert plan.groups == ("nothing",)


def test_a_url_source_sdist_takes_its_file_name_and_subdirectory_from_the_source(
    tmp_path: Path,
) -> None:
    text = (
        'version = 1\nrevision = 3\n[[package]]\nname = "root"\nversion = "1"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "pkg" }]\n'
        '[[package]]\nname = "pkg"\nversion = "1.0"\n'
        'source = { url = "https://f.example/dl/pkg-1.0.tar.gz", subdirectory = "python" }\n'
        f'sdist = {{ hash = "sha256:{"ab" * 32}" }}\n'
    )

    plan = select(lock_from(tmp_path, text), LINUX_CP311, "root")

    artifact = next(p for p in plan.packages if p.name == "pkg").artifact
    assert (artifact.kind, artifact.filename, artifact.url, artifact.subdirectory) == (
        "sdist",
        "pkg-1.0.tar.gz",
        "https://f.example/dl/pkg-1.0.tar.gz",
        "python",
    )


VIRTUAL_ROOT = """
version = 1
revision = 3

[manifest]
members = ["root", "member"]

[[package]]
name = "root"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "dep" }]

[[package]]
name = "member"
version = "0.1.0"
source = { editable = "member" }

[[package]]
name = "dep"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://f.example/dep-1.0-py3-none-any.whl", hash = "sha256:0101010101010101010101010101010101010101010101010101010101010101" }]
"""

VIRTUAL = (
    'root==0.1.0 is a virtual project (uv locks it as `source = { virtual = "." }`: it has no '
    "`[build-system]`, or sets `tool.uv.package = false`)"
)


def test_a_virtual_root_gets_a_notice_that_its_code_is_not_bundled(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, VIRTUAL_ROOT)

    notice = check_virtual_root([select(lock, LINUX_CP311, "root")], lock, includes_files=False)

    assert notice == (
        f"{VIRTUAL}: its own code is not a package, so the bundle holds its 1 dependencies and "
        "none of its files. To ship its files (a Lambda handler, an app's modules), list them in "
        '`tool.lockbundle.include`, e.g. `include = ["main.py"]`; or add a `[build-system]` to '
        "make it a package"
    )


def test_a_virtual_root_whose_files_are_included_gets_no_notice(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, VIRTUAL_ROOT)

    assert (
        check_virtual_root([select(lock, LINUX_CP311, "root")], lock, includes_files=True) is None
    )


def test_a_packaged_root_gets_no_notice(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, VIRTUAL_ROOT)

    assert (
        check_virtual_root([select(lock, LINUX_CP311, "member")], lock, includes_files=False)
        is None
    )


def test_the_notice_for_a_bundle_without_include_does_not_suggest_it(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, VIRTUAL_ROOT)
    plans = [select(lock, LINUX_CP311, "root")]

    notice = check_virtual_root(plans, lock, includes_files=False, can_include=False)

    assert notice == (
        f"{VIRTUAL}: its own code is not a package, so the bundle holds its 1 dependencies and "
        "none of its files. To ship its files (a Lambda handler, an app's modules), copy them "
        "beside it, or add a `[build-system]` to make it a package"
    )


def test_a_virtual_root_without_dependencies_is_an_error_naming_the_members(tmp_path: Path) -> None:
    lock = lock_from(tmp_path, VIRTUAL_ROOT.replace('dependencies = [{ name = "dep" }]', ""))
    plans = [select(lock, LINUX_CP311, "root")]

    with pytest.raises(SelectionError) as caught:
        check_virtual_root(plans, lock, includes_files=False, can_include=False)

    assert str(caught.value) == (
        f"{VIRTUAL}, and it has no dependencies: the bundle would be empty. To bundle something, "
        'pick a workspace member with `tool.lockbundle.package = "member"` or `--package member` '
        "(the members: member)"
    )


def test_a_virtual_project_without_dependencies_or_members_is_told_to_add_them(
    tmp_path: Path,
) -> None:
    text = VIRTUAL_ROOT.replace('dependencies = [{ name = "dep" }]', "").replace(
        'members = ["root", "member"]', 'members = ["root"]'
    )
    lock = lock_from(tmp_path, text)

    with pytest.raises(SelectionError) as caught:
        check_virtual_root([select(lock, LINUX_CP311, "root")], lock, includes_files=False)

    assert str(caught.value) == (
        f"{VIRTUAL}, and it has no dependencies: the bundle would be empty. To bundle something, "
        "add dependencies, or workspace members (`[tool.uv.workspace] members`) and pick one "
        "with `tool.lockbundle.package` or `--package`; or list the project's own files in "
        "`tool.lockbundle.include`"
    )


def test_a_failed_foreign_build_names_only_the_targets_that_needed_it(tmp_path: Path) -> None:
    """For aarch64 a wheel fits; for 3.12 on this platform only the sdist does: a failed
    build of it is for the second target, not the first."""
    lock = lock_from(
        tmp_path, many_platforms_lock(["cp312-cp312-manylinux_2_28_aarch64", "py2-none-any"])
    )
    plans = [
        select(lock, Target.for_("3.12", "manylinux_2_28_aarch64"), "root"),
        select(lock, Target.for_("3.12", "windows-x86_64"), "root"),
    ]
    (sdist,) = [p for p in plans[1].packages if p.name == "many"]
    failure = BackendFailedError("failed", tmp_path, ["error: no compiler"])

    with pytest.raises(LockbundleError) as caught:
        check_build_was_for_here(plans, sdist, failure)

    assert str(caught.value).startswith(
        "many==2.0: no wheel in the lock fits cpython 3.12.0 on win_amd64, and building one here "
        "from many-2.0.tar.gz failed"
    )
    assert str(caught.value).endswith("output:\n    error: no compiler")
