"""Faults: a misbehaving index, an interrupted build, two builds at once.

Downloads from a faulty index on 127.0.0.1 are retried a bounded number of times with growing
pauses and then fail naming the URL; a short or wrong body never enters the cache. A build killed
(SIGINT, SIGKILL) while downloading, building an sdist, or laying out ends promptly and leaves the
last good bundle as it was and the cache whole; the next build gives the same bundle as a clean
one. Two builds sharing one cold cache both succeed with identical bundles.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle import http as http_module
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.http import Downloader, DownloadError
from support.artifacts import Entry, sdist_members, write_sdist, write_wheel
from support.build_process import BuildProcess
from support.bundle import files, snapshot
from support.cache_check import published_files, published_problems, scraps
from support.consumer import Consumer
from support.environ import Sandbox
from support.faulty_index import (
    Fault,
    FaultyIndex,
    close_early,
    drop,
    endless,
    extra_bytes,
    reset,
    slow,
    stall,
    stall_in_body,
    status,
    trickle,
    truncate,
    wrong_bytes,
)

pytestmark = pytest.mark.slow

BACKOFF = 0.02  # seconds: the first pause between attempts, in these tests


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pauses between attempts as in production, only shorter (in this process)."""
    monkeypatch.setattr(http_module, "BACKOFF", BACKOFF)


def pseudo_random(size: int, seed: str) -> bytes:
    """``size`` incompressible bytes, the same every run."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


# -- one download against a faulty server -----------------------------------------------------------

BLOB = "blob-1.0-py3-none-any.whl"
BLOB_BODY = pseudo_random(256 << 10, "blob")
TIMEOUT = 0.5  # seconds a Downloader waits for the server in these tests

# Faults a retry can get past: server errors, lost connections, stalls, bodies cut short.
TRANSIENT: dict[str, Fault] = {
    "http-500": status(500),
    "http-502": status(502),
    "http-503": status(503),
    "http-504": status(504),
    "http-429": status(429),
    "dropped-connection": drop,
    "reset-connection": reset,
    "stall-before-the-headers": stall(30),
    "stall-in-the-body": stall_in_body(30),
    "body-shorter-than-its-length": truncate,
}


@pytest.fixture
def blob_index(tmp_path: Path) -> Iterator[FaultyIndex]:
    """A faulty index serving one 256 KiB file, :data:`BLOB`."""
    directory = tmp_path / "files"
    directory.mkdir()
    (directory / BLOB).write_bytes(BLOB_BODY)
    with FaultyIndex(directory) as index:
        yield index


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_a_transient_fault_is_retried_and_the_whole_body_kept(
    blob_index: FaultyIndex, fault: str
) -> None:
    blob_index.script(BLOB, TRANSIENT[fault], TRANSIENT[fault])
    out = io.BytesIO()

    digest = Downloader(retries=3, timeout=TIMEOUT).fetch(blob_index.file_url(BLOB), out)

    assert out.getvalue() == BLOB_BODY
    assert digest == hashlib.sha256(BLOB_BODY).hexdigest()
    assert len(blob_index.requests_for(BLOB)) == 3


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_a_persistent_fault_fails_after_bounded_retries_naming_the_url(
    blob_index: FaultyIndex, fault: str
) -> None:
    blob_index.always(TRANSIENT[fault])
    url = blob_index.file_url(BLOB)
    started = time.monotonic()

    with pytest.raises(DownloadError, match=re.escape(url)):
        Downloader(retries=2, timeout=TIMEOUT).fetch(url, io.BytesIO())

    assert len(blob_index.requests_for(BLOB)) == 3
    # three attempts, each cut off by the timeout at worst, and two short pauses
    assert time.monotonic() - started < 3 * TIMEOUT + 3 * BACKOFF + 3


def test_retries_pause_longer_each_time(
    blob_index: FaultyIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "BACKOFF", 0.1)
    blob_index.always(status(503))

    with pytest.raises(DownloadError):
        Downloader(retries=3, timeout=TIMEOUT).fetch(blob_index.file_url(BLOB), io.BytesIO())

    arrivals = blob_index.requests_for(BLOB)
    pauses = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(pauses) == 3
    for attempt, pause in enumerate(pauses):
        assert pause >= 0.1 * 2**attempt, pauses


# -- downloads in a build -------------------------------------------------------------------------

GOOD, GOOD_SDIST, VERSION = "good", "goodsdist", "1.0"
GOOD_WHEEL = f"{GOOD}-{VERSION}-py3-none-any.whl"
GOOD_SDIST_FILE = f"{GOOD_SDIST}-{VERSION}.tar.gz"


def good_entries() -> list[Entry]:
    """A wheel of a dozen modules, a console script and 64 KiB of data (more than one write)."""
    modules = [
        Entry(f"{GOOD}/mod{number:02}.py", f"VALUE = {number}\n".encode()) for number in range(12)
    ]
    return [
        Entry(f"{GOOD}/__init__.py", b"def main():\n    print('good')\n"),
        *modules,
        Entry(f"{GOOD}/data.bin", pseudo_random(64 << 10, "good")),
        Entry(
            f"{GOOD}-{VERSION}.dist-info/entry_points.txt",
            b"[console_scripts]\ngood-cli = good:main\n",
        ),
    ]


def publish_good_dists(directory: Path) -> None:
    write_wheel(directory, GOOD, VERSION, good_entries())
    write_sdist(directory, GOOD_SDIST, VERSION, sdist_members(GOOD_SDIST, VERSION))


@dataclass
class Scene:
    consumer: Consumer
    index: FaultyIndex
    out: Path
    cache: Path

    @property
    def url(self) -> str:
        return self.index.file_url(GOOD_WHEEL)

    def build(self) -> Path:
        return build_bundle(self.consumer.root, self.out, cache_dir=self.cache)

    def edit_locked_wheel(self, edit: Callable[[str], str]) -> None:
        """Rewrite the ``hash = "sha256:…"`` of the wheel's entry in the lock with ``edit``."""
        lock = self.consumer.root / "uv.lock"
        text, found = re.subn(
            rf'(?<=/{re.escape(GOOD_WHEEL)}", )hash = "sha256:[0-9a-f]+"',
            lambda match: edit(match[0]),
            lock.read_text(),
        )
        assert found == 1
        lock.write_text(text)


@pytest.fixture
def scene(tmp_path: Path, sandbox: Sandbox) -> Iterator[Scene]:
    """A consumer of the wheel ``good==1.0`` on a faulty index of its own."""
    directory = tmp_path / "index"
    directory.mkdir()
    publish_good_dists(directory)
    with FaultyIndex(directory) as index:
        consumer = Consumer.create(tmp_path / "project", index, [GOOD], env=sandbox.environ())
        yield Scene(consumer, index, tmp_path / "project" / "dist", tmp_path / "cache")


def test_a_build_rides_out_transient_faults(scene: Scene) -> None:
    scene.index.script(GOOD_WHEEL, status(500), drop, status(503))
    locking = len(scene.index.requests_for(GOOD_WHEEL))  # uv lock read the wheel

    bundle = scene.build()

    assert (bundle / GOOD / "data.bin").read_bytes() == pseudo_random(64 << 10, "good")
    assert len(scene.index.requests_for(GOOD_WHEEL)) - locking == 4


@pytest.mark.parametrize(
    "fault", [status(503), drop, truncate], ids=["http-503", "dropped", "truncated"]
)
def test_a_build_against_a_failing_index_names_the_url_and_caches_nothing(
    scene: Scene, fault: Fault
) -> None:
    scene.index.always(fault)

    with pytest.raises(LockbundleError, match=re.escape(scene.url)):
        scene.build()

    assert not scene.out.exists() or list(scene.out.iterdir()) == []
    assert published_files(scene.cache) == []
    assert scraps(scene.cache) == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (endless, ": the server sent more than the lock's size of"),
        (trickle, " after 4 attempts: too slow"),
    ],
    ids=["endless-body", "trickling-body"],
)
def test_a_download_without_end_or_progress_stops_with_a_clear_error_and_caches_nothing(
    scene: Scene, fault: Fault, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKBUNDLE_HTTP_TIMEOUT", "1")
    # as a lock of PyPI's files says (the test index, HTML only, gives uv no sizes)
    size = (scene.index.directory / GOOD_WHEEL).stat().st_size
    scene.edit_locked_wheel(lambda hash_: f"{hash_}, size = {size}")
    scene.index.always(fault)

    with pytest.raises(LockbundleError) as raised:
        scene.build()

    message = str(raised.value)
    assert f"cannot download {scene.url}{said}" in message
    assert "space" not in message
    assert not scene.out.exists() or list(scene.out.iterdir()) == []
    assert published_files(scene.cache) == []
    assert scraps(scene.cache) == []


# Faults HTTP cannot see: only the lock's hash tells that the body is not the locked file.
CORRUPTING: dict[str, Fault] = {
    "closed-early-without-length": close_early,
    "wrong-bytes": wrong_bytes,
    "extra-bytes": extra_bytes,
}


@pytest.mark.parametrize("fault", list(CORRUPTING))
def test_a_wrong_download_is_refused_and_never_cached(scene: Scene, fault: str) -> None:
    scene.index.always(CORRUPTING[fault])

    with pytest.raises(LockbundleError) as raised:
        scene.build()

    message = str(raised.value)
    assert f"{GOOD}=={VERSION}" in message
    assert scene.url in message
    assert not scene.out.exists() or list(scene.out.iterdir()) == []
    assert published_files(scene.cache) == []
    assert scraps(scene.cache) == []

    scene.index.always(None)  # the index is mended: the same cache gives the right bundle
    bundle = scene.build()
    assert (bundle / GOOD / "data.bin").read_bytes() == pseudo_random(64 << 10, "good")
    assert published_problems(scene.cache) == []


# -- interrupted builds ------------------------------------------------------------------------------


@dataclass
class Steady:
    """A consumer of a wheel and an sdist, locked, and the bundles a clean build makes of it."""

    template: Path  # the project, with dist/ holding a clean target bundle
    index: FaultyIndex
    clean: dict[str, dict[str, str]]  # layout -> snapshot of a clean build

    def copy_to(self, destination: Path) -> Path:
        shutil.copytree(self.template, destination, symlinks=True)
        return destination


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Iterator[Steady]:
    directory = tmp_path_factory.mktemp("steady-index")
    publish_good_dists(directory)
    with FaultyIndex(directory) as index:
        root = tmp_path_factory.mktemp("steady") / "project"
        consumer = Consumer.create(root, index, [GOOD, GOOD_SDIST], env=sandbox.environ())
        cache = tmp_path_factory.mktemp("steady-cache")
        clean = {}
        for layout in ("wheelhouse", "target"):  # target last: its bundle stays in dist/
            out = root / "dist"
            bundle = build_bundle(consumer.root, out, bundle=layout, cache_dir=cache)
            clean[layout] = snapshot(bundle)
            if layout == "wheelhouse":
                shutil.rmtree(out)
        yield Steady(root, index, clean)


@pytest.fixture
def project(steady: Steady, tmp_path: Path) -> Iterator[Path]:
    """A copy of the steady project, its dist/ holding the last good (target) bundle."""
    yield steady.copy_to(tmp_path / "project")
    steady.index.reset()


BUNDLE = "consumer-0.1.0-target"
SIGNALS = {"SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}
INTERRUPT_WITHIN = 15  # seconds from the signal to the end of the build


@dataclass
class Interruption:
    """Where to interrupt a build, and how to know it is there."""

    env: dict[str, str]
    pause_under: Path | None
    pause_after: int
    arrived: Callable[[], bool]  # True once the build is there


def arm(phase: str, steady: Steady, project: Path, cache: Path, sandbox: Sandbox) -> Interruption:
    env = sandbox.environ()
    marker = project.parent / "paused-at"
    if phase == "download":
        steady.index.hold_next(GOOD_WHEEL)
        return Interruption(env, None, 0, steady.index.holding.is_set)
    if phase == "sdist-build":
        started = project.parent / "build-started"
        env["LOCKBUNDLE_TEST_BUILD_STARTED"] = str(started)
        env["LOCKBUNDLE_TEST_BUILD_SECONDS"] = "600"
        return Interruption(env, None, 0, started.exists)
    if phase == "install-into-the-cache":
        return Interruption(env, Cache(cache).entries / "installed", 3, marker.exists)
    if phase == "layout-into-dist":
        return Interruption(env, project / "dist", 5, marker.exists)
    raise ValueError(phase)


PHASES = ["download", "sdist-build", "install-into-the-cache", "layout-into-dist"]


@pytest.mark.parametrize("signal_name", list(SIGNALS))
@pytest.mark.parametrize("phase", PHASES)
def test_an_interrupted_build_keeps_the_last_bundle_and_a_whole_cache(
    steady: Steady, project: Path, tmp_path: Path, sandbox: Sandbox, phase: str, signal_name: str
) -> None:
    """The build ends within :data:`INTERRUPT_WITHIN` seconds of the signal (even with a download
    stalled), the last bundle is untouched, every published cache entry is whole (SIGINT leaves
    no scraps at all), and the next build, with that cache, makes the clean build's bundle and
    removes what a killed build left in dist/."""
    dist, cache = project / "dist", tmp_path / "cache"
    before = snapshot(dist / BUNDLE)
    assert before == steady.clean["target"]
    where = arm(phase, steady, project, cache, sandbox)
    build = BuildProcess(
        project,
        dist,
        cache,
        env=where.env,
        pause_under=where.pause_under,
        pause_after=where.pause_after,
        marker=project.parent / "paused-at",
    )
    build.wait_until(where.arrived)

    status_code = build.interrupt(SIGNALS[signal_name], timeout=INTERRUPT_WITHIN)

    assert status_code != 0, build.output
    assert snapshot(dist / BUNDLE) == before
    assert [p.name for p in dist.iterdir() if not p.name.startswith(".")] == [BUNDLE]
    assert published_problems(cache) == []
    if signal_name == "SIGINT":  # the build had the chance to clean up after itself
        assert [p.name for p in dist.iterdir()] == [BUNDLE]
        assert scraps(cache) == []
    elif phase == "layout-into-dist":  # it had not: its staging directory is left
        assert leftovers(dist) != []

    steady.index.reset()
    again = BuildProcess(project, dist, cache, env=sandbox.environ())
    again.finish()

    assert snapshot(again.built()) == steady.clean["target"]
    assert published_problems(cache) == []
    assert [p.name for p in dist.iterdir()] == [BUNDLE]


def leftovers(dist: Path) -> list[str]:
    """Temporaries of builds in ``dist/``: staging directories, archives being written, and
    previous bundles being swapped out."""
    return sorted(p.name for p in dist.iterdir() if p.name.endswith((".tmp", ".old")))


def test_a_build_leaves_alone_what_a_live_build_is_staging_beside_it(
    steady: Steady, project: Path, tmp_path: Path, sandbox: Sandbox
) -> None:
    dist = project / "dist"
    marker = tmp_path / "paused-at"
    live = BuildProcess(
        project,
        dist,
        tmp_path / "cache-1",
        env=sandbox.environ(),
        pause_under=dist,
        pause_after=5,
        marker=marker,
    )
    live.wait_until(marker.exists)
    (staging,) = leftovers(dist)
    staged = snapshot(dist / staging)
    assert staged  # the live build has written into it

    other = BuildProcess(project, dist, tmp_path / "cache-2", env=sandbox.environ())
    other.finish()

    assert snapshot(other.built()) == steady.clean["target"]
    assert leftovers(dist) == [staging]
    assert snapshot(dist / staging) == staged
    assert live.process.poll() is None
    live.interrupt(signal.SIGINT, timeout=INTERRUPT_WITHIN)
    assert [p.name for p in dist.iterdir()] == [BUNDLE]


# -- builds at once ---------------------------------------------------------------------------------


def racing_env(sandbox: Sandbox) -> dict[str, str]:
    # a slow sdist build, so that both builds want the same build environment and wheel at once
    return sandbox.environ({"LOCKBUNDLE_TEST_BUILD_SECONDS": "0.5"})


@pytest.mark.parametrize("layout", ["target", "wheelhouse"])
def test_two_builds_sharing_a_cold_cache_make_identical_bundles(
    steady: Steady, project: Path, tmp_path: Path, sandbox: Sandbox, layout: str
) -> None:
    steady.index.always(slow(0.3))  # every download takes a while: the two overlap
    cache = tmp_path / "shared-cache"
    builds = [
        BuildProcess(project, tmp_path / f"dist-{n}", cache, env=racing_env(sandbox), layout=layout)
        for n in (1, 2)
    ]
    for build in builds:
        build.finish()

    first, second = (build.built() for build in builds)
    assert sorted(p.relative_to(first) for p in files(first)) == sorted(
        p.relative_to(second) for p in files(second)
    )
    assert snapshot(first) == snapshot(second)
    assert snapshot(first) == steady.clean[layout]
    assert published_problems(cache) == []
    assert scraps(cache) == []


def test_two_builds_into_one_dist_leave_one_whole_bundle(
    steady: Steady, project: Path, tmp_path: Path, sandbox: Sandbox
) -> None:
    steady.index.always(slow(0.3))
    dist, cache = project / "dist", tmp_path / "shared-cache"
    builds = [BuildProcess(project, dist, cache, env=racing_env(sandbox)) for _ in (1, 2)]
    for build in builds:
        build.finish()

    assert [build.built() for build in builds] == [dist / BUNDLE] * 2
    assert sorted(p.name for p in dist.iterdir()) == [BUNDLE]
    assert snapshot(dist / BUNDLE) == steady.clean["target"]
    assert published_problems(cache) == []
    assert scraps(cache) == []


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
def test_a_broken_hash_algorithm_does_not_satisfy_require_hashes(
    scene: Scene, algorithm: str
) -> None:
    digits = {"md5": 32, "sha1": 40}[algorithm]
    scene.edit_locked_wheel(lambda hash_: f'hash = "{algorithm}:{"0" * digits}"')
    asked = len(scene.index.requests_for(GOOD_WHEEL))

    with pytest.raises(LockbundleError) as raised:
        scene.build()

    assert len(scene.index.requests_for(GOOD_WHEEL)) == asked  # refused before downloading
    assert f"good==1.0: the lock records only a {algorithm} hash, a broken algorithm," in str(
        raised.value
    )
