"""PEP 751 ``pylock.toml`` as the bundle's input: which lock is read (``lock``, ``hatch-env``,
``pylock.toml`` beside the project), the project added to what a hatch environment locks, the
static check against the project's requirements, and builds from locks the real tools wrote."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomli_w
from packaging.utils import canonicalize_name

from hatch_lockbundle._compat import tomllib
from hatch_lockbundle.bundle import build_bundle, plan_bundle
from hatch_lockbundle.cli import main
from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.errors import ConfigurationError, LockbundleError
from hatch_lockbundle.hatch_env import hatch_environment
from hatch_lockbundle.lock_input import read_lock_input
from hatch_lockbundle.project import read_project
from hatch_lockbundle.pylock import read_pylock
from hatch_lockbundle.uvlock import read_lock
from support.bundle import distributions
from support.environ import Sandbox
from support.hatch import Hatch, built_artifact
from support.index import IndexServer
from support.projects import MakeProject, set_config
from test_pylock import uv_installs, write_lock

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(make_project: MakeProject, package_index: IndexServer, sandbox: Sandbox) -> Path:
    """crossapp with the lock ``uv export`` writes, as ``pylock.uv-export.toml`` (it holds the
    project as a ``directory`` entry without a version); its uv.lock is kept."""
    project = make_project("crossapp")
    write_lock(project, "uv export", package_index, sandbox)
    return project


@pytest.fixture
def crossapp(exported: Path, tmp_path: Path) -> Path:
    """A copy of :func:`exported` for one test, which may edit it."""
    return shutil.copytree(exported, tmp_path / "crossapp", ignore=shutil.ignore_patterns("dist"))


def build(project: Path, cache: Path, **options: object) -> tuple[Path, list[str]]:
    """The engine's build of ``project``, its log lines (warnings among them)."""
    lines: list[str] = []
    bundle = build_bundle(
        project, project / "dist", cache_dir=cache, overrides=options or None, log=lines.append
    )
    return bundle, lines


def test_a_pylock_named_by_lock_is_read_by_its_content_and_bundles_what_uv_installs(
    crossapp: Path, tmp_path: Path, package_index: IndexServer, sandbox: Sandbox
) -> None:
    lock = crossapp / "prod.lock"  # a name that says nothing of its format
    shutil.copyfile(crossapp / "pylock.uv-export.toml", lock)
    set_config(crossapp, '[tool.lockbundle]\nlock = "prod.lock"')
    bundle, lines = build(crossapp, tmp_path / "cache")
    assert f"Lock: {lock} (PEP 751, lock-version 1.0)" in lines
    uv = uv_installs(
        crossapp / "pylock.uv-export.toml", crossapp, package_index, sandbox, tmp_path / "uv"
    )
    # the project's entry has no version: the bundle is named from the wheel built from it
    assert bundle.name.startswith("crossapp-0.1.0")
    assert {name for name, _ in distributions(bundle)} == {canonicalize_name(n) for n in uv}
    assert ("crossapp", "0.1.0") in distributions(bundle)


def test_pylock_toml_beside_the_project_is_read_when_no_uv_lock_is_found(
    crossapp: Path, tmp_path: Path
) -> None:
    (crossapp / "uv.lock").unlink()
    (crossapp / "pylock.uv-export.toml").rename(crossapp / "pylock.toml")
    project = read_project(crossapp)
    lock, plans = plan_bundle(project, load_and_validate_config(None, crossapp))
    assert lock.path == crossapp / "pylock.toml"
    assert "crossapp" in {planned.name for planned in plans[0].packages}


def test_a_uv_lock_is_read_before_a_pylock_toml_beside_the_project(crossapp: Path) -> None:
    (crossapp / "pylock.uv-export.toml").rename(crossapp / "pylock.toml")
    lock, _ = plan_bundle(read_project(crossapp), load_and_validate_config(None, crossapp))
    assert lock.path == crossapp / "uv.lock"


# -- hatch environments ----------------------------------------------------------------------------

#: a project whose hatch environments hatch locks with its uv locker: `prod` installs the project
#: (its dependency `scriptpkg`) and the extra `feature` (`extradep`), its lock named by a
#: `lock-filename` that hatch formats, which `api` inherits through its template; `py.3` has a dot
#: in its name; `lint` skips the project
HATCH_PROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "svc"
version = "2.0"
requires-python = ">=3.10"
dependencies = ["scriptpkg"]

[project.optional-dependencies]
feature = ["extradep"]

[tool.hatch]
lock-envs = true

[tool.hatch.envs.default]
installer = "uv"

[tool.hatch.envs.prod]
features = ["feature"]
lock-filename = "locks/pylock.{env_name}.toml"

[tool.hatch.envs.api]
template = "prod"

[tool.hatch.envs."py.3"]

[tool.hatch.envs.lint]
skip-install = true
dependencies = ["devdep"]

[tool.hatch.build.targets.lockbundle]
dependencies = ["hatch-lockbundle"]
"""

ENVIRONMENTS = ("default", "prod", "api", "py.3", "lint")


@pytest.fixture(scope="module")
def hatch_locked(tmp_path_factory: pytest.TempPathFactory, hatch: Hatch) -> Path:
    """The project of :data:`HATCH_PROJECT`, each environment locked by the real
    ``hatch env lock``, against the test index."""
    project = tmp_path_factory.mktemp("hatch-env") / "svc"
    (project / "src" / "svc").mkdir(parents=True)
    (project / "src" / "svc" / "__init__.py").write_text('MARKER = "svc 2.0"\n')
    (project / "pyproject.toml").write_text(HATCH_PROJECT)
    for env in ENVIRONMENTS:
        result = hatch.run(project, "env", "lock", env)
        assert result.returncode == 0, result.stderr
    return project


@pytest.fixture
def svc(hatch_locked: Path, tmp_path: Path) -> Path:
    return shutil.copytree(hatch_locked, tmp_path / "svc", ignore=shutil.ignore_patterns("dist"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_hatch_env_names_the_file_hatch_env_lock_wrote(hatch_locked: Path, env: str) -> None:
    written = {path for path in hatch_locked.rglob("*.toml") if path.name != "pyproject.toml"}
    project = read_project(hatch_locked)
    found = hatch_environment(project.root, project.document, env).lock_path
    assert found in written
    # and no other environment's
    others = {
        hatch_environment(project.root, project.document, other).lock_path
        for other in ENVIRONMENTS
        if other != env
    }
    assert found not in others


def test_a_hatch_environment_lock_is_bundled_with_the_project_built_from_its_directory(
    svc: Path, tmp_path: Path
) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    bundle, lines = build(svc, tmp_path / "cache")
    assert (
        f"Lock: {svc / 'locks' / 'pylock.prod.toml'} (PEP 751, lock-version 1.0, hatch environment `prod`)"
        in lines
    )
    assert {name for name, _ in distributions(bundle)} == {"svc", "scriptpkg", "extradep"}
    assert ("svc", "2.0") in distributions(bundle)


def test_a_hatch_environment_that_skips_the_project_bundles_its_lock_alone(
    svc: Path, tmp_path: Path
) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "lint"')
    bundle, lines = build(svc, tmp_path / "cache")
    assert {name for name, _ in distributions(bundle)} == {"devdep"}
    assert any("sets `skip-install`" in line for line in lines)


def test_a_hatch_environment_lock_missing_the_project_s_requirement_is_refused(
    svc: Path, tmp_path: Path
) -> None:
    """The lock of `default` has scriptpkg, not the extra's extradep, which `prod` needs."""
    lock = svc / "locks" / "pylock.prod.toml"
    shutil.copyfile(svc / "pylock.toml", lock)
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    with pytest.raises(LockbundleError) as caught:
        build(svc, tmp_path / "cache")
    first, *rest = str(caught.value).splitlines()
    assert first.startswith(
        f"{lock} (hatch environment `prod`) does not meet the requirements of "
        f"{svc / 'pyproject.toml'} (`project.dependencies`, and the extras of the "
        "environment's `features` (`feature`)) for "
    )
    assert rest == [
        "  - `extradep`: not in the lock",
        "Lock again with `hatch env lock prod`, or set `frozen = true` to bundle the lock as it is",
    ]
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"\nfrozen = true')
    bundle, _ = build(svc, tmp_path / "cache")
    assert {name for name, _ in distributions(bundle)} == {"svc", "scriptpkg"}


def test_a_hatch_environment_not_locked_yet_says_to_run_hatch_env_lock(svc: Path) -> None:
    (svc / "locks" / "pylock.prod.toml").unlink()
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    config = load_and_validate_config(read_project(svc).settings, svc)
    with pytest.raises(
        LockbundleError, match=r"pylock\.prod\.toml: .* run `hatch env lock prod` first"
    ):
        plan_bundle(read_project(svc), config)


def test_a_lock_named_by_lock_that_does_not_exist_says_how_locks_are_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\n')
    config = load_and_validate_config({"lock": "pylock.prod.toml"}, tmp_path)
    with pytest.raises(LockbundleError) as caught:
        plan_bundle(read_project(tmp_path), config)
    assert str(caught.value) == (
        f"{tmp_path / 'pylock.prod.toml'}: lock file not found (`tool.lockbundle.lock`, "
        "`--lock`); correct the path, or write the lock (`uv lock`, `uv export --format "
        "pylock.toml -o FILE`, `hatch env lock`, `pip lock -o FILE`)"
    )


def test_an_unknown_hatch_environment_is_refused_naming_the_known_ones(svc: Path) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prd"')
    config = load_and_validate_config(read_project(svc).settings, svc)
    with pytest.raises(
        LockbundleError,
        match=r"no hatch environment `prd`.*`api`, `default`, `lint`, `prod`, `py.3`",
    ):
        plan_bundle(read_project(svc), config)


@pytest.mark.parametrize(
    ("inherited", "own"),
    [
        ({"hatch-env": "prod"}, {"lock": "pylock.toml"}),
        ({"lock": "pylock.toml"}, {"hatch-env": "prod"}),
    ],
)
def test_lock_or_hatch_env_of_a_bundle_or_the_command_line_replaces_both_inherited(
    tmp_path: Path, inherited: dict[str, str], own: dict[str, str]
) -> None:
    expected = (
        tmp_path / own["lock"] if "lock" in own else None,
        own.get("hatch-env"),
    )
    raw = {**inherited, "bundles": {"other": own}}
    config = load_and_validate_config(raw, tmp_path, "other")
    assert (config.lock, config.hatch_env) == expected
    overrides = {"lock": str(tmp_path / own["lock"])} if "lock" in own else own
    config = load_and_validate_config(inherited, tmp_path, overrides=overrides)
    assert (config.lock, config.hatch_env) == expected


def test_hatch_env_and_lock_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_and_validate_config({"lock": "pylock.toml", "hatch-env": "prod"}, tmp_path)
    assert caught.value.errors == [
        "Fields `tool.lockbundle.lock` and `tool.lockbundle.hatch-env` both name the lock to "
        "read: keep one"
    ]


def test_hatch_build_bundles_a_hatch_environment_lock(svc: Path, hatch: Hatch) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    result = hatch.build(svc)
    bundle = built_artifact(result, svc)
    assert f"Lock: {svc / 'locks' / 'pylock.prod.toml'} (PEP 751" in result.stdout + result.stderr
    locked = read_pylock(svc / "locks" / "pylock.prod.toml").model.packages
    assert distributions(bundle) == {("svc", "2.0")} | {(p.name, str(p.version)) for p in locked}


def test_a_one_environment_lock_for_a_foreign_target_needs_lock_made_for_target(
    svc: Path,
) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"\nplatforms = ["macos-arm64"]')
    project = read_project(svc)
    with pytest.raises(LockbundleError, match="does not say which environments"):
        plan_bundle(project, load_and_validate_config(project.settings, svc))
    config = load_and_validate_config({**project.settings, "lock-made-for-target": True}, svc)
    _, plans = plan_bundle(project, config)
    assert plans[0].target.platform.startswith("macosx")
    assert {planned.name for planned in plans[0].packages} == {"svc", "scriptpkg", "extradep"}


def test_a_file_that_does_not_match_a_pylock_says_to_lock_again_with_its_tool(
    svc: Path, tmp_path: Path
) -> None:
    lock = svc / "pylock.toml"
    pylock = read_pylock(lock)
    wheel = next(entry.written.wheels[0] for entry in pylock.entries if entry.written.wheels)
    written = wheel.hashes["sha256"]
    lock.write_text(lock.read_text().replace(written, "0" * 64))
    with pytest.raises(LockbundleError, match="does not match the lock") as caught:
        build(svc, tmp_path / "cache")
    assert "If the package was republished, refresh the lock (lock again with the tool that " in (
        str(caught.value)
    )
    assert "uv lock" not in str(caught.value)


def test_the_remedies_of_a_hatch_environment_lock_name_hatch_env_lock(
    svc: Path, tmp_path: Path
) -> None:
    """hatch wrote it, and the environment is known: not `uv lock`, nor "the tool that wrote it"."""
    lock = svc / "locks" / "pylock.prod.toml"
    repository = lock.parent / "empty.git"  # a local source must be under the lock's directory
    subprocess.run(["git", "init", "--quiet", "--bare", str(repository)], check=True)
    document = tomllib.loads(lock.read_text())
    commit = "0123456789abcdef0123456789abcdef01234567"
    document["packages"].append(
        {
            "name": "gitdep",
            "version": "1.0",
            "vcs": {"type": "git", "url": repository.as_uri(), "commit-id": commit},
        }
    )
    lock.write_text(tomli_w.dumps(document))
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    with pytest.raises(LockbundleError, match=f"has no commit {commit}") as caught:
        build(svc, tmp_path / "cache")
    assert "Lock again with `hatch env lock prod` to pin a commit the repository has" in str(
        caught.value
    )


def test_a_newer_minor_lock_version_is_read_with_a_warning(svc: Path, tmp_path: Path) -> None:
    lock = svc / "pylock.toml"
    lock.write_text(lock.read_text().replace('lock-version = "1.0"', 'lock-version = "1.1"'))
    _, lines = build(svc, tmp_path / "cache")
    assert f"{lock}: `lock-version = '1.1'` is newer than 1.0" in "\n".join(lines)


def test_a_package_the_lock_does_not_hold_is_refused(svc: Path) -> None:
    project = read_project(svc)
    config = load_and_validate_config({"hatch-env": "prod", "package": "other"}, svc)
    with pytest.raises(LockbundleError) as caught:
        plan_bundle(project, config)
    assert str(caught.value) == (
        f"{svc / 'locks' / 'pylock.prod.toml'}: the lock has no package `other` "
        "(`tool.lockbundle.package`); bundle the project itself, or a package the lock holds"
    )


def test_a_hatch_toml_replaces_the_environments_of_pyproject(tmp_path: Path) -> None:
    """As hatchling merges them: a top-level table of hatch.toml replaces tool.hatch's."""
    document = {"tool": {"hatch": {"envs": {"prod": {"lock-filename": "a/pylock.prod.toml"}}}}}
    (tmp_path / "hatch.toml").write_text('[envs.prod]\nlock-filename = "b/pylock.prod.toml"\n')
    found = hatch_environment(tmp_path, document, "prod").lock_path
    assert found == tmp_path / "b" / "pylock.prod.toml"


# -- the recipe docs/recipes/hatch-env-lambda.md ---------------------------------------------------

RECIPE = Path(__file__).resolve().parent.parent / "docs" / "recipes" / "hatch-env-lambda.md"


def recipe_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", RECIPE.read_text(), flags=re.DOTALL)


def test_the_hatch_env_lambda_recipe_locks_for_lambda_and_builds_its_zip(
    make_project: MakeProject,
    hatch: Hatch,
    package_index: IndexServer,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """The recipe's configuration and commands, as written, on crossapp (a dependency only
    Linux needs, one only arm64 needs), from this x86_64 machine."""
    project = make_project("crossapp")
    (project / "uv.lock").unlink()  # the lock is the hatch environment's alone
    (configuration,) = recipe_blocks("toml")
    pyproject = project / "pyproject.toml"
    own_target = '[tool.hatch.build.targets.lockbundle]\ndependencies = ["hatch-lockbundle"]\n'
    assert own_target in configuration and own_target in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(own_target, "") + "\n" + configuration)
    commands = [line.split("#")[0].split() for line in recipe_blocks("console")[0].splitlines()]
    hatch_commands = [command for command in commands if command[:1] == ["hatch"]]
    assert [command[:2] for command in hatch_commands] == [["hatch", "env"], ["hatch", "build"]]
    for command in hatch_commands:
        result = hatch.run(project, *command[1:])
        assert result.returncode == 0, result.stdout + result.stderr

    lock = project / "pylock.lambda.toml"
    assert f"Lock: {lock} (PEP 751" in result.stdout + result.stderr
    (archive,) = (project / "dist").glob("*.zip")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(unpacked)
    uv = uv_installs(
        lock, project, package_index, sandbox, tmp_path / "uv", "linux-aarch64", "3.12"
    )
    assert "armonly" in uv and "winonly" not in uv  # locked for every platform, then chosen
    assert {name for name, _ in distributions(unpacked)} == {canonicalize_name(n) for n in uv} | {
        "crossapp"
    }
    wheel_tags = {
        line.split(": ", 1)[1]
        for wheel in unpacked.glob("nativepkg-*.dist-info/WHEEL")
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag: ")
    }
    assert wheel_tags and all(tag.endswith("aarch64") for tag in wheel_tags)


MATRIX_PROJECT = """\
[project]
name = "svc"
version = "2.0"

[tool.hatch.envs.test]
lock-filename = "locks/pylock.{env_name}.toml"

[[tool.hatch.envs.test.matrix]]
feature = ["a", "b"]
python = ["3.11", "3.12"]

[[tool.hatch.envs.default.matrix]]
python = ["3.11"]
"""


@pytest.mark.parametrize(
    ("env", "matrix_of", "generated", "lock"),
    [
        ("test", "test", "test.py3.11-a", "locks/pylock.test.py3.11-a.toml"),
        ("test.py3.12-b", "test", "test.py3.12-b", "locks/pylock.test.py3.12-b.toml"),
        ("default", "default", "py3.11", "pylock.py3-11.toml"),
    ],
)
def test_hatch_env_of_a_matrix_says_to_lock_a_generated_environment_and_name_its_lock(
    tmp_path: Path, env: str, matrix_of: str, generated: str, lock: str
) -> None:
    """As hatch names them: the Python variable first (`py3.11`), then the others joined by
    `-`; its lock-filename formatted with the generated name, else the name's dots as `-`."""
    (tmp_path / "pyproject.toml").write_text(MATRIX_PROJECT)
    project = read_project(tmp_path)
    with pytest.raises(LockbundleError) as caught:
        hatch_environment(project.root, project.document, env)
    assert str(caught.value) == (
        f"{tmp_path / 'pyproject.toml'}: hatch environment `{matrix_of}` has a `matrix`, and "
        f'`tool.lockbundle.hatch-env = "{env}"` does not expand matrices: run `hatch env lock '
        f'{generated}` and set `tool.lockbundle.lock = "{lock}"`'
    )


def test_an_unknown_dotted_hatch_environment_is_named_as_a_quoted_table(svc: Path) -> None:
    project = read_project(svc)
    with pytest.raises(LockbundleError, match=r'define `\[tool\.hatch\.envs\."py\.4"\]`'):
        hatch_environment(project.root, project.document, "py.4")


def test_a_uv_lock_above_that_does_not_lock_the_project_says_the_pylock_beside_is_not_read(
    crossapp: Path,
) -> None:
    # the lock of crossapp, one directory up, locks a project there, not crossapp
    shutil.move(crossapp / "uv.lock", crossapp.parent / "uv.lock")
    config = load_and_validate_config(None, crossapp)
    with pytest.raises(LockbundleError) as caught:
        plan_bundle(read_project(crossapp), config)
    assert "does not lock `crossapp`" in str(caught.value)
    assert "pylock.toml" not in str(caught.value)
    (crossapp / "pylock.uv-export.toml").rename(crossapp / "pylock.toml")
    with pytest.raises(LockbundleError) as caught:
        plan_bundle(read_project(crossapp), config)
    assert str(caught.value).endswith(
        "or set `tool.lockbundle.lock`; `pylock.toml` beside the project is not read while a "
        '`uv.lock` is above it: set `lock = "pylock.toml"` (or `hatch-env = "default"`)'
    )


def test_a_lock_made_for_a_foreign_target_is_bundled_with_a_warning(svc: Path) -> None:
    project = read_project(svc)
    settings = {"hatch-env": "prod", "platforms": ["macos-arm64"]}
    with pytest.raises(LockbundleError) as caught:
        read_lock_input(project, load_and_validate_config(settings, svc), read_lock)
    assert str(caught.value).endswith(
        "could miss that target's dependencies. Lock with `environments` that cover the target "
        "(`tool.uv.environments`, then `uv export --format pylock.toml`), bundle for this "
        "machine, or, if the lock was made for the target (`--python-platform`, `--universal`), "
        "set `lock-made-for-target = true`"
    )
    config = load_and_validate_config({**settings, "lock-made-for-target": True}, svc)
    chosen = read_lock_input(project, config, read_lock)
    (warning,) = [line for line in chosen.warnings if "lock-made-for-target" in line]
    assert warning.startswith(f"{svc / 'locks' / 'pylock.prod.toml'} has no `environments`: ")
    # for this machine, nothing to warn about
    native = load_and_validate_config({"hatch-env": "prod", "lock-made-for-target": True}, svc)
    warnings = read_lock_input(project, native, read_lock).warnings
    assert not [line for line in warnings if "lock-made-for-target" in line]


def test_plan_says_which_lock_it_read_and_takes_hatch_env_on_the_command_line(
    svc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = svc / "locks" / "pylock.prod.toml"
    assert main(["plan", str(svc), "--hatch-env", "prod", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["lock"] == str(lock)
    assert {package["name"] for package in document["packages"]} == {
        "svc", "scriptpkg", "extradep"
    }  # fmt: skip
    assert main(["plan", str(svc), "--hatch-env", "prod"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"# lock: {lock}"
    foreign = ["plan", str(svc), "--hatch-env", "prod", "--python-platform", "macos-arm64"]
    assert main(foreign) == 1
    assert main([*foreign, "--lock-made-for-target"]) == 0


def test_a_wheelhouse_names_the_lock_it_was_made_from_relative_to_the_project(
    svc: Path, tmp_path: Path
) -> None:
    set_config(svc, '[tool.lockbundle]\nhatch-env = "prod"')
    bundle = build_bundle(
        svc, svc / "dist", bundle="wheelhouse", cache_dir=tmp_path / "cache", log=print
    )
    manifest = json.loads((bundle / "lockbundle.json").read_text())
    assert manifest["lock"]["path"] == "locks/pylock.prod.toml"
    header = (bundle / "requirements.txt").read_text().splitlines()[0]
    assert header.startswith("# Written by hatch-lockbundle from locks/pylock.prod.toml (sha256 ")
    guide = (bundle / "INSTALL.md").read_text()
    assert "`locks/pylock.prod.toml` it was made from" in guide
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"uv venv --python {python} /opt/app/venv\nuv pip install" in guide
