"""How downloads reach an index: proxies with credentials, the trust store, the keyring setting."""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .credentials import redact, redact_urls
from .errors import LockbundleError
from .progress import printable

#: uv's ``keyring-provider`` values that this package implements (uv's ``subprocess``)
KEYRING_PROVIDERS = ("disabled", "subprocess")
KEYRING_VARIABLE = "UV_KEYRING_PROVIDER"
NATIVE_TLS_VARIABLE = "UV_NATIVE_TLS"
#: as uv reads a boolean variable (clap's "boolish" values)
_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("", "0", "false", "f", "no", "n", "off")
#: the default port of a proxy URL without one, by its scheme
_PROXY_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class NetworkSettings:
    """What a build asks of the network beyond index URLs: the keyring, and which certificates
    to trust. Proxies and ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` come from the environment."""

    #: ``subprocess``: ask the ``keyring`` command for an index's password after a 401
    keyring_provider: str = "disabled"
    #: trust the operating system's certificate store (``truststore``)
    native_tls: bool = False

    @classmethod
    def resolve(
        cls,
        keyring_provider: str | None = None,
        native_tls: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> NetworkSettings:
        """The settings of a build: each one given as the configuration decided it, which
        weighed the command line, ``UV_KEYRING_PROVIDER`` / ``UV_NATIVE_TLS`` and the project
        in uv's order already (:mod:`.config_tables`); each one not given (None) from its
        variable alone, as for a download outside a build.

        :raises LockbundleError: a variable read here holds a value uv would refuse
        """
        environ = os.environ if environ is None else environ
        try:
            if keyring_provider is None:
                given = environ.get(KEYRING_VARIABLE, "")
                keyring_provider = keyring_provider_of(given) if given.strip() else "disabled"
            if native_tls is None:
                native_tls = native_tls_of(environ.get(NATIVE_TLS_VARIABLE, ""))
        except ValueError as error:
            raise LockbundleError(str(error)) from None
        return cls(keyring_provider, native_tls)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies servers against the system's store (``native_tls``),
        else against OpenSSL's default paths, which ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` set.

        :raises LockbundleError: one of the variables names nothing, or nothing it can load
        """
        given = {
            variable: (os.environ[variable], keyword, is_there)
            for variable, keyword, is_there in (
                ("SSL_CERT_FILE", "cafile", os.path.isfile),
                ("SSL_CERT_DIR", "capath", os.path.isdir),
            )
            if os.environ.get(variable)
        }
        for variable, (path, _, is_there) in given.items():
            # OpenSSL would skip it without a word, and every certificate check then fail
            if not is_there(path):
                kind, wanted = (
                    ("file", "a PEM file of the certificates to trust")
                    if variable == "SSL_CERT_FILE"
                    else ("directory", "a directory of PEM certificates")
                )
                raise LockbundleError(
                    f"{variable}={path!r} is not a {kind}: set it to {wanted}, or unset it"
                )
        if not self.native_tls:
            return ssl.create_default_context()
        import truststore  # only when asked: it is the platform's verifier on macOS and Windows

        context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for variable, (path, keyword, _) in given.items():
            # as uv does with --native-tls: the variables add certificates to the system's
            try:
                context.load_verify_locations(**{keyword: path})
            except (OSError, ssl.SSLError) as error:
                raise LockbundleError(
                    f"{variable}={path!r} cannot be loaded ({error}): set it to PEM "
                    "certificates, or unset it"
                ) from None
        return context

    def installer_environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """``environ`` for uv or pip making a build environment: these settings in their own
        variables (proxies and ``SSL_CERT_FILE`` are already the same variables for them)."""
        env = dict(environ)
        if self.keyring_provider == "subprocess":
            env[KEYRING_VARIABLE] = env["PIP_KEYRING_PROVIDER"] = "subprocess"
        elif env.get(KEYRING_VARIABLE):
            # the command line turned off what the variable turned on: uv must not use it either
            env[KEYRING_VARIABLE] = self.keyring_provider
        if self.native_tls or NATIVE_TLS_VARIABLE in env:
            # the decided value, never the variable as given: uv refuses a blank one that this
            # builder reads as unset (pip >= 24.2 verifies with the system's store already)
            env[NATIVE_TLS_VARIABLE] = "1" if self.native_tls else "0"
        return env


def native_tls_of(text: str) -> bool:
    """``UV_NATIVE_TLS`` as uv reads it: ``1``, ``true``, ``t``, ``yes``, ``y``, ``on`` or the
    opposites (``0``, ``false``, ``f``, ``no``, ``n``, ``off``), in any case; empty is off.

    :raises ValueError: saying what to set it to
    """
    flag = text.strip().lower()
    if flag not in (*_TRUE, *_FALSE):
        raise ValueError(
            f"{NATIVE_TLS_VARIABLE}={_shown(text)} is neither true nor false: set it to 1 to trust "
            "the system's certificate store, to 0 not to, or unset it"
        )
    return flag in _TRUE


def _shown(value: str) -> str:
    """A variable's refused value as an error shows it: credentials of a URL in it redacted
    (a value pasted into the wrong variable may be one), and at most 80 characters."""
    shown = redact_urls(value)
    return repr(shown if len(shown) <= 80 else shown[:80] + "...")


def keyring_provider_of(text: str) -> str:
    """``UV_KEYRING_PROVIDER`` as uv reads it, of the providers implemented here.

    :raises ValueError: saying what to set it to
    """
    provider = text.strip()
    if provider not in KEYRING_PROVIDERS:
        raise ValueError(
            f"{KEYRING_VARIABLE}={_shown(text)} is not a keyring provider this builder knows: "
            f"set it to {' or '.join(KEYRING_PROVIDERS)}, or unset it"
        )
    return provider


@dataclass(frozen=True)
class Proxy:
    """The proxy that a request goes through."""

    scheme: str
    host: str
    port: int
    #: the ``Proxy-Authorization`` header's value, from the proxy URL's ``user:password@``
    authorization: str | None
    #: the proxy's URL without credentials, for messages
    shown: str

    def headers(self) -> dict[str, str]:
        """The headers a request or a ``CONNECT`` sends to the proxy."""
        return {} if self.authorization is None else {"Proxy-Authorization": self.authorization}


def proxy_for(scheme: str, host: str, proxies: Mapping[str, str]) -> Proxy | None:
    """The proxy for a URL of ``scheme`` on ``host``, or None when it goes direct.

    :param proxies: by scheme, as :func:`urllib.request.getproxies` reads ``HTTP_PROXY``,
        ``HTTPS_PROXY``, ``ALL_PROXY`` (for a scheme without its own, as uv and curl use it)
        and ``NO_PROXY`` (key ``no``: names, domains and, as uv and curl read them, IP ranges
        such as ``10.0.0.0/8``), or the lowercase ones
    """
    variable = f"{scheme.upper()}_PROXY" if proxies.get(scheme) else "ALL_PROXY"
    written = proxies.get(scheme) or proxies.get("all")
    if not written or _in_ranges(host, proxies.get("no", "")) or urllib.request.proxy_bypass(host):
        return None
    url = written if "://" in written else f"http://{written}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise LockbundleError(
            f"the {scheme} proxy `{redact(url)}` ({variable}) is not a valid URL"
        ) from None
    proxy_scheme = parts.scheme.lower()
    if proxy_scheme not in _PROXY_PORTS or not parts.hostname:
        raise LockbundleError(
            f"the {scheme} proxy `{redact(url)}` ({variable}) is not an http:// or https:// "
            "proxy URL; set it to http://[user:password@]host:port"
        )
    authorization = None
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(token.encode()).decode()
    return Proxy(
        proxy_scheme,
        parts.hostname,
        port or _PROXY_PORTS[proxy_scheme],
        authorization,
        redact(url),
    )


def proxy_refusal(proxy: Proxy, target: str, status: str) -> str:
    """What a proxy refusing to carry a request to ``target`` means, and what to do.

    :param status: the proxy's answer, ``407 Proxy Authentication Required`` (shown escaped:
        it is the proxy's text)
    """
    answer = printable(status)
    if status.startswith("407") and proxy.authorization is not None:
        return (
            f"the proxy {proxy.shown} refused the credentials given in its URL (HTTP {answer}): "
            "correct the user name and password in HTTP_PROXY / HTTPS_PROXY"
        )
    if status.startswith("407"):
        return (
            f"the proxy {proxy.shown} wants credentials (HTTP {answer}): give them in the "
            "proxy URL, http://USER:PASSWORD@host:port, in HTTP_PROXY / HTTPS_PROXY"
        )
    return (
        f"the proxy {proxy.shown} refused to reach {target} (HTTP {answer}): ask its "
        "administrators to allow that host, or list it in NO_PROXY if it is reached directly"
    )


def _in_ranges(host: str, no_proxy: str) -> bool:
    """Whether ``host`` is an IP address within a range of ``no_proxy`` (``10.0.0.0/8``),
    which :func:`urllib.request.proxy_bypass` reads as a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:  # a name, a domain, `host:port`: urllib's to match
            continue
    return False


#: OpenSSL's ``X509_V_ERR_HOSTNAME_MISMATCH``: the certificate is valid, for other names
_HOSTNAME_MISMATCH = 62


def tls_failure(host: str, error: ssl.SSLError, native_tls: bool = False) -> str:
    """What a failed certificate check says: the host, why, and the settings that fix it.

    :param native_tls: whether the system's store was trusted already (not advised again)
    """
    reason = getattr(error, "verify_message", None) or error.reason or str(error)
    if getattr(error, "verify_code", None) == _HOSTNAME_MISMATCH:
        # trusting more authorities does not help: the name is wrong
        return (
            f"the TLS certificate of {host} is not for that name ({reason}): use in the URL a "
            "host name that the server's certificate holds"
        )
    store = (
        ""
        if native_tls
        else ", or trust the system's certificate store with --native-tls, UV_NATIVE_TLS=1 "
        "or `native-tls = true` in [tool.lockbundle]"
    )
    return (
        f"the TLS certificate of {host} could not be verified ({reason}). If it is signed by "
        "your organisation's certificate authority, set SSL_CERT_FILE to a PEM file holding it "
        f"(or SSL_CERT_DIR to a directory of them){store}"
    )
