"""A corporate network on 127.0.0.1: an https index with a private CA behind a proxy that wants
credentials, for downloads and for git; an index whose password only the real ``keyring`` command
knows. Every error is checked for the secrets.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import truststore

from hatch_lockbundle.config_tables import load_and_validate_config
from hatch_lockbundle.credentials import realm, redact
from hatch_lockbundle.errors import ConfigurationError, LockbundleError
from hatch_lockbundle.git import check_out
from hatch_lockbundle.http import Downloader, DownloadError
from hatch_lockbundle.keyring_command import KeyringError, _keyring_get
from hatch_lockbundle.network import NetworkSettings, proxy_for
from support.bundle import occurrences
from support.cli import lockbundle
from support.environ import Sandbox, describe
from support.git_server import GitServer, git, make_test_ca
from support.index import IndexServer
from support.network import (
    PROXY_PASSWORD,
    PROXY_USER,
    AuthenticatingProxy,
    FileKeyring,
    PrivateAuthority,
    TlsIndex,
    proxy_needles,
)
from support.private_index import PASSWORD, USER, PrivateIndex, secret_needles
from support.projects import MakeProject, set_config

WHEELS = ("demo-1.0-py3-none-any.whl", "other-2.0-py3-none-any.whl")
KEYRING = NetworkSettings(keyring_provider="subprocess")


def served_files(directory: Path) -> Path:
    """Two files of distinct bytes, as an index serves wheels (their content is not looked at)."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(WHEELS):
        (directory / name).write_bytes(os.urandom(4096) + bytes([number]))
    return directory


def download(downloader: Downloader, url: str, expected: Path) -> None:
    """Download ``url`` and check that the bytes are those of ``expected``."""
    sink = io.BytesIO()
    digest = downloader.fetch(url, sink)  # type: ignore[arg-type]
    assert digest == hashlib.sha256(expected.read_bytes()).hexdigest()


def assert_no_secret(text: str, needles: list[str]) -> None:
    assert not [needle for needle in needles if needle in text], text


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> PrivateAuthority:
    return PrivateAuthority(tmp_path_factory.mktemp("authority"))


@pytest.fixture(scope="module")
def tls_index(
    authority: PrivateAuthority, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsIndex]:
    with TlsIndex(served_files(tmp_path_factory.mktemp("tls") / "files"), authority) as index:
        yield index


@pytest.fixture(scope="module")
def plain_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    with IndexServer(served_files(tmp_path_factory.mktemp("plain") / "files")) as index:
        yield index


@pytest.fixture
def proxy() -> Iterator[AuthenticatingProxy]:
    with AuthenticatingProxy() as proxy:
        yield proxy


@pytest.fixture
def through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The environment without the machine's proxy and trust settings (loopback not exempted
    from proxies, no CA file but the test's), and an empty home (no git configuration)."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    trust = ("SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "CURL_CA_BUNDLE")
    for name in (*trust, "UV_NATIVE_TLS", "UV_KEYRING_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


# -- proxies and trust -----------------------------------------------------------------------------


def test_an_https_index_with_a_private_ca_is_reached_through_a_proxy_that_wants_credentials(
    tls_index: TlsIndex,
    authority: PrivateAuthority,
    proxy: AuthenticatingProxy,
    through: pytest.MonkeyPatch,
) -> None:
    through.setenv("HTTPS_PROXY", proxy.url())
    through.setenv("SSL_CERT_FILE", str(authority.pem))
    downloader = Downloader(retries=0)
    for name in WHEELS:
        download(downloader, tls_index.file_url(name), tls_index.directory / name)
    port = tls_index.url.rpartition(":")[2]
    # one tunnel (kept alive for both files), opened with the proxy's credentials
    assert proxy.tunnels == [f"127.0.0.1:{port}"]
    assert proxy.refused == []


# ALL_PROXY: for a scheme without a proxy of its own, as uv and curl read it
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_a_plain_request_goes_to_the_proxy_with_its_credentials(
    variable: str,
    plain_index: IndexServer,
    proxy: AuthenticatingProxy,
    through: pytest.MonkeyPatch,
) -> None:
    through.setenv(variable, proxy.url())
    url = plain_index.file_url(WHEELS[0])
    download(Downloader(retries=0), url, plain_index.directory / WHEELS[0])
    assert proxy.forwarded == [url]
    assert proxy.refused == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_refusing_its_credentials_is_named_without_them(
    scheme: str,
    plain_index: IndexServer,
    tls_index: TlsIndex,
    authority: PrivateAuthority,
    through: pytest.MonkeyPatch,
) -> None:
    index = plain_index if scheme == "http" else tls_index
    with AuthenticatingProxy(password="another one") as proxy:
        # the password given is refused, and secret all the same
        through.setenv(f"{scheme.upper()}_PROXY", proxy.url(password=PROXY_PASSWORD))
        through.setenv("SSL_CERT_FILE", str(authority.pem))
        with pytest.raises(DownloadError) as raised:
            download(Downloader(retries=0), index.file_url(WHEELS[0]), index.directory / WHEELS[0])
    message = str(raised.value)
    assert f"the proxy {redact(proxy.url())} refused the credentials given in its URL" in message
    assert_no_secret(message, proxy_needles())
    assert len(proxy.refused) == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_wanting_credentials_none_were_given_for_says_how_to_give_them(
    scheme: str,
    plain_index: IndexServer,
    tls_index: TlsIndex,
    authority: PrivateAuthority,
    proxy: AuthenticatingProxy,
    through: pytest.MonkeyPatch,
) -> None:
    index = plain_index if scheme == "http" else tls_index
    through.setenv(f"{scheme.upper()}_PROXY", redact(proxy.url()))
    through.setenv("SSL_CERT_FILE", str(authority.pem))
    with pytest.raises(DownloadError) as raised:
        download(Downloader(retries=0), index.file_url(WHEELS[0]), index.directory / WHEELS[0])
    assert "wants credentials (HTTP 407 Proxy Authentication Required)" in str(raised.value)


class RefusingProxy:
    """A proxy on 127.0.0.1 that answers every request with one status line, and counts them."""

    def __init__(self, status_line: bytes) -> None:
        self.status_line = status_line
        self.requests = 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://{PROXY_USER}:{quote(PROXY_PASSWORD, safe='')}@127.0.0.1:"
        self.url += str(self.socket.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:  # closed
                return
            with client, client.makefile("rb") as request:
                while request.readline().strip():
                    pass
                self.requests += 1
                client.sendall(self.status_line + b"\r\nContent-Length: 0\r\n\r\n")


def test_a_proxy_refusing_a_tunnel_is_named_at_once_without_its_credentials(
    tls_index: TlsIndex, through: pytest.MonkeyPatch
) -> None:
    proxy = RefusingProxy(b"HTTP/1.1 403 Forb\x1bidden")
    through.setenv("HTTPS_PROXY", proxy.url)
    with pytest.raises(DownloadError) as raised:
        download(Downloader(), tls_index.file_url(WHEELS[0]), tls_index.directory / WHEELS[0])
    proxy.socket.close()
    message = str(raised.value)
    assert f"the proxy {redact(proxy.url)} refused to reach 127.0.0.1:" in message
    assert "(HTTP 403 Forb\\x1bidden)" in message  # the proxy's words, escaped
    assert_no_secret(message, proxy_needles())
    assert proxy.requests == 1  # a refusal is not retried


def test_an_https_proxy_without_a_port_is_on_443() -> None:
    proxy = proxy_for("http", "files.example", {"http": "https://u:p@proxy.example"})
    assert proxy is not None
    assert (proxy.scheme, proxy.host, proxy.port) == ("https", "proxy.example", 443)
    assert proxy.shown == "https://proxy.example"


def test_an_https_proxy_for_an_https_index_says_to_name_it_as_http(
    tls_index: TlsIndex, proxy: AuthenticatingProxy, through: pytest.MonkeyPatch
) -> None:
    through.setenv("HTTPS_PROXY", proxy.url().replace("http://", "https://", 1))
    with pytest.raises(DownloadError) as raised:
        download(
            Downloader(retries=0), tls_index.file_url(WHEELS[0]), tls_index.directory / WHEELS[0]
        )
    message = str(raised.value)
    assert "set HTTPS_PROXY to http://127.0.0.1:<port>" in message
    assert_no_secret(message, proxy_needles())


def test_a_host_in_no_proxy_goes_direct(through: pytest.MonkeyPatch) -> None:
    through.setenv("NO_PROXY", "files.example")
    proxies = {"https": "http://proxy.example:3128"}
    assert proxy_for("https", "files.example", proxies) is None
    assert proxy_for("https", "other.example", proxies) is not None


def test_a_host_in_an_ip_range_of_no_proxy_goes_direct(
    plain_index: IndexServer, proxy: AuthenticatingProxy, through: pytest.MonkeyPatch
) -> None:
    through.setenv("HTTP_PROXY", proxy.url())
    through.setenv("NO_PROXY", ".corp.example,127.0.0.0/8")
    download(
        Downloader(retries=0), plain_index.file_url(WHEELS[0]), plain_index.directory / WHEELS[0]
    )
    assert proxy.forwarded == []
    assert proxy_for("http", "10.1.2.3", {"http": proxy.url(), "no": "127.0.0.0/8"}) is not None


def test_a_certificate_no_one_trusts_fails_at_once_naming_the_host_and_the_settings(
    tls_index: TlsIndex, through: pytest.MonkeyPatch
) -> None:
    before = len(tls_index.requests)
    with pytest.raises(DownloadError) as raised:
        download(Downloader(), tls_index.file_url(WHEELS[0]), tls_index.directory / WHEELS[0])
    message = str(raised.value)
    assert "TLS certificate of 127.0.0.1 could not be verified" in message
    for remedy in ("SSL_CERT_FILE", "SSL_CERT_DIR", "--native-tls", "UV_NATIVE_TLS=1"):
        assert remedy in message
    assert "attempts" not in message  # not retried: the certificate stays the same
    assert len(tls_index.requests) == before


def test_a_certificate_for_another_name_is_not_advised_more_trust(
    tls_index: TlsIndex, authority: PrivateAuthority, through: pytest.MonkeyPatch
) -> None:
    through.setenv("SSL_CERT_FILE", str(authority.pem))
    url = tls_index.file_url(WHEELS[0]).replace("127.0.0.1", "localhost")
    with pytest.raises(DownloadError) as raised:
        download(Downloader(), url, tls_index.directory / WHEELS[0])
    message = str(raised.value)
    assert "the TLS certificate of localhost is not for that name" in message
    assert "SSL_CERT_FILE" not in message and "native" not in message.lower()


def test_with_native_tls_on_a_failure_does_not_advise_native_tls(
    tls_index: TlsIndex, through: pytest.MonkeyPatch
) -> None:
    downloader = Downloader(network=NetworkSettings(native_tls=True))
    with pytest.raises(DownloadError) as raised:
        download(downloader, tls_index.file_url(WHEELS[0]), tls_index.directory / WHEELS[0])
    message = str(raised.value)
    assert "SSL_CERT_FILE" in message
    assert "--native-tls" not in message and "UV_NATIVE_TLS" not in message


@pytest.mark.parametrize("native_tls", [False, True])
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_a_trust_variable_naming_nothing_is_an_error_naming_it(
    variable: str,
    native_tls: bool,
    tls_index: TlsIndex,
    through: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-certificates"
    through.setenv(variable, str(missing))
    before = len(tls_index.requests)
    with pytest.raises(LockbundleError) as raised:
        download(
            Downloader(network=NetworkSettings(native_tls=native_tls)),
            tls_index.file_url(WHEELS[0]),
            tls_index.directory / WHEELS[0],
        )
    assert f"{variable}='{missing}' is not a" in str(raised.value)
    assert len(tls_index.requests) == before  # not retried, not even tried


def test_native_tls_verifies_with_the_systems_store_and_the_variables(
    tls_index: TlsIndex, authority: PrivateAuthority, through: pytest.MonkeyPatch
) -> None:
    through.setenv("UV_NATIVE_TLS", "1")
    through.setenv("SSL_CERT_FILE", str(authority.pem))
    downloader = Downloader(retries=0)
    assert downloader.network.native_tls
    download(downloader, tls_index.file_url(WHEELS[0]), tls_index.directory / WHEELS[0])
    # on Linux the system's store is OpenSSL's files; elsewhere it is the platform's verifier
    assert isinstance(downloader._ssl(), truststore.SSLContext)


def test_outside_a_build_the_variables_alone_decide(through: pytest.MonkeyPatch) -> None:
    assert NetworkSettings.resolve() == NetworkSettings("disabled", False)
    through.setenv("UV_KEYRING_PROVIDER", "subprocess")
    through.setenv("UV_NATIVE_TLS", "true")
    assert NetworkSettings.resolve() == NetworkSettings("subprocess", True)
    through.setenv("UV_KEYRING_PROVIDER", " ")  # blank: unset, as in uv
    through.setenv("UV_NATIVE_TLS", "Off")
    assert NetworkSettings.resolve() == NetworkSettings("disabled", False)


@pytest.mark.parametrize(
    ("variable", "value"), [("UV_KEYRING_PROVIDER", "import"), ("UV_NATIVE_TLS", "maybe")]
)
def test_a_variable_uv_would_refuse_is_an_error_saying_what_to_set(
    variable: str, value: str, through: pytest.MonkeyPatch
) -> None:
    through.setenv(variable, value)
    with pytest.raises(LockbundleError, match=f"^{variable}='{value}' is ") as raised:
        NetworkSettings.resolve()
    assert str(raised.value).endswith(", or unset it")


def test_what_the_configuration_decided_is_not_weighed_against_the_variables_again() -> None:
    """The configuration put the command line over the variables: the build's settings are
    its own, whatever the variables say."""
    environ = {"UV_KEYRING_PROVIDER": "disabled", "UV_NATIVE_TLS": "0"}
    assert NetworkSettings.resolve("subprocess", True, environ) == NetworkSettings(
        "subprocess", True
    )
    environ = {"UV_KEYRING_PROVIDER": "subprocess", "UV_NATIVE_TLS": "1"}
    assert NetworkSettings.resolve("disabled", False, environ) == NetworkSettings()


def configured(
    key: str, project: object, variable: str | None, command_line: object
) -> NetworkSettings:
    """The network settings of a build configured by the project's ``key``, its variable and
    the command line (None: not set there), as ``lockbundle build`` makes them."""
    config = load_and_validate_config(
        {} if project is None else {key: project},
        Path.cwd(),
        overrides=None if command_line is None else {key: command_line},
        environ={} if variable is None else {VARIABLE_OF[key]: variable},
    )
    return NetworkSettings.resolve(config.keyring_provider, config.native_tls, environ={})


VARIABLE_OF = {"native-tls": "UV_NATIVE_TLS", "keyring-provider": "UV_KEYRING_PROVIDER"}


@pytest.mark.parametrize(
    ("project", "variable", "command_line", "expected"),
    [
        (None, None, None, False),
        (True, None, None, True),
        (True, "0", None, False),  # the variable over the project, both ways
        (False, "yes", None, True),
        (True, " ", None, True),  # a blank variable is unset
        (None, "0", True, True),  # the command line over the variable
        (False, "false", True, True),
    ],
    ids=[
        "default",
        "project",
        "variable-off-over-project",
        "variable-on-over-project",
        "blank-variable",
        "command-line-over-variable",
        "command-line-over-both",
    ],
)
def test_native_tls_is_the_command_line_over_uv_native_tls_over_the_project(
    project: bool | None, variable: str | None, command_line: bool | None, expected: bool
) -> None:
    assert configured("native-tls", project, variable, command_line).native_tls is expected


@pytest.mark.parametrize(
    ("project", "variable", "command_line", "expected"),
    [
        (None, None, None, "disabled"),
        ("subprocess", None, None, "subprocess"),
        ("subprocess", "disabled", None, "disabled"),  # the variable over the project
        ("disabled", "subprocess", None, "subprocess"),
        (None, "disabled", "subprocess", "subprocess"),  # the command line over the variable
        ("subprocess", "subprocess", "disabled", "disabled"),
    ],
    ids=[
        "default",
        "project",
        "variable-off-over-project",
        "variable-on-over-project",
        "command-line-on-over-variable",
        "command-line-off-over-both",
    ],
)
def test_the_keyring_provider_is_the_command_line_over_the_variable_over_the_project(
    project: str | None, variable: str | None, command_line: str | None, expected: str
) -> None:
    assert configured("keyring-provider", project, variable, command_line).keyring_provider == (
        expected
    )


@pytest.mark.parametrize(
    ("key", "value", "command_line"),
    [
        ("native-tls", "maybe", None),
        ("native-tls", "2", True),  # uv refuses it even with --native-tls
        ("keyring-provider", "import", None),
    ],
)
def test_a_variable_uv_would_refuse_is_a_configuration_error_headed_by_its_name(
    key: str, value: str, command_line: object
) -> None:
    variable = VARIABLE_OF[key]
    with pytest.raises(ConfigurationError) as raised:
        configured(key, None, value, command_line)

    assert str(raised.value).splitlines()[0] == f"Invalid configuration in {variable}:"
    (error,) = raised.value.errors
    assert error.startswith(f"{variable}='{value}' is ") and error.endswith(", or unset it")


@pytest.mark.parametrize("command_line", ["subprocess", "disabled"])
def test_uv_keyring_provider_is_not_read_when_the_command_line_gives_it(
    command_line: str,
) -> None:
    """As uv, which reads it only when `--keyring-provider` is not on its command line."""
    assert configured("keyring-provider", None, "Subprocess", command_line).keyring_provider == (
        command_line
    )


@pytest.mark.parametrize(
    ("value", "expected"), [("t", True), ("Y", True), ("f", False), ("n", False)]
)
def test_uv_native_tls_takes_the_short_values_uv_takes(value: str, expected: bool) -> None:
    assert configured("native-tls", None, value, None).native_tls is expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("keyring-provider", "https://bot:s3cret@index.example/simple"),
        ("native-tls", "https://bot:s3cret@index.example/simple"),
        ("native-tls", "x" * 100_000),
    ],
)
def test_a_refused_variable_is_shown_without_credentials_and_bounded(key: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        configured(key, None, value, None)

    (error,) = raised.value.errors
    assert "s3cret" not in error
    assert len(error) < 300


@pytest.mark.parametrize(
    ("variable", "native_tls", "passed"), [(" ", False, "0"), ("0 ", False, "0"), ("", True, "1")]
)
def test_a_build_environment_gets_the_decided_native_tls_not_the_variable_as_given(
    variable: str, native_tls: bool, passed: str
) -> None:
    """uv refuses a blank UV_NATIVE_TLS that this builder reads as unset."""
    env = NetworkSettings(native_tls=native_tls).installer_environ({"UV_NATIVE_TLS": variable})

    assert env == {"UV_NATIVE_TLS": passed}


def test_build_environments_get_the_keyring_and_trust_settings() -> None:
    env = NetworkSettings("subprocess", True).installer_environ({"PATH": "/bin"})
    assert env == {
        "PATH": "/bin",
        "UV_KEYRING_PROVIDER": "subprocess",
        "PIP_KEYRING_PROVIDER": "subprocess",
        "UV_NATIVE_TLS": "1",
    }
    assert NetworkSettings().installer_environ({"PATH": "/bin"}) == {"PATH": "/bin"}


def test_a_build_environment_does_not_use_the_keyring_the_command_line_turned_off() -> None:
    env = NetworkSettings("disabled").installer_environ({"UV_KEYRING_PROVIDER": "subprocess"})

    assert env == {"UV_KEYRING_PROVIDER": "disabled"}


# -- git -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repository:
    """A bare repository ``served/dep.git`` with one commit."""

    served: Path
    commit: str

    def check_out(self, server: GitServer, where: Path) -> Path:
        return check_out(server.repository_url("dep"), self.commit, where, label="dep")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "README").write_text("through the proxy\n")
    git(work, "add", "README")
    git(work, "commit", "--quiet", "-m", "one")
    served = root / "served"
    served.mkdir()
    git(root, "clone", "--quiet", "--bare", str(work), str(served / "dep.git"))
    git(served / "dep.git", "update-server-info")
    return Repository(served, git(work, "rev-parse", "HEAD"))


@pytest.mark.slow
def test_git_reaches_an_https_server_with_a_private_ca_through_the_proxy(
    repository: Repository,
    proxy: AuthenticatingProxy,
    through: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    ca = make_test_ca(tmp_path / "ca")
    with GitServer(repository.served, "smart", tls=ca) as server:
        # the settings downloads follow, and no git-specific one: no GIT_SSL_CAINFO
        through.setenv("HTTPS_PROXY", proxy.url())
        through.setenv("SSL_CERT_FILE", str(ca.ca))
        checkout = repository.check_out(server, tmp_path / "checkout")
    assert (checkout / "README").read_text() == "through the proxy\n"
    port = server.url.rpartition(":")[2]
    assert set(proxy.tunnels) == {f"127.0.0.1:{port}"}


@pytest.mark.slow
def test_git_sends_plain_http_through_the_proxy_named_in_uppercase(
    repository: Repository,
    proxy: AuthenticatingProxy,
    through: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with GitServer(repository.served, "dumb") as server:
        through.setenv("HTTP_PROXY", proxy.url())  # git itself reads only `http_proxy`
        repository.check_out(server, tmp_path / "checkout")
    assert proxy.forwarded
    assert all(url.startswith(server.url) for url in proxy.forwarded)
    assert server.requests


@pytest.mark.slow
def test_a_git_proxy_refusing_credentials_fails_without_them(
    repository: Repository, through: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with (
        AuthenticatingProxy(password="another one") as proxy,
        GitServer(repository.served, "dumb") as server,
    ):
        through.setenv("http_proxy", proxy.url(password=PROXY_PASSWORD))
        with pytest.raises(LockbundleError) as raised:
            repository.check_out(server, tmp_path / "checkout")
    assert "the proxy refused to carry the fetch" in str(raised.value)
    assert_no_secret(str(raised.value), proxy_needles())
    assert proxy.refused


@pytest.mark.slow
def test_git_meeting_a_certificate_no_one_trusts_names_the_host_and_the_settings(
    repository: Repository, through: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = make_test_ca(tmp_path / "ca")
    with (
        GitServer(repository.served, "dumb", tls=ca) as server,
        pytest.raises(LockbundleError) as raised,
    ):
        repository.check_out(server, tmp_path / "checkout")
    message = str(raised.value)
    assert "the TLS certificate of 127.0.0.1 could not be verified" in message
    assert "SSL_CERT_FILE" in message


# -- the keyring -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateIndex]:
    with PrivateIndex(served_files(tmp_path_factory.mktemp("private") / "files")) as index:
        yield index


@pytest.fixture
def keyring(tmp_path: Path, through: pytest.MonkeyPatch) -> FileKeyring:
    """The real ``keyring`` command on PATH, reading passwords from a file of its own."""
    keyring = FileKeyring(tmp_path / "keyring")
    for name, value in keyring.environ.items():
        through.setenv(name, value)
    through.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    through.setenv("NETRC", os.devnull)
    return keyring


def user_only(index: PrivateIndex) -> dict[str, tuple[str, str]]:
    """The index's user name without a password, as ``UV_INDEX_<NAME>_USERNAME`` alone gives."""
    return {realm(index.url): (USER, "")}


def download_with_the_keyring(index: PrivateIndex) -> None:
    """Download the index's first file, its password to be asked of the keyring."""
    download(
        Downloader(credentials=user_only(index), network=KEYRING, index_urls=[index.simple_url]),
        index.file_url(WHEELS[0]),
        index.directory / WHEELS[0],
    )


def test_a_password_only_the_keyring_knows_is_asked_for_after_a_401_once_per_realm(
    private_index: PrivateIndex, keyring: FileKeyring
) -> None:
    keyring.set(private_index.simple_url, USER, PASSWORD)
    downloader = Downloader(
        retries=0,
        credentials=user_only(private_index),
        network=KEYRING,
        index_urls=[private_index.simple_url],
    )
    before = len(private_index.refused)
    for name in WHEELS:
        download(downloader, private_index.file_url(name), private_index.directory / name)
    # the first file: 401, the keyring, one retry; the second one carries the password at once
    assert private_index.refused[before:] == [f"/files/{WHEELS[0]}"]


def test_the_keyring_is_not_asked_unless_turned_on(
    private_index: PrivateIndex, keyring: FileKeyring
) -> None:
    keyring.set(private_index.simple_url, USER, PASSWORD)
    with pytest.raises(DownloadError, match="HTTP 401"):
        download(
            Downloader(retries=0, credentials=user_only(private_index)),
            private_index.file_url(WHEELS[0]),
            private_index.directory / WHEELS[0],
        )


def test_a_password_the_index_refuses_is_tried_once_and_not_shown(
    private_index: PrivateIndex, keyring: FileKeyring
) -> None:
    wrong = "Wr0ng:k3yring@pass/word%1"
    keyring.set(private_index.simple_url, USER, wrong)
    downloader = Downloader(
        credentials=user_only(private_index),
        network=KEYRING,
        index_urls=[private_index.simple_url],
    )
    before = len(private_index.refused)
    with pytest.raises(DownloadError) as raised:
        download(downloader, private_index.file_url(WHEELS[0]), private_index.directory / WHEELS[0])
    assert "password from the keyring" in str(raised.value)
    assert_no_secret(str(raised.value), secret_needles(password=wrong))
    assert len(private_index.refused) - before == 2  # without, then with the keyring's password


def test_a_keyring_without_the_password_says_how_to_store_it(
    private_index: PrivateIndex, keyring: FileKeyring
) -> None:
    with pytest.raises(DownloadError) as raised:
        download_with_the_keyring(private_index)
    # under the index's URL, as for uv
    assert f"`keyring set {private_index.simple_url} {USER}`" in str(raised.value)


def test_the_keyring_is_asked_only_on_the_hosts_of_the_indexes(
    private_index: PrivateIndex, keyring: FileKeyring, plain_index: IndexServer
) -> None:
    """A page or a redirect may point anywhere: the keyring's passwords are not for any host."""
    keyring.set(private_index.url, USER, PASSWORD)
    keyring.set(private_index.url.removeprefix("http://"), USER, PASSWORD)
    downloader = Downloader(
        retries=0,
        credentials=user_only(private_index),
        network=KEYRING,
        index_urls=[plain_index.url],
    )
    with pytest.raises(DownloadError) as raised:
        download(downloader, private_index.file_url(WHEELS[0]), private_index.directory / WHEELS[0])
    assert "HTTP 401" in str(raised.value)
    assert "the keyring is asked only on the hosts of the lock's indexes" in str(raised.value)


def test_a_user_name_like_an_option_is_not_passed_to_the_keyring(
    private_index: PrivateIndex, keyring: FileKeyring
) -> None:
    """``http://--disable@host/`` on a page would otherwise run ``keyring get URL --disable``,
    which turns the user's keyring off for good."""
    settings = keyring.directory / "config" / "python_keyring" / "keyringrc.cfg"
    before = settings.read_text()
    link = private_index.file_url(WHEELS[0]).replace("http://", "http://--disable@")
    downloader = Downloader(retries=0, network=KEYRING, index_urls=[private_index.simple_url])
    with pytest.raises(
        KeyringError, match="its user name begins with `-`: the keyring is not asked"
    ):
        download(downloader, link, private_index.directory / WHEELS[0])
    assert settings.read_text() == before


def test_the_keyring_command_reads_its_arguments_as_a_service_and_a_user(
    keyring: FileKeyring,
) -> None:
    """``--`` ends the options: a service or user beginning with ``-`` is never an option."""
    keyring.set("--help", "--disable", PASSWORD)
    command = shutil.which("keyring")
    assert command is not None
    assert _keyring_get(command, "--help", "--disable", "the index") == PASSWORD


def test_a_missing_keyring_command_is_a_clear_error(
    private_index: PrivateIndex, keyring: FileKeyring, through: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    through.setenv("PATH", str(tmp_path / "no-keyring-here"))
    with pytest.raises(KeyringError, match="no `keyring` command is on PATH"):
        download_with_the_keyring(private_index)


def test_a_failing_keyring_command_is_a_clear_error(
    private_index: PrivateIndex, keyring: FileKeyring, through: pytest.MonkeyPatch
) -> None:
    through.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(KeyringError) as raised:
        download_with_the_keyring(private_index)
    message = str(raised.value)
    assert "`keyring get` for" in message and "failed (exit status 1)" in message
    assert "NoKeyringError" in message


def test_the_keyring_needs_a_user_name(private_index: PrivateIndex, keyring: FileKeyring) -> None:
    with pytest.raises(KeyringError, match="UV_INDEX_<NAME>_USERNAME"):
        download(
            Downloader(network=KEYRING, index_urls=[private_index.simple_url]),
            private_index.file_url(WHEELS[0]),
            private_index.directory / WHEELS[0],
        )


@dataclass(frozen=True)
class KeyringBuild:
    """A project locked against an index whose password only the keyring knows (the build
    machine has the index's user name alone, in uv's variable)."""

    project: Path
    index: PrivateIndex
    environ: dict[str, str]
    cache: Path

    def build(self, sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> Built:
        """``lockbundle build ARGS`` with ``env`` added; the requests the index refused (401)."""
        before = len(self.index.refused)
        result = lockbundle(
            sandbox,
            self.project,
            "build",
            "--no-cache",
            *args,
            cache=self.cache,
            check=False,
            extra_env={**self.environ, **(env or {})},
        )
        return Built(result, self.index.refused[before:])


@dataclass(frozen=True)
class Built:
    result: subprocess.CompletedProcess[str]
    refused: list[str]


@pytest.fixture
def keyring_build(
    package_index: IndexServer, make_project: MakeProject, tmp_path: Path
) -> Iterator[KeyringBuild]:
    with PrivateIndex(shutil.copytree(package_index.directory, tmp_path / "files")) as index:
        lock_home = tmp_path / "lock-home"
        lock_home.mkdir()
        (lock_home / ".netrc").write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
        (lock_home / ".netrc").chmod(0o600)
        project = make_project("privateapp", index=index, env={"HOME": str(lock_home)})
        keyring = FileKeyring(tmp_path / "keyring")
        keyring.set(index.simple_url, USER, PASSWORD)
        home = tmp_path / "home"  # no ~/.netrc
        home.mkdir()
        environ = {
            **keyring.environ,
            "HOME": str(home),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "UV_INDEX_PRIVATE_USERNAME": USER,
        }
        yield KeyringBuild(project, index, environ, tmp_path / "cache")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["project", "command line over UV_KEYRING_PROVIDER"])
def test_a_build_asks_the_keyring_as_configured_and_writes_the_password_nowhere(
    where: str, keyring_build: KeyringBuild, sandbox: Sandbox
) -> None:
    """``keyring-provider = "subprocess"`` in the project, or ``--keyring-provider subprocess``
    over ``UV_KEYRING_PROVIDER=disabled``: the wheel and the sdist's build backend (through uv,
    which asks the keyring itself) come from an index whose password only the keyring knows."""
    if where == "project":
        set_config(keyring_build.project, '[tool.lockbundle]\nkeyring-provider = "subprocess"')
        built = keyring_build.build(sandbox)
    else:
        off = {"UV_KEYRING_PROVIDER": "disabled"}
        built = keyring_build.build(sandbox, "--keyring-provider", "subprocess", env=off)

    assert built.result.returncode == 0, describe(built.result)
    assert built.refused  # the password came after a 401, from the keyring
    assert_no_secret(built.result.stdout + built.result.stderr, secret_needles())
    assert occurrences(keyring_build.project / "dist", secret_needles()) == {}


@pytest.mark.slow
def test_the_command_lines_keyring_provider_turns_off_the_variables(
    keyring_build: KeyringBuild, sandbox: Sandbox
) -> None:
    on = {"UV_KEYRING_PROVIDER": "subprocess"}

    built = keyring_build.build(sandbox, "--keyring-provider", "disabled", env=on)

    # the keyring has the password: asked, it would have let the build through
    assert built.result.returncode == 1, describe(built.result)
    assert "HTTP 401 Unauthorized" in built.result.stderr, built.result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("flag", [True, False], ids=["--native-tls", "no-flag"])
def test_the_command_lines_native_tls_wins_over_uv_native_tls_0(
    flag: bool,
    package_index: IndexServer,
    make_project: MakeProject,
    sandbox: Sandbox,
    authority: PrivateAuthority,
    tmp_path: Path,
) -> None:
    """With native TLS, ``SSL_CERT_FILE`` is loaded into the system's store, which refuses a
    file that holds no certificate; OpenSSL alone skips it, and the private CA's index then
    fails its check, with native TLS as a remedy: which one happens tells which was in effect."""
    files = shutil.copytree(package_index.directory, tmp_path / "files")
    with TlsIndex(files, authority) as index:
        project = make_project("privateapp", index=index, env={"SSL_CERT_FILE": str(authority.pem)})
        no_certificate = tmp_path / "not-a-certificate.pem"
        no_certificate.write_text("not a certificate\n")
        result = lockbundle(
            sandbox,
            project,
            "build",
            *(["--native-tls"] if flag else []),
            cache=tmp_path / "cache",
            check=False,
            extra_env={"SSL_CERT_FILE": str(no_certificate), "UV_NATIVE_TLS": "0"},
        )

    assert result.returncode == 1, describe(result)
    loaded = f"SSL_CERT_FILE='{no_certificate}' cannot be loaded"
    advised = "trust the system's certificate store with --native-tls, UV_NATIVE_TLS=1"
    assert (loaded in result.stderr, advised in result.stderr) == (flag, not flag), result.stderr


@pytest.mark.slow
def test_a_build_reaches_an_https_index_with_a_private_ca_only_through_the_proxy(
    package_index: IndexServer,
    make_project: MakeProject,
    sandbox: Sandbox,
    authority: PrivateAuthority,
    proxy: AuthenticatingProxy,
    tmp_path: Path,
) -> None:
    """``lockbundle build`` of a project locked against an https index: the wheel, and the
    sdist's build backend (through uv), come through the proxy's tunnel, trusted through
    ``SSL_CERT_FILE``; no output holds the proxy's password."""
    files = shutil.copytree(package_index.directory, tmp_path / "files")
    with TlsIndex(files, authority) as index:
        trust = {"SSL_CERT_FILE": str(authority.pem)}
        project = make_project("privateapp", index=index, env=trust)
        # loopback is not exempted: everything goes through the proxy
        proxies = {"HTTPS_PROXY": proxy.url(), "https_proxy": proxy.url()}
        proxies |= {"NO_PROXY": "", "no_proxy": ""}
        result = lockbundle(
            sandbox,
            project,
            "build",
            cache=tmp_path / "cache",
            check=False,
            extra_env={**trust, **proxies, "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
        )
        port = index.url.rpartition(":")[2]
    assert result.returncode == 0, describe(result)
    assert proxy.tunnels and set(proxy.tunnels) == {f"127.0.0.1:{port}"}
    assert_no_secret(result.stdout + result.stderr, proxy_needles())
    assert occurrences(project / "dist", proxy_needles()) == {}
