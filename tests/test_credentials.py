"""Credentials for a private index, end to end: used for every download, never written anywhere.

A private index on 127.0.0.1 answers nothing without HTTP basic auth. A project locked against it by
the real uv depends on a wheel and on an sdist whose build backend must itself come from that
index, so the isolated build environment needs the credentials too. The real ``hatch build`` makes
every kind of output (target and wheelhouse layouts, as directories and as archives) with the secret
given each way uv takes it: ``~/.netrc``, ``UV_INDEX_<NAME>_USERNAME`` / ``_PASSWORD`` for the named
index, and ``user:password@`` in the index URL. Then no form of the secret (as is, percent-encoded,
base64 in an ``Authorization`` header) may be in any file of ``dist/`` (archives and wheels opened),
any line of output, or any file of the cache; and failures (wrong credentials, bytes that do not
match the lock, a build environment that cannot be made) name the URL without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from support.archives import extract
from support.bundle import files, occurrences
from support.cli import lockbundle
from support.environ import Sandbox, describe
from support.faulty_index import wrong_bytes
from support.hatch import Hatch
from support.index import IndexServer
from support.private_index import PASSWORD, USER, PrivateIndex, secret_needles
from support.projects import MakeProject

pytestmark = pytest.mark.slow

# uv never writes credentials into a lock; a lock from elsewhere may have them in its URLs
MECHANISMS = ["netrc", "uv-index-variables", "url-userinfo", "lock-userinfo"]
# A wrong password is as secret as the right one: a typo of it, or another system's.
WRONG_PASSWORD = "Wr0ng:guess@n0t/it%99"
NEEDLES = [*secret_needles(), *secret_needles(password=WRONG_PASSWORD)]

BUNDLES = {
    "lockbundle": "privateapp-0.1.0-target",
    "lockbundle:wheelhouse": "privateapp-0.1.0-wheelhouse",
    "lockbundle:zipped": "privateapp-0.1.0-zipped.zip",
    "lockbundle:packed": "privateapp-0.1.0-packed.tar.gz",
    "lockbundle:remote": "privateapp-0.1.0-remote",
}


@pytest.fixture(scope="module")
def guarded_index(
    package_index: IndexServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateIndex]:
    """The session's dists (hatchling included) behind basic auth, on a copy to alter freely."""
    directory = tmp_path_factory.mktemp("guarded") / "files"
    shutil.copytree(package_index.directory, directory)
    with PrivateIndex(directory) as index:
        yield index


def supply(
    mechanism: str, index: PrivateIndex, home: Path, password: str = PASSWORD
) -> tuple[str, dict[str, str]]:
    """Give ``password`` by ``mechanism``: the index URL to write in pyproject.toml, and the
    variables to add to the environment.

    ``HOME`` (where ``~/.netrc`` is) and the installers' caches are ``home``'s own, so that
    nothing is found without asking the index, with the credentials.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "UV_CACHE_DIR": str(home / "uv-cache"),
        "PIP_CACHE_DIR": str(home / "pip-cache"),
    }
    url = index.simple_url
    if mechanism == "netrc":
        netrc = home / ".netrc"
        netrc.write_text(f"machine 127.0.0.1 login {USER} password {password}\n")
        netrc.chmod(0o600)
    elif mechanism == "uv-index-variables":
        env |= {"UV_INDEX_PRIVATE_USERNAME": USER, "UV_INDEX_PRIVATE_PASSWORD": password}
    elif mechanism == "url-userinfo":
        url = with_userinfo(url, password)
    elif mechanism == "lock-userinfo":
        pass  # see `put_credentials_into_the_lock`
    else:
        raise ValueError(mechanism)
    return url, env


def with_userinfo(url: str, password: str = PASSWORD) -> str:
    userinfo = f"{quote(USER, safe='')}:{quote(password, safe='')}"
    return url.replace("://", f"://{userinfo}@", 1)


def put_credentials_into_the_lock(
    project: Path, index: PrivateIndex, password: str = PASSWORD
) -> None:
    """Every URL of the index in ``project``'s lock gets ``user:password@`` (in place of the
    userinfo it had)."""
    lock = project / "uv.lock"
    text = lock.read_text().replace(with_userinfo(index.url), index.url)
    assert text.count(index.url) > 3
    lock.write_text(text.replace(index.url, with_userinfo(index.url, password)))


def leaks(root: Path, scratch: Path) -> dict[str, list[str]]:
    """Files under ``root``, and inside every zip, wheel and tar.gz there, holding a secret.

    :param scratch: an empty directory to unpack archives into.
    :returns: path (``archive!member`` inside archives) -> the needles found in it.
    """
    found = occurrences(root, NEEDLES)
    for number, path in enumerate(files(root)):
        if path.is_symlink() or not path.name.endswith((".zip", ".whl", ".tar.gz")):
            continue
        unpacked = extract(path, scratch / str(number) / "unpacked")
        inner = leaks(unpacked, scratch / str(number) / "nested")
        relative = path.relative_to(root).as_posix()
        found |= {f"{relative}!{name}": hits for name, hits in inner.items()}
    return found


def lines_with_secrets(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if any(needle in line for needle in NEEDLES)]


@dataclass(frozen=True)
class PrivateBuild:
    """One ``hatch build`` of every bundle of ``privateapp``, credentials given one way."""

    mechanism: str
    index_url: str  # as written in pyproject.toml
    project: Path
    env: dict[str, str]
    cache: Path
    result: subprocess.CompletedProcess[str]
    served: list[str]  # paths the private index answered during the build

    @property
    def dist(self) -> Path:
        return self.project / "dist"


@pytest.fixture(scope="module", params=MECHANISMS)
def private_build(
    request: pytest.FixtureRequest,
    guarded_index: PrivateIndex,
    make_project: MakeProject,
    hatch: Hatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> PrivateBuild:
    mechanism: str = request.param
    workdir = tmp_path_factory.mktemp(f"private-{mechanism}")
    url, env = supply(mechanism, guarded_index, workdir / "home")
    if mechanism == "lock-userinfo":
        # locked with credentials from elsewhere; the build has none but the lock's
        _, lock_env = supply("netrc", guarded_index, workdir / "lock-home")
        project = make_project("privateapp", index=guarded_index, index_url=url, env=lock_env)
        put_credentials_into_the_lock(project, guarded_index)
    else:
        project = make_project("privateapp", index=guarded_index, index_url=url, env=env)
    cache = workdir / "lockbundle-cache"
    before = len(guarded_index.requests)
    targets = [argument for target in BUNDLES for argument in ("-t", target)]
    result = hatch.run(project, "build", *targets, cache_dir=cache, extra_env=env)
    return PrivateBuild(
        mechanism, url, project, env, cache, result, guarded_index.requests[before:]
    )


def test_a_private_index_serves_a_whole_build(private_build: PrivateBuild) -> None:
    assert private_build.result.returncode == 0, describe(private_build.result)
    assert sorted(path.name for path in private_build.dist.iterdir()) == sorted(BUNDLES.values())
    served = private_build.served
    assert "/files/scriptpkg-1.0-py3-none-any.whl" in served
    assert "/files/puresdist-1.0.tar.gz" in served
    # the sdist's build backend, installed into its build environment from the private index
    assert any(path.startswith("/files/hatchling-") for path in served), served


def test_no_bundle_file_holds_the_secret(private_build: PrivateBuild, tmp_path: Path) -> None:
    assert private_build.result.returncode == 0, describe(private_build.result)
    assert leaks(private_build.dist, tmp_path) == {}


def test_no_output_line_holds_the_secret(private_build: PrivateBuild) -> None:
    assert lines_with_secrets(private_build.result) == []


def test_no_cache_file_holds_the_secret(private_build: PrivateBuild, tmp_path: Path) -> None:
    assert any(private_build.cache.rglob("build-envs/*/bin/python"))  # the backend's environment
    assert leaks(private_build.cache, tmp_path) == {}


# -- failures ---------------------------------------------------------------------------------------


def project_copy(build: PrivateBuild, destination: Path, index_url: str | None = None) -> Path:
    """The build's project with no ``dist/``, its index URL replaced by ``index_url``."""
    shutil.copytree(build.project, destination, ignore=shutil.ignore_patterns("dist"))
    if index_url is not None:
        pyproject = destination / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace(build.index_url, index_url))
    return destination


def assert_failed_naming_the_index_only(
    result: subprocess.CompletedProcess[str], index: PrivateIndex, project: Path, cache: Path
) -> str:
    """The build failed, wrote no bundle, and neither its output nor the cache holds a secret."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert lines_with_secrets(result) == []
    assert "@127.0.0.1" not in output  # no userinfo of any URL
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []
    assert occurrences(cache, NEEDLES) == {}
    return output


def test_wrong_credentials_fail_naming_the_url_without_the_secret(
    private_build: PrivateBuild, guarded_index: PrivateIndex, hatch: Hatch, tmp_path: Path
) -> None:
    url, env = supply(
        private_build.mechanism, guarded_index, tmp_path / "home", password=WRONG_PASSWORD
    )
    project = project_copy(private_build, tmp_path / "project", url)
    if private_build.mechanism == "lock-userinfo":
        put_credentials_into_the_lock(project, guarded_index, WRONG_PASSWORD)
    refused_before = len(guarded_index.refused)

    result = hatch.build(project, cache_dir=tmp_path / "cache", extra_env=env)

    output = assert_failed_naming_the_index_only(result, guarded_index, project, tmp_path / "cache")
    assert "HTTP 401" in output
    assert f"cannot download {guarded_index.url}/files/" in output
    assert len(guarded_index.refused) > refused_before


def test_a_download_not_matching_the_lock_fails_naming_the_url_without_the_secret(
    private_build: PrivateBuild, guarded_index: PrivateIndex, sandbox: Sandbox, tmp_path: Path
) -> None:
    project = project_copy(private_build, tmp_path / "project")
    guarded_index.always(wrong_bytes)
    try:
        result = lockbundle(
            sandbox,
            project,
            "build",
            cache=tmp_path / "cache",
            check=False,
            extra_env=private_build.env,
        )
    finally:
        guarded_index.reset()

    output = assert_failed_naming_the_index_only(result, guarded_index, project, tmp_path / "cache")
    assert f"{guarded_index.url}/files/" in output
    assert "sha256" in output


def test_a_build_environment_that_cannot_be_made_says_so_without_the_secret(
    private_build: PrivateBuild, guarded_index: PrivateIndex, sandbox: Sandbox, tmp_path: Path
) -> None:
    project = project_copy(private_build, tmp_path / "project")
    _, env = supply(private_build.mechanism, guarded_index, tmp_path / "home")  # a cold uv cache
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    backends = list(guarded_index.directory.glob("hatchling-*"))
    for backend in backends:
        shutil.move(backend, hidden / backend.name)
    try:
        result = lockbundle(
            sandbox, project, "build", cache=tmp_path / "cache", check=False, extra_env=env
        )
    finally:
        for backend in backends:
            shutil.move(hidden / backend.name, backend)

    output = assert_failed_naming_the_index_only(result, guarded_index, project, tmp_path / "cache")
    assert "cannot create the build environment for " in output
    # where the installer looked: the lock's index, without its credentials
    looked = rf"\(requirements: hatchling; the installer looked in {re.escape(guarded_index.url)}/simple/?\)"
    assert re.search(looked, output), output


def test_the_plan_holds_no_secret(
    private_build: PrivateBuild, sandbox: Sandbox, tmp_path: Path
) -> None:
    for output in ("text", "json"):
        result = lockbundle(
            sandbox,
            private_build.project,
            "plan",
            "--format",
            output,
            cache=tmp_path / "cache",
            check=False,
            extra_env=private_build.env,
        )
        assert result.returncode == 0, describe(result)
        assert "scriptpkg" in result.stdout
        assert lines_with_secrets(result) == []


def test_a_wheelhouse_on_the_index_says_how_the_server_gives_credentials(
    private_build: PrivateBuild, guarded_index: PrivateIndex
) -> None:
    assert private_build.result.returncode == 0, describe(private_build.result)
    remote = private_build.dist / BUNDLES["lockbundle:remote"]
    host = guarded_index.url.removeprefix("http://")

    guide = (remote / "INSTALL.md").read_text()

    assert f"--index-url {guarded_index.simple_url}\n" in (remote / "requirements.txt").read_text()
    assert f"them from `{host}`, recorded in the locks without any credentials" in guide
    assert "in `~/.netrc` works for uv and pip alike" in guide
