"""A ``pylock.toml`` is untrusted input (a lock from a pull request): what a hostile one cannot
make a build do (read or build files outside its directory, replace the project's code, slip
options into a requirements file, ship a file changed after its check, crash the reader)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hatch_lockbundle.build import _build_system
from hatch_lockbundle.bundle import build_bundle, plan_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.cached_installs import CachedInstalls
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.errors import BuildError, LockbundleError
from hatch_lockbundle.fetch import Fetcher
from hatch_lockbundle.hatch_env import hatch_environment
from hatch_lockbundle.indexes import indexes_of
from hatch_lockbundle.layouts.wheelhouse import write_wheelhouse
from hatch_lockbundle.lock import LockError, LockFormat
from hatch_lockbundle.progress import Reporter
from hatch_lockbundle.project import build_index_urls, read_project
from hatch_lockbundle.pylock import PylockError, read_pylock
from hatch_lockbundle.pylock_select import select_pylock
from hatch_lockbundle.staleness import _read_document
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import read_lock
from support.artifacts import write_wheel

HEAD = 'lock-version = "1.0"\ncreated-by = "hand"\n'


def a_project(root: Path, dependencies: str = '"dep"') -> Path:
    """A hatchling project ``app`` with a ``dep`` wheel beside it in ``wheels/``."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "app"\nversion = "0.1"\ndependencies = [{dependencies}]\n'
    )
    (root / "wheels").mkdir()
    write_wheel(root / "wheels", "dep", "1.0", {"dep/__init__.py": "X = 1\n"})
    return root


def dep_entry(root: Path, path: str | None = None, extra: str = "", **hashes: str) -> str:
    """The ``[[packages]]`` entry of the ``dep`` wheel of :func:`a_project`, by ``path``."""
    wheel = root / "wheels" / "dep-1.0-py3-none-any.whl"
    data = wheel.read_bytes()
    written = hashes or {"sha256": hashlib.sha256(data).hexdigest()}
    table = ", ".join(
        f'{name} = "{hashlib.new(name.lower(), data).hexdigest() if value == "real" else value}"'
        for name, value in written.items()
    )
    return (
        f'[[packages]]\nname = "dep"\nversion = "1.0"\n{extra}'
        f'[[packages.wheels]]\npath = "{path or "wheels/" + wheel.name}"\n'
        f"hashes = {{ {table} }}\n"
    )


def write_lock(root: Path, text: str) -> Path:
    lock = root / "pylock.toml"
    lock.write_text(HEAD + text)
    return lock


def refusal(lock: Path) -> str:
    with pytest.raises(PylockError) as raised:
        read_pylock(lock)
    return str(raised.value)


# -- local paths stay under the lock's directory -----------------------------------------------


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_directory_entry_outside_the_lock_s_directory_is_refused(
    tmp_path: Path, where: str
) -> None:
    project = a_project(tmp_path / "project")
    evil = tmp_path / "evil"
    evil.mkdir()
    (project / "inside").symlink_to(evil)
    path = {"absolute": str(evil), "dotdot": "../evil", "symlink": "inside"}[where]
    lock = write_lock(
        project, f'[[packages]]\nname = "zzz"\n[packages.directory]\npath = "{path}"\n'
    )
    message = refusal(lock)
    assert f"[[packages]] #1 (zzz) directory: `path = '{path}'` is outside {project}" in message
    assert "Move them under that directory" in message


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("{outside}", "path"),
        ("../outside/dep-1.0-py3-none-any.whl", "path"),
        ("{outside_uri}", "url"),
    ],
    ids=["absolute", "dotdot", "file-url"],
)
def test_a_wheel_outside_the_lock_s_directory_is_refused(
    tmp_path: Path, path: str, field: str
) -> None:
    project = a_project(tmp_path / "project")
    (tmp_path / "outside").mkdir()
    outside = write_wheel(tmp_path / "outside", "dep", "1.0", {"dep/__init__.py": ""})
    path = path.format(outside=outside, outside_uri=outside.as_uri())
    text = dep_entry(project).replace(
        'path = "wheels/', f'{field} = "{path}"\n#', 1
    )  # the lock names the file outside instead
    message = refusal(write_lock(project, text))
    assert "(dep) wheels[0]" in message and f"is outside {project}" in message


def test_a_file_url_with_a_host_is_refused(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    text = dep_entry(project).replace('path = "wheels/', 'url = "file://otherhost/x/', 1)
    assert "names another host: a file URL must be `file:///…`" in refusal(
        write_lock(project, text)
    )


def test_a_local_wheel_and_a_file_url_under_the_lock_s_directory_are_read(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    wheel = project / "wheels" / "dep-1.0-py3-none-any.whl"
    for text in (
        dep_entry(project),
        dep_entry(project).replace('path = "wheels/', f'url = "{wheel.as_uri()}"\n#', 1),
    ):
        read_pylock(write_lock(project, text))


# -- trees: only the project is built in this process ------------------------------------------


def test_only_the_project_s_own_entry_may_be_built_in_this_process(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project", '"dep", "vendored"')
    (project / "vendor" / "vendored").mkdir(parents=True)
    write_lock(
        project,
        dep_entry(project)
        + '[[packages]]\nname = "app"\n[packages.directory]\npath = "."\n'
        + '[[packages]]\nname = "vendored"\n[packages.directory]\npath = "vendor/vendored"\n',
    )
    _, plans = plan_bundle(read_project(project), load_and_validate_config(None, project))
    own = {planned.name: planned.artifact.own for planned in plans[0].packages}
    # any other tree is built like an sdist: isolated, without the build's credentials
    assert own == {"app": True, "dep": False, "vendored": False}


def test_a_hatch_environment_s_project_is_built_as_the_project(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    write_lock(project, dep_entry(project))  # no entry for the project, as hatch writes it
    _, plans = plan_bundle(read_project(project), load_and_validate_config(None, project))
    assert {planned.name: planned.artifact.own for planned in plans[0].packages}["app"]


@pytest.mark.parametrize(
    "replacement",
    [
        '[packages.directory]\npath = "other"\n',
        '[[packages.wheels]]\nurl = "https://files.example/app-0.1-py3-none-any.whl"\n'
        f'hashes = {{ sha256 = "{"ab" * 32}" }}\n',
    ],
    ids=["another-tree", "a-wheel"],
)
def test_an_entry_of_the_project_that_is_not_its_directory_is_refused(
    tmp_path: Path, replacement: str
) -> None:
    project = a_project(tmp_path / "project")
    (project / "other" / "app").mkdir(parents=True)
    write_lock(project, dep_entry(project) + f'[[packages]]\nname = "app"\n{replacement}')
    with pytest.raises(LockbundleError, match="the lock would replace the project's code"):
        plan_bundle(read_project(project), load_and_validate_config(None, project))


# -- hashes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha512", "sha384", "blake2b", "sha3_256"])
def test_a_wheel_verified_by_another_algorithm_carries_its_sha256(
    tmp_path: Path, algorithm: str
) -> None:
    """So that the wheelhouse compares what it ships with what was verified."""
    project = a_project(tmp_path / "project")
    lock = write_lock(project, dep_entry(project, **{algorithm: "real"}))
    pylock = read_pylock(lock)
    plan = select_pylock(pylock, Target.current(), "app")
    fetcher = Fetcher(Cache(tmp_path / "cache"), tmp_path / "work", indexes_of(pylock.lock))
    fetched = fetcher.fetch([plan])
    wheel = fetched[0].wheels[0]
    assert wheel.sha256 == hashlib.sha256(wheel.path.read_bytes()).hexdigest()
    # replaced after its check: not shipped
    write_wheel(wheel.path.parent, "dep", "1.0", {"dep/__init__.py": "PWNED = 1\n"})
    with pytest.raises(LockbundleError, match="changed after it was verified"):
        write_wheelhouse(
            fetched, tmp_path / "house", lock_sha256="0" * 64, lock_format=LockFormat.PYLOCK
        )


def test_one_algorithm_written_twice_in_two_cases_is_refused(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    lock = write_lock(project, dep_entry(project, sha256="0" * 64, SHA256="real"))
    assert "`hashes` names one algorithm twice ('SHA256', 'sha256')" in refusal(lock)


def test_a_negative_size_is_refused(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    text = dep_entry(project).replace("hashes =", "size = -5\nhashes =")
    assert "(dep) wheels[0]: `size = -5` is negative" in refusal(write_lock(project, text))


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (
            "https://pypi.org/simple --extra-index-url https://evil.example/simple",
            "holds a space or a control character",
        ),
        ("ftp://mirror.example/simple", "is not an http or https URL"),
    ],
    ids=["options", "not-http"],
)
def test_an_index_that_is_not_an_http_url_is_refused(
    tmp_path: Path, index: str, expected: str
) -> None:
    project = a_project(tmp_path / "project")
    lock = write_lock(project, dep_entry(project, extra=f'index = "{index}"\n'))
    assert f"(dep) index: '{index}' {expected}" in refusal(lock)


def test_a_binary_only_wheelhouse_ships_a_local_wheel_whose_entry_names_an_index(
    tmp_path: Path,
) -> None:
    """The server could not download a file the lock names by path: it is shipped."""
    project = a_project(tmp_path / "project")
    write_lock(project, dep_entry(project, extra='index = "https://pypi.org/simple"\n'))
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text() + "[tool.lockbundle]\nbinary-only = true\n"
    )
    house = build_bundle(
        project, project / "dist", bundle="wheelhouse", cache_dir=tmp_path / "cache"
    )
    assert (house / "wheels" / "dep-1.0-py3-none-any.whl").is_file()


# -- no tracebacks -----------------------------------------------------------------------------

BOMB = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.mark.parametrize("where", ["head", "after-a-table"])
def test_a_deeply_nested_lock_is_refused_as_not_valid_toml(tmp_path: Path, where: str) -> None:
    project = a_project(tmp_path / "project")
    text = HEAD + BOMB if where == "head" else HEAD + "[tool]\n" + BOMB
    (project / "pylock.toml").write_text(text)
    with pytest.raises(LockbundleError, match=r"not valid TOML \(nested too deeply\)"):
        plan_bundle(read_project(project), load_and_validate_config(None, project))


def test_a_deeply_nested_uv_lock_is_refused_as_not_valid_toml(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text("version = 1\n" + BOMB)
    with pytest.raises(LockError, match=r"not valid TOML \(nested too deeply\)"):
        read_lock(lock)


def test_a_deeply_nested_pyproject_is_refused_as_not_valid_toml(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("[tool.x]\n" + BOMB)
    with pytest.raises(
        LockbundleError, match=r"pyproject.toml: not valid TOML \(nested too deeply"
    ):
        read_project(project)


def test_a_deeply_nested_hatch_toml_is_refused_as_not_valid_toml(tmp_path: Path) -> None:
    project = a_project(tmp_path / "project")
    (project / "hatch.toml").write_text(BOMB)
    with pytest.raises(LockbundleError, match=r"hatch.toml: not valid TOML \(nested too deeply"):
        hatch_environment(project, read_project(project).document, "default")


def test_an_sdist_with_a_deeply_nested_pyproject_is_refused_as_unreadable(tmp_path: Path) -> None:
    """An sdist comes from an index: its pyproject.toml is someone else's."""
    (tmp_path / "pyproject.toml").write_text(BOMB)
    with pytest.raises(BuildError, match=r"cannot read .*: not valid TOML \(nested too deeply"):
        _build_system(tmp_path, "evil==1.0")


def test_a_workspace_member_with_a_deeply_nested_pyproject_is_not_compared(
    tmp_path: Path,
) -> None:
    project = a_project(tmp_path / "project")
    member = tmp_path / "project" / "member"
    member.mkdir()
    (member / "pyproject.toml").write_text(BOMB)
    assert _read_document(member / "pyproject.toml", read_project(project)) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example/simple https://evil.example/simple",
        "https://a.example/\nx",
        "file:///etc",
    ],
)
def test_a_project_index_url_uv_would_refuse_is_not_given_to_build_environments(
    tmp_path: Path, url: str
) -> None:
    project = a_project(tmp_path / "project")
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f"[[tool.uv.index]]\nurl = {json.dumps(url)}\ndefault = true\n")
    good = a_project(tmp_path / "good")
    with (good / "pyproject.toml").open("a") as pyproject:
        pyproject.write('[[tool.uv.index]]\nurl = "https://a.example/simple"\ndefault = true\n')
    (tmp_path / "uv.lock").write_text('version = 1\nrevision = 3\nrequires-python = ">=3.10"\n')
    lock = read_lock(tmp_path / "uv.lock")

    assert build_index_urls(read_project(project), lock) == ()
    assert build_index_urls(read_project(good), lock) == ("https://a.example/simple",)


def test_a_target_bundle_does_not_install_a_wheel_changed_after_its_check(
    tmp_path: Path,
) -> None:
    project = a_project(tmp_path / "project")
    lock = write_lock(project, dep_entry(project, sha512="real"))
    pylock = read_pylock(lock)
    plan = select_pylock(pylock, Target.current(), "app")
    fetcher = Fetcher(Cache(tmp_path / "cache"), tmp_path / "work", indexes_of(pylock.lock))
    wheel = fetcher.fetch([plan])[0].wheels[0]
    write_wheel(wheel.path.parent, "dep", "1.0", {"dep/__init__.py": "PWNED = 1\n"})
    # the target layout installs each wheel into the cache through these
    with (
        pytest.raises(LockbundleError, match="changed after it was verified"),
        CachedInstalls(Cache(tmp_path / "cache"), compile_bytecode=False) as installs,
    ):
        installs.prepare(wheel)
        list(installs.completed(Reporter.of(lambda message: None)))
