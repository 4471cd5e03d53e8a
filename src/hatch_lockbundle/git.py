"""Check out one locked commit of a git repository: verified, bounded, and running nothing else."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import LockbundleError

#: the transports uv accepts in a git source (``uv-git-types``: https, http, ssh, file); uv
#: refuses ``git://``, so a lock naming it was not written by uv and is refused here too
TRANSPORTS = ("https", "http", "ssh", "file")
#: what makes a uv.lock again: the remedy unless the caller's lock is another (a pylock.toml)
RELOCK = "Run `uv lock`"

TIMEOUT_ENV = "LOCKBUNDLE_GIT_TIMEOUT"
LOW_SPEED_TIME_ENV = "LOCKBUNDLE_GIT_LOW_SPEED_TIME"

_COMMIT = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")

# Settings of the user's and the system's git configuration that a fetch keeps: how to find
# credentials, where a URL really points, and how to reach a host (certificates, proxies,
# headers). Everything else (hooks, core.fsmonitor, core.sshCommand, filters, aliases) is left
# out: a fetch for a build runs git and nothing else that configuration could name.
_KEPT_CONFIG = re.compile(r"credential\..*|url\..*\.insteadof|http\..*", re.IGNORECASE)

# Variables that would point git at another repository (set when a build runs from a git hook,
# for instance) ...
_REPOSITORY_ENV = re.compile(
    r"GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR"
    r"|NAMESPACE|PREFIX|QUARANTINE_PATH|REPLACE_REF_BASE|CEILING_DIRECTORIES"
    r"|DISCOVERY_ACROSS_FILESYSTEM)"
)
# ... or at another configuration (read once, filtered, then passed on), or that set what a
# checkout sets itself; the rest of the environment (proxies, GIT_SSL_CAINFO, GIT_SSH_COMMAND,
# HOME for ~/.netrc) is the caller's to set.
_OWN_ENV = re.compile(
    r"GIT_(CONFIG.*|TEMPLATE_DIR|ASKPASS|ALLOW_PROTOCOL|PROTOCOL_FROM_USER|HTTP_LOW_SPEED_.*"
    r"|TERMINAL_PROMPT)|SSH_ASKPASS.*"
)

# Settings of every git process of a fetch (passed through the environment, so that the git
# processes that git starts for submodules have them too).
_OWN_CONFIG = (
    ("core.hooksPath", os.devnull),  # no hook runs, whoever put it where
    ("core.fsmonitor", "false"),
    ("transfer.fsckObjects", "true"),  # malformed objects from a hostile server are refused
    ("gc.auto", "0"),  # no background gc outliving the fetch in a directory about to go
    ("maintenance.auto", "false"),
    ("fetch.writeCommitGraph", "false"),
    ("advice.detachedHead", "false"),
    ("init.defaultBranch", "main"),
)


@dataclass(frozen=True)
class Limits:
    """How long a checkout may take: git's own low-speed limit for HTTP(S) (a server that stalls
    or trickles), and a bound on the whole checkout (any transport)."""

    #: seconds for the whole checkout of one repository, submodules included
    timeout: float = 600.0
    #: an HTTP(S) transfer slower than ``low_speed_limit`` bytes/s for this many seconds fails
    low_speed_time: int = 30
    low_speed_limit: int = 1000

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, or ``LOCKBUNDLE_GIT_TIMEOUT`` / ``LOCKBUNDLE_GIT_LOW_SPEED_TIME``
        (seconds) when set."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            timeout=_seconds(environ, TIMEOUT_ENV, defaults.timeout),
            low_speed_time=max(
                1, round(_seconds(environ, LOW_SPEED_TIME_ENV, defaults.low_speed_time))
            ),
        )


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LockbundleError(f"{name} must be a positive number of seconds, not {text!r}")
    return value


def check_source(url: str, commit: str | None, label: str, *, relock: str = RELOCK) -> None:
    """Refuse a locked git source that could not have come from uv or that could make git run
    something: the commit must be a full object id, the URL use one of uv's transports.

    :param label: the package, for messages
    :param relock: what makes the lock again, for the remedies (a sentence)
    """
    if not commit or not _COMMIT.fullmatch(commit):
        shown = "no commit" if not commit else f"`{_printable(commit)}`"
        raise LockbundleError(
            f"{label}: the lock's git source pins {shown}, not a full commit id (40 or 64 hex "
            f"digits, as uv writes). {relock} to pin the commit again"
        )
    shown_url = _shown(url)
    if url.startswith("-") or any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise LockbundleError(
            f"{label}: the lock's git source `{shown_url}` is not a repository URL. {relock}"
        )
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        raise LockbundleError(
            f"{label}: the lock's git source `{shown_url}` is not a valid URL. {relock}"
        ) from None
    if scheme not in TRANSPORTS or (scheme != "file" and not host):
        raise LockbundleError(
            f"{label}: the lock's git source `{shown_url}` uses a transport uv does not "
            f"(it accepts {', '.join(t + '://' for t in TRANSPORTS)}). {relock}"
        )
    if host.startswith("-"):
        raise LockbundleError(
            f"{label}: the lock's git source `{shown_url}` names a host starting with `-`"
        )


def check_out(
    url: str,
    commit: str,
    destination: Path,
    *,
    label: str,
    offline: bool = False,
    limits: Limits | None = None,
    relock: str = RELOCK,
) -> Path:
    """Check out ``commit`` of the repository at ``url`` into the new directory ``destination``,
    with its submodules, and verify that what is checked out is that commit.

    :param label: the package, for messages
    :param offline: use no network: only a ``file://`` repository can be checked out
    :param limits: bounds on time and speed (default: :meth:`Limits.from_environ`)
    :param relock: what makes the lock again, for the remedies (a sentence)
    :returns: ``destination``
    """
    check_source(url, commit, label, relock=relock)
    commit = commit.lower()
    local = urlsplit(url).scheme.lower() == "file"
    if offline and not local:
        raise LockbundleError(
            f"{label}: its wheel, built from git {_shown(url)}@{commit[:12]}, is not "
            "in the cache, and the network is off (--offline). Build once with network access"
        )
    git = shutil.which("git")
    if git is None:
        raise LockbundleError(f"{label} comes from git, but `git` is not on PATH; install git")
    limits = limits or Limits.from_environ()
    # a remote repository may not pull in files of this machine through a submodule, and an
    # offline checkout may not reach any other machine
    transports = ("file",) if offline else TRANSPORTS if local else TRANSPORTS[:-1]
    run = _Runner(git, url, commit, label, limits, _environment(git, transports, limits))
    destination.mkdir(parents=True)
    object_format = "sha256" if len(commit) == 64 else "sha1"
    run(destination, "init", "--quiet", "--template=", f"--object-format={object_format}")
    # the URL that a submodule's relative URL (`../other.git`) is resolved against: without it,
    # git resolves it against the checkout's directory, a path on this machine
    run(destination, "config", "--", "remote.origin.url", url)
    fetched = run(
        destination, "fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, commit, check=False
    )
    if fetched.returncode != 0:
        run.fail_if_fatal(fetched)
        # servers that serve only what a branch or tag points at (and the dumb protocol, which
        # cannot fetch one commit): everything, from which the commit is then taken
        run(
            destination,
            "fetch",
            "--quiet",
            "--tags",
            "--",
            url,
            "+refs/heads/*:refs/remotes/origin/*",
        )
    checked_out = run(destination, "checkout", "--quiet", "--detach", commit, "--", check=False)
    if checked_out.returncode != 0:
        raise LockbundleError(
            f"{label}: {_shown(url)} has no commit {commit} (its history was "
            f"rewritten, or the commit was deleted). {relock} to pin a commit the repository "
            "has"
        )
    head = run(destination, "rev-parse", "--verify", "HEAD").stdout.strip().lower()
    if head != commit:
        raise LockbundleError(
            f"{label}: checking out {commit} of {_shown(url)} gives commit {head}: "
            f"the locked id is not a commit (a tag?). {relock}"
        )
    if (destination / ".gitmodules").is_file():
        _check_submodules(run, destination, url, local, offline, label)
        run(destination, "submodule", "update", "--init", "--recursive", "--quiet")
    return destination


def project_directory(
    checkout: Path, subdirectory: str | None, url: str, label: str, *, relock: str = RELOCK
) -> Path:
    """The directory of the checkout that holds the project: ``subdirectory`` (from the lock)
    when given, which must be a directory inside the checkout (links followed)."""
    if not subdirectory:
        return checkout
    inside = (checkout / subdirectory).resolve()
    if not inside.is_relative_to(checkout.resolve()) or not inside.is_dir():
        raise LockbundleError(
            f"{label}: the lock's subdirectory `{_printable(subdirectory)}` is not a directory "
            f"inside the checkout of {_shown(url)}. {relock} if the project moved"
        )
    return inside


class _Runner:
    """Runs the git commands of one checkout within one deadline; turns failures into errors."""

    def __init__(
        self,
        git: str,
        url: str,
        commit: str,
        label: str,
        limits: Limits,
        environ: Mapping[str, str],
    ) -> None:
        self.git = git
        self.url = url
        self.commit = commit
        self.label = label
        self.limits = limits
        self.environ = dict(environ)
        self.deadline = time.monotonic() + limits.timeout

    def __call__(
        self, directory: Path, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = self._run([self.git, "-C", str(directory), *args])
        if check and result.returncode != 0:
            self.fail_if_fatal(result)
            raise self._error(f"`git {args[0]}` failed: {_tail(result.stderr)}")
        return result

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        # its own session, so that git's helpers (git-remote-https, ssh) go with it on a timeout
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environ,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise self._timed_out() from None
        except BaseException:
            _kill_group(process)  # Ctrl-C: the session of git does not get the terminal's signal
            raise
        return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)

    def fail_if_fatal(self, result: subprocess.CompletedProcess[str]) -> None:
        """Raise the error for a failure that another attempt would only repeat."""
        stderr = result.stderr
        shown = _shown(self.url)
        if "terminal prompts disabled" in stderr or "Authentication failed" in stderr:
            raise LockbundleError(
                f"{self.label}: {shown} wants credentials, and git asks no questions during a "
                "build. Supply them as for uv: in ~/.netrc (`machine <host> login <user> "
                "password <token>`), or with a git credential helper (`git config --global "
                "credential.helper store`, or your host's helper)"
            )
        if "Permission denied (publickey" in stderr or "Host key verification failed" in stderr:
            raise LockbundleError(
                f"{self.label}: ssh refused {shown}, and asks no questions during a build: "
                f"{_tail(stderr)}. Load the key into ssh-agent or name it in ~/.ssh/config, and "
                "accept the host key once (`ssh -T <user>@<host>`), as for uv"
            )
        if "Operation too slow" in stderr:
            raise LockbundleError(
                f"{self.label}: fetching {shown} stalled: less than "
                f"{self.limits.low_speed_limit} bytes/s for {self.limits.low_speed_time} s. "
                f"Retry, or allow more time with {LOW_SPEED_TIME_ENV} (seconds)"
            )
        if re.search(r"HTTP code 407|407 Proxy Authentication|returned error: 407", stderr):
            raise LockbundleError(
                f"{self.label}: the proxy refused to carry the fetch of {shown} (HTTP 407): give "
                "its credentials in the proxy URL, http://USER:PASSWORD@host:port, in HTTPS_PROXY "
                "/ HTTP_PROXY or git's http.proxy"
            )
        if "certificate verification failed" in stderr or "certificate problem" in stderr:
            raise LockbundleError(
                f"{self.label}: the TLS certificate of {urlsplit(self.url).hostname} could not be "
                f"verified: {_tail(stderr)}. If your organisation's authority signed it, set "
                "SSL_CERT_FILE (or GIT_SSL_CAINFO) to a PEM file holding that authority"
            )
        transport = re.search(r"transport '([^']*)' not allowed", stderr)
        if transport:
            raise LockbundleError(
                f"{self.label}: {shown} (or one of its submodules) needs the git transport "
                f"`{transport.group(1)}`, which is not allowed here: {_tail(stderr)}"
            )
        if re.search(r"Could not resolve host|Failed to connect|Connection refused", stderr):
            raise self._error(f"cannot reach the server: {_tail(stderr)}")

    def _error(self, why: str) -> LockbundleError:
        return LockbundleError(
            f"{self.label}: cannot check out {_shown(self.url)} at {self.commit}: {why}"
        )

    def _timed_out(self) -> LockbundleError:
        return LockbundleError(
            f"{self.label}: checking out {_shown(self.url)} at {self.commit} did "
            f"not finish within {self.limits.timeout:g} s. Retry, or allow more time with "
            f"{TIMEOUT_ENV} (seconds)"
        )


def _check_submodules(
    run: _Runner, checkout: Path, url: str, local: bool, offline: bool, label: str
) -> None:
    """Refuse a submodule (of the top level; deeper ones meet ``GIT_ALLOW_PROTOCOL``) that
    points at a transport uv does not use, at this machine's files from a remote repository, or
    anywhere but this machine when offline."""
    pattern = r"^submodule\..*\.url$"
    listed = run(
        checkout, "config", "--file", ".gitmodules", "--null", "--get-regexp", pattern, check=False
    )
    for entry in listed.stdout.split("\0"):
        name, _, target = entry.partition("\n")
        if not name:
            continue
        submodule = _printable(name.removeprefix("submodule.").removesuffix(".url"))
        where = f"submodule `{submodule}` of {_shown(url)}"
        if target.startswith(("./", "../")):
            continue  # beside the repository itself, by the same transport
        scheme = urlsplit(target).scheme.lower() if "://" in target else ""
        if not scheme and re.match(r"[^/]+:", target) and not target.startswith("-"):
            scheme = "ssh"  # the scp-like form, host:path
        if target.startswith("-") or scheme not in (*TRANSPORTS, ""):
            raise LockbundleError(
                f"{label}: the {where} points at `{_shown(target)}`, which is not a "
                "URL of a transport uv uses"
            )
        is_local = scheme in ("file", "")
        if is_local and not local:
            raise LockbundleError(
                f"{label}: the {where} points at `{_shown(target)}`, a path on the machine "
                "that builds; a remote repository may not pull in local files. Use a URL the "
                "repository's own users can reach"
            )
        if offline and not is_local:
            raise LockbundleError(
                f"{label}: the {where} is at {_shown(target)}, and the network is "
                "off (--offline). Build once with network access"
            )


def _environment(git: str, transports: Sequence[str], limits: Limits) -> dict[str, str]:
    """The environment of every git process of a checkout (see the module's settings above)."""
    environ = {
        name: value for name, value in os.environ.items() if not _REPOSITORY_ENV.fullmatch(name)
    }
    kept = [
        (key, value) for key, value in _user_config(git, environ) if _KEPT_CONFIG.fullmatch(key)
    ]
    environ = {name: value for name, value in environ.items() if not _OWN_ENV.fullmatch(name)}
    environ.update(_proxy_environ(environ))
    settings = [*kept, *_trust_config(kept, environ), *_OWN_CONFIG]
    environ.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_COUNT": str(len(settings)),
            "GIT_ALLOW_PROTOCOL": ":".join(transports),
            "GIT_TERMINAL_PROMPT": "0",
            # set and empty: no askpass program, not even core.askPass or SSH_ASKPASS
            "GIT_ASKPASS": "",
            "GIT_HTTP_LOW_SPEED_LIMIT": str(limits.low_speed_limit),
            "GIT_HTTP_LOW_SPEED_TIME": str(limits.low_speed_time),
            # messages are read to tell a missing password or a stall from other failures
            "LC_ALL": "C",
        }
    )
    for index, (key, value) in enumerate(settings):
        environ[f"GIT_CONFIG_KEY_{index}"] = key
        environ[f"GIT_CONFIG_VALUE_{index}"] = value
    if "GIT_SSH_COMMAND" not in environ and "GIT_SSH" not in environ:
        # ssh asks for a passphrase or a host key on the terminal otherwise
        environ["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return environ


def _proxy_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxies of downloads for git too: git (libcurl) reads only the lowercase
    ``http_proxy``, where downloads read ``HTTP_PROXY`` as well; credentials in the proxy URL
    are libcurl's to send, ``no_proxy`` is honoured. The user's ``http.proxy`` still wins."""
    added = {}
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        if name not in environ and environ.get(name.upper()):
            added[name] = environ[name.upper()]
    return added


def _trust_config(
    kept: Sequence[tuple[str, str]], environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, which downloads trust, as git's CA settings (for
    the server and an https proxy), unless git is told otherwise (``GIT_SSL_CAINFO``, the user's
    ``http.sslCAInfo``). The system's store is git's default: nothing for native TLS. With
    native TLS *and* ``SSL_CERT_FILE``, downloads trust both, git only the file (libcurl takes
    one bundle): docs/network.md says so and how to join them."""
    told = {key.lower() for key, _ in kept}
    settings = []
    for variable, keys in (
        ("SSL_CERT_FILE", ("http.sslCAInfo", "http.proxySSLCAInfo")),
        ("SSL_CERT_DIR", ("http.sslCAPath",)),
    ):
        value = environ.get(variable)
        if not value or "GIT_SSL_CAINFO" in environ or "GIT_SSL_CAPATH" in environ:
            continue
        settings += [(key, value) for key in keys if key.lower() not in told]
    return settings


def _user_config(git: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The system's, the user's and the environment's git settings, in git's order (includes
    followed), read outside any repository."""
    with tempfile.TemporaryDirectory(prefix="lockbundle-git-") as empty:
        result = subprocess.run(
            [git, "config", "--includes", "--null", "--list"],
            cwd=empty,
            env={**environ, "GIT_CEILING_DIRECTORIES": str(Path(empty).parent)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    settings = []
    for entry in result.stdout.split("\0"):
        key, newline, value = entry.partition("\n")
        if key:
            # a key without a value (`[http] sslVerify`) means true
            settings.append((key, value if newline else "true"))
    return settings


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return _printable(_USERINFO.sub("", " ".join(lines[-3:]))) or "no message"


def _shown(url: str) -> str:
    """``url`` for a message: without ``user:password@``, control characters escaped."""
    return _printable(_USERINFO.sub("", url))


def _printable(text: str) -> str:
    """``text`` with control characters escaped, for messages shown on a terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
