"""Where build environments get their requirements (the lock's registries), told to uv or pip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .credentials import credentials_for, secrets_of, with_credentials
from .lock import Lock

# Where uv and pip read their indexes from the environment: the first index, the others, and
# spellings that would otherwise add indexes of the user's to the lock's.
_INDEX_VARIABLES = {
    "uv": ("UV_DEFAULT_INDEX", "UV_INDEX", ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL")),
    "pip": ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", ()),
}


@dataclass(frozen=True)
class PackageIndexes:
    """Where build environments get their build requirements (the lock's registries)."""

    index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def installer_args(self) -> list[str]:
        """Find-links options, spelled the same for ``uv pip install`` and ``pip install``.

        Index URLs are not arguments (see :meth:`installer_environ`).
        """
        args: list[str] = []
        for link in self.find_links:
            args += ["--find-links", link]
        return args

    def installer_environ(
        self,
        installer: str,
        credentials: Mapping[str, tuple[str, str]],
        environ: Mapping[str, str],
    ) -> tuple[dict[str, str], list[str]]:
        """``environ`` with the index URLs set for ``installer`` (``uv`` or ``pip``), and the
        secrets that the installer's output may then hold.

        The URLs carry their credentials (as downloads find them: ``credentials`` by realm, else
        ``~/.netrc``): both installers honour userinfo, and the environment of a process, unlike
        its arguments, is not visible to other users of the machine.
        """
        env = dict(environ)
        secrets: list[str] = []
        if not self.index_urls:
            return env, secrets
        urls = []
        for url in self.index_urls:
            found = credentials_for(url, credentials)
            if found is not None and any(found):
                url = with_credentials(url, found)
                secrets += secrets_of(found)
            urls.append(url)
        first, others, replaced = _INDEX_VARIABLES[installer]
        env[first] = urls[0]
        if len(urls) > 1:
            env[others] = " ".join(urls[1:])
        else:
            env.pop(others, None)
        for name in replaced:
            env.pop(name, None)
        return env, secrets


def indexes_of(lock: Lock, declared: tuple[str, ...] = ()) -> PackageIndexes:
    """The lock's registries, in order of first use: build requirements come from the same place.

    :param declared: the project's indexes (:func:`~.project.build_index_urls`), for a lock that
        names no remote registry (its packages all from git, paths or URLs): the index its
        sdists' and git sources' build requirements come from, as for uv, not PyPI regardless
    """
    urls: dict[str, None] = {}
    links: dict[str, None] = {}
    for package in lock.packages:
        if package.source.kind != "registry":
            continue
        if package.source.is_remote_registry:
            urls[package.source.location] = None
        else:
            links[str(lock.root / package.source.location)] = None
    return PackageIndexes(tuple(urls) or declared, tuple(links))
