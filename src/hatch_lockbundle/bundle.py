"""The engine: pyproject and uv.lock in, one bundle in ``dist/`` out.

:func:`build_bundle` runs the stages of ``docs/how-it-works.md`` in order: read the project and
its configuration, select each target's install set from the lock, fetch every wheel (handing
each to the layout as it arrives), and unless the stamp says the bundle is up to date, have the
layout write it, measure it, pack it, and describe it (SBOM).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from . import fingerprint
from .archive import archive_epoch, write_archive
from .cache import Cache, default_cache_dir
from .config import BundleConfig
from .config_tables import load_and_validate_config
from .credentials import index_credentials
from .digest import hash_file
from .errors import LockbundleError
from .fetch import Fetcher, offline_requested
from .fetched import FetchedPlan
from .include import check_included, included_state
from .indexes import indexes_of
from .layouts import Layout, LayoutInputs
from .lock import Lock
from .lock_input import LockInput, read_lock_input
from .mirrors import Mirrors
from .names import bundle_name
from .network import NetworkSettings
from .os_errors import os_error_message
from .parsed_locks import ParsedLocks
from .progress import Reporter
from .project import Project, build_index_urls, declared_indexes, read_project
from .report import SizeReport, measure, over_budget
from .sbom import SUFFIX as SBOM_SUFFIX
from .sbom import write_sbom
from .select import Plan, check_virtual_root
from .staging import interrupts_deferred, remove, sibling, sweep
from .stamp import Stamp, stamp_inputs
from .uvlock import read_lock
from .verify import bundle_digest

Log = Callable[[str], None]

SWAP_ATTEMPTS = 5


def _layout_type(name: str) -> type[Layout]:
    """The layout called ``name`` (``BundleConfig.layout``): the engine picks one here, and only
    here. Only the chosen layout's module is imported: the wheelhouse's (packaging.pylock and
    tomli-w with it) is several milliseconds of a target's no-op build, which issue 18 holds
    within 5 % of before (benchmarks/README.md, "issue 18's restructuring")."""
    if name == "wheelhouse":
        from .layouts.wheelhouse import WheelhouseLayout

        return WheelhouseLayout
    if name == "target":
        from .layouts.target_bundle import TargetLayout

        return TargetLayout
    # the configuration admits only LAYOUTS: a new one must be added here too
    raise AssertionError(f"no layout is called {name!r}")


def _silent(message: str) -> None:
    pass


def plan_bundle(
    project: Project, config: BundleConfig, cache: Cache | None = None
) -> tuple[Lock, list[Plan]]:
    """Read the lock and select the install set for each target, without fetching anything.

    :param cache: where the parsed lock is kept for the next build (none: parse it every time)
    """
    chosen = _lock_input(project, config, cache)
    return chosen.lock, chosen.plans


def _lock_input(project: Project, config: BundleConfig, cache: Cache | None) -> LockInput:
    return read_lock_input(project, config, read_lock if cache is None else ParsedLocks(cache).read)


def build_bundle(
    project_root: Path,
    out_dir: Path,
    *,
    bundle: str = "target",
    project: Project | None = None,
    version: str | None = None,
    cache_dir: Path | None = None,
    reproducible: bool = True,
    overrides: Mapping[str, Any] | None = None,
    offline: bool = False,
    log: Log | Reporter = _silent,
) -> Path:
    """Build the bundle of the project at ``project_root`` into ``out_dir``; return its path.

    :param bundle: a layout (``target``, ``wheelhouse``) or the name of a configured bundle
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
            bundle,
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


def _build(
    project_root: Path,
    out_dir: Path,
    bundle: str,
    project: Project | None,
    version: str | None,
    cache_dir: Path | None,
    reproducible: bool,
    overrides: Mapping[str, Any] | None,
    offline: bool,
    log: Reporter,
) -> Path:
    project = project or read_project(project_root)
    config = load_and_validate_config(project.settings, project.root, bundle, overrides)
    check_included(project.root, config.include, config.include_field)
    cache = Cache(cache_dir or default_cache_dir())
    chosen = _lock_input(project, config, cache)
    lock, plans = chosen.lock, chosen.plans
    layout_type = _layout_type(config.layout)
    notice = check_virtual_root(
        plans,
        lock,
        includes_files=bool(config.include),
        can_include=layout_type.takes_project_files,
    )
    if notice is not None:
        log.warning(notice)
    log(chosen.description)
    for warning in chosen.warnings:
        log.warning(warning)
    root = plans[0].root
    for plan in plans:
        log(
            f"Bundling {root.label} for {plan.target.describe()}: "
            f"{len(plan.packages)} distributions"
        )
    lock_sha256 = hash_file(lock.path, "sha256")
    python = plans[0].target.python_version
    inputs = LayoutInputs(
        config,
        project.root,
        lock_sha256,
        cache,
        python,
        log,
        lock.format,
        Path(os.path.relpath(lock.path, project.root)).as_posix(),
    )
    with tempfile.TemporaryDirectory(prefix="lockbundle-") as work, layout_type(inputs) as layout:
        fetcher = Fetcher(
            cache,
            Path(work),
            indexes_of(lock, build_index_urls(project, lock)),
            require_hashes=config.require_hashes,
            # what the project and the environment say about an index wins over the lock's URLs
            credentials={
                **lock.credentials,
                **index_credentials(declared_indexes(project, lock)),
            },
            offline=offline,
            mirrors=Mirrors(config.mirrors),
            log=log,
            network=NetworkSettings.resolve(config.keyring_provider, config.native_tls),
            relock=chosen.relock,
        )
        fetched = fetcher.fetch(plans, ready=layout.take)
        # a dynamic version is in no lock and no pyproject: the root's built wheel has it
        bundle_version = root.version or version or project.version
        bundle_version = bundle_version or _built_version(root.name, fetched[0]) or "0"
        final = out_dir / bundle_name(str(root.name), bundle_version, config.bundle)
        artifact = (
            final if config.archive is None else final.with_name(f"{final.name}.{config.archive}")
        )
        included = included_state(project.root, config.include)
        inputs_digest = stamp_inputs(config, fetched, lock_sha256, reproducible, included)
        stamp = Stamp(cache, artifact, inputs_digest)
        if stamp.current():
            layout.close(cancel=True)  # what it started is not needed: the bundle is as it was
            sweep(artifact)  # what a killed build left beside it goes even when nothing changed
            log(f"{artifact.name} is up to date")
        else:
            report = _write(layout, fetched, final, artifact, stamp, Path(work), reproducible)
            log(report.render())
    if stamp.anchor is not None:
        log(f"Digest: {stamp.anchor} (`lockbundle verify --expect` checks it)")
    if config.sbom:
        sbom = final.with_name(final.name + SBOM_SUFFIX)
        sweep(sbom)
        write_sbom(fetched, sbom, archive_epoch(reproducible))
        log(f"SBOM: {sbom}")
    return artifact


def _write(
    layout: Layout,
    fetched: Sequence[FetchedPlan],
    final: Path,
    artifact: Path,
    stamp: Stamp,
    work: Path,
    reproducible: bool,
) -> SizeReport:
    """Have ``layout`` write the bundle ``final`` (and pack it into ``artifact`` if it is an
    archive), held to its size budgets, and stamp it; return its size report."""
    config = layout.inputs.config

    def write_layout(directory: Path) -> tuple[SizeReport, fingerprint.Scan]:
        written = layout.write(fetched, directory)
        # else one walk, for the size report and the no-op stamp
        walked = written.files or fingerprint.scan(directory)
        report = measure(directory, written.excluded, walked, written.distributions)
        _enforce("max-size", report.size, config.max_size, report)
        stamp.anchor = bundle_digest(directory)
        return report, walked

    if config.archive is None:
        with replacing(final) as stage:
            report, walked = write_layout(stage)
        stamp.record(walked.digest)
        return report
    staged = work / "layout" / final.name
    report, _ = write_layout(staged)

    def check_archive(written: Path) -> None:
        report.archive = written.stat().st_size
        _enforce("max-archive-size", report.archive, config.max_archive_size, report)

    prefix = config.prefix
    with layout.inputs.log.task(f"Packing {artifact.name}", f"Packed {artifact.name}"):
        write_archive(
            staged,
            artifact,
            config.archive,
            prefix=layout.archive_prefix(final.name) if prefix is None else prefix.strip("/"),
            epoch=archive_epoch(reproducible),
            check=check_archive,
            level=config.compression_level,
        )
    stamp.record()
    return report


def _enforce(name: str, size: int, budget: int | None, report: SizeReport) -> None:
    problem = over_budget(name, size, budget)
    if problem is not None:
        raise LockbundleError(f"{problem}\n{report.render()}")


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


def _built_version(root: str, fetched: FetchedPlan) -> str | None:
    """The version in the file name of the wheel of ``root`` (a normalized name), if there is
    one (built or fetched)."""
    for wheel in fetched.wheels:
        if wheel.planned.name == root:
            try:
                return str(parse_wheel_filename(wheel.path.name)[1])
            except InvalidWheelFilename:
                return None
    return None
