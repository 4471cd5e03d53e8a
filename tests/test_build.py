"""PEP 517 builds in cached, isolated environments made by uv or, without uv, by venv + pip."""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_lockbundle.build import BuildError, PackageIndexes, WheelBuilder, find_uv
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.http import realm
from support.index import IndexServer
from support.private_index import PASSWORD, USER, PrivateIndex, secret_needles

pytestmark = pytest.mark.slow

INSTALLERS = {"uv": find_uv(), "pip": None}


def sdist(index: IndexServer, name: str) -> Path:
    (path,) = [p for p in index.projects()[name] if p.name.endswith(".tar.gz")]
    return path


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
    assert len([p for p in (tmp_path / "cache" / "build-envs").iterdir() if p.is_dir()]) == 1


def test_a_failing_build_shows_the_backend_output(
    package_index: IndexServer, tmp_path: Path
) -> None:
    source = source_tree(
        tmp_path,
        "broken",
        'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n',
        'dynamic = ["nonsense"]\n',
    )
    builder = WheelBuilder(
        Cache(tmp_path / "cache"), PackageIndexes(index_urls=(package_index.simple_url,))
    )

    with pytest.raises(
        BuildError,
        match=r"building a wheel for broken==1 from .* failed; the build said:\n(.|\n)*Unable to determine which files to ship",
    ):
        builder.build_tree(source, "broken==1", tmp_path / "out")


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
    builder = WheelBuilder(
        Cache(tmp_path / "cache"), PackageIndexes(index_urls=(package_index.simple_url,))
    )

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
    assert (tmp_path / "relative" / "cache" / "build-envs").is_dir()


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
    assert "no-such-backend" in message
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
