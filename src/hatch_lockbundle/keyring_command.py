"""Index passwords from the ``keyring`` command, as uv's ``keyring-provider = "subprocess"``."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from .credentials import realm, redact, scrub
from .errors import LockbundleError

#: seconds a ``keyring`` command may take (a plugin may fetch a token from a cloud)
TIMEOUT = 60.0


class KeyringError(LockbundleError):
    """The ``keyring`` command is missing, failed, or gave no password."""


class Keyring:
    """Asks the ``keyring`` command for a password once per realm and keeps the answer in
    memory for the build; nothing is written anywhere."""

    def __init__(self, index_urls: Sequence[str] = ()) -> None:
        """
        :param index_urls: the indexes whose files are downloaded (the lock's, its mirrors):
            a password is stored for an index's URL (``keyring set <index URL> <user>``), and
            the keyring is asked only for URLs on their hosts, never for a host that a page or
            a redirect points to
        """
        self.index_urls = tuple(index_urls)
        self._realms = {realm(url) for url in self.index_urls}
        self._answers: dict[str, tuple[str, str] | None] = {}
        self._lock = threading.Lock()

    def credentials(self, url: str, username: str | None) -> tuple[str, str] | None:
        """User and password for ``url``'s realm, asked of the keyring the first time (for the
        index's URL, the URL itself, then its host, as uv does), or None when the keyring has none.

        :param username: the index's user name (from the URL, ``UV_INDEX_<NAME>_USERNAME`` or
            a mirror mapping): ``keyring get`` needs one
        :raises KeyringError: no user name, no ``keyring`` command, or the command failed
        """
        if not self.asks_for(url):
            return None
        key = realm(url)
        with self._lock:  # one question per realm, however many downloads wait for it
            if key not in self._answers:
                self._answers[key] = self._ask(url, username)
            return self._answers[key]

    def asks_for(self, url: str) -> bool:
        """Whether the keyring is asked for ``url``'s password: only on an index's host."""
        return realm(url) in self._realms

    def answered(self, url: str) -> tuple[str, str] | None:
        """What the keyring answered for ``url``'s realm, without asking it."""
        with self._lock:
            return self._answers.get(realm(url))

    def service(self, url: str) -> str:
        """The name to store ``url``'s password under: its index's URL, else its host."""
        return [*self._indexes_of(url), _host(url)][0]

    def _services(self, url: str) -> list[str]:
        """The names the keyring is asked for, in order: the URLs of ``url``'s indexes, ``url``
        itself, its host (``host[:port]``)."""
        itself = urlsplit(redact(url))._replace(query="", fragment="").geturl()
        names = [*self._indexes_of(url), itself, _host(url)]
        return [name for name in dict.fromkeys(names) if not name.startswith("-")]

    def _indexes_of(self, url: str) -> list[str]:
        return [redact(index) for index in self.index_urls if realm(index) == realm(url)]

    def _ask(self, url: str, username: str | None) -> tuple[str, str] | None:
        shown = redact(url)
        if not username:
            raise KeyringError(
                f"{shown} wants credentials, and the keyring (keyring-provider = "
                '"subprocess") is asked only with a user name: put it in the index URL '
                "(https://USER@host/...) or in UV_INDEX_<NAME>_USERNAME"
            )
        if username.startswith("-"):
            # it would reach `keyring` as an option (a page's link `http://--disable@host/`)
            raise KeyringError(
                f"{shown} wants credentials, and its user name begins with `-`: the keyring "
                "is not asked for it (it would read it as an option). Give the password in "
                "UV_INDEX_<NAME>_PASSWORD or ~/.netrc"
            )
        command = shutil.which("keyring")
        if command is None:
            raise KeyringError(
                f'{shown} wants credentials and keyring-provider is "subprocess", but no '
                "`keyring` command is on PATH: install it with its backend (e.g. `uv tool install "
                "keyring --with keyrings.google-artifactregistry-auth`), or turn the keyring off"
            )
        for name in self._services(url):
            password = _keyring_get(command, name, username, shown)
            if password:
                return username, password
        return None


def _host(url: str) -> str:
    """``host[:port]`` of ``url``, as written."""
    return urlsplit(url).netloc.rpartition("@")[2]


def _keyring_get(command: str, service: str, username: str, shown: str) -> str | None:
    """``keyring get SERVICE USER``: the password it prints, or None when it has none.

    Only the service and the user name are arguments, after ``--`` so that neither is read as
    an option: the password comes back on standard output, never through a command line or a
    shell.
    """
    try:
        result = subprocess.run(
            [command, "get", "--", service, username],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT,
            check=False,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
    except subprocess.TimeoutExpired:
        raise KeyringError(
            f"`keyring get` for {shown} did not answer within {TIMEOUT:g} s (a backend waiting "
            "for a prompt?); run `keyring get <url> <user>` yourself to see why"
        ) from None
    except OSError as error:
        raise KeyringError(f"cannot run `{command}` for {shown}: {error.strerror}") from None
    password = result.stdout.removesuffix("\n")
    if result.returncode == 0 and password:
        return password
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    if errors:  # `keyring get` says nothing when it only has no password
        secrets = [password] if password else []
        raise KeyringError(
            f"`keyring get` for {shown} failed (exit status {result.returncode}): "
            f"{scrub(errors[-1], secrets)}. Run `keyring get <url> <user>` yourself to see why"
        )
    return None
