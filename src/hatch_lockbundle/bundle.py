"""The engine: pyproject and uv.lock in, one bundle in ``dist/`` out."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from . import __version__, fingerprint
from .archive import archive_epoch, write_archive
from .cache import CACHE_ENV, Cache, default_cache_dir, replace_file
from .cached_installs import CachedInstalls
from .config import BundleConfig, load_and_validate_config
from .errors import LockbundleError
from .fetch import FetchedWheel, Fetcher, indexes_of, offline_requested
from .http import hash_file, index_credentials
from .include import check_included, copy_included, included_state
from .layouts.target import write_target
from .layouts.wheelhouse import write_wheelhouse
from .lock import Lock, decode_document, parse_lock, read_lock, read_lock_bytes
from .progress import Reporter
from .project import (
    LOCK_NAME,
    Project,
    check_lock_current,
    declared_indexes,
    find_lock,
    read_project,
)
from .report import SizeReport, measure, over_budget
from .sbom import SUFFIX as SBOM_SUFFIX
from .sbom import write_sbom
from .select import Plan, check_virtual_root, select
from .staging import interrupts_deferred, remove, sibling, sweep
from .target import Target
from .trim import trim_bundle, trim_patterns
from .verify import bundle_digest

Log = Callable[[str], None]

SWAP_ATTEMPTS = 5


def _silent(message: str) -> None:
    pass


def plan_bundle(
    project: Project, config: BundleConfig, cache: Cache | None = None
) -> tuple[Lock, list[Plan]]:
    """Read the lock and select the install set for each target, without fetching anything.

    :param cache: where the parsed lock is kept for the next build (none: parse it every time)
    """
    lock = _lock_for(project, config, read_lock if cache is None else ParsedLocks(cache).read)
    if not config.frozen:
        check_lock_current(lock, project)
    root = config.package or project.name
    if root is None:
        raise _no_name(project)
    targets = [Target.for_(config.python, platform) for platform in config.platforms or [None]]
    return lock, [select(lock, target, root, config.extras, config.groups) for target in targets]


def build_bundle(
    project_root: Path,
    out_dir: Path,
    *,
    layout: str = "target",
    project: Project | None = None,
    version: str | None = None,
    cache_dir: Path | None = None,
    reproducible: bool = True,
    overrides: Mapping[str, Any] | None = None,
    offline: bool = False,
    log: Log | Reporter = _silent,
) -> Path:
    """Build the bundle of the project at ``project_root`` into ``out_dir``; return its path.

    :param layout: a layout (``target``, ``wheelhouse``) or the name of a configured bundle
    :param project: the project as already read (the hatch plugin passes hatch's view of it)
    :param version: the project's version when it is dynamic (hatch computes it)
    :param cache_dir: the cache to use instead of ``LOCKBUNDLE_CACHE_DIR`` / the user cache
    :param reproducible: archives get a fixed timestamp (``SOURCE_DATE_EPOCH`` or the default)
    :param overrides: options from the command line, applied over ``[tool.lockbundle]``
    :param offline: use only the cache; any download is an error (``LOCKBUNDLE_OFFLINE=1``
        asks the same)
    :param log: a :class:`~.progress.Reporter` (progress on a terminal, verbosity), or a
        callable that receives the information lines
    """
    try:
        offline = offline or offline_requested()
        return _build(
            project_root,
            out_dir,
            layout,
            project,
            version,
            cache_dir,
            reproducible,
            overrides,
            offline,
            Reporter.of(log),
        )
    except OSError as error:
        raise LockbundleError(
            os_error_message(error, cache_dir or default_cache_dir(), out_dir)
        ) from None


def os_error_message(error: OSError, cache: Path, out_dir: Path) -> str:
    """What went wrong with a file, said for its cause (never a guess), and what to do.

    :param cache: the cache in use, and ``out_dir`` the output directory: when the path is in
        one of them, the message says which, and how to move the cache
    """
    path = str(error.filename) if error.filename is not None else "a file"
    if error.filename2 is not None:
        path += f" (moving it to {error.filename2})"
    generic = (f"cannot write or read {{path}}: {error.strerror or error}", "check the path")
    if error.errno == errno.EEXIST and error.filename2 is not None:
        problem, remedy = generic  # a rename onto a directory that is not empty, not a mkdir
    else:
        problem, remedy = _OS_ERRORS.get(error.errno or 0, generic)
    message = f"{problem.format(path=path)}; {remedy}"
    if isinstance(error.filename, str) and _is_inside(error.filename, cache):
        message += f". It is in the cache {cache}: set {CACHE_ENV} to move the cache"
    elif isinstance(error.filename, str) and _is_inside(error.filename, out_dir):
        message += f". It is in the output directory {out_dir}"
    elif error.filename is None:  # a write or a copy: the system does not say which file
        message += (
            f". The build writes into the output directory {out_dir} and into the cache "
            f"{cache} (set {CACHE_ENV} to move the cache)"
        )
    return message


#: errno -> (what is wrong with ``{path}``, what to do)
_OS_ERRORS = {
    errno.ENOENT: ("{path} does not exist", "restore it, or check the path"),
    errno.ENAMETOOLONG: (
        "the name {path} is too long for its file system",
        "use a shorter directory or bundle name",
    ),
    errno.ENOTDIR: (
        "cannot use {path}: a file is in the way where a directory must be",
        "remove or rename that file, or choose another directory",
    ),
    errno.EEXIST: (
        "cannot create the directory {path}: a file is in the way, of that very name",
        "remove or rename that file, or choose another directory",
    ),
    errno.EACCES: (
        "permission denied for {path}",
        "give this user access to it, or choose another directory",
    ),
    errno.EPERM: (
        "operation not permitted on {path}",
        "give this user access to it, or choose another directory",
    ),
    errno.ENOSPC: (
        "no space left on the device writing {path}",
        "free space on that file system, or choose a directory on another one",
    ),
    errno.EDQUOT: (
        "disk quota exceeded writing {path}",
        "free space within the quota, or choose a directory on another file system",
    ),
    errno.EROFS: (
        "{path} is on a read-only file system",
        "choose a writable directory",
    ),
    errno.ELOOP: (
        "too many levels of symbolic links at {path}",
        "fix the link loop",
    ),
}


def _is_inside(name: str | bytes | int, directory: Path) -> bool:
    if not isinstance(name, str):
        return False
    path = Path(os.path.abspath(name))
    return path.is_relative_to(os.path.abspath(directory))


def _build(
    project_root: Path,
    out_dir: Path,
    layout: str,
    project: Project | None,
    version: str | None,
    cache_dir: Path | None,
    reproducible: bool,
    overrides: Mapping[str, Any] | None,
    offline: bool,
    log: Reporter,
) -> Path:
    project = project or read_project(project_root)
    config = load_and_validate_config(project.settings, project.root, layout, overrides)
    check_included(project.root, config.include, config.include_field)
    cache = Cache(cache_dir or default_cache_dir())
    lock, plans = plan_bundle(project, config, cache)
    root = plans[0].root
    notice = check_virtual_root(
        plans, lock, includes_files=bool(config.include), can_include=config.layout == "target"
    )
    if notice is not None:
        log.warning(notice)
    for plan in plans:
        log(
            f"Bundling {root.label} for {plan.target.describe()}: "
            f"{len(plan.packages)} distributions"
        )
    # the target layout installs wheels into the cache while the others are still being built
    python = plans[0].target.python_version
    installs = (
        CachedInstalls(cache, config.compile_bytecode, python)
        if config.layout == "target"
        else None
    )
    with tempfile.TemporaryDirectory(prefix="lockbundle-") as work, installs or nullcontext():
        fetcher = Fetcher(
            cache,
            Path(work),
            indexes_of(lock),
            require_hashes=config.require_hashes,
            # what the project and the environment say about an index wins over the lock's URLs
            credentials={
                **lock.credentials,
                **index_credentials(declared_indexes(project, lock)),
            },
            offline=offline,
            # the target layout looks inside each wheel as it unpacks it into the cache
            inspect_wheels=config.layout != "target",
            log=log,
        )
        wheels = fetcher.fetch(plans, ready=installs.prepare if installs is not None else None)
        # a dynamic version is in no lock and no pyproject: the root's built wheel has it
        bundle_version = root.version or version or project.version
        bundle_version = bundle_version or _built_version(root.name, wheels[0]) or "0"
        final = out_dir / bundle_name(str(root.name), bundle_version, config.variant)
        artifact = (
            final if config.archive is None else final.with_name(f"{final.name}.{config.archive}")
        )
        included = included_state(project.root, config.include)
        stamp = Stamp(cache, artifact, _inputs(config, plans, wheels, lock, reproducible, included))

        def finish() -> Path:
            if stamp.anchor is not None:
                log(f"Digest: {stamp.anchor} (`lockbundle verify --expect` checks it)")
            if config.sbom:
                sbom = final.with_name(final.name + SBOM_SUFFIX)
                sweep(sbom)
                write_sbom(plans, wheels, sbom, archive_epoch(reproducible))
                log(f"SBOM: {sbom}")
            return artifact

        if stamp.current():
            if installs is not None:
                installs.close(cancel=True)  # not needed: the bundle is as it should be
            sweep(artifact)  # what a killed build left beside it goes even when nothing changed
            log(f"{artifact.name} is up to date")
            return finish()

        def write_layout(directory: Path) -> tuple[SizeReport, fingerprint.Scan]:
            excluded = None
            known = sizes = None
            if config.layout == "wheelhouse":
                write_wheelhouse(
                    plans,
                    wheels,
                    directory,
                    lock_sha256=hash_file(lock.path, "sha256"),
                    binary_only=config.binary_only,
                )
            else:
                written = write_target(
                    wheels[0],
                    directory,
                    compile_bytecode=config.compile_bytecode,
                    cache=cache,
                    link_mode=config.link_mode,
                    log=log,
                    installs=installs,
                    python=python,
                )
                if config.include:  # before trimming, which keeps what they import
                    copied = copy_included(project.root, config.include, directory)
                    listed = ", ".join(config.include)
                    files = "file" if len(copied) == 1 else "files"
                    log(f"Included {len(copied)} {files} of the project: {listed}")
                patterns = [*config.exclude]
                if config.trim:
                    patterns += trim_patterns(config.compile_bytecode)
                if patterns:
                    excluded = trim_bundle(
                        directory,
                        patterns,
                        trim=config.trim,
                        check_imports=plans[0].target.native,
                        log=log,
                    )
                if written.files is not None and not patterns and not config.include:
                    # the files are the cache's, linked: no walk needed (paths are relative,
                    # so the fingerprint is the bundle's once it is moved into place)
                    sizes = written.distributions
                    known = fingerprint.of_files(
                        {
                            path.replace("/", os.sep): status
                            for path, status in written.files.items()
                        }
                    )
            # else one walk, for the size report and the no-op stamp
            walked = known or fingerprint.scan(directory)
            report = measure(directory, excluded, walked, sizes)
            _enforce("max-size", report.size, config.max_size, report)
            stamp.anchor = bundle_digest(directory)
            return report, walked

        if config.archive is None:
            with replacing(final) as stage:
                report, walked = write_layout(stage)
            stamp.record(walked.digest)
            log(report.render())
            return finish()
        staged = Path(work) / "layout" / final.name
        report, _ = write_layout(staged)

        def check_archive(written: Path) -> None:
            report.archive = written.stat().st_size
            _enforce("max-archive-size", report.archive, config.max_archive_size, report)

        default_prefix = final.name if config.layout == "wheelhouse" else ""
        with log.task(f"Packing {artifact.name}", f"Packed {artifact.name}"):
            write_archive(
                staged,
                artifact,
                config.archive,
                prefix=default_prefix if config.prefix is None else config.prefix.strip("/"),
                epoch=archive_epoch(reproducible),
                check=check_archive,
                level=config.compression_level,
            )
        stamp.record()
        log(report.render())
        return finish()


class Stamp:
    """What a bundle was built from, kept in the cache, so that an unchanged rebuild is a no-op.

    The bundle counts as current only if the inputs are the same and the bundle on disk is still
    exactly as it was written (every file's size, mtime and mode).
    """

    def __init__(self, cache: Cache, artifact: Path, inputs: str) -> None:
        name = hashlib.sha256(str(artifact.resolve()).encode()).hexdigest()[:32]
        self.path = cache.directory("stamps", f"{name}.json")
        self.artifact = artifact
        self.inputs = inputs
        #: the bundle's digest for ``lockbundle verify --expect`` (:func:`~.verify.bundle_digest`)
        self.anchor: str | None = None

    def current(self) -> bool:
        if not self.artifact.exists():
            return False
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(recorded, dict):
            return False
        anchor = recorded.get("anchor")
        self.anchor = anchor if isinstance(anchor, str) else None
        return bool(
            recorded.get("inputs") == self.inputs
            and recorded.get("output") == fingerprint.output(self.artifact)
        )

    def record(self, output: str | None = None) -> None:
        """Remember the inputs, and ``output``, the bundle's fingerprint (computed if None)."""
        document = {
            "inputs": self.inputs,
            "output": output or fingerprint.output(self.artifact),
            "anchor": self.anchor,
        }
        replace_file(self.path, json.dumps(document).encode())


def _inputs(
    config: BundleConfig,
    plans: list[Plan],
    wheels: list[list[FetchedWheel]],
    lock: Lock,
    reproducible: bool,
    included: str,
) -> str:
    """Everything a bundle's content depends on, hashed.

    :param included: the fingerprint of the project's files that ``include`` copies
    """
    document = {
        "tool": __version__,
        "included": included,
        "config": repr(config),
        "lock": hash_file(lock.path, "sha256"),
        "epoch": archive_epoch(reproducible) if config.archive and reproducible else None,
        "targets": [plan.target.describe() for plan in plans],
        "wheels": [
            [(w.planned.name, w.path.name, w.sha256 or hash_file(w.path, "sha256")) for w in each]
            for each in wheels
        ],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _enforce(name: str, size: int, budget: int | None, report: SizeReport) -> None:
    problem = over_budget(name, size, budget)
    if problem is not None:
        raise LockbundleError(f"{problem}\n{report.render()}")


def bundle_name(name: str, version: str, variant: str) -> str:
    """``<name>-<version>-<layout or bundle>``, the name written as in wheel file names.

    Each part must be what it claims to be (a version from ``pyproject.toml`` or a build is
    input too): the result is one plain directory name, never a path.
    """
    try:
        Version(version)
    except InvalidVersion:
        raise LockbundleError(
            f"the version of {name}, {version!r}, is not a valid version (PEP 440); fix it in "
            "pyproject.toml or the version source, and lock again"
        ) from None
    result = f"{file_name(name)}-{version}-{variant}"
    if (
        not result.isprintable()
        or any(char in result for char in "/\\:")
        or result != result.strip()
    ):
        raise LockbundleError(f"{result!r} cannot be a bundle's name: it is not a plain name")
    return result


def file_name(name: str) -> str:
    """A (normalized) project name as wheel and sdist file names write it."""
    return name.replace("-", "_")


@contextmanager
def replacing(final: Path) -> Iterator[Path]:
    """A staging path beside ``final`` that replaces it only once complete.

    On failure the staging path is removed and any previous ``final`` is left untouched. What
    killed builds of ``final`` left beside it goes first (never what a live build is using).
    """
    sweep(final)
    with sibling(final, ".tmp") as stage:
        try:
            yield stage
        except BaseException:
            remove(stage)
            raise
        # Another build of the same bundle may swap at the same moment: retry, never leave `stage`.
        for attempt in range(SWAP_ATTEMPTS):
            try:
                with sibling(final, ".old") as old:
                    parked = old / final.name
                    try:
                        # one step as far as Ctrl-C is concerned: between the two renames there
                        # is no bundle at `final`, and the previous one would be removed below
                        with interrupts_deferred():
                            if final.exists() or final.is_symlink():
                                os.replace(final, parked)
                            try:
                                os.replace(stage, final)
                            except OSError:
                                if parked.exists() or parked.is_symlink():
                                    os.replace(parked, final)  # the previous one, back
                                raise
                    finally:
                        remove(old)
                break
            except OSError:
                if attempt == SWAP_ATTEMPTS - 1:
                    remove(stage)
                    raise


def _lock_for(project: Project, config: BundleConfig, read: Callable[[Path], Lock]) -> Lock:
    if config.lock is not None:
        return read(config.lock)
    if project.name is None:
        # a virtual workspace root (no [project]): its members are in its own lock
        own = project.root / LOCK_NAME
        if config.package is not None and own.is_file():
            return read(own)
        raise _no_name(project, sorted(read(own).members) if own.is_file() else [])
    return find_lock(project.root, project.name, read)


_USERINFO = re.compile(rb"://[^/\s\"'@]*@")


class ParsedLocks:
    """Decoded lock files kept in the cache, so that a rebuild does not decode the TOML again
    (two thirds of reading a lock of 90 packages, 50 ms in all).

    An entry is found by the lock's path and used only for the same bytes, read by this version
    of hatch-lockbundle on this Python; one entry per path, replaced when the lock changes. It is
    the TOML document as JSON, turned into a :class:`~.lock.Lock` by the same validating parser
    as the file: loading it runs no code, whatever the cache holds (not a pickle). A lock whose
    URLs carry credentials is not kept, so that the cache holds no secret.
    """

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def read(self, path: Path) -> Lock:
        data = read_lock_bytes(path)
        key = hashlib.sha256(f"{__version__}\0{sys.version}\0{path}\0".encode() + data).hexdigest()
        entry = self.cache.directory(
            "locks", hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json"
        )
        try:
            stored = json.loads(entry.read_bytes())
            if stored["key"] == key:
                return parse_lock(stored["document"], path)
        except (OSError, ValueError, LockbundleError, KeyError, TypeError):
            pass  # missing, unreadable, from another version, or tampered with: decode again
        document = decode_document(data, path)
        lock = parse_lock(document, path)
        # any `user[:password]@` anywhere (an ssh password, a URL in metadata): not kept
        if not lock.credentials and not _USERINFO.search(data):
            # TOML's dates and times have no JSON form: such a lock is decoded every time
            with suppress(OSError, TypeError, ValueError):
                replace_file(entry, json.dumps({"key": key, "document": document}).encode())
        return lock


def _built_version(root: str, wheels: Sequence[FetchedWheel]) -> str | None:
    """The version in the file name of the wheel of ``root`` (a normalized name), if there is
    one (built or fetched)."""
    for wheel in wheels:
        if wheel.planned.name == root:
            try:
                return str(parse_wheel_filename(wheel.path.name)[1])
            except InvalidWheelFilename:
                return None
    return None


def _no_name(project: Project, members: Sequence[str] = ()) -> LockbundleError:
    if members:
        return LockbundleError(
            f"{project.root / 'pyproject.toml'} is a virtual workspace root (no `[project]` "
            "table): it has nothing of its own to bundle. Pick a workspace member with "
            f'`tool.lockbundle.package = "{members[0]}"` or `--package {members[0]}` (the '
            f"members: {', '.join(members)}), or build in the member's directory"
        )
    return LockbundleError(
        f"{project.root / 'pyproject.toml'} has no `project.name`; set "
        "`tool.lockbundle.package` to the package to bundle"
    )
