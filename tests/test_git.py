"""git sources served over HTTP(S) on 127.0.0.1, locked by the real uv, bundled and imported.

The repositories are served both ways real servers do (the dumb protocol: static files of a bare
repository; the smart one: ``git http-backend``), with and without a password and TLS. Hostile
locks and servers (an option for a commit, a URL that is an option, a rewritten history, a local
submodule, a server that stalls) must end in a clear error, having run nothing. What depends on
the protocol (fetching one commit, credentials, a rewritten history) runs under both; the rest
under the smart one. The bounds are set low for the tests with ``LOCKBUNDLE_GIT_TIMEOUT`` and
``LOCKBUNDLE_GIT_LOW_SPEED_TIME``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.git import Limits, check_out
from support.cli import LOCKBUNDLE
from support.environ import Sandbox, run, uv_binary
from support.fresh import FreshPython
from support.git_server import (
    GitServer,
    Protocol,
    StalledServer,
    git,
    make_test_ca,
    publish,
)
from support.index import IndexServer
from support.projects import uv_lock

pytestmark = pytest.mark.slow

USER, PASSWORD = "reader", "g1t-s3cret"
IMPORT_VALUE = "import gitdep; print(gitdep.VALUE)"


def write_package(root: Path, value: str) -> None:
    (root / "src" / "gitdep").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "gitdep"\nversion = "0.5.0"\nrequires-python = ">=3.10"\n'
    )
    (root / "src" / "gitdep" / "__init__.py").write_text(f"VALUE = {value!r}\n")


@dataclass
class Repository:
    """A working repository of the package ``gitdep`` and where it is published (bare)."""

    work: Path
    served: Path  # the directory of bare repositories that servers serve

    def commit(self, value: str) -> str:
        """Commit ``gitdep.VALUE = value`` on ``main``, publish, and return the commit id."""
        write_package(self.work, value)
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", value)
        self.publish()
        return git(self.work, "rev-parse", "HEAD")

    def publish(self) -> None:
        publish(self.work, self.served, "gitdep")


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    work = tmp_path / "gitdep-work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch", "main")
    return Repository(work, tmp_path / "served")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for this test (no ~/.gitconfig, no ~/.netrc), for git here and in uv."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in [name for name in os.environ if name.startswith(("GIT_", "LOCKBUNDLE_GIT"))]:
        monkeypatch.delenv(name)
    return path


def make_project(
    tmp_path: Path,
    index: IndexServer,
    sandbox: Sandbox,
    source: str,
    env: Mapping[str, str] | None = None,
) -> Path:
    """A project depending on ``gitdep`` from ``source`` (a TOML inline table's content),
    locked by the real ``uv lock``."""
    project = tmp_path / "project"
    (project / "src" / "app").mkdir(parents=True)
    (project / "src" / "app" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(f"""
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "app"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["gitdep"]
[[tool.uv.index]]
url = "{index.simple_url}"
default = true
[tool.uv.sources]
gitdep = {{ {source} }}
""")
    uv_lock(project, env=sandbox.environ({"HOME": os.environ["HOME"], **(env or {})}))
    return project


def locked_commit(project: Path) -> str:
    found = re.search(r'git = "[^"]*#([0-9a-f]{40})"', (project / "uv.lock").read_text())
    assert found, "the lock has no git source"
    return found.group(1)


def edit_lock(project: Path, old: str, new: str) -> None:
    lock = project / "uv.lock"
    text = lock.read_text()
    assert old in text
    lock.write_text(text.replace(old, new))


def bundled_value(
    project: Path, tmp_path: Path, fresh_python: FreshPython, **options: object
) -> str:
    bundle = build_bundle(project, tmp_path / "dist", cache_dir=tmp_path / "cache", **options)  # type: ignore[arg-type]
    return fresh_python.run_code(IMPORT_VALUE, bundle).stdout.strip()


def cli_build(
    project: Path, tmp_path: Path, sandbox: Sandbox, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """``lockbundle build`` in a subprocess: its exit code and output. A hang is a failure (the
    guard's timeout is far above any bound under test; it is not a timing assertion)."""
    environ = sandbox.environ(
        {"HOME": os.environ["HOME"], "LOCKBUNDLE_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    )
    result = run(
        [LOCKBUNDLE, "build", str(project)], cwd=project, env=environ, check=False, timeout=300
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(params=["dumb", "smart"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(repository: Repository, protocol: str, home: Path) -> Iterator[GitServer]:
    repository.commit("first commit")
    with GitServer(repository.served, protocol) as server:  # type: ignore[arg-type]
        yield server


# -- fetched and verified by commit -------------------------------------------------------------


def test_a_git_dependency_over_http_is_bundled_at_its_locked_commit_with_require_hashes(
    repository: Repository,
    served: GitServer,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    locked = repository.commit("locked commit")
    project = make_project(
        tmp_path,
        package_index,
        sandbox,
        f'git = "{served.repository_url("gitdep")}", branch = "main"',
    )
    assert locked_commit(project) == locked
    repository.commit("a later commit")  # the branch moves on: the bundle keeps the locked one

    # require-hashes is on by default: a git source passes it by its commit
    assert bundled_value(project, tmp_path, fresh_python) == "locked commit"
    assert any(
        "git-upload-pack" in request or "/objects/" in request for request in served.requests
    )


def test_a_locked_commit_that_no_branch_points_at_is_bundled(
    repository: Repository,
    served: GitServer,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    pinned = repository.commit("pinned commit")
    repository.commit("the branch head")
    project = make_project(
        tmp_path,
        package_index,
        sandbox,
        f'git = "{served.repository_url("gitdep")}", rev = "{pinned}"',
    )
    assert locked_commit(project) == pinned
    repository.commit("a later head")

    assert bundled_value(project, tmp_path, fresh_python) == "pinned commit"


def test_a_git_dependency_over_https_with_a_private_ca_is_bundled(
    repository: Repository,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repository.commit("over https")
    ca = make_test_ca(tmp_path / "ca")
    with GitServer(repository.served, "smart", tls=ca) as server:
        assert server.url.startswith("https://")
        env = {"GIT_SSL_CAINFO": str(ca.ca), "SSL_CERT_FILE": str(ca.ca)}
        project = make_project(
            tmp_path, package_index, sandbox, f'git = "{server.repository_url("gitdep")}"', env
        )
        monkeypatch.setenv("GIT_SSL_CAINFO", str(ca.ca))
        assert bundled_value(project, tmp_path, fresh_python) == "over https"


# -- credentials ----------------------------------------------------------------------------------


@pytest.fixture
def private_server(repository: Repository, protocol: str, home: Path) -> Iterator[GitServer]:
    repository.commit("private code")
    with GitServer(repository.served, protocol, credentials=(USER, PASSWORD)) as server:  # type: ignore[arg-type]
        yield server


def write_netrc(home: Path) -> None:
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_repository_that_wants_a_password_fails_at_once_without_one(
    private_server: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
) -> None:
    write_netrc(home)
    url = private_server.repository_url("gitdep")
    project = make_project(tmp_path, package_index, sandbox, f'git = "{url}"')
    (home / ".netrc").unlink()

    code, output = cli_build(project, tmp_path, sandbox)

    assert code != 0
    assert f"gitdep==0.5.0: {url} wants credentials" in output
    assert "~/.netrc" in output and "credential helper" in output
    assert "Traceback" not in output
    assert private_server.refused, "the server was never asked"


def test_a_repository_that_wants_a_password_is_fetched_with_netrc_credentials(
    private_server: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    write_netrc(home)
    url = private_server.repository_url("gitdep")
    project = make_project(tmp_path, package_index, sandbox, f'git = "{url}"')

    assert bundled_value(project, tmp_path, fresh_python) == "private code"
    assert PASSWORD not in (project / "uv.lock").read_text()


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
@pytest.mark.parametrize("configured_in", ["gitconfig", "environment"])
def test_a_repository_that_wants_a_password_is_fetched_with_the_users_credential_helper(
    private_server: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
    monkeypatch: pytest.MonkeyPatch,
    configured_in: str,
) -> None:
    store = home / "git-credentials"
    store.write_text(f"{private_server.url.replace('://', f'://{USER}:{PASSWORD}@')}\n")
    helper = f"store --file={store}"
    env = {}
    if configured_in == "gitconfig":
        (home / ".gitconfig").write_text(f'[credential]\n\thelper = "{helper}"\n')
    else:  # as CI systems pass settings: GIT_CONFIG_COUNT, GIT_CONFIG_KEY_0, GIT_CONFIG_VALUE_0
        env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "credential.helper"}
        env["GIT_CONFIG_VALUE_0"] = helper
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    url = private_server.repository_url("gitdep")
    project = make_project(tmp_path, package_index, sandbox, f'git = "{url}"', env)

    assert bundled_value(project, tmp_path, fresh_python) == "private code"


# -- the user's git configuration --------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_the_users_git_hooks_filters_and_fsmonitor_do_not_run_during_a_checkout(
    repository: Repository,
    served: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    # a repository that names a filter driver, as repositories using git-lfs do
    (repository.work / ".gitattributes").write_text("*.py filter=lfs\n")
    repository.commit("with attributes")
    project = make_project(
        tmp_path, package_index, sandbox, f'git = "{served.repository_url("gitdep")}"'
    )
    ran = tmp_path / "ran"
    hooks = home / "hooks"
    hooks.mkdir()
    for hook in ("post-checkout", "reference-transaction", "fsmonitor", "smudge"):
        script = hooks / hook
        script.write_text(f"#!/bin/sh\necho {hook} >> {ran}\nexec cat\n")
        script.chmod(0o755)
    (home / ".gitconfig").write_text(
        f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {hooks / 'fsmonitor'}\n"
        f'[filter "lfs"]\n\tsmudge = {hooks / "smudge"}\n'
    )

    assert bundled_value(project, tmp_path, fresh_python) == "with attributes"
    assert not ran.exists(), ran.read_text()


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_url_insteadof_in_the_users_git_config_is_followed(
    repository: Repository,
    served: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    # the lock names a host that does not exist; the user's configuration says where it is
    (home / ".gitconfig").write_text(
        f'[url "{served.url}/"]\n\tinsteadOf = https://git.example.invalid/\n'
    )
    project = make_project(
        tmp_path, package_index, sandbox, 'git = "https://git.example.invalid/gitdep.git"'
    )
    assert 'git = "https://git.example.invalid/gitdep.git' in (project / "uv.lock").read_text()

    assert bundled_value(project, tmp_path, fresh_python) == "first commit"


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_a_build_run_from_a_git_hook_leaves_the_hooks_repository_alone(
    served: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = make_project(
        tmp_path, package_index, sandbox, f'git = "{served.repository_url("gitdep")}"'
    )
    # what git sets for a hook (a pre-commit hook that builds the bundle, say)
    hooked = tmp_path / "hooked"
    hooked.mkdir()
    git(hooked, "init", "--quiet")
    before = sorted(path.name for path in (hooked / ".git").iterdir())
    monkeypatch.setenv("GIT_DIR", str(hooked / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(hooked / ".git" / "index"))

    assert bundled_value(project, tmp_path, fresh_python) == "first commit"
    assert sorted(path.name for path in (hooked / ".git").iterdir()) == before


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_git_bound_that_is_not_a_positive_number_is_a_clear_error(value: str) -> None:
    with pytest.raises(
        LockbundleError,
        match=rf"LOCKBUNDLE_GIT_TIMEOUT must be a positive number of seconds, not '{value}'",
    ):
        Limits.from_environ({"LOCKBUNDLE_GIT_TIMEOUT": value})


# -- hostile locks and repositories ------------------------------------------------------------


@pytest.fixture
def locked_project(
    served: GitServer, tmp_path: Path, package_index: IndexServer, sandbox: Sandbox
) -> Path:
    return make_project(
        tmp_path, package_index, sandbox, f'git = "{served.repository_url("gitdep")}"'
    )


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
@pytest.mark.parametrize(
    "commit",
    ["--upload-pack=touch {marker}", "abc1234", "main", "{head}^", "../../../../{marker}"],
    ids=["option", "abbreviated", "branch-name", "expression", "path"],
)
def test_a_locked_commit_that_is_not_a_full_commit_id_is_refused_and_runs_nothing(
    locked_project: Path, served: GitServer, tmp_path: Path, commit: str
) -> None:
    marker = tmp_path / "marker"
    head = locked_commit(locked_project)
    edit_lock(locked_project, f"#{head}", "#" + commit.format(marker=marker, head=head))
    served.requests.clear()

    with pytest.raises(
        LockbundleError, match=r"gitdep==0.5.0: the lock's git source pins .* not a full commit id"
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")
    assert not marker.exists()
    assert served.requests == []


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("--upload-pack=touch {marker}", "is not a repository URL"),
        ("-oProxyCommand=touch {marker}", "is not a repository URL"),
        ("ext::sh -c touch% {marker}", "uses a transport uv does not"),
        ("git://127.0.0.1:9/gitdep.git", "uses a transport uv does not"),
        ("ssh://-oProxyCommand=touch%20{marker}/x", "names a host starting with `-`"),
    ],
    ids=["upload-pack", "ssh-option", "ext-transport", "git-transport", "ssh-host-option"],
)
def test_a_locked_git_url_that_git_could_run_is_refused_and_runs_nothing(
    locked_project: Path, served: GitServer, tmp_path: Path, url: str, refusal: str
) -> None:
    marker = tmp_path / "marker"
    edit_lock(locked_project, served.repository_url("gitdep"), url.format(marker=marker))
    served.requests.clear()

    with pytest.raises(
        LockbundleError, match=f"gitdep==0.5.0: the lock's git source .*{re.escape(refusal)}"
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")
    assert not marker.exists()
    assert served.requests == []


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
@pytest.mark.parametrize("subdirectory", ["../../..", "src/gitdep/__init__.py", "missing"])
def test_a_locked_subdirectory_outside_the_checkout_or_not_a_directory_is_refused(
    locked_project: Path, tmp_path: Path, subdirectory: str
) -> None:
    commit = locked_commit(locked_project)
    edit_lock(locked_project, f"#{commit}", f"?subdirectory={subdirectory}#{commit}")

    with pytest.raises(
        LockbundleError,
        match=rf"gitdep==0.5.0: the lock's subdirectory `{re.escape(subdirectory)}` is not a "
        r"directory inside the checkout of http://127\.0\.0\.1:\d+/gitdep\.git",
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_a_locked_id_that_is_a_tag_not_a_commit_is_refused(
    repository: Repository, locked_project: Path, tmp_path: Path
) -> None:
    commit = locked_commit(locked_project)
    git(repository.work, "tag", "--annotate", "--message", "release", "v0.5.0", commit)
    repository.publish()
    tag = git(repository.work, "rev-parse", "v0.5.0")
    assert tag != commit
    edit_lock(locked_project, f"#{commit}", f"#{tag}")

    with pytest.raises(
        LockbundleError, match=f"gives commit {commit}: the locked id is not a commit"
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")


def test_a_locked_commit_that_the_rewritten_repository_no_longer_has_is_refused(
    repository: Repository, served: GitServer, locked_project: Path, tmp_path: Path
) -> None:
    commit = locked_commit(locked_project)
    # the same content, committed again: a force-push of rewritten history
    git(repository.work, "commit", "--quiet", "--amend", "-m", "rewritten", "--date", "2001-01-01")
    repository.publish()
    bare = repository.served / "gitdep.git"
    git(bare, "reflog", "expire", "--expire=now", "--all")
    git(bare, "gc", "--quiet", "--prune=now")
    git(bare, "update-server-info")
    assert git(repository.work, "rev-parse", "HEAD") != commit

    with pytest.raises(
        LockbundleError, match=f"gitdep==0.5.0: .*gitdep.git has no commit {commit}"
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_a_local_file_submodule_of_a_served_repository_is_refused(
    repository: Repository,
    served: GitServer,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
) -> None:
    secret = tmp_path / "secret-repo"
    secret.mkdir()
    git(secret, "init", "--quiet", "--initial-branch", "main")
    (secret / "id_rsa").write_text("a file of the machine that builds\n")
    git(secret, "add", "-A")
    git(secret, "commit", "--quiet", "-m", "secret")
    git(
        repository.work,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "--quiet",
        secret.as_uri(),
        "src/gitdep/data",
    )
    commit = repository.commit("with a submodule")
    # uv's git refuses a file submodule (protocol.file.allow=user): told to allow it here, it
    # writes the lock that a hand-edited or hostile one would be
    project = make_project(
        tmp_path,
        package_index,
        sandbox,
        f'git = "{served.repository_url("gitdep")}", rev = "{commit}"',
        {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "protocol.file.allow",
            "GIT_CONFIG_VALUE_0": "always",
        },
    )

    with pytest.raises(
        LockbundleError,
        match=r"gitdep==0.5.0: the submodule `src/gitdep/data` of .* points at `file://.*a remote repository may not pull in local files",
    ):
        build_bundle(project, tmp_path / "dist", cache_dir=tmp_path / "cache")


def add_submodule(work: Path, path: str, url: str, commit: str) -> None:
    """Record a submodule in ``work``'s index without cloning it (a relative URL need not
    resolve from here)."""
    name = path.replace("/", "-")
    (work / path).mkdir(parents=True)  # empty: a submodule not checked out, which `add -A` keeps
    git(work, "config", "--file", ".gitmodules", f"submodule.{name}.path", path)
    git(work, "config", "--file", ".gitmodules", f"submodule.{name}.url", url)
    git(work, "add", ".gitmodules")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{commit},{path}")


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_a_local_file_submodule_deeper_down_is_refused_by_gits_protocol_allow_list(
    repository: Repository,
    served: GitServer,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
) -> None:
    secret = tmp_path / "secret-repo"
    secret.mkdir()
    git(secret, "init", "--quiet", "--initial-branch", "main")
    (secret / "id_rsa").write_text("a file of the machine that builds\n")
    git(secret, "add", "-A")
    git(secret, "commit", "--quiet", "-m", "secret")
    # gitdep -> ../inner.git (beside it on the server: allowed) -> file:// (not allowed)
    inner = tmp_path / "inner-work"
    inner.mkdir()
    git(inner, "init", "--quiet", "--initial-branch", "main")
    add_submodule(inner, "secret", secret.as_uri(), git(secret, "rev-parse", "HEAD"))
    git(inner, "commit", "--quiet", "-m", "inner")
    publish(inner, repository.served, "inner")
    add_submodule(repository.work, "vendor", "../inner.git", git(inner, "rev-parse", "HEAD"))
    commit = repository.commit("with a nested submodule")
    allow_file = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "protocol.file.allow",
        "GIT_CONFIG_VALUE_0": "always",
    }
    url = served.repository_url("gitdep")
    project = make_project(
        tmp_path, package_index, sandbox, f'git = "{url}", rev = "{commit}"', allow_file
    )

    with pytest.raises(
        LockbundleError,
        match=r"gitdep==0.5.0: .*gitdep.git \(or one of its submodules\) needs the git transport "
        r"`file`, which is not allowed here",
    ):
        build_bundle(project, tmp_path / "dist", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_a_password_in_the_locks_git_url_appears_in_no_message(
    private_server: GitServer,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
) -> None:
    write_netrc(home)
    url = private_server.repository_url("gitdep")
    project = make_project(tmp_path, package_index, sandbox, f'git = "{url}"')
    (home / ".netrc").unlink()
    edit_lock(project, url, url.replace("://", "://reader:wrong-pass@"))

    with pytest.raises(LockbundleError) as raised:
        build_bundle(project, tmp_path / "dist", cache_dir=tmp_path / "cache")
    assert f"gitdep==0.5.0: {url} wants credentials" in str(raised.value)
    assert "wrong-pass" not in str(raised.value)


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_ssh_asks_no_questions_and_a_refused_key_is_a_clear_error(
    locked_project: Path,
    served: GitServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an ssh client that records how git runs it, and then fails as a server without our key does
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "ssh-arguments"
    ssh = bin_dir / "ssh"
    ssh.write_text(
        f'#!/bin/sh\necho "$@" >> {called}\n'
        'echo "git@127.0.0.1: Permission denied (publickey)." >&2\nexit 255\n'
    )
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    edit_lock(locked_project, served.repository_url("gitdep"), "ssh://git@127.0.0.1/gitdep.git")

    with pytest.raises(
        LockbundleError,
        match=re.escape("gitdep==0.5.0: ssh refused ssh://127.0.0.1/gitdep.git")
        + r".*Load the key into ssh-agent or name it in ~/\.ssh/config",
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache")
    arguments = called.read_text()
    assert "-o BatchMode=yes" in arguments
    assert "git@127.0.0.1" in arguments


# -- bounds and offline ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
@pytest.mark.parametrize(
    ("bound", "message"),
    [
        (
            {"LOCKBUNDLE_GIT_LOW_SPEED_TIME": "1"},
            r"fetching http://127\.0\.0\.1:\d+/gitdep\.git stalled: less than 1000 bytes/s for 1 s",
        ),
        (
            {"LOCKBUNDLE_GIT_TIMEOUT": "2"},
            r"did not finish within 2 s\. Retry, or allow more time with LOCKBUNDLE_GIT_TIMEOUT",
        ),
    ],
    ids=["low-speed", "overall-timeout"],
)
def test_a_stalled_git_server_ends_the_build_with_a_clear_error(
    locked_project: Path,
    served: GitServer,
    tmp_path: Path,
    sandbox: Sandbox,
    bound: dict[str, str],
    message: str,
) -> None:
    with StalledServer() as stalled:
        edit_lock(locked_project, served.url, stalled.url)
        code, output = cli_build(locked_project, tmp_path, sandbox, bound)

    assert code != 0
    assert re.search(message, output), output
    assert "Traceback" not in output


def processes_mentioning(text: str) -> list[str]:
    """The command lines of this machine's processes that contain ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in line:
                found.append(line)
    return found


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_ctrl_c_during_a_git_fetch_ends_git_and_its_helpers_too(
    locked_project: Path, served: GitServer, tmp_path: Path, sandbox: Sandbox
) -> None:
    with StalledServer() as stalled:
        edit_lock(locked_project, served.url, stalled.url)
        environ = sandbox.environ(
            {"HOME": os.environ["HOME"], "LOCKBUNDLE_CACHE_DIR": str(tmp_path / "cache")}
        )
        # a session of its own, as a terminal's foreground job: Ctrl-C goes to the group
        build = subprocess.Popen(
            [LOCKBUNDLE, "build", str(locked_project)],
            cwd=locked_project,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Ctrl-C as at a terminal, even when this test run inherited SIGINT ignored
            preexec_fn=partial(signal.signal, signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
            while not processes_mentioning(stalled.url) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert processes_mentioning(stalled.url), "git never started"
            os.killpg(build.pid, signal.SIGINT)
            build.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(build.pid, signal.SIGKILL)
        left = processes_mentioning(stalled.url)

    assert build.returncode == -signal.SIGINT  # ended by Ctrl-C, not by the stalled server
    assert left == []


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_offline_a_git_source_not_in_the_cache_is_an_error_and_nothing_is_fetched(
    locked_project: Path, served: GitServer, tmp_path: Path
) -> None:
    served.requests.clear()

    with pytest.raises(
        LockbundleError,
        match=r"gitdep==0.5.0: its wheel, built from git .* is not in the cache, and the network is off \(--offline\)",
    ):
        build_bundle(locked_project, tmp_path / "dist", cache_dir=tmp_path / "cache", offline=True)
    assert served.requests == []


@pytest.mark.parametrize("protocol", ["smart"], indirect=True)
def test_offline_a_git_source_built_before_comes_from_the_cache(
    locked_project: Path, served: GitServer, tmp_path: Path, fresh_python: FreshPython
) -> None:
    assert bundled_value(locked_project, tmp_path, fresh_python) == "first commit"
    served.requests.clear()

    assert bundled_value(locked_project, tmp_path, fresh_python, offline=True) == "first commit"
    assert served.requests == []


def test_offline_a_file_repository_is_still_checked_out(
    repository: Repository,
    home: Path,
    tmp_path: Path,
    package_index: IndexServer,
    sandbox: Sandbox,
    fresh_python: FreshPython,
) -> None:
    repository.commit("first commit")
    source = f'git = "{repository.work.as_uri()}", branch = "main"'
    project = make_project(tmp_path, package_index, sandbox, source)
    # once online, so that the cache has the build environment that the next build needs
    assert bundled_value(project, tmp_path, fresh_python) == "first commit"
    repository.commit("a local commit")
    environ = sandbox.environ({"HOME": str(home)})
    run([uv_binary(), "lock", "--upgrade-package", "gitdep"], cwd=project, env=environ)

    # a file:// repository needs no network: offline checks it out (with git allowed `file` only)
    assert bundled_value(project, tmp_path, fresh_python, offline=True) == "a local commit"


@pytest.mark.parametrize("protocol", ["dumb", "smart"])
def test_a_sha256_repository_is_checked_out_at_its_64_digit_commit(
    tmp_path: Path, home: Path, protocol: Protocol
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--object-format=sha256", "--initial-branch", "main")
    write_package(work, "sha-256")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "sha-256")
    commit = git(work, "rev-parse", "HEAD")
    assert len(commit) == 64
    bare = tmp_path / "served" / "gitdep.git"
    bare.parent.mkdir()
    git(bare.parent, "init", "--quiet", "--bare", "--object-format=sha256", bare.name)
    git(work, "push", "--quiet", str(bare), "main")
    git(bare, "update-server-info")

    with GitServer(bare.parent, protocol) as server:
        url = server.repository_url("gitdep")
        checkout = check_out(url, commit, tmp_path / "checkout", label="gitdep==0.5.0")

    assert "sha-256" in (checkout / "src" / "gitdep" / "__init__.py").read_text()
