"""The end-to-end test bench itself: index, fixture packages, locks, reference recipe, fresh Python."""

from __future__ import annotations

import hashlib
import py_compile
import re
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from support.bundle import distributions, local_direct_urls, occurrences, pyc_flags
from support.compat import tomllib
from support.environ import Sandbox, run, uv_binary
from support.fresh import FreshPython
from support.index import IndexServer
from support.projects import MakeProject
from support.reference import UvReferenceTarget

pytestmark = pytest.mark.slow

APP_RUNTIME = {
    ("app", "0.1.0"),
    ("cext", "1.0"),
    ("puresdist", "1.0"),
    ("scriptpkg", "1.0"),
    ("platdep", "1.0"),
    ("linuxonly", "1.0"),
    ("forked", "2.0"),
    ("accelplugin", "1.0"),
    ("accel", "2.0"),
}


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def locked(lock: Path, name: str) -> list[dict[str, object]]:
    packages = tomllib.loads(lock.read_text())["package"]
    return [package for package in packages if package["name"] == name]


def served_files(index: IndexServer, name: str) -> list[str]:
    return sorted(path.name for path in index.projects()[name])  # type: ignore[index]


# -- the index --------------------------------------------------------------------------------------


def test_index_lists_every_fixture_package_and_the_plugin(package_index: IndexServer) -> None:
    root = fetch(package_index.simple_url)
    for name in (
        "cext",
        "puresdist",
        "scriptpkg",
        "platdep",
        "forked",
        "accel",
        "hatch-lockbundle",
    ):
        assert f'href="/simple/{name}/"' in root


def test_index_links_each_file_with_its_sha256(package_index: IndexServer) -> None:
    page = fetch(package_index.simple_url + "forked/")
    links = dict(re.findall(r'href="/files/([^"#]+)#sha256=([0-9a-f]{64})"', page))
    assert sorted(links) == ["forked-1.0-py3-none-any.whl", "forked-2.0-py3-none-any.whl"]
    for filename, sha256 in links.items():
        data = urllib.request.urlopen(package_index.file_url(filename), timeout=10).read()
        assert hashlib.sha256(data).hexdigest() == sha256
    assert 'data-requires-python="&gt;=3.10"' in page


def test_index_redirects_unnormalized_project_names(package_index: IndexServer) -> None:
    assert "hatch_lockbundle-" in fetch(package_index.simple_url + "Hatch_LockBundle")


def test_stopped_index_refuses_connections_and_restarts_on_its_port(tmp_path: Path) -> None:
    (tmp_path / "demo-1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
    with IndexServer(tmp_path) as index:
        with index.stopped(), pytest.raises(urllib.error.URLError):
            fetch(index.simple_url)
        assert "demo" in fetch(index.simple_url)


def test_dead_url_refuses_connections(dead_url: str) -> None:
    with pytest.raises(urllib.error.URLError):
        fetch(dead_url)


# -- the fixture packages ---------------------------------------------------------------------------


def test_c_extension_is_published_only_as_an_sdist(package_index: IndexServer) -> None:
    assert served_files(package_index, "cext") == ["cext-1.0.tar.gz"]


def test_pure_sdist_package_is_published_only_as_an_sdist(package_index: IndexServer) -> None:
    assert served_files(package_index, "puresdist") == ["puresdist-1.0.tar.gz"]


def test_scripts_package_wheel_has_console_script_script_file_and_data(
    package_index: IndexServer,
) -> None:
    (wheel,) = package_index.projects()["scriptpkg"]  # type: ignore[index]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        script = archive.read("scriptpkg-1.0.data/scripts/scriptpkg-tool")
        entry_points = archive.read("scriptpkg-1.0.dist-info/entry_points.txt").decode()
    assert script.startswith(b"#!python\n")
    assert "scriptpkg-1.0.data/data/share/scriptpkg/data.txt" in names
    assert "scriptpkg-hello = scriptpkg.cli:main" in entry_points


# -- the locks --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(make_project: MakeProject) -> Path:
    return make_project("app")


@pytest.fixture(scope="module")
def workspace(make_project: MakeProject) -> Path:
    return make_project("workspace")


def test_app_lock_points_at_the_local_index(app: Path, package_index: IndexServer) -> None:
    (scriptpkg,) = locked(app / "uv.lock", "scriptpkg")
    assert scriptpkg["source"] == {"registry": package_index.simple_url}
    assert scriptpkg["wheels"][0]["url"] == package_index.file_url(  # type: ignore[index]
        "scriptpkg-1.0-py3-none-any.whl"
    )


def test_app_lock_has_a_fork_locking_one_name_at_two_versions(app: Path) -> None:
    assert sorted(str(package["version"]) for package in locked(app / "uv.lock", "forked")) == [
        "1.0",
        "2.0",
    ]


def test_app_lock_encodes_conflicting_extras_in_edge_markers(app: Path) -> None:
    (accelplugin,) = locked(app / "uv.lock", "accelplugin")
    edges = {
        str(edge["version"]): str(edge["marker"])
        for edge in accelplugin["dependencies"]  # type: ignore[attr-defined]
    }
    assert edges == {
        "1.0": "extra == 'extra-3-app-cpu'",
        "2.0": "extra != 'extra-3-app-cpu' or extra == 'extra-3-app-gpu'",
    }


def test_workspace_lock_has_a_virtual_root_and_three_members(workspace: Path) -> None:
    lock = tomllib.loads((workspace / "uv.lock").read_text())
    assert sorted(lock["manifest"]["members"]) == ["api", "shared", "worker"]
    assert "project" not in tomllib.loads((workspace / "pyproject.toml").read_text())


# -- the reference recipe ---------------------------------------------------------------------------


def test_reference_target_of_app_holds_its_runtime_dependencies(
    app: Path, uv_reference_target: UvReferenceTarget
) -> None:
    assert distributions(uv_reference_target(app)) == APP_RUNTIME


def test_reference_target_of_app_with_extras_and_groups(
    app: Path, uv_reference_target: UvReferenceTarget
) -> None:
    target = uv_reference_target(app, extras=["feature", "cpu"], groups=["dev"])
    assert distributions(target) == (APP_RUNTIME - {("accel", "2.0")}) | {
        ("extradep", "1.0"),
        ("accel", "1.0"),
        ("devdep", "1.0"),
    }


def test_reference_target_of_workspace_member_holds_only_its_closure(
    workspace: Path, uv_reference_target: UvReferenceTarget
) -> None:
    assert distributions(uv_reference_target(workspace, package="api")) == {
        ("api", "0.1.0"),
        ("shared", "0.1.0"),
        ("apidep", "1.0"),
    }


# -- the fresh interpreter and the sandbox ----------------------------------------------------------


def test_fresh_python_is_the_only_python3_on_its_path(fresh_python: FreshPython) -> None:
    result = fresh_python.run_python3("-c", "import sys; print(sys.prefix)")
    assert Path(result.stdout.strip()) == fresh_python.prefix


def test_fresh_python_has_nothing_installed(fresh_python: FreshPython, tmp_path: Path) -> None:
    result = fresh_python.run_code("import pip", tmp_path, check=False)
    assert "ModuleNotFoundError" in result.stderr


def test_fresh_python_imports_from_the_bundle_on_its_path(
    fresh_python: FreshPython, app: Path, uv_reference_target: UvReferenceTarget
) -> None:
    target = uv_reference_target(app)
    result = fresh_python.run_code("import cext, scriptpkg; print(cext.MARKER)", target)
    assert result.stdout == "cext 1.0\n"


def test_sandbox_cannot_reach_the_internet(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run(
        [
            uv_binary(),
            "pip",
            "install",
            "--target",
            tmp_path / "t",
            "--no-deps",
            "--default-index",
            "https://pypi.org/simple",
            "--no-cache",
            "packaging",
        ],
        cwd=tmp_path,
        env=sandbox.environ({"UV_HTTP_RETRIES": "0"}),
        check=False,
    )
    assert result.returncode != 0


# -- the checks tell a good bundle from the by-hand recipe's ----------------------------------------


def test_build_path_scan_finds_the_recipes_absolute_shebangs(
    app: Path, uv_reference_target: UvReferenceTarget, build_machine_paths: list[str]
) -> None:
    found = occurrences(uv_reference_target(app), build_machine_paths)
    assert "bin/app-hello" in found


def test_direct_url_check_finds_the_recipes_local_project_url(
    app: Path, uv_reference_target: UvReferenceTarget
) -> None:
    assert local_direct_urls(uv_reference_target(app)) == {
        "app-0.1.0.dist-info": app.as_uri(),
    }


def test_recipes_console_script_does_not_run_under_the_fresh_python(
    app: Path, uv_reference_target: UvReferenceTarget, fresh_python: FreshPython
) -> None:
    script = uv_reference_target(app) / "bin" / "scriptpkg-hello"
    result = fresh_python.run_script(script, check=False)
    assert str(fresh_python.prefix) not in result.stdout


def test_pyc_flags_tell_hash_based_from_timestamp_bytecode(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("VALUE = 1\n")
    timestamp, checked = tmp_path / "timestamp.pyc", tmp_path / "checked.pyc"
    py_compile.compile(
        str(source), str(timestamp), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP
    )
    py_compile.compile(
        str(source), str(checked), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    assert pyc_flags(timestamp) == 0
    assert pyc_flags(checked) != 0
