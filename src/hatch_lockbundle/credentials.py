"""Index credentials: where they come from, and how they stay out of outputs and backends.

They come from the project, uv's and pip's variables and ``~/.netrc``; they are kept out of
messages, outputs and build backends.
"""

from __future__ import annotations

import netrc
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit


def redact(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages and outputs.

    The host is kept as written (case, IPv6 brackets, port); text that is not a URL loses
    whatever looks like userinfo.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _USERINFO.sub("", url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a host part that is not `host[:port]`)
    except ValueError:
        parts = None
    if parts is not None and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if "@" in rest and (parts is None or ":" in parts.netloc):
        # a raw `/`, `?` or `#` in a password ends the host part early (`user:2024/s3cret@host`
        # reads as host `user`, port 2024): whatever comes before the last `@` may be a secret.
        # A message loses a real `host:port/...@...` path with it, which is the safe mistake.
        return scheme + separator + rest[rest.rfind("@") + 1 :]
    return url


#: a URL within text: a scheme, ``://``, and everything up to the next whitespace
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")


def redact_urls(text: str) -> str:
    """``text`` (a user's entry, say ``NAME=URL``) with every URL in it :func:`redact`-ed."""
    return _URL_IN_TEXT.sub(lambda match: redact(match[0]), text)


def realm(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: credentials apply to every URL of a realm."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


#: uv's and pip's variables that name index URLs (several, space-separated, in the plural ones)
INDEX_VARIABLES = (
    "UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
)  # fmt: skip


def index_credentials(
    indexes: Mapping[str, str] | Iterable[tuple[str | None, str]],
    environ: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, str]]:
    """Credentials of the project's indexes, by realm: for a named index, uv's
    ``UV_INDEX_<NAME>_USERNAME`` / ``_PASSWORD``; else the ``user:password@`` of the index's URL,
    in ``[[tool.uv.index]]`` or in the index variables of uv and pip (``UV_INDEX_URL``, ...).

    uv never writes credentials into ``uv.lock``: the lock's URLs are bare, so what the project
    and the environment say about indexes is the only way to know them.

    :param indexes: (name or None, URL) of each ``[[tool.uv.index]]`` of the project and its
        workspace, or a mapping of names to URLs
    """
    environ = os.environ if environ is None else environ
    declared = list(indexes.items() if isinstance(indexes, Mapping) else indexes)
    for variable in INDEX_VARIABLES:
        for word in environ.get(variable, "").split():
            # uv's `UV_INDEX` entries may be `name=url`
            named = "=" in word and "://" not in word.split("=", 1)[0]
            name, _, url = word.partition("=") if named else ("", "", word)
            declared.append((name or None, url))
    found: dict[str, tuple[str, str]] = {}
    for name, url in declared:
        parts = urlsplit(url)
        user = password = None
        if name is not None:
            variable = "UV_INDEX_" + "".join(c if c.isalnum() else "_" for c in name).upper()
            user = environ.get(f"{variable}_USERNAME")
            password = environ.get(f"{variable}_PASSWORD")
        if user is not None or password is not None:
            # as uv does, a variable overrides its half of the URL's userinfo
            found[realm(url)] = (
                unquote(parts.username or "") if user is None else user,
                unquote(parts.password or "") if password is None else password,
            )
        elif parts.username is not None or parts.password is not None:
            found.setdefault(
                realm(url), (unquote(parts.username or ""), unquote(parts.password or ""))
            )
    return found


#: variables that hold a secret for uv, pip or twine (an index's or a publishing one)
_CREDENTIAL_VARIABLE = re.compile(
    r"UV_INDEX_\w+_(?:USERNAME|PASSWORD)|UV_PUBLISH_(?:USERNAME|PASSWORD|TOKEN)"
    r"|TWINE_(?:USERNAME|PASSWORD)|PIP_CLIENT_CERT"
    # mirrors' URLs may carry `user:password@`; a backend never downloads from them
    r"|LOCKBUNDLE_MIRRORS"
)


def without_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for code that must not see index credentials (a build backend, which could
    copy a token into the wheel): uv's, pip's and twine's credential variables and the mirrors
    removed, and the index URL variables without their ``user:password@``."""
    env = {}
    for name, value in environ.items():
        if _CREDENTIAL_VARIABLE.fullmatch(name):
            continue
        if name in INDEX_VARIABLES:
            value = " ".join(_USERINFO.sub("", word) for word in value.split())
        env[name] = value
    return env


def refusal_advice(
    status: int, sent: tuple[str, str] | None, host: str | None, *, from_url: bool = False
) -> str:
    """What to do about an index's 401 or 403, by the credentials that were sent (none of them
    shown: a user name may be a token).

    :param from_url: they were the URL's own userinfo (then nothing else is read)
    """
    if sent is None:
        return (
            "The index wants credentials: give them in the index's or the mirror's URL "
            "(`user:password@`), in UV_INDEX_<NAME>_USERNAME and UV_INDEX_<NAME>_PASSWORD for a "
            f"named index or mirror, in ~/.netrc (`machine {host} login <user> password "
            "<token>`), or through the keyring (`UV_KEYRING_PROVIDER=subprocess`)"
        )
    if status == 403:
        return (
            "The index refused the credentials that were sent: the account may lack read access "
            "to this repository"
        )
    if not sent[1] and from_url:
        # for a URL's own user name, only a netrc entry of that user gives the password
        return (
            "Only a user name was sent, no password: give the password in the URL "
            f"(`user:password@`), in ~/.netrc (`machine {host} login <the URL's user> password "
            "<token>`), or through the keyring (`UV_KEYRING_PROVIDER=subprocess`)"
        )
    if not sent[1]:
        return (
            "Only a user name was sent, no password: give the password in "
            "UV_INDEX_<NAME>_PASSWORD for a named index or mirror, in ~/.netrc (`machine "
            f"{host} login <user> password <token>`), or through the keyring "
            "(`UV_KEYRING_PROVIDER=subprocess`)"
        )
    return (
        "The index refused the credentials that were sent (from the URL, UV_INDEX_<NAME>_*, "
        "~/.netrc or the keyring): they are wrong or expired"
    )


def credentials_for(
    url: str, known: Mapping[str, tuple[str, str]] | None = None
) -> tuple[str, str] | None:
    """User and password for ``url``, looked up as downloads do (see :func:`_credentials`)."""
    return _credentials(urlsplit(url), known or {})


def with_credentials(url: str, credentials: tuple[str, str]) -> str:
    """``url`` with ``user:password@`` (percent-encoded) in place of any userinfo it had."""
    parts = urlsplit(url)
    user, password = (urllib.parse.quote(part, safe="") for part in credentials)
    userinfo = f"{user}:{password}" if password else user
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{userinfo}@{host}").geturl()


def secrets_of(credentials: tuple[str, str]) -> list[str]:
    """What must not appear in any message: the password as given and as a URL writes it, or
    the user when there is no password (a token passed as the user name)."""
    user, password = credentials
    secret = password or user
    if not secret:
        return []
    return sorted({secret, urllib.parse.quote(secret, safe="")}, key=len, reverse=True)


_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` (output of another program) with every userinfo of a URL and every secret
    replaced, for messages."""
    text = _USERINFO.sub("****@", text)
    for secret in secrets:
        text = text.replace(secret, "****")
    return text


def _credentials(
    parts: urllib.parse.SplitResult, known: Mapping[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """User and password from the URL itself, else from the index's (by realm), else from
    ``~/.netrc`` (``NETRC`` overrides). A URL with a user name and no password takes the password
    of the netrc entry for that user, as uv does (``https://oauth2accesstoken@host/``)."""
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        entry = _netrc_entry(parts.hostname) if user and not password else None
        return entry if entry is not None and entry[0] == user else (user, password)
    if (found := known.get(realm(parts.geturl()))) is not None:
        return found
    return _netrc_entry(parts.hostname)


def _netrc_entry(host: str | None) -> tuple[str, str] | None:
    """The login and password ``~/.netrc`` (``NETRC`` overrides) has for ``host``."""
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(host or "")
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, _, password = entry
    return login or "", password or ""
