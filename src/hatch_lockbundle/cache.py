"""The on-disk cache shared by builds: the one module that names its entries, writes and locks them.

Every entry lives under ``<cache directory>/v<FORMAT>/``, in one subtree per kind of entry, at the
path that one method of :class:`Cache` computes from the entry's key. The cache is untrusted input
(another user, a CI system restoring it, an older version of this package may have written it), so
an entry is read as carefully as a download, and an entry of another format is never read at all.

Entries appear whole or not at all: a file through :func:`atomic_file`, a directory through
:func:`atomic_directory` (first one wins); both write into a new, uniquely named temporary beside
the entry (:func:`~.staging.sibling`), so nothing planted at a predictable name is followed.
Entries are never modified after they are published, so concurrent builds can share a cache; an
entry that must be created in place (a virtual environment does not survive a move) is made under
:func:`locked`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from .errors import LockbundleError
from .staging import NOFOLLOW, hold, remove, remove_tree, sibling

if TYPE_CHECKING:
    from .lock import Hash

CACHE_ENV = "LOCKBUNDLE_CACHE_DIR"

#: The format of every entry. Change it whenever what any entry holds, or how it is keyed, written
#: or read, changes: the entries of the previous format are then never read (they sit in the
#: previous ``v<FORMAT>`` directory, which may be deleted). The package's version is no substitute:
#: it stays the same across the changes of a development cycle.
FORMAT = 1

#: the subtrees of a format's directory, one a kind of entry (each has its method in :class:`Cache`)
SUBTREES = (
    "files",
    "inspected",
    "built",
    "built-tree",
    "built-git",
    "build-envs",
    "installed",
    "stamps",
    "locks",
)


def default_cache_dir() -> Path:
    """``LOCKBUNDLE_CACHE_DIR``, else the user cache directory of this platform."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    from platformdirs import user_cache_path

    return user_cache_path("hatch-lockbundle", appauthor=False)


def _hashed(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class Cache:
    """A cache directory: where each entry of the running format lives.

    :param root: the cache directory (``LOCKBUNDLE_CACHE_DIR``, ``--no-cache``'s temporary one)
    :param format: the entries' format (default :data:`FORMAT`); only tests name another one
    """

    def __init__(self, root: Path, *, format: int | None = None) -> None:
        # absolute: build backends run in other directories and must still find the cache
        self.root = root.resolve()
        self.format = FORMAT if format is None else format
        #: the directory of this format's entries
        self.entries = self.root / f"v{self.format}"

    def downloaded_file(self, digest: Hash, filename: str) -> Path:
        """``files/<algorithm>/<2 hex>/<rest of the digest>/<filename>``: a downloaded file,
        whose bytes were verified to have ``digest`` as they arrived (content-addressed)."""
        value = digest.value
        return self.entries / "files" / digest.algorithm / value[:2] / value[2:] / filename

    def inspected(self, sha256: str, identity: str) -> Path:
        """``inspected/<2 hex>/<rest>-<hash of identity>``: an empty file saying that the wheel
        whose sha256 is ``sha256`` passed every content check (members, metadata, RECORD) as
        the distribution ``identity`` (name and version: the same bytes locked under another
        name must be checked again, and refused)."""
        return self.entries / "inspected" / sha256[:2] / f"{sha256[2:]}-{_hashed(identity, 16)}"

    def built_from_sdist(self, digest: Hash, build_key: str) -> Path:
        """``built/<algorithm>-<digest>/<build key>/``: the one wheel built from the sdist with
        ``digest`` for ``build_key`` (the interpreter's most specific tag)."""
        return self.entries / "built" / f"{digest.algorithm}-{digest.value}" / build_key

    def built_from_tree(self, tree: Path, state: str, build_key: str) -> Path:
        """``built-tree/<hash of the tree's path>/<state>/<build key>/``: the one wheel built from
        the source tree at ``tree`` when its files had the fingerprint ``state``."""
        place = _hashed(str(tree.resolve()), 24)
        return self.entries / "built-tree" / place / state[:32] / build_key

    def built_from_git(self, url: str, subdirectory: str, commit: str, build_key: str) -> Path:
        """``built-git/<hash of URL and subdirectory>/<commit>/<build key>/``: the one wheel built
        from ``subdirectory`` of a checkout of ``commit`` (a checked full commit id)."""
        key = _hashed(f"{url}\0{subdirectory}", 24)
        return self.entries / "built-git" / key / commit.lower() / build_key

    def build_environment(self, description: str) -> Path:
        """``build-envs/<hash of description>/``: a virtual environment holding what
        ``description`` names (interpreter, requirements, indexes), made in place under
        :func:`locked`, usable once it holds a ``ready`` file."""
        return self.entries / "build-envs" / _hashed(description, 32)

    def installed(self, sha256: str, identity: str, flavour: str) -> Path:
        """``installed/<2 hex>/<rest>-<hash of identity>-<flavour>/``: the wheel whose sha256
        is ``sha256`` installed alone (``tree/``) with its manifest (``files``) as the
        distribution ``identity`` (name and version, which the install checks the wheel
        against), for ``flavour`` (bytecode for one interpreter, or the target's Python
        version)."""
        name = f"{sha256[2:]}-{_hashed(identity, 16)}-{flavour}"
        return self.entries / "installed" / sha256[:2] / name

    def stamp(self, artifact: Path) -> Path:
        """``stamps/<hash of the bundle's path>.json``: what the bundle at ``artifact`` was last
        built from, for the no-op rebuild."""
        return self.entries / "stamps" / f"{_hashed(str(artifact.resolve()), 32)}.json"

    def parsed_lock(self, lock: Path) -> Path:
        """``locks/<hash of the lock's path>.json``: the lock file at ``lock`` decoded, with the
        key of the bytes it was decoded from."""
        return self.entries / "locks" / f"{_hashed(str(lock), 32)}.json"


@contextmanager
def locked(entry: Path) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``entry`` for the block: a lock (the one
    primitive, :func:`~.staging.hold`) of the file ``<entry>.lock`` beside it, never removed (a
    removed lock file lets two processes hold "the" lock, one on each file)."""
    lock = entry.with_name(entry.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a link planted at the lock's name is refused, not followed to create a file elsewhere
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | NOFOLLOW, 0o666))
    except OSError as error:
        raise LockbundleError(
            f"cannot create the lock file {lock}: {error.strerror}. Remove whatever is at that "
            f"place in the cache, or set {CACHE_ENV} to use another cache directory"
        ) from None
    held = hold(lock, wait=True, follow=False)
    if held is None:
        raise LockbundleError(
            f"cannot lock {lock}: its file system refuses file locks. Set {CACHE_ENV} to a "
            "cache directory on a local file system"
        )
    try:
        yield
    finally:
        os.close(held)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A new file to write what ``path`` is to hold, moved over ``path`` in one step when the
    block ends without error, so that a reader never sees a partial file; on error nothing is
    left of it.

    The temporary is a new file with a random name beside ``path`` and the umask's mode (a link
    planted beside ``path`` is never written through); a link at ``path`` itself is replaced,
    not followed.
    """
    with sibling(path, ".tmp", directory=False) as temporary:
        try:
            with open(os.open(temporary, os.O_WRONLY | NOFOLLOW), "wb") as out:
                yield out
            os.replace(temporary, path)
        finally:
            remove(temporary)


def replace_file(path: Path, data: bytes) -> None:
    """:func:`atomic_file` for bytes already in hand."""
    with atomic_file(path) as out:
        out.write(data)


class Staging(NamedTuple):
    """An entry being made by :func:`atomic_directory`."""

    #: the new, empty directory that becomes the entry
    entry: Path
    #: scratch space beside it (a build's sources, say), removed with the rest
    work: Path


@contextmanager
def atomic_directory(final: Path) -> Iterator[Staging]:
    """Make the entry ``final`` whole or not at all: fill ``entry``, which is published at
    ``final`` when the block ends without error. The first one wins: if another build published
    ``final`` meanwhile, theirs is kept (an entry's content depends on its key alone) and this one
    dropped. Whatever the block leaves, published or not, is removed on the way out.
    """
    with sibling(final, ".tmp") as stage:
        try:
            staging = Staging(stage / "entry", stage / "work")
            staging.entry.mkdir()
            staging.work.mkdir()
            yield staging
            publish(staging.entry, final)
        finally:
            remove_tree(stage, ignore_errors=True)


def publish(staged: Path, final: Path) -> Path:
    """Move the directory ``staged`` to ``final`` in one step; if another build got there first,
    keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, final)
    except OSError:
        if not final.exists():
            raise
    return final


def discard(entry: Path) -> None:
    """Remove a damaged entry: moved aside in one step (no build sees half of it), then deleted."""
    with sibling(entry, ".tmp") as scrap:
        try:
            os.replace(entry, scrap / entry.name)
        except FileNotFoundError:
            pass  # another build discarded it first
        finally:
            remove_tree(scrap, ignore_errors=True)
