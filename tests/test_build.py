"""PEP 517 builds in cached, isolated environments made by uv or, without uv, by venv + pip;
the user's own hatchling projects in this process."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from hatch_lockbundle.build import WheelBuilder, satisfied
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.credentials import realm
from hatch_lockbundle.errors import BuildError
from hatch_lockbundle.indexes import PackageIndexes
from hatch_lockbundle.uv_binary import find_uv
from support.index import IndexServer
from support.private_index import PASSWORD, USER, PrivateIndex, secret_needles

pytestmark = pytest.mark.slow

INSTALLERS = {"uv": find_uv(), "pip": None}


def sdist(index: IndexServer, name: str) -> Path:
    (path,) = [p for p in index.projects()[name] if p.name.endswith(".tar.gz")]
    return path


def index_builder(tmp_path: Path, index: IndexServer) -> WheelBuilder:
    """A builder with its cache in ``tmp_path``, getting build requirements from ``index``."""
    return WheelBuilder(Cache(tmp_path / "cache"), PackageIndexes(index_urls=(index.simple_url,)))


def source_tree(parent: Path, name: str, build_system: str, project: str = "") -> Path:
    """``parent/name``, holding a pyproject.toml with the ``[build-system]`` lines
    ``build_system`` and a ``[project]`` ``name`` version 1, plus the lines ``project``."""
    source = parent / name
    source.mkdir(parents=True, exist_ok=True)
    (source / "pyproject.toml").write_text(
        f'[build-system]\n{build_system}[project]\nname = "{name}"\nversion = "1"\n{project}'
    )
    return source


@pytest.mark.parametrize("installer", INSTALLERS)
def test_sdist_with_a_c_extension_builds_into_a_platform_wheel(
    installer: str, package_index: IndexServer, tmp_path: Path
) -> None:
    builder = WheelBuilder(
        Cache(tmp_path / "cache"),
        PackageIndexes(index_urls=(package_index.simple_url,)),
        uv=INSTALLERS[installer],
    )

    wheel = builder.build_sdist(sdist(package_index, "cext"), "cext==1.0", tmp_path / "work")

    assert wheel.name.startswith("cext-1.0-cp3")
    assert not wheel.name.endswith("-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert any(name.endswith(".so") for name in archive.namelist())


def test_build_environments_are_reused_without_the_index(
    package_index: IndexServer, tmp_path: Path
) -> None:
    cache = Cache(tmp_path / "cache")
    with IndexServer(package_index.directory) as index:
        builder = WheelBuilder(cache, PackageIndexes(index_urls=(index.simple_url,)))
        builder.build_sdist(sdist(package_index, "puresdist"), "puresdist", tmp_path / "one")
    # the index is gone: the cached environment must serve the second build
    wheel = builder.build_sdist(sdist(package_index, "puresdist"), "puresdist", tmp_path / "two")

    assert wheel.name.endswith("-py3-none-any.whl")
    assert (
        len([p for p in (Cache(tmp_path / "cache").entries / "build-envs").iterdir() if p.is_dir()])
        == 1
    )


@pytest.mark.parametrize("own", [False, True], ids=["isolated", "in-process"])
def test_a_failing_build_shows_the_backend_output(
    own: bool, package_index: IndexServer, tmp_path: Path
) -> None:
    source = source_tree(
        tmp_path,
        "broken",
        'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
        'dynamic = ["nonsense"]\n',
    )
    builder = index_builder(tmp_path, package_index)

    with pytest.raises(
        BuildError,
        match=r"building a wheel for broken==1 from .* failed; the build said:\n(.|\n)*Unable to determine which files to ship",
    ):
        builder.build_tree(source, "broken==1", tmp_path / "out", own=own)
    assert (Cache(tmp_path / "cache").entries / "build-envs").exists() is not own


def test_backends_can_run_the_scripts_of_their_build_requirements(
    package_index: IndexServer, tmp_path: Path
) -> None:
    source = tmp_path / "uses-a-tool"
    (source / "src" / "uses_a_tool").mkdir(parents=True)
    (source / "src" / "uses_a_tool" / "__init__.py").write_text("")
    source_tree(
        tmp_path,
        "uses-a-tool",
        'requires = ["hatchling", "wheel"]\nbuild-backend = "backend"\nbackend-path = ["."]\n',
    )
    # like meson-python calling ninja: the tool is a console script of a build requirement
    # (`wheel`, which the test environment itself does not have)
    (source / "backend.py").write_text(
        "import subprocess\n"
        "from hatchling.build import *  # noqa: F403\n"
        "from hatchling.build import build_wheel as _build_wheel\n"
        "def build_wheel(directory, config_settings=None, metadata_directory=None):\n"
        "    subprocess.run(['wheel', 'version'], check=True, capture_output=True)\n"
        "    return _build_wheel(directory, config_settings, metadata_directory)\n"
    )
    builder = index_builder(tmp_path, package_index)

    first = builder.build_tree(source, "uses-a-tool==1", tmp_path / "one")
    again = builder.build_tree(source, "uses-a-tool==1", tmp_path / "two")  # the cached environment

    assert first.name == again.name == "uses_a_tool-1-py2.py3-none-any.whl"


def test_a_relative_cache_directory_works_from_any_directory(
    package_index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    builder = WheelBuilder(
        Cache(Path("relative") / "cache"), PackageIndexes(index_urls=(package_index.simple_url,))
    )

    wheel = builder.build_sdist(sdist(package_index, "puresdist"), "puresdist", tmp_path / "work")

    assert wheel.name.endswith("-py3-none-any.whl")
    assert (Cache(tmp_path / "relative" / "cache").entries / "build-envs").is_dir()


# -- build requirements from a private index -----------------------------------------------------

_launches: list[list[str]] | None = None


def _record_launch(event: str, args: tuple[object, ...]) -> None:
    if event == "subprocess.Popen" and _launches is not None:
        _launches.append([os.fsdecode(arg) for arg in args[1]])  # type: ignore[attr-defined]


sys.addaudithook(_record_launch)  # audit hooks stay for the process's life: it records on demand


@pytest.fixture
def launched() -> Iterator[list[list[str]]]:
    """The command line of every process this test starts, as ``ps`` would show it."""
    global _launches
    _launches = []
    try:
        yield _launches
    finally:
        _launches = None


@pytest.fixture
def private(package_index: IndexServer) -> Iterator[PrivateIndex]:
    """The session's dists behind HTTP basic auth."""
    with PrivateIndex(package_index.directory) as index:
        yield index


CREDENTIAL_SOURCES = ["given", "netrc"]


@pytest.mark.parametrize("source", CREDENTIAL_SOURCES)
@pytest.mark.parametrize("installer", INSTALLERS)
def test_build_requirements_come_from_a_private_index_with_no_secret_on_a_command_line(
    installer: str,
    source: str,
    private: PrivateIndex,
    package_index: IndexServer,
    launched: list[list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials = {realm(private.url): (USER, PASSWORD)} if source == "given" else {}
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc if source == "netrc" else tmp_path / "none"))
    builder = WheelBuilder(
        Cache(tmp_path / "cache"),
        PackageIndexes(index_urls=(private.simple_url,)),
        uv=INSTALLERS[installer],
        credentials=credentials,
    )

    wheel = builder.build_sdist(sdist(package_index, "puresdist"), "puresdist", tmp_path / "work")

    assert wheel.name == "puresdist-1.0-py3-none-any.whl"
    assert any(path.startswith("/files/hatchling-") for path in private.requests)
    assert launched
    for command in launched:
        assert not any(needle in arg for arg in command for needle in secret_needles()), command


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_failed_build_environment_names_no_secret(
    installer: str, private: PrivateIndex, tmp_path: Path
) -> None:
    source = source_tree(
        tmp_path,
        "wants-a-missing-backend",
        'requires = ["no-such-backend"]\nbuild-backend = "nowhere"\n',
    )
    builder = WheelBuilder(
        Cache(tmp_path / "cache"),
        PackageIndexes(index_urls=(private.simple_url,)),
        uv=INSTALLERS[installer],
        credentials={realm(private.url): (USER, PASSWORD)},
    )

    with pytest.raises(BuildError) as raised:
        builder.build_tree(source, "wants-a-missing-backend==1", tmp_path / "out")

    message = str(raised.value)
    assert "cannot create the build environment for wants-a-missing-backend==1" in message
    assert f"the installer looked in {private.simple_url}):" in message
    assert "no-such-backend" in message
    # the installer's own `error:` lines are quoted under ours, not shown as a second error
    quoted = message.splitlines()[1:]
    assert quoted
    assert all(line.startswith("    ") for line in quoted)
    assert [needle for needle in secret_needles() if needle in message] == []
    assert any(path.startswith("/simple/no-such-backend") for path in private.requests)


def test_a_failed_backend_names_no_secret_even_when_it_prints_one(
    private: PrivateIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a backend runs in our environment, where index credentials may be (UV_INDEX_*_PASSWORD,
    # a URL with userinfo); what it prints is quoted in the error
    source = source_tree(
        tmp_path, "leaky", 'requires = []\nbuild-backend = "leaky"\nbackend-path = ["."]\n'
    )
    (source / "leaky.py").write_text(
        "import os, sys\n"
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    print(os.environ['LEAKED_PASSWORD'], os.environ['LEAKED_URL'])\n"
        "    sys.exit(1)\n"
    )
    monkeypatch.setenv("LEAKED_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEAKED_URL", f"https://someone:{PASSWORD}@pkgs.example.com/simple/")
    builder = WheelBuilder(
        Cache(tmp_path / "cache"),
        PackageIndexes(index_urls=(private.simple_url,)),
        credentials={realm(private.url): (USER, PASSWORD)},
    )

    with pytest.raises(BuildError) as raised:
        builder.build_tree(source, "leaky==1", tmp_path / "out")

    message = str(raised.value)
    assert "building a wheel for leaky==1" in message and "****" in message
    assert [needle for needle in secret_needles() if needle in message] == []


def test_a_backend_runs_without_the_credential_variables(
    package_index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a backend could copy what it finds into the wheel it builds: here, into a file
    seen = tmp_path / "seen-environment.json"
    source = source_tree(
        tmp_path, "nosy", 'requires = []\nbuild-backend = "nosy"\nbackend-path = ["."]\n'
    )
    (source / "nosy.py").write_text(
        "import json, os, sys\n"
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        "    sys.exit(1)\n"
    )
    secret = {
        "UV_INDEX_PRIVATE_PASSWORD": PASSWORD,
        "UV_INDEX_PRIVATE_USERNAME": USER,
        "UV_PUBLISH_TOKEN": PASSWORD,
        "TWINE_PASSWORD": PASSWORD,
    }
    for name, value in secret.items():
        monkeypatch.setenv(name, value)
    userinfo = f"{USER}:{quote(PASSWORD, safe='')}@"
    monkeypatch.setenv("UV_INDEX_URL", f"https://{userinfo}pkgs.example.com/simple/")
    monkeypatch.setenv("UV_INDEX", f"private=https://{userinfo}pkgs.example.com/simple/ other")
    monkeypatch.setenv("AN_UNRELATED_SETTING", "kept")

    with pytest.raises(BuildError):
        index_builder(tmp_path, package_index).build_tree(source, "nosy==1", tmp_path / "out")

    environment = json.loads(seen.read_text())
    assert [needle for needle in secret_needles() if needle in seen.read_text()] == []
    assert set(secret).isdisjoint(environment)
    assert environment["UV_INDEX_URL"] == "https://pkgs.example.com/simple/"
    assert environment["UV_INDEX"] == "private=https://pkgs.example.com/simple/ other"
    assert environment["AN_UNRELATED_SETTING"] == "kept"


# -- the user's own hatchling projects, built in this process -------------------------------------


def package_tree(parent: Path, name: str, build_system: str, project: str = "") -> Path:
    """A :func:`source_tree` with a package ``src/<name>`` to ship."""
    source = source_tree(parent, name, build_system, project)
    (source / "src" / name).mkdir(parents=True)
    (source / "src" / name / "__init__.py").write_text("VALUE = 1\n")
    return source


HATCHLING = 'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def wheel_members(wheel: Path) -> dict[str, bytes]:
    """Every member's bytes, but WHEEL and RECORD (which name and hash the backend's version)."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if not name.endswith((".dist-info/WHEEL", ".dist-info/RECORD"))
        }


def hooked_tree(parent: Path, name: str, hook: str) -> Path:
    """A hatchling :func:`package_tree` whose wheel target runs the build hook ``hook`` (the
    source of its ``hatch_build.py``)."""
    source = package_tree(
        parent, name, HATCHLING, "[tool.hatch.build.targets.wheel.hooks.custom]\n"
    )
    (source / "hatch_build.py").write_text(hook)
    return source


def test_an_own_hatchling_project_is_built_in_this_process_as_in_isolation(
    package_index: IndexServer, tmp_path: Path, launched: list[list[str]]
) -> None:
    source = package_tree(tmp_path, "mine", HATCHLING, '[project.scripts]\nmine = "mine:main"\n')
    builder = index_builder(tmp_path, package_index)

    here = builder.build_tree(source, "mine==1", tmp_path / "here", own=True)

    assert launched == []
    assert not (Cache(tmp_path / "cache").entries / "build-envs").exists()
    isolated = builder.build_tree(source, "mine==1", tmp_path / "isolated")
    assert launched != []
    assert here.name == isolated.name == "mine-1-py2.py3-none-any.whl"
    assert wheel_members(here) == wheel_members(isolated)
    assert "mine/__init__.py" in wheel_members(here)


def test_an_own_project_is_built_from_inside_its_tree_with_its_output_kept_quiet(
    package_index: IndexServer,
    tmp_path: Path,
    launched: list[list[str]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    # like many projects' hooks, this one opens a path relative to the project
    source = hooked_tree(
        tmp_path,
        "hooked",
        "from pathlib import Path\n"
        "from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n"
        "class Hook(BuildHookInterface):\n"
        "    def initialize(self, version, build_data):\n"
        "        print('noise from the hook')\n"
        "        Path('stamp.txt').read_text()\n"
        "        build_data['force_include'][str(Path('stamp.txt').resolve())] = 'hooked/stamp.txt'\n",
    )
    (source / "stamp.txt").write_text("read from the tree\n")
    builder = index_builder(tmp_path, package_index)
    before = os.getcwd()

    wheel = builder.build_tree(source, "hooked==1", tmp_path / "out", own=True)

    assert launched == []
    assert os.getcwd() == before
    assert wheel_members(wheel)["hooked/stamp.txt"] == b"read from the tree\n"
    captured = capfd.readouterr()
    assert "noise" not in captured.out + captured.err


CHATTY_HOOK = (
    "import threading\n"
    "from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n"
    "class Hook(BuildHookInterface):\n"
    "    def initialize(self, version, build_data):\n"
    "        print('said by the build')\n"
    "        other = threading.Thread(target=print, args=('said by another thread',))\n"
    "        other.start()\n"
    "        other.join()\n"
)


def test_an_own_build_keeps_its_output_and_leaves_other_threads_output_alone(
    package_index: IndexServer,
    tmp_path: Path,
    launched: list[list[str]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = hooked_tree(tmp_path, "chatty", CHATTY_HOOK)
    said: list[str] = []
    builder = index_builder(tmp_path, package_index)
    builder.said = said.append

    builder.build_tree(source, "chatty==1", tmp_path / "out", own=True)

    assert launched == []
    assert "said by the build" in "".join(said)
    assert "said by another thread" not in "".join(said)
    printed = capfd.readouterr().out
    assert "said by another thread" in printed and "said by the build" not in printed


def test_an_own_build_of_the_tree_it_runs_in_leaves_the_working_directory_alone(
    package_index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = package_tree(tmp_path, "here", HATCHLING)
    monkeypatch.chdir(source)  # as `hatch build` runs in the project
    changed: list[str] = []
    monkeypatch.setattr(os, "chdir", lambda path: changed.append(str(path)))
    builder = index_builder(tmp_path, package_index)

    wheel = builder.build_tree(source, "here==1", tmp_path / "out", own=True)

    assert "here/__init__.py" in wheel_members(wheel)
    assert changed == []


@pytest.mark.parametrize(
    ("build_system", "project"),
    [
        ('requires = ["hatchling", "wheel"]\nbuild-backend = "hatchling.build"\n', ""),
        (HATCHLING, '[tool.hatch.build.targets.wheel]\ndependencies = ["wheel"]\n'),
    ],
    ids=["build-system", "wheel-target"],
)
def test_an_own_project_needing_what_this_environment_lacks_is_built_in_isolation(
    build_system: str,
    project: str,
    package_index: IndexServer,
    tmp_path: Path,
    launched: list[list[str]],
) -> None:
    # `wheel` is on the index but not in the environment running the tests
    source = package_tree(tmp_path, "needy", build_system, project)
    builder = index_builder(tmp_path, package_index)

    wheel = builder.build_tree(source, "needy==1", tmp_path / "out", own=True)

    assert wheel.name == "needy-1-py2.py3-none-any.whl"
    assert (Cache(tmp_path / "cache").entries / "build-envs").is_dir()
    assert launched != []


def test_an_own_project_wanting_another_hatchling_version_is_not_built_with_this_one(
    package_index: IndexServer, tmp_path: Path
) -> None:
    source = package_tree(
        tmp_path, "oldstyle", 'requires = ["hatchling<1"]\nbuild-backend = "hatchling.build"\n'
    )
    builder = index_builder(tmp_path, package_index)

    # the index has no such hatchling: the isolated environment, not this process, must fail
    with pytest.raises(BuildError, match="cannot create the build environment for oldstyle==1"):
        builder.build_tree(source, "oldstyle==1", tmp_path / "out", own=True)


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        (["hatchling", "packaging>=1"], True),
        ([], True),
        (["hatchling; python_version < '3'"], True),  # not for this interpreter
        (["hatchling<1"], False),
        (["no-such-distribution"], False),
        (["hatchling[extra]"], False),
        (["hatchling @ https://example.com/hatchling.whl"], False),
    ],
)
def test_requirements_count_as_satisfied_only_when_this_environment_has_them(
    requirements: list[str], expected: bool
) -> None:
    assert satisfied(requirements) is expected
