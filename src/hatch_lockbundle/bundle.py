"""The engine: pyproject and uv.lock in, one bundle in ``dist/`` out."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from . import __version__, fingerprint
from .archive import archive_epoch, write_archive
from .cache import Cache, default_cache_dir, replace_file
from .config import BundleConfig, load_and_validate_config
from .errors import LockbundleError
from .fetch import FetchedWheel, Fetcher, indexes_of
from .http import hash_file, index_credentials
from .layouts.target import CachedInstalls, write_target
from .layouts.wheelhouse import write_wheelhouse
from .lock import Lock, decode_lock, read_lock, read_lock_bytes
from .progress import Reporter
from .project import Project, check_lock_current, declared_indexes, find_lock, read_project
from .report import SizeReport, measure, over_budget
from .sbom import SUFFIX as SBOM_SUFFIX
from .sbom import write_sbom
from .select import Plan, select
from .staging import remove, sibling, sweep
from .target import Target
from .trim import exclude_files, trim_patterns

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
    :param offline: use only the cache; any download is an error
    :param log: a :class:`~.progress.Reporter` (progress on a terminal, verbosity), or a
        callable that receives the information lines
    """
    try:
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
        where = f" {error.filename}" if error.filename else ""
        raise LockbundleError(
            f"cannot write or read{where}: {error.strerror or error}. Check that the directory "
            f"is writable and has space (the cache is {cache_dir or default_cache_dir()}; set "
            "LOCKBUNDLE_CACHE_DIR to move it)"
        ) from None


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
    cache = Cache(cache_dir or default_cache_dir())
    lock, plans = plan_bundle(project, config, cache)
    root = plans[0].root
    bundle_version = root.version or version or project.version or "0"
    final = out_dir / bundle_name(str(root.name), bundle_version, config.variant)
    for plan in plans:
        log(
            f"Bundling {root.label} for {plan.target.describe()}: "
            f"{len(plan.packages)} distributions"
        )
    # the target layout installs wheels into the cache while the others are still being built
    installs = CachedInstalls(cache, config.compile_bytecode) if config.layout == "target" else None
    with tempfile.TemporaryDirectory(prefix="lockbundle-") as work, installs or nullcontext():
        fetcher = Fetcher(
            cache,
            Path(work),
            indexes_of(lock),
            require_hashes=config.require_hashes,
            credentials=index_credentials(declared_indexes(project, lock)),
            offline=offline,
            # the target layout looks inside each wheel as it unpacks it into the cache
            inspect_wheels=config.layout != "target",
            log=log,
        )
        wheels = fetcher.fetch(plans, ready=installs.prepare if installs is not None else None)
        artifact = (
            final if config.archive is None else final.with_name(f"{final.name}.{config.archive}")
        )
        stamp = Stamp(cache, artifact, _inputs(config, plans, wheels, lock, reproducible))

        def finish() -> Path:
            if config.sbom:
                sbom = final.with_name(final.name + SBOM_SUFFIX)
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
                )
                patterns = [*config.exclude]
                if config.trim:
                    patterns += trim_patterns(config.compile_bytecode)
                if patterns:
                    excluded = exclude_files(directory, patterns, protect_entry_points=config.trim)
                if written.files is not None and not patterns:
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

    def current(self) -> bool:
        if not self.artifact.exists():
            return False
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return bool(
            recorded.get("inputs") == self.inputs
            and recorded.get("output") == fingerprint.output(self.artifact)
        )

    def record(self, output: str | None = None) -> None:
        """Remember the inputs, and ``output``, the bundle's fingerprint (computed if None)."""
        document = {"inputs": self.inputs, "output": output or fingerprint.output(self.artifact)}
        replace_file(self.path, json.dumps(document).encode())


def _inputs(
    config: BundleConfig,
    plans: list[Plan],
    wheels: list[list[FetchedWheel]],
    lock: Lock,
    reproducible: bool,
) -> str:
    """Everything a bundle's content depends on, hashed."""
    document = {
        "tool": __version__,
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
    """``<name>-<version>-<layout or bundle>``, the name written as in wheel file names."""
    return f"{file_name(name)}-{version}-{variant}"


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
                    try:
                        if final.exists() or final.is_symlink():
                            os.replace(final, old / final.name)
                        os.replace(stage, final)
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
        raise _no_name(project)
    return find_lock(project.root, project.name, read)


class ParsedLocks:
    """Parsed lock files kept in the cache, so that a rebuild does not parse the lock again
    (50 ms for a lock of 90 packages, a tenth of a no-op build).

    An entry is found by the lock's path and used only for the same bytes, read by this version
    of hatch-lockbundle on this Python; one entry per path, replaced when the lock changes. It is
    a pickle: the cache is trusted as much as the installed files it holds, which go into
    bundles.
    """

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def read(self, path: Path) -> Lock:
        data = read_lock_bytes(path)
        key = hashlib.sha256(f"{__version__}\0{sys.version}\0{path}\0".encode() + data).hexdigest()
        entry = self.cache.directory(
            "locks", hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".pickle"
        )
        try:
            with entry.open("rb") as file:
                stored_key, lock = pickle.load(file)
            if stored_key == key and isinstance(lock, Lock):
                return lock
        except Exception:  # missing, unreadable, from another version: parse again
            pass
        lock = decode_lock(data, path)
        with suppress(OSError):  # a cache that cannot be written only costs time
            replace_file(entry, pickle.dumps((key, lock), protocol=pickle.HIGHEST_PROTOCOL))
        return lock


def _no_name(project: Project) -> LockbundleError:
    return LockbundleError(
        f"{project.root / 'pyproject.toml'} has no `project.name`; set "
        "`tool.lockbundle.package` to the package to bundle"
    )
