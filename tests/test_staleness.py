"""The staleness check against its reference, real ``uv lock --check --offline``: a lock that uv
calls current is never called stale, whether uv is at hand or the lock is only compared
statically; each edit states what the static comparison says of it, which tells the edits uv
calls stale that it catches too (those it misses are left to ``uv lock --check`` itself)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.project import find_lock, read_project
from hatch_lockbundle.staleness import UvVerdict, ask_uv, check_lock_current
from hatch_lockbundle.uvlock import read_lock
from support.artifacts import Entry, write_wheel
from support.bundle import snapshot
from support.environ import Sandbox, run, uv_binary
from support.hatch import HatchBuild, built_artifact
from support.index import IndexServer
from support.projects import MakeProject, uv_lock

pytestmark = pytest.mark.slow


# -- the reference and the two ways of checking -------------------------------------------------


def uv_says_current(lock_root: Path, env: dict[str, str]) -> bool:
    """The oracle: real ``uv lock --check --offline`` in the workspace root.

    Offline, uv cannot re-resolve a stale lock that needs packages it has not cached, and then
    fails without saying "needs to be updated"; only then is it asked again online (the index is
    on 127.0.0.1), to tell a stale lock from a failure.
    """
    command: list[str | os.PathLike[str]] = [
        uv_binary(),
        "lock",
        "--check",
        "--python",
        sys.executable,
    ]
    offline = run([*command, "--offline"], cwd=lock_root, env=env, check=False)
    if offline.returncode == 0:
        return True
    if "needs to be updated" in offline.stderr:
        return False
    online = run(command, cwd=lock_root, env=env, check=False)
    assert online.returncode == 0 or "needs to be updated" in online.stderr, online.stderr
    return online.returncode == 0


def never_ask_uv() -> str | None:
    return None


def ask_the_real_uv() -> str | None:
    return str(uv_binary())


def called_stale(project_dir: Path, uv: Callable[[], str | None]) -> bool:
    project = read_project(project_dir)
    assert project.name is not None
    lock = find_lock(project_dir, project.name)
    try:
        check_lock_current(lock, project, uv=uv)
    except LockbundleError as error:
        assert "is out of date with" in str(error) and "Run `uv lock`" in str(error)
        return True
    return False


@pytest.fixture
def sandboxed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's environment, for the uv that the check runs in this process too."""
    env = sandbox.environ()
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


# -- what the edits need: a local project `core`, its git repository, its wheel on loopback ------


@dataclass(frozen=True)
class Kit:
    git_url: str
    wheel_url: str


def write_project(directory: Path, name: str, version: str) -> Path:
    (directory / "src" / name).mkdir(parents=True, exist_ok=True)
    (directory / "src" / name / "__init__.py").write_text("")
    (directory / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.10"\n'
    )
    return directory


def git(repo: Path, *args: str) -> None:
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    identity |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo), **identity}
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    repo = write_project(tmp_path_factory.mktemp("core-repo"), "core", "1.5")
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "core 1.5")
    served = tmp_path_factory.mktemp("served")
    wheel = write_wheel(served, "core", "1.5", [Entry("core/__init__.py", b"")])
    with IndexServer(served) as server:
        yield Kit(git_url=repo.as_uri(), wheel_url=server.file_url(wheel.name))


# -- the edits ------------------------------------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


Change = Callable[[Path, Kit], None]


def add_dependency(requirement: str, sources: str = "") -> Change:
    """``requirement`` added to the app's dependencies, and ``sources`` to its tool.uv.sources
    (a local project `core` is written at libs/core, and `scriptpkg` at libs/scriptpkg)."""

    def change(project: Path, kit: Kit) -> None:
        write_project(project / "libs" / "core", "core", "1.5")
        write_project(project / "libs" / "scriptpkg", "scriptpkg", "9.0")
        pyproject = project / "pyproject.toml"
        edit(pyproject, '  "cext",', f'  "cext", "{requirement}",')
        if sources:
            text = sources.replace("{git}", kit.git_url).replace("{url}", kit.wheel_url)
            append(pyproject, f"\n[tool.uv.sources]\n{text}\n")

    return change


def add_core_to(line: str, source: str) -> Change:
    """`core>=1.0` (the local project at libs/core) added to the list that ``line`` starts,
    redirected by ``source``."""

    def change(project: Path, kit: Kit) -> None:
        write_project(project / "libs" / "core", "core", "1.5")
        pyproject = project / "pyproject.toml"
        edit(pyproject, f"{line}[", f'{line}["core>=1.0", ')
        append(pyproject, f"\n[tool.uv.sources]\ncore = {source}\n")

    return change


def replace(file: str, old: str, new: str) -> Change:
    def change(project: Path, kit: Kit) -> None:
        edit(project / file, old, new)

    return change


def add(file: str, text: str) -> Change:
    def change(project: Path, kit: Kit) -> None:
        append(project / file, text)

    return change


def add_member(project: Path, kit: Kit) -> None:
    write_project(project / "packages" / "extra", "extra", "0.1")


def make_version_dynamic(project: Path, kit: Kit) -> None:
    edit(project / "pyproject.toml", 'version = "0.1.0"', 'dynamic = ["version"]')
    append(project / "pyproject.toml", '\n[tool.hatch.version]\npath = "src/app/__init__.py"\n')
    append(project / "src" / "app" / "__init__.py", '\n__version__ = "0.1.0"\n')


def both(first: Change, second: Change) -> Change:
    def change(project: Path, kit: Kit) -> None:
        first(project, kit)
        second(project, kit)

    return change


@dataclass(frozen=True)
class Edit:
    """A change to a fixture project (after ``setup``, locked by uv first, when there is one)."""

    change: Change
    #: what the static comparison says of the edited lock (never stale when uv says current)
    stale_statically: bool
    base: str = "app"
    #: where the bundle is built, in the base
    member: str = "."
    setup: Change | None = None


SOURCES = {
    "path": 'core = { path = "libs/core" }',
    "editable": 'core = { path = "libs/core", editable = true }',
    "git": 'core = { git = "{git}", branch = "main" }',
    "url": 'core = { url = "{url}" }',
    "two-markers": (
        "core = [\n"
        '  { path = "libs/core", marker = "sys_platform == \'linux\'" },\n'
        '  { git = "{git}", marker = "sys_platform != \'linux\'" },\n'
        "]"
    ),
}
APP_DEPENDENCY = "\"forked>=2; python_version >= '3.11'\""
API = "packages/api/pyproject.toml"

EDITS = {
    "add a dependency": Edit(replace("pyproject.toml", '"cext",', '"cext", "nativepkg",'), True),
    "remove a dependency": Edit(replace("pyproject.toml", '"scriptpkg",', ""), True),
    "re-specify a dependency": Edit(
        replace("pyproject.toml", '"puresdist",', '"puresdist>=0.1",'), True
    ),
    "re-spell a dependency the same": Edit(
        replace("pyproject.toml", APP_DEPENDENCY, "\"Forked >= 2.0 ; python_version>='3.11'\""),
        False,
    ),
    "change a marker": Edit(
        replace("pyproject.toml", APP_DEPENDENCY, "\"forked>=2; python_version >= '3.12'\""),
        False,
    ),
    **{
        f"redirect a new dependency to {kind}": Edit(add_dependency("core>=1.0", text), True)
        for kind, text in SOURCES.items()
    },
    **{
        f"re-specify a dependency redirected to {kind}": Edit(
            replace("pyproject.toml", '"core>=1.0"', '"core>=1.2"'),
            False,
            setup=add_dependency("core>=1.0", text),
        )
        for kind, text in SOURCES.items()
    },
    "re-specify a dependency redirected in its extra only": Edit(
        replace("pyproject.toml", '"core>=1.0"', '"core>=1.2"'),
        False,
        setup=add_core_to("feature = ", '{ path = "libs/core", extra = "feature" }'),
    ),
    "re-specify a dependency redirected in its group only": Edit(
        replace("pyproject.toml", '"core>=1.0"', '"core>=1.2"'),
        False,
        setup=add_core_to("dev = ", '{ path = "libs/core", group = "dev" }'),
    ),
    "redirect an existing dependency to path": Edit(
        add("pyproject.toml", '\n[tool.uv.sources]\nscriptpkg = { path = "libs/scriptpkg" }\n'),
        False,
        setup=add_dependency("heavypkg"),
    ),
    "re-specify a dependency redirected on one platform only": Edit(
        replace("pyproject.toml", '"scriptpkg>=0.1"', '"scriptpkg>=0.2"'),
        False,
        setup=both(
            replace("pyproject.toml", '"scriptpkg",', ""),
            add_dependency(
                "scriptpkg>=0.1",
                'scriptpkg = [{ path = "libs/scriptpkg", marker = "sys_platform == \'win32\'" }]',
            ),
        ),
    ),
    "re-specify a dependency pinned to an index": Edit(
        replace("pyproject.toml", '"heavypkg>=0.1"', '"heavypkg>=0.2"'),
        True,
        setup=both(
            replace("pyproject.toml", "default = true", 'default = true\nname = "fixtures"'),
            add_dependency("heavypkg>=0.1", 'heavypkg = { index = "fixtures" }'),
        ),
    ),
    "add an extra": Edit(
        replace(
            "pyproject.toml",
            'feature = ["extradep"]',
            'feature = ["extradep"]\nmore = ["heavypkg"]',
        ),
        True,
    ),
    "add an extra that asks for another extra of the project": Edit(
        replace(
            "pyproject.toml",
            'feature = ["extradep"]',
            'feature = ["extradep"]\nall = ["app[feature]"]',
        ),
        True,
    ),
    "make the version dynamic, with an extra asking for another": Edit(
        make_version_dynamic,
        False,
        setup=replace(
            "pyproject.toml",
            'feature = ["extradep"]',
            'feature = ["extradep"]\nall = ["app[feature]"]',
        ),
    ),
    "add an empty extra": Edit(
        replace("pyproject.toml", 'feature = ["extradep"]', 'feature = ["extradep"]\nnone = []'),
        True,
    ),
    "ask for an extra of a dependency": Edit(
        replace("pyproject.toml", '"scriptpkg",', '"scriptpkg[fast]",'), True
    ),
    "change a dependency group": Edit(
        replace("pyproject.toml", 'dev = ["devdep"]', 'dev = ["devdep", "heavypkg"]'), True
    ),
    "add a group that includes another": Edit(
        replace(
            "pyproject.toml",
            'dev = ["devdep"]',
            'dev = ["devdep"]\nall = ["heavypkg", { include-group = "dev" }]',
        ),
        True,
    ),
    "move a group's requirement into an included group": Edit(
        replace(
            "pyproject.toml",
            'dev = ["devdep"]',
            'dev = [{ include-group = "base" }]\nbase = ["devdep"]',
        ),
        True,
    ),
    "add an empty group": Edit(
        replace("pyproject.toml", 'dev = ["devdep"]', 'dev = ["devdep"]\nnone = []'), False
    ),
    "raise requires-python": Edit(
        replace("pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.10.1"'),
        True,
    ),
    "cap requires-python": Edit(
        replace("pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.10, <4"'),
        True,
    ),
    "exclude one Python release": Edit(
        replace(
            "pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.10, !=3.10.1"'
        ),
        False,
    ),
    "re-spell requires-python the same": Edit(
        replace("pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.10.0"'),
        False,
    ),
    "require a compatible release of Python": Edit(
        replace("pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = "~=3.10"'),
        True,
    ),
    "require Python above 3.10": Edit(
        replace("pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">3.10"'),
        True,
    ),
    "add a looser requires-python bound": Edit(
        replace(
            "pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.10, >=3.9"'
        ),
        False,
    ),
    "change another member's dependencies": Edit(
        replace("packages/worker/pyproject.toml", '"workerdep"]', '"workerdep", "heavypkg"]'),
        True,
        base="workspace",
        member="packages/api",
    ),
    "change the member's own dependencies": Edit(
        replace(API, '"apidep"]', '"apidep", "heavypkg"]'),
        True,
        base="workspace",
        member="packages/api",
    ),
    # uv writes no [package.metadata] for a project that declares nothing
    "give a member that had no dependencies its first": Edit(
        replace(
            "packages/shared/pyproject.toml",
            'requires-python = ">=3.10"',
            'requires-python = ">=3.10"\ndependencies = ["heavypkg"]',
        ),
        True,
        base="workspace",
        member="packages/api",
    ),
    "give the built member that had no dependencies its first": Edit(
        replace(
            "packages/shared/pyproject.toml",
            'requires-python = ">=3.10"',
            'requires-python = ">=3.10"\ndependencies = ["heavypkg"]',
        ),
        True,
        base="workspace",
        member="packages/shared",
    ),
    "re-specify a workspace dependency": Edit(
        replace(API, '["shared", "apidep"]', '["shared>=0.1", "apidep"]'),
        False,
        base="workspace",
        member="packages/api",
    ),
    "move a workspace source to the root": Edit(
        both(
            replace(API, "[tool.uv.sources]\nshared = { workspace = true }", ""),
            both(
                replace(API, '["shared", "apidep"]', '["shared>=0.1", "apidep"]'),
                add("pyproject.toml", "\n[tool.uv.sources]\nshared = { workspace = true }\n"),
            ),
        ),
        False,
        base="workspace",
        member="packages/api",
    ),
    "raise another member's requires-python": Edit(
        replace(
            "packages/shared/pyproject.toml",
            'requires-python = ">=3.10"',
            'requires-python = ">=3.10.1"',
        ),
        True,
        base="workspace",
        member="packages/api",
    ),
    "add a member": Edit(add_member, False, base="workspace", member="packages/api"),
}


def edited(make_project: MakeProject, sandboxed: dict[str, str], kit: Kit, case: Edit) -> Path:
    project = make_project(case.base)
    if case.setup is not None:
        case.setup(project, kit)
        uv_lock(project, env=sandboxed)
    case.change(project, kit)
    return project


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_project_is_called_stale_only_when_uv_says_so(
    name: str, make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    case = EDITS[name]
    project = edited(make_project, sandboxed, kit, case)

    current = uv_says_current(project, sandboxed)
    statically = called_stale(project / case.member, never_ask_uv)
    asking_uv = called_stale(project / case.member, ask_the_real_uv)

    assert statically is case.stale_statically
    assert not (current and statically)
    # uv is asked only about a difference the comparison found, and its "current" overrules it
    assert asking_uv is (statically and not current)


@pytest.mark.parametrize("name", list(EDITS))
def test_the_lock_uv_writes_after_an_edit_is_current(
    name: str, make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    case = EDITS[name]
    project = edited(make_project, sandboxed, kit, case)
    uv_lock(project, env=sandboxed)

    assert uv_says_current(project, sandboxed)
    assert not called_stale(project / case.member, never_ask_uv)
    assert not called_stale(project / case.member, ask_the_real_uv)


FIXTURES = [
    ("app", "."),
    ("crossapp", "."),
    ("lambdaapp", "."),
    ("privateapp", "."),
    ("workspace", "packages/api"),
    ("workspace", "packages/worker"),
    ("workspace", "packages/shared"),
]


@pytest.mark.parametrize(
    ("base", "member"), FIXTURES, ids=[f"{base}:{member}" for base, member in FIXTURES]
)
def test_every_fixture_project_is_current_as_uv_locked_it(
    base: str, member: str, make_project: MakeProject, sandboxed: dict[str, str]
) -> None:
    project = make_project(base)

    assert uv_says_current(project, sandboxed)
    assert not called_stale(project / member, never_ask_uv)
    assert not called_stale(project / member, ask_the_real_uv)


# -- asking uv ------------------------------------------------------------------------------------


def stale_app(make_project: MakeProject, change: Change, kit: Kit) -> Path:
    project = make_project("app")
    change(project, kit)
    return project


def verdict(project_dir: Path, uv: str | None, timeout: float = 30.0) -> UvVerdict:
    project = read_project(project_dir)
    assert project.name is not None
    return ask_uv(find_lock(project_dir, project.name), uv, timeout)


def test_uv_overrules_a_difference_it_calls_current(
    make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    # a requirement whose marker no environment meets: uv drops it when it applies the source,
    # and the comparison, which does not evaluate markers, misses it in the lock
    never = "core>=1.0; sys_platform == 'linux' and sys_platform == 'win32'"
    project = make_project("app")
    add_dependency(never, 'core = { path = "libs/core" }')(project, kit)
    uv_lock(project, env=sandboxed)

    assert uv_says_current(project, sandboxed)
    assert called_stale(project, never_ask_uv)
    assert not called_stale(project, ask_the_real_uv)


def test_a_stale_lock_is_reported_with_what_differs_when_uv_says_stale(
    make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    project = stale_app(make_project, EDITS["re-specify a dependency"].change, kit)

    assert verdict(project, ask_the_real_uv()) is UvVerdict.STALE
    with pytest.raises(LockbundleError) as caught:
        check_lock_current(
            read_lock(project / "uv.lock"), read_project(project), uv=ask_the_real_uv
        )

    assert "dependencies: `puresdist>=0.1` is declared but not locked" in str(caught.value)


def test_asking_uv_writes_nothing_in_the_project(
    make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    # a change uv can re-resolve offline, from its cache: `uv lock` would write the lock
    project = stale_app(make_project, EDITS["re-specify a dependency"].change, kit)
    before = snapshot(project)

    assert called_stale(project, ask_the_real_uv)

    assert snapshot(project) == before


def test_no_uv_gives_no_verdict_and_the_static_comparison_decides(
    make_project: MakeProject, sandboxed: dict[str, str], kit: Kit, tmp_path: Path
) -> None:
    project = stale_app(make_project, EDITS["add a dependency"].change, kit)
    missing = str(tmp_path / "no-such-uv")

    assert verdict(project, None) is UvVerdict.NONE
    assert verdict(project, missing) is UvVerdict.NONE
    with pytest.raises(LockbundleError, match=r"`nativepkg` is declared but not locked"):
        check_lock_current(
            read_lock(project / "uv.lock"), read_project(project), uv=lambda: missing
        )


def test_a_uv_that_runs_out_of_time_gives_no_verdict(
    make_project: MakeProject, sandboxed: dict[str, str]
) -> None:
    project = make_project("app")

    assert verdict(project, ask_the_real_uv(), timeout=0) is UvVerdict.NONE


def stand_in(directory: Path, script: str) -> str:
    """An executable named uv that behaves as ``script`` says (what a real uv does when too old
    or crashing, without installing one)."""
    path = directory / "uv"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            "echo \"error: unexpected argument '--check' found\" >&2; exit 2", id="too old"
        ),
        pytest.param("kill -SEGV $$", id="crashing"),
        pytest.param("echo 'error: the lock needs a newer uv' >&2; exit 1", id="failing"),
    ],
)
def test_a_uv_that_fails_otherwise_gives_no_verdict(
    script: str, make_project: MakeProject, sandboxed: dict[str, str], tmp_path: Path
) -> None:
    project = make_project("app")

    assert verdict(project, stand_in(tmp_path, script)) is UvVerdict.NONE


def test_an_interpreter_outside_requires_python_leaves_the_verdict_to_the_static_comparison(
    make_project: MakeProject, sandboxed: dict[str, str], kit: Kit
) -> None:
    raise_python = replace(
        "pyproject.toml", 'requires-python = ">=3.10"', 'requires-python = ">=3.99"'
    )
    project = stale_app(make_project, raise_python, kit)

    assert verdict(project, ask_the_real_uv()) is UvVerdict.NONE
    with pytest.raises(LockbundleError, match=r"requires-python: `>=3.99` declared"):
        check_lock_current(
            read_lock(project / "uv.lock"), read_project(project), uv=ask_the_real_uv
        )


def test_a_stale_lock_uv_cannot_re_resolve_offline_gets_no_verdict_from_it(
    make_project: MakeProject,
    sandboxed: dict[str, str],
    kit: Kit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = stale_app(make_project, EDITS["add a dependency"].change, kit)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))

    assert verdict(project, ask_the_real_uv()) is UvVerdict.NONE
    with pytest.raises(LockbundleError, match=r"`nativepkg` is declared but not locked"):
        check_lock_current(
            read_lock(project / "uv.lock"), read_project(project), uv=ask_the_real_uv
        )


# -- through hatch --------------------------------------------------------------------------------

# hatch's build environment has no uv package; without uv on PATH either, the static comparison
# decides (git stays reachable in /usr/bin)
WITHOUT_UV = {"PATH": os.pathsep.join(["/usr/bin", "/bin"])}


def test_uv_is_out_of_reach_of_hatch_builds_here() -> None:
    assert shutil.which("uv", path=WITHOUT_UV["PATH"]) is None


def test_hatch_builds_a_member_whose_workspace_dependency_was_re_specified(
    make_project: MakeProject, hatch_build: HatchBuild, kit: Kit
) -> None:
    project = make_project("workspace")
    EDITS["re-specify a workspace dependency"].change(project, kit)
    member = project / "packages" / "api"

    assert (
        built_artifact(hatch_build(member, extra_env=WITHOUT_UV), member).name == "api-0.1.0-target"
    )


def test_hatch_refuses_a_lock_uv_calls_stale_with_what_differs(
    make_project: MakeProject, hatch_build: HatchBuild, kit: Kit
) -> None:
    project = make_project("workspace")
    EDITS["change another member's dependencies"].change(project, kit)

    result = hatch_build(project / "packages" / "api", extra_env=WITHOUT_UV)

    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    worker = project / "packages" / "worker" / "pyproject.toml"
    assert f"uv.lock is out of date with {worker}:" in output
    assert "dependencies: `heavypkg` is declared but not locked" in output
    dist = project / "packages" / "api" / "dist"
    assert not dist.exists() or list(dist.iterdir()) == []
