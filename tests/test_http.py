"""Downloads: retries with backoff on server faults, truncation detection, connection reuse,
proxies."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hatch_lockbundle import http as http_module
from hatch_lockbundle.credentials import (
    index_credentials,
    redact,
    scrub,
    secrets_of,
    with_credentials,
)
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.http import Downloader, DownloadError

BODY = b"wheel bytes " * 1000


class ScriptedServer:
    """Answers each request with the next scripted behaviour: a status, or 'truncate'."""

    def __init__(self, script: list[int | str]) -> None:
        self.script = list(script)
        self.requests = 0
        self.connections = 0
        self.targets: list[str] = []  # each request's target, as sent
        self.holding = threading.Event()  # a "hold" step has its request
        self.release = threading.Event()  # ends a "hold" step (with no answer)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:  # one handler per accepted connection
                server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                server.requests += 1
                server.targets.append(self.path)
                step = server.script.pop(0) if server.script else 200
                if step == "hold":  # a stalled download: no answer until released
                    server.holding.set()
                    server.release.wait(30)
                    self.close_connection = True
                    return
                if step == "endless":  # no Content-Length, and a body that never ends
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        while not server.release.is_set():
                            self.wfile.write(BODY)
                    self.close_connection = True
                    return
                if step == "two-lengths":  # duplicate headers: http.client joins them
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY)))
                    self.send_header("Content-Length", "5")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(BODY)
                    self.close_connection = True
                    return
                if step == "announce-huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**12))
                    self.end_headers()
                    self.close_connection = True
                    return
                if step in ("trickle-body", "trickle-headers"):  # a byte every 50 ms
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                    if step == "trickle-body":
                        self.wfile.write(head)
                        head = BODY
                    with contextlib.suppress(OSError):
                        for byte in head:
                            if server.release.wait(0.05):
                                break
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    self.close_connection = True
                    return
                if step == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY[:100])
                    self.close_connection = True
                    return
                if step == "auth":
                    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    step = 200
                if step == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/files/elsewhere/x.whl")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert isinstance(step, int)
                body = BODY if step == 200 else b"error"
                self.send_response(step)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/x.whl"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "BACKOFF", 0.01)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ScriptedServer]:
    scripted = ScriptedServer(request.param)
    yield scripted
    scripted.close()


@pytest.mark.parametrize("server", [[503, 500, 200]], indirect=True)
def test_server_errors_are_retried(server: ScriptedServer) -> None:
    out = io.BytesIO()

    digest = Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY
    assert digest == hashlib.sha256(BODY).hexdigest()
    assert server.requests == 3


@pytest.mark.parametrize("server", [["truncate", 200]], indirect=True)
def test_a_truncated_body_is_retried_and_not_kept(server: ScriptedServer) -> None:
    out = io.BytesIO()

    Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY


@pytest.mark.parametrize("server", [[503, 503, 503, 503, 503]], indirect=True)
def test_retries_are_bounded_and_the_error_names_the_url(server: ScriptedServer) -> None:
    with pytest.raises(
        DownloadError,
        match=r"cannot download http://127.0.0.1:\d+/files/x.whl after 4 attempts: HTTP 503",
    ):
        Downloader().fetch(server.url, io.BytesIO())
    assert server.requests == 4


@pytest.mark.parametrize("server", [[404]], indirect=True)
def test_not_found_is_not_retried(server: ScriptedServer) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        Downloader().fetch(server.url, io.BytesIO())
    assert server.requests == 1


@pytest.mark.parametrize("server", [["redirect", 200]], indirect=True)
def test_redirects_are_followed(server: ScriptedServer) -> None:
    out = io.BytesIO()

    Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY
    assert server.requests == 2


def test_a_url_with_other_than_ascii_is_requested_percent_encoded() -> None:
    """A lock's or a mirror page's URL may hold any character; the request line is ASCII."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/files/tiny-1.0-py3-none-any.whl?x=é"
        out = io.BytesIO()
        Downloader().fetch(url, out)
    finally:
        httpd.shutdown()
        httpd.server_close()

    assert requested == ["/files/tiny-1.0-py3-none-any.whl?x=%C3%A9"]
    assert out.getvalue() == BODY


@pytest.mark.parametrize("server", [[]], indirect=True)
def test_connections_are_reused(server: ScriptedServer) -> None:
    downloader = Downloader()

    for _ in range(5):
        downloader.fetch(server.url, io.BytesIO())

    assert server.requests == 5
    assert server.connections == 1


@pytest.mark.parametrize("server", [["hold"]], indirect=True)
def test_an_aborted_download_stops_at_once_instead_of_retrying(server: ScriptedServer) -> None:
    downloader = Downloader()
    errors: list[BaseException] = []

    def download() -> None:
        try:
            downloader.fetch(server.url, io.BytesIO())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=download)
    thread.start()
    assert server.holding.wait(10)

    downloader.abort()  # as on Ctrl-C in the main thread
    thread.join(10)

    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], DownloadError)
    assert "was stopped" in str(errors[0])
    assert server.requests == 1  # the next attempt would have been answered: there was none
    with pytest.raises(DownloadError, match="was stopped"):
        downloader.fetch(server.url, io.BytesIO())  # no new connection either
    assert server.requests == 1


@pytest.mark.parametrize("server", [[]], indirect=True)
def test_downloads_go_through_the_proxy_the_environment_names(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the scripted server plays the proxy: it gets the absolute URL of a host that does not exist
    proxy = server.url.split("/files/")[0]
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    out = io.BytesIO()

    Downloader().fetch("http://files.example.invalid/files/x.whl", out)

    assert out.getvalue() == BODY
    assert server.targets == ["http://files.example.invalid/files/x.whl"]


@pytest.mark.parametrize("server", [[]], indirect=True)
def test_hosts_in_no_proxy_are_reached_directly(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens: unusable
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    out = io.BytesIO()

    Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY
    assert server.targets == ["/files/x.whl"]


@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_credentials_come_from_netrc(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login user password s3cret\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    out = io.BytesIO()

    Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY


@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_missing_credentials_say_where_to_put_them(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))

    with pytest.raises(
        DownloadError,
        match=r"HTTP 401 .*The index wants credentials: .* in ~/.netrc \(`machine 127.0.0.1 login",
    ):
        Downloader().fetch(server.url, io.BytesIO())
    assert server.requests == 1


@pytest.mark.parametrize(
    ("password", "said", "not_said"),
    [
        ("wr0ng", "refused the credentials that were sent", "wants credentials"),
        ("", "Only a user name was sent, no password: give the password in", "refused the"),
    ],
    ids=["wrong-password", "no-password"],
)
@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_refused_credentials_say_what_was_wrong_and_are_not_shown(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    said: str,
    not_said: str,
) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))
    host = server.url.split("/")[2]

    with pytest.raises(DownloadError) as raised:
        Downloader(credentials={f"http://{host}": ("tok3n-user", password)}).fetch(
            server.url, io.BytesIO()
        )

    message = str(raised.value)
    assert "HTTP 401" in message
    assert said in message
    assert not_said not in message
    assert "tok3n-user" not in message
    assert not password or password not in message


@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_a_401_after_a_user_name_in_the_url_asks_for_the_password_there(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UV_INDEX_<NAME>_PASSWORD is not read for a URL that names its user, and a netrc entry
    of another user does not count: the advice names where the password is then read."""
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login user password s3cret\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    url = server.url.replace("http://", "http://tok3n-user@", 1)

    with pytest.raises(DownloadError) as raised:
        Downloader().fetch(url, io.BytesIO())

    message = str(raised.value)
    assert "Only a user name was sent, no password: give the password in the URL" in message
    assert "in ~/.netrc (`machine 127.0.0.1 login <the URL's user> password" in message
    assert "UV_INDEX_" not in message
    assert "tok3n-user" not in message


@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_a_url_with_only_a_user_name_takes_that_users_password_from_netrc(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As uv does (`https://oauth2accesstoken@host/` and a netrc entry for that login)."""
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login user password s3cret\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    out = io.BytesIO()

    Downloader().fetch(server.url.replace("http://", "http://user@", 1), out)

    assert out.getvalue() == BODY


def test_credentials_are_redacted_from_messages() -> None:
    assert redact("https://user:secret@example.com/simple/x") == "https://example.com/simple/x"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # a raw `/` in the password ends the host part early: the secret looks like a port
        ("http://user:s3cr3t%40/x@127.0.0.1:1/files/v.whl", "http://127.0.0.1:1/files/v.whl"),
        ("https://user:pa/ss@host/simple/", "https://host/simple/"),
        # a password of digits, or none, reads as a port: the URL parses, wrongly
        ("https://user:2024/s3cr3t@pypi.example.com/simple/", "https://pypi.example.com/simple/"),
        ("https://user:/s3cr3t@pypi.example.com/simple/", "https://pypi.example.com/simple/"),
        ("https://user:99?s3cr3t@pypi.example.com/simple/", "https://pypi.example.com/simple/"),
        ("https://user:99#s3cr3t@pypi.example.com/simple/", "https://pypi.example.com/simple/"),
    ],
)
def test_credentials_are_redacted_from_a_url_that_does_not_parse(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_an_at_sign_in_a_path_is_not_taken_for_credentials() -> None:
    assert redact("https://host/~user/a@b/x.whl") == "https://host/~user/a@b/x.whl"


def test_refused_connection_is_an_error_naming_the_url() -> None:
    with pytest.raises(DownloadError, match=r"cannot download http://127.0.0.1:9/x.whl after"):
        Downloader(retries=1).fetch("http://127.0.0.1:9/x.whl", io.BytesIO())


def test_index_credentials_follow_uvs_variables() -> None:
    environ = {
        "UV_INDEX_INTERNAL_MIRROR_USERNAME": "user",
        "UV_INDEX_INTERNAL_MIRROR_PASSWORD": "s3cret",
    }

    found = index_credentials({"internal-mirror": "https://pkgs.example.com:8443/simple/"}, environ)

    assert found == {"https://pkgs.example.com:8443": ("user", "s3cret")}
    assert index_credentials({"other": "https://x.example/simple"}, environ) == {}


def test_index_credentials_come_from_an_unnamed_index_url() -> None:
    indexes = [(None, "https://ci:token@pkgs.example.com/simple/")]

    assert index_credentials(indexes, {}) == {"https://pkgs.example.com": ("ci", "token")}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("UV_INDEX_URL", "https://ci:token@pkgs.example.com/simple/"),
        ("UV_DEFAULT_INDEX", "https://ci:token@pkgs.example.com/simple/"),
        ("UV_EXTRA_INDEX_URL", "https://pypi.org/simple https://ci:token@pkgs.example.com/simple/"),
        ("UV_INDEX", "public=https://pypi.org/simple private=https://ci:token@pkgs.example.com/s/"),
        ("PIP_INDEX_URL", "https://ci:token@pkgs.example.com/simple/"),
        ("PIP_EXTRA_INDEX_URL", "https://ci:token@pkgs.example.com/simple/"),
    ],
)
def test_index_credentials_come_from_the_index_variables_of_uv_and_pip(
    variable: str, value: str
) -> None:
    assert index_credentials({}, {variable: value}) == {"https://pkgs.example.com": ("ci", "token")}


def test_a_named_index_in_uv_index_takes_its_credential_variables() -> None:
    environ = {
        "UV_INDEX": "private=https://pkgs.example.com/simple/",
        "UV_INDEX_PRIVATE_USERNAME": "ci",
        "UV_INDEX_PRIVATE_PASSWORD": "token",
    }

    assert index_credentials({}, environ) == {"https://pkgs.example.com": ("ci", "token")}


def test_the_projects_index_credentials_win_over_an_index_variables() -> None:
    indexes = {"private": "https://project:secret@pkgs.example.com/simple/"}
    environ = {"UV_INDEX_URL": "https://env:other@pkgs.example.com/simple/"}

    assert index_credentials(indexes, environ) == {
        "https://pkgs.example.com": ("project", "secret")
    }


def test_index_credentials_come_from_the_index_url_unless_a_variable_says_otherwise() -> None:
    indexes = {"private": "https://ci:p%40ss%3Aword@pkgs.example.com/simple/"}

    assert index_credentials(indexes, {}) == {"https://pkgs.example.com": ("ci", "p@ss:word")}
    assert index_credentials(indexes, {"UV_INDEX_PRIVATE_PASSWORD": "other"}) == {
        "https://pkgs.example.com": ("ci", "other")
    }


def test_credentials_written_into_a_url_survive_its_parsing() -> None:
    url = with_credentials("https://old@pkgs.example.com:8443/simple/", ("ci", "p@ss:w/rd%"))

    assert url == "https://ci:p%40ss%3Aw%2Frd%25@pkgs.example.com:8443/simple/"
    assert index_credentials({"x": url}, {}) == {
        "https://pkgs.example.com:8443": ("ci", "p@ss:w/rd%")
    }


def test_output_of_other_programs_is_scrubbed_of_secrets() -> None:
    output = (
        "GET https://ci:p%40ss@pkgs.example.com/simple/x/ failed\n"
        "password p@ss rejected; a token-only URL https://t0ken@pkgs.example.com/ too"
    )

    scrubbed = scrub(output, secrets_of(("ci", "p@ss")))

    assert scrubbed == (
        "GET https://****@pkgs.example.com/simple/x/ failed\n"
        "password **** rejected; a token-only URL https://****@pkgs.example.com/ too"
    )
    assert secrets_of(("t0ken", "")) == ["t0ken"]


@pytest.mark.parametrize("server", [["auth"]], indirect=True)
def test_index_credentials_are_sent_to_the_index_realm(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    credentials = index_credentials(
        {"private": server.url.rsplit("/files/", 1)[0] + "/simple/"},
        {"UV_INDEX_PRIVATE_USERNAME": "user", "UV_INDEX_PRIVATE_PASSWORD": "s3cret"},
    )
    out = io.BytesIO()

    Downloader(credentials=credentials).fetch(server.url, out)

    assert out.getvalue() == BODY


class Counting(io.BytesIO):
    """A destination that counts what was ever written to it."""

    written = 0

    def write(self, data: object) -> int:
        assert isinstance(data, bytes)
        self.written += len(data)
        return super().write(data)


@pytest.mark.parametrize("server", [["endless"]], indirect=True)
def test_a_body_growing_past_the_locked_size_is_stopped_in_stream(server: ScriptedServer) -> None:
    out = Counting()

    with pytest.raises(
        DownloadError, match=r"sent more than the lock's size of 832 bytes, and was stopped"
    ):
        Downloader().fetch(server.url, out, size=832)

    assert out.written <= 832
    assert server.requests == 1  # not retried: another try would be as endless


@pytest.mark.parametrize("server", [["endless"]], indirect=True)
def test_a_body_without_a_locked_size_is_stopped_at_the_ceiling(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "MAX_DOWNLOAD", 5 * len(BODY))
    out = Counting()

    with pytest.raises(DownloadError, match=rf"sent more than {5 * len(BODY)} bytes"):
        Downloader().fetch(server.url, out)

    assert out.written <= 5 * len(BODY)


@pytest.mark.parametrize("server", [["announce-huge"]], indirect=True)
def test_a_body_announced_larger_than_the_lock_says_is_refused_before_reading(
    server: ScriptedServer,
) -> None:
    out = Counting()

    with pytest.raises(
        DownloadError, match=r"announces 1000000000000 bytes, more than the lock's size of 832"
    ):
        Downloader().fetch(server.url, out, size=832)

    assert out.written == 0


@pytest.mark.parametrize(
    "server",
    [["trickle-body", "trickle-body"], ["trickle-headers", "trickle-headers"]],
    indirect=True,
    ids=["body", "headers"],
)
def test_a_download_trickling_below_the_low_speed_limit_is_given_up(
    server: ScriptedServer,
) -> None:
    # a byte every 50 ms never lets the socket timeout fire: progress is what is judged
    downloader = Downloader(retries=1, timeout=1.0)

    with pytest.raises(DownloadError) as raised:
        downloader.fetch(server.url, io.BytesIO())

    assert re.fullmatch(
        r"cannot download http://127\.0\.0\.1:\d+/files/x\.whl after 2 attempts: "
        r"(too slow \(\d+ bytes in the last 1 s, less than 1024 bytes a second\); try again "
        r"later, or set LOCKBUNDLE_HTTP_TIMEOUT to wait longer|the server did not answer within "
        r"1 s \(LOCKBUNDLE_HTTP_TIMEOUT sets how long to wait\))",
        str(raised.value),
    )
    assert server.requests == 2  # retried once, as a timeout is


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKBUNDLE_HTTP_TIMEOUT", "2.5")
    assert Downloader().timeout == 2.5
    monkeypatch.setenv("LOCKBUNDLE_HTTP_TIMEOUT", "soon")
    with pytest.raises(
        LockbundleError,
        match=r"LOCKBUNDLE_HTTP_TIMEOUT='soon' is not a number of seconds greater than 0",
    ):
        Downloader()


class FullDisk(io.BytesIO):
    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("server", [[200]], indirect=True)
def test_a_full_disk_is_not_taken_for_a_network_fault(server: ScriptedServer) -> None:
    with pytest.raises(OSError) as raised:
        Downloader().fetch(server.url, FullDisk())

    assert raised.value.errno == errno.ENOSPC
    assert server.requests == 1  # not retried


@pytest.mark.parametrize("server", [["two-lengths"]], indirect=True)
def test_a_content_length_that_is_not_one_number_is_not_trusted(server: ScriptedServer) -> None:
    out = io.BytesIO()

    digest = Downloader().fetch(server.url, out)

    assert out.getvalue() == BODY  # the hash, checked by the caller, decides
    assert digest == hashlib.sha256(BODY).hexdigest()


def test_a_port_out_of_range_is_an_error_not_a_traceback() -> None:
    with pytest.raises(DownloadError, match="not a valid URL"):
        Downloader().fetch("http://127.0.0.1:99999/files/x.whl", io.BytesIO())


def test_a_file_url_to_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x-1.0-py3-none-any.whl"
    os.mkfifo(fifo)

    with pytest.raises(DownloadError, match="not a regular file"):
        Downloader().fetch(fifo.as_uri(), io.BytesIO())


def test_a_file_url_larger_than_the_lock_says_is_stopped(tmp_path: Path) -> None:
    big = tmp_path / "x-1.0-py3-none-any.whl"
    big.write_bytes(b"\0" * 4096)
    out = io.BytesIO()

    with pytest.raises(DownloadError, match="larger than 819 bytes"):
        Downloader().fetch(big.as_uri(), out, size=819)
    assert len(out.getvalue()) <= 819
