"""The entries of ``dist/`` that builds of a project wrote: what ``hatch clean`` removes.

An entry is a bundle's when its name is one a build gives (``<name>-<version>-<layout or
bundle>``: the directory, its ``.zip`` or ``.tar.gz``, its ``.cdx.json`` SBOM) and it carries
hatch-lockbundle's mark, looked for inside archives too: a wheelhouse's ``lockbundle.json``
names its generator, every distribution of a target has ``INSTALLER`` = ``hatch-lockbundle``,
an SBOM names its tool. What only looks like a bundle (a link, another tool's archive of the
same name) is kept. Temporaries of such names go as a build sweeps them: only those that no
live build holds.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

from packaging.utils import canonicalize_name

from .archive import FORMATS as ARCHIVE_FORMATS
from .config import LAYOUTS
from .config_tables import bundle_names
from .errors import LockbundleError
from .install import INSTALLER_NAME
from .names import file_name
from .sbom import SUFFIX as SBOM_SUFFIX
from .staging import SUFFIXES as TEMPORARY_SUFFIXES
from .staging import remove, sweep
from .zipmembers import open_member

GENERATOR = "hatch-lockbundle"
MANIFEST = "lockbundle.json"
#: more than any real manifest or SBOM: a larger one is not ours (and is not read whole)
MARK_READ_LIMIT = 64 * 1024 * 1024


@dataclass
class Cleaned:
    """What :func:`clean_bundles` did in ``dist/``."""

    removed: list[Path] = field(default_factory=list)
    #: named like a bundle of the project, but without hatch-lockbundle's mark
    kept: list[Path] = field(default_factory=list)


def clean_bundles(dist: Path, roots: Iterable[str], bundles: Iterable[str]) -> Cleaned:
    """Remove from ``dist`` the bundles of ``roots`` (project names) for ``bundles`` (layouts
    and bundle names), with their archives, SBOMs and dead builds' temporaries."""
    prefixes = {f"{file_name(canonicalize_name(root))}-" for root in roots}
    suffixes = {f"-{bundle}" for bundle in bundles}
    cleaned = Cleaned()
    if not dist.is_dir():
        return cleaned
    swept: set[str] = set()
    for entry in sorted(dist.iterdir()):
        owner = bundle_of(entry.name)
        if not any(is_bundle(owner, p, s) for p in prefixes for s in suffixes):
            continue
        if entry.name.startswith("."):
            final = _final_of_temporary(entry.name)
            if final not in swept:
                swept.add(final)
                cleaned.removed += [dist / name for name in sweep(dist / final)]
        elif is_marked(entry):
            remove(entry)
            cleaned.removed.append(entry)
        else:
            cleaned.kept.append(entry)
    cleaned.removed.sort()
    return cleaned


def clean_project(
    dist: Path, name: str | None, settings: Any, bundles: Iterable[str] | None = None
) -> Cleaned:
    """Remove from ``dist`` what this project's builds wrote: for ``bundles`` (layouts and
    bundle names), or for every layout and every bundle its ``[tool.lockbundle]`` names.

    :param name: the project's name; the ``package`` setting names another root
    :param settings: the decoded ``[tool.lockbundle]`` table (anything, as read)
    """
    settings = settings if isinstance(settings, dict) else {}
    roots = {name} if name else set()
    if isinstance(settings.get("package"), str):
        roots.add(settings["package"])
    every = [*LAYOUTS, *bundle_names(settings)]
    return clean_bundles(dist, roots, every if bundles is None else bundles)


def is_bundle(name: str, prefix: str, suffix: str) -> bool:
    """``name`` is ``<prefix><version><suffix>`` with a version (which never holds ``-``)."""
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return False
    version = name[len(prefix) : len(name) - len(suffix)]
    return bool(version) and "-" not in version


def bundle_of(filename: str) -> str:
    """The bundle an entry of ``dist/`` belongs to: itself, its archive, its SBOM, or a
    temporary of one of those."""
    if filename.startswith("."):
        if not filename.endswith(TEMPORARY_SUFFIXES):
            return ""
        filename = _final_of_temporary(filename)
    for suffix in (*(f".{fmt}" for fmt in ARCHIVE_FORMATS), SBOM_SUFFIX):
        filename = filename.removesuffix(suffix)
    return filename


def _final_of_temporary(filename: str) -> str:
    """``.<final>.<random>.tmp`` (or ``.old``) -> ``<final>``."""
    return filename[1:].rsplit(".", 2)[0]


def is_marked(path: Path) -> bool:
    """``path`` carries hatch-lockbundle's mark (see the module's docstring)."""
    try:
        if path.is_symlink():  # a build never puts a link into dist/
            return False
        if path.is_dir():
            manifest = path / MANIFEST
            if manifest.is_file() and not manifest.is_symlink():
                with manifest.open("rb") as content:
                    return _is_manifest(content)
            return any(
                installer.read_bytes() == INSTALLER_NAME
                for installer in path.glob("*.dist-info/INSTALLER")
                if installer.is_file() and not installer.is_symlink()
            )
        if path.name.endswith(SBOM_SUFFIX):
            with path.open("rb") as content:
                return _is_sbom(content)
        # read as the bundler reads archives it is given: within bounds (a bomb is not ours)
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive, path.open("rb", buffering=0) as raw:
                return any(
                    _is_mark(info.filename, partial(open_member, raw.fileno(), info, _not_ours))
                    for info in archive.infolist()
                    if not info.filename.endswith("/")  # is_dir() fails on an empty name
                )
        if path.name.endswith(".tar.gz"):
            # imported by a clean that meets a tar.gz: the command and the hatch plugin import
            # this module, and a no-op build imports no extract.py (see fetch.py's builder)
            from .extract import open_tar

            with open_tar(path) as tar:
                for member in tar:
                    if member.isfile() and _is_mark(member.name, partial(_open, tar, member)):
                        return True
    except (
        OSError,
        ValueError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
        tarfile.TarError,
        LockbundleError,
    ):
        return False  # unreadable or not what it is named: not ours
    return False


def _not_ours(reason: str) -> LockbundleError:
    return LockbundleError(reason)


def _open(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    content = tar.extractfile(member)
    if content is None:
        raise ValueError(member.name)
    return content


def _is_mark(name: str, open_member: Callable[[], IO[bytes]]) -> bool:
    """An archive member named ``name`` is a mark (``open_member()`` gives its content)."""
    parts = PurePosixPath(name).parts
    if parts and parts[-1] == MANIFEST:  # a wheelhouse's, under the archive's prefix
        with open_member() as content:
            return _is_manifest(content)
    if len(parts) >= 2 and parts[-1] == "INSTALLER" and parts[-2].endswith(".dist-info"):
        with open_member() as content:
            return bool(content.read(len(INSTALLER_NAME) + 1) == INSTALLER_NAME)
    return False


def _is_manifest(content: IO[bytes]) -> bool:
    document = _json(content)
    generator = document.get("generator") if isinstance(document, dict) else None
    return isinstance(generator, str) and generator.split(" ")[0] == GENERATOR


def _is_sbom(content: IO[bytes]) -> bool:
    document = _json(content)
    try:
        tools = document["metadata"]["tools"]["components"]
        return any(tool.get("name") == GENERATOR for tool in tools)
    except (KeyError, TypeError, AttributeError):
        return False


def _json(content: IO[bytes]) -> Any:
    data = content.read(MARK_READ_LIMIT + 1)
    if len(data) > MARK_READ_LIMIT:
        return None
    return json.loads(data)
