"""Turn a :class:`~.select.Plan` into verified wheel files: download, copy, or build from source."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.tags import sys_tags

from . import fingerprint
from .artifact import Artifact
from .cache import Cache, atomic_directory, atomic_file
from .credentials import redact, redact_urls
from .digest import hash_file
from .errors import BackendFailedError, LockbundleError
from .fetched import FetchedPlan, FetchedWheel, HashMismatchError, WheelOrigin, verified_sha256
from .foreign_builds import check_build_was_for_here, check_fits
from .http import Downloader, DownloadError
from .indexes import PackageIndexes
from .lock import Hash, LockedPackage
from .mirrors import Mirrors
from .network import NetworkSettings
from .progress import Reporter, Transfers
from .report import human
from .select import Plan, PlannedPackage

if TYPE_CHECKING:
    from .build import WheelBuilder

DOWNLOAD_WORKERS = 8

Log = Callable[[str], None]


#: set to 1 (or true, yes) for builds that must use the cache only: the way to ask it of
#: ``hatch build``, which passes no options to a builder
OFFLINE_VARIABLE = "LOCKBUNDLE_OFFLINE"


def offline_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``LOCKBUNDLE_OFFLINE`` asks for offline builds."""
    value = (os.environ if environ is None else environ).get(OFFLINE_VARIABLE, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    raise LockbundleError(
        f"{OFFLINE_VARIABLE}={value!r} is neither on (1, true, yes) nor off (0, false, no)"
    )


_RELOCK_FOR_HASHES = "Run `uv lock` again (uv records a sha256 hash for every file)"


class Fetcher:
    """Gets every planned package as a verified wheel file."""

    def __init__(
        self,
        cache: Cache,
        work: Path,
        indexes: PackageIndexes,
        *,
        require_hashes: bool = True,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        offline: bool = False,
        mirrors: Mirrors | None = None,
        log: Log | Reporter = lambda message: None,
        network: NetworkSettings | None = None,
        relock: str | None = None,
    ) -> None:
        """
        :param indexes: the lock's, for build requirements (a mirror's, when it has one)
        :param mirrors: where files locked from an index or URL prefix are fetched instead
        :param network: the keyring and trust settings (default: from the environment)
        :param relock: what the user does to make the lock again, for the remedies (None:
            a uv.lock, whose remedies name uv's commands)
        """
        self.mirrors = mirrors or Mirrors()
        credentials = {**(credentials or {}), **self.mirrors.credentials()}
        indexes = PackageIndexes(
            tuple(self.mirrors.index_url(url) for url in indexes.index_urls), indexes.find_links
        )
        self.cache = cache
        self.relock = relock
        self.offline = offline
        self.work = work
        self.require_hashes = require_hashes
        self.log = Reporter.of(log)
        self.downloader = Downloader(
            credentials=credentials,
            network=network,
            index_urls=(*indexes.index_urls, *self.mirrors.urls()),
        )
        self.indexes = indexes
        self.credentials = credentials
        # wheels built here are cached per interpreter and platform
        self.build_key = str(next(iter(sys_tags())))

    @cached_property
    def builder(self) -> WheelBuilder:
        """What builds wheels from source, made by the first build that is needed.

        A build that builds nothing (every wheel downloaded or in the cache: each no-op rebuild)
        does not import the build machinery (build.py and with it extract.py and inprocess.py),
        a few percent of a no-op build (benchmarks/README.md, "issue 18's restructuring").
        """
        from .build import WheelBuilder

        return WheelBuilder(
            self.cache,
            self.indexes,
            credentials=self.credentials,
            offline=self.offline,
            said=self.log.detail,
            network=self.downloader.network,
        )

    def fetch(
        self, plans: Sequence[Plan], ready: Callable[[FetchedWheel], None] | None = None
    ) -> list[FetchedPlan]:
        """Each plan with the wheel of every one of its packages.

        Work shared by several plans (one target per platform) is done once.

        :param ready: called with each wheel as soon as it is verified, in the main thread
            (:meth:`.layouts.Layout.take`); wheels to download or copy come before wheels to
            build, so that the next stage can start on them while the builds run
        """
        unique: dict[tuple[LockedPackage, Artifact], PlannedPackage] = {}
        for plan in plans:
            for planned in plan.packages:
                unique.setdefault((planned.package, planned.artifact), planned)
        for planned in unique.values():
            self._check_hash_present(planned)
        remote = [
            planned
            for planned in unique.values()
            if planned.artifact.url is not None and planned.artifact.kind in ("wheel", "sdist")
        ]
        self._warn_of_unused_mirrors(remote)
        missing = [planned for planned in remote if not self._cached_download(planned)]
        if self.offline and missing:
            planned = missing[0]
            raise LockbundleError(
                f"{planned.package.label}: {planned.artifact.filename} is not in the "
                "cache, and downloads are off (--offline, LOCKBUNDLE_OFFLINE). Build once with "
                "network access"
            )
        # logged here, not in the workers: hatch's output is not safe to write from threads
        self._name_the_mirrors(missing)
        for planned in missing:
            size = f" ({human(planned.artifact.size)})" if planned.artifact.size else ""
            # a log says what is fetched; a terminal shows it on the status line
            line = self.log.detail if self.log.live else self.log.info
            line(f"Downloading {planned.artifact.filename}{size}")
        sizes = [planned.artifact.size for planned in missing]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        results: dict[tuple[LockedPackage, Artifact], FetchedWheel] = {}

        def verified(key: tuple[LockedPackage, Artifact], wheel: FetchedWheel) -> None:
            wheel.check_identity(self._relock_sentence)
            results[key] = wheel
            if ready is not None:
                ready(wheel)

        downloaded: dict[PlannedPackage, tuple[Path, WheelOrigin]] = {}
        with ExitStack() as stack:
            transfers = (
                stack.enter_context(self.log.transfers(len(missing), total)) if missing else None
            )
            pool = ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS)
            try:
                futures = {
                    pool.submit(self._download, planned, transfers): planned for planned in remote
                }
                # each wheel is handed over as its download ends, while others still arrive
                for future in as_completed(futures):
                    planned = futures[future]
                    try:
                        downloaded[planned] = future.result()
                    except DownloadError as error:
                        # the URL need not say whose file it is (`/download?id=3`)
                        raise DownloadError(f"{planned.package.label}: {error}") from None
                    if planned.artifact.kind == "wheel":
                        key = (planned.package, planned.artifact)
                        verified(key, self._wheel_for(planned, downloaded[planned]))
            except BaseException:
                # on Ctrl-C or an error, do not wait for other downloads to time out
                self.downloader.abort()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
        # then local wheels, then what must be built: the wheels are used while builds run
        ordered = sorted(unique.items(), key=lambda item: item[1].artifact.kind != "wheel")
        for key, planned in ordered:
            if key not in results:
                try:
                    wheel = self._wheel_for(planned, downloaded.get(planned))
                except BackendFailedError as error:
                    check_build_was_for_here(plans, planned, error)
                    raise
                verified(key, wheel)
        fetched = []
        for plan in plans:
            wheels = []
            for planned in plan.packages:
                found = results[(planned.package, planned.artifact)]
                wheel = FetchedWheel(planned, found.path, found.origin, found.sha256)
                check_fits(plan, wheel)
                wheels.append(wheel)
            fetched.append(FetchedPlan(plan, tuple(wheels)))
        return fetched

    def _check_hash_present(self, planned: PlannedPackage) -> None:
        artifact = planned.artifact
        if artifact.kind == "git" and artifact.url is not None:
            from . import git  # imported by locks with git sources, as the builder is

            # verified by its commit instead: the checkout must be that commit (see git.py)
            git.check_source(
                artifact.url, artifact.commit, planned.package.label, relock=self._relock_sentence
            )
            return
        verified = artifact.hash is not None and not artifact.hash.weak
        # a source tree has no file to hash; every file does, local ones too (as pip's
        # --require-hashes): a file outside the project can change after the lock was written
        if artifact.kind == "tree" or verified or not self.require_hashes:
            return
        what = (
            f"only a {artifact.hash.algorithm} hash, a broken algorithm,"
            if artifact.hash is not None
            else "no hash"
        )
        where = redact(artifact.url) if artifact.url is not None else str(artifact.path)
        raise LockbundleError(
            f"{planned.package.label}: the lock records {what} for {where}, so the file cannot "
            f"be verified. {self._remedy(_RELOCK_FOR_HASHES)}, lock against an index that "
            "publishes sha256 hashes, or set "
            "`tool.lockbundle.require-hashes = false` to accept unverified files"
        )

    def _remedy(self, uv_words: str) -> str:
        """``uv_words`` (what makes a uv.lock again), or what makes this lock again, capitalised
        as ``uv_words`` is."""
        if self.relock is None:
            return uv_words
        first = self.relock[0].upper() if uv_words[0].isupper() else self.relock[0].lower()
        return first + self.relock[1:]

    @property
    def _relock_sentence(self) -> str:
        """What makes the lock again, as a sentence of a remedy."""
        return self._remedy("Run `uv lock`")

    def _cached_download(self, planned: PlannedPackage) -> bool:
        artifact = planned.artifact
        return (
            artifact.hash is not None
            and artifact.filename is not None
            and self.cache.downloaded_file(artifact.hash, artifact.filename).exists()
        )

    def _download(
        self, planned: PlannedPackage, transfers: Transfers | None = None
    ) -> tuple[Path, WheelOrigin]:
        """Download (or find in the cache) a remote file; return its path and its origin.

        :param transfers: told what arrives, for the progress shown
        """
        artifact = planned.artifact
        on_bytes = transfers.received_bytes if transfers is not None else None
        assert artifact.url is not None and artifact.filename is not None
        digest = artifact.hash
        if digest is None:
            # only reached with require-hashes off: nothing to address the cache by
            path = self.work / "unverified" / artifact.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            if transfers is not None:
                transfers.begin(artifact.filename)
            with path.open("wb") as out:
                self.downloader.fetch(
                    self._url_of(planned), out, on_bytes=on_bytes, size=artifact.size
                )
            if transfers is not None:
                transfers.finished(artifact.filename)
            return path, WheelOrigin.DOWNLOADED_UNVERIFIED
        _check_algorithm(digest, planned)
        final = self.cache.downloaded_file(digest, artifact.filename)
        if final.exists():
            return final, WheelOrigin.CACHED_DOWNLOAD
        if transfers is not None:
            transfers.begin(artifact.filename)
        url = self._url_of(planned)
        with atomic_file(final) as out:
            actual = self.downloader.fetch(url, out, digest.algorithm, on_bytes, size=artifact.size)
            if actual != digest.value:
                refresh = self._remedy(f"`uv lock --refresh-package {planned.name}`")
                raise HashMismatchError(
                    f"{planned.package.label}: the file downloaded from {redact(url)} "
                    f"does not match the lock: expected {digest.algorithm}:{digest.value}, got "
                    f"{digest.algorithm}:{actual}. If the package was republished, refresh the "
                    f"lock ({refresh}); otherwise the index is "
                    "serving different bytes than were locked and the file must not be used"
                )
        if transfers is not None:
            transfers.finished(artifact.filename)
        return final, WheelOrigin.DOWNLOADED

    def _warn_of_unused_mirrors(self, remote: Sequence[PlannedPackage]) -> None:
        """Say which mappings serve no file: a ``FROM`` that is not the lock's index URL would
        otherwise leave the build to fail on the unreachable index, the mapping unmentioned."""
        if not self.mirrors:
            return
        files = [(planned.artifact.url or "", _index_of(planned)) for planned in remote]
        unused = self.mirrors.unused(files)
        if not unused:
            return
        indexes = sorted({redact(index) for _, index in files if index is not None})
        recorded = ", ".join(f"`{index}`" for index in indexes) or "no index (direct URLs only)"
        for source in unused:
            self.log.warning(
                f"The mirror mapping from `{source}` serves no file of this build: the lock "
                f"records its files from {recorded}. Use the index URL as the lock writes it as "
                "the FROM of the mapping"
            )

    def _name_the_mirrors(self, downloads: Sequence[PlannedPackage]) -> None:
        """Say once per mirror that it serves files of ``downloads``, as uv and pip name the
        index they use: the files come from elsewhere than the lock says. Not its credentials."""
        serving = dict.fromkeys(
            mirror
            for planned in downloads
            if (mirror := self.mirrors.mirrored(planned.artifact.url or "", _index_of(planned)))
        )
        for mirror in serving:
            files = f"files under {mirror.source}" if mirror.prefix else f"files of {mirror.source}"
            self.log.info(redact_urls(f"Mirror: {files} from {mirror.url}"))

    def _url_of(self, planned: PlannedPackage) -> str:
        """Where to download a remote file from: the lock's URL, or its mirror's."""
        url = planned.artifact.url
        assert url is not None
        mirror = self.mirrors.mirrored(url, _index_of(planned))
        if mirror is None:
            return url
        return self.mirrors.locate(
            self.downloader, mirror, url, planned.package.name, planned.package.label
        )

    def _local(self, planned: PlannedPackage) -> Path:
        """A file the lock names by path: verified in place against the lock's hash."""
        artifact = planned.artifact
        assert artifact.path is not None
        if not artifact.path.is_file():
            raise LockbundleError(
                f"{planned.package.label}: {artifact.path} does not exist; restore it, or "
                f"{self._remedy('run `uv lock`')} if the dependency moved"
            )
        if artifact.hash is not None:
            _check_algorithm(artifact.hash, planned)
            actual = hash_file(artifact.path, artifact.hash.algorithm)
            if actual != artifact.hash.value:
                raise HashMismatchError(
                    f"{planned.package.label}: {artifact.path} does not match the lock: expected "
                    f"{artifact.hash}, got {artifact.hash.algorithm}:{actual}. "
                    f"{self._remedy('Run `uv lock`')} if the file was rebuilt on purpose"
                )
        return artifact.path

    def _wheel_for(
        self, planned: PlannedPackage, downloaded: tuple[Path, WheelOrigin] | None
    ) -> FetchedWheel:
        artifact = planned.artifact
        if artifact.kind == "wheel":
            path, origin = downloaded or (self._local(planned), WheelOrigin.LOCAL_FILE)
            return FetchedWheel(planned, path, origin, verified_sha256(planned, path))
        if artifact.kind == "sdist":
            sdist = downloaded[0] if downloaded is not None else self._local(planned)
            return self._built_from_sdist(planned, sdist)
        if artifact.kind == "tree":
            return self._built_from_tree(planned)
        return self._built_from_git(planned, artifact)

    def _built_from_tree(self, planned: PlannedPackage) -> FetchedWheel:
        """A project directory's wheel, rebuilt only when a file of the tree has changed."""
        tree = planned.artifact.path
        assert tree is not None
        label = planned.package.label
        state = fingerprint.source_tree(tree)
        final = self.cache.built_from_tree(tree, state, self.build_key)

        def build(stage: Path) -> Path:
            return self.builder.build_tree(tree, label, stage / "out", own=planned.artifact.own)

        wheel = self._built_once(final, build, f"Building {label} from {tree.name or tree}", label)
        return FetchedWheel(planned, wheel, WheelOrigin.BUILT_FROM_SOURCE_TREE)

    def _built_from_sdist(self, planned: PlannedPackage, sdist: Path) -> FetchedWheel:
        label = planned.package.label
        digest = planned.artifact.hash or Hash("sha256", hash_file(sdist, "sha256"))
        final = self.cache.built_from_sdist(digest, self.build_key)

        def build(stage: Path) -> Path:
            return self.builder.build_sdist(sdist, label, stage, planned.artifact.subdirectory)

        wheel = self._built_once(final, build, f"Building {label} from {sdist.name}", label)
        return FetchedWheel(planned, wheel, WheelOrigin.BUILT_FROM_SDIST)

    def _built_from_git(self, planned: PlannedPackage, artifact: Artifact) -> FetchedWheel:
        """A git source's wheel, built from a checkout of the locked commit (verified there)."""
        from . import git  # see _check_hash_present

        assert artifact.url is not None
        label = planned.package.label
        url, commit = artifact.url, artifact.commit
        relock = self._relock_sentence
        git.check_source(url, commit, label, relock=relock)  # part of a cache path
        assert commit is not None
        subdirectory = artifact.subdirectory or ""
        final = self.cache.built_from_git(url, subdirectory, commit, self.build_key)

        def build(stage: Path) -> Path:
            checkout = git.check_out(
                url, commit, stage / "checkout", label=label, offline=self.offline, relock=relock
            )
            source = git.project_directory(checkout, subdirectory, url, label, relock=relock)
            return self.builder.build_tree(source, label, stage / "out")

        doing = f"Building {label} from git {redact(url)}@{commit[:12]}"
        wheel = self._built_once(final, build, doing, label)
        return FetchedWheel(planned, wheel, WheelOrigin.BUILT_FROM_GIT)

    def _built_once(
        self, final: Path, build: Callable[[Path], Path], doing: str, label: str
    ) -> Path:
        """The wheel cached in ``final``, built by ``build(scratch_dir)`` if not there yet.

        :param doing: what the build does, shown while it runs
        """
        cached = _single_wheel(final)
        if cached is not None:
            return cached
        with atomic_directory(final) as staging:
            with self.log.task(doing, f"Built {label}"):
                wheel = build(staging.work)
            shutil.move(wheel, staging.entry / wheel.name)
        cached = _single_wheel(final)
        assert cached is not None
        return cached


def _single_wheel(directory: Path) -> Path | None:
    if not directory.is_dir():
        return None
    wheels = sorted(directory.glob("*.whl"))
    return wheels[0] if len(wheels) == 1 else None


def _check_algorithm(digest: Hash, planned: PlannedPackage) -> None:
    if digest.algorithm not in hashlib.algorithms_available:
        raise LockbundleError(
            f"{planned.package.label}: the lock's hash algorithm `{digest.algorithm}` is not "
            "available in this Python"
        )


def _index_of(planned: PlannedPackage) -> str | None:
    """The index a package was locked from (None for a direct URL or a local file)."""
    source = planned.package.source
    return source.location if source.is_remote_registry else None
