"""Download, once, every file the benchmark serves, each verified, into the harness's data dir.

Two kinds of files: the ones the fixture lock selects for this machine (what the engine would
pick, checked against the lock's sha256), and the tooling the build environments install
(hatchling, the plugin wheel built from this checkout, and their dependencies). With a
baseline commit, its plugin wheel is built too (from ``git archive``), for a second engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from hatch_lockbundle.artifact import Artifact
from hatch_lockbundle.select import select
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import read_lock

from .environment import Tools, controlled_env

PYPI = "https://pypi.org/simple"
ROOT = "bench-app"
DOWNLOAD_WORKERS = 4
ATTEMPTS = 3
CHUNK = 1 << 20

Log = Callable[[str], None]


class FixtureError(Exception):
    """A file of the fixture cannot be obtained or is not the locked one."""


@dataclass(frozen=True)
class Fixture:
    """The files to serve and what a complete bundle of the fixture holds."""

    files: Path
    manifest: Path
    #: ``.dist-info`` directories a complete bundle has: every locked package and the project
    distributions: int
    #: bytes of the locked files (what a cold run downloads)
    locked_bytes: int
    #: the plugin wheel built from the checkout at the start of this harness run
    plugin: Path
    #: the plugin wheel built from the baseline commit, when one was asked for (not served:
    #: it has the same file name as ``plugin``)
    baseline_plugin: Path | None = None


@dataclass(frozen=True)
class Entry:
    sha256: str
    size: int


class Manifest:
    """``{filename: {sha256, size}}`` of the served directory, kept beside it as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = json.loads(path.read_text()) if path.exists() else {}
        self.entries = {name: Entry(**entry) for name, entry in raw.items()}

    def has(self, directory: Path, filename: str) -> bool:
        """The file is recorded and still on disk at its recorded size (not re-hashed)."""
        entry = self.entries.get(filename)
        file = directory / filename
        return entry is not None and file.is_file() and file.stat().st_size == entry.size

    def add(self, directory: Path, filename: str, sha256: str | None = None) -> None:
        file = directory / filename
        digest = sha256 or _sha256(file)
        self.entries[filename] = Entry(digest, file.stat().st_size)

    def save(self) -> None:
        raw = {name: vars(entry) for name, entry in sorted(self.entries.items())}
        self.path.write_text(json.dumps(raw, indent=1) + "\n")


def prepare(
    project: Path, repo: Path, data: Path, tools: Tools, log: Log, baseline: str | None = None
) -> Fixture:
    """Make ``data/files`` hold everything the measured runs fetch; return what was prepared.

    :param project: the fixture project (its ``uv.lock`` is read, never changed)
    :param repo: this checkout, built into the plugin wheel that hatch installs
    :param data: the harness's download directory (``benchmarks/.data``)
    :param baseline: a commit of ``repo`` whose plugin wheel is built for the baseline engine
    """
    files = data / "files"
    files.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(data / "manifest.json")
    artifacts = locked_artifacts(project)
    download_locked(artifacts, files, manifest, log)
    baseline_plugin = build_baseline(repo, baseline, data, tools) if baseline else None
    plugin = add_tooling(repo, data, files, manifest, tools, log, baseline_plugin)
    manifest.save()
    locked_bytes = sum(manifest.entries[a.filename].size for a in artifacts if a.filename)
    return Fixture(files, manifest.path, len(artifacts) + 1, locked_bytes, plugin, baseline_plugin)


def locked_artifacts(project: Path) -> list[Artifact]:
    """The file the engine selects for each locked package, for the running interpreter."""
    plan = select(read_lock(project / "uv.lock"), Target.current(), ROOT)
    artifacts = [p.artifact for p in plan.packages if p.name != ROOT]
    unsupported = [a.location for a in artifacts if a.kind not in ("wheel", "sdist") or not a.url]
    if unsupported:
        raise FixtureError(f"the fixture lock must hold registry files only: {unsupported}")
    return artifacts


def download_locked(artifacts: list[Artifact], files: Path, manifest: Manifest, log: Log) -> None:
    """Download the locked files not yet present, each checked against the lock's hash."""
    missing = [a for a in artifacts if not manifest.has(files, _filename(a))]
    if not missing:
        return
    log(f"downloading {len(missing)} locked files from PyPI into {files}")
    with ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS) as pool:
        for artifact, sha256 in zip(
            missing, pool.map(lambda a: _download_verified(a, files), missing), strict=True
        ):
            manifest.add(files, _filename(artifact), sha256)
            manifest.save()  # an interrupted first download keeps what it got


def add_tooling(
    repo: Path,
    data: Path,
    files: Path,
    manifest: Manifest,
    tools: Tools,
    log: Log,
    baseline_plugin: Path | None = None,
) -> Path:
    """Build the plugin wheel from ``repo`` (every run: src/ changes) and fetch what it needs.

    The requirements (of the baseline's plugin wheel too) are downloaded again only when the
    plugins' ``Requires-Dist`` change. Returns the plugin wheel (in ``files``).
    """
    env = _prepare_env(tools, data)
    wheel = _build_wheel(repo, data / "plugin", tools, env)
    shutil.copy2(wheel, files / wheel.name)
    manifest.add(files, wheel.name)

    plugins = [wheel] if baseline_plugin is None else [wheel, baseline_plugin]
    requirements = sorted({"hatchling", *(r for p in plugins for r in _requires_dist(p))})
    stamp = data / "tooling.json"
    recorded = json.loads(stamp.read_text()) if stamp.exists() else {}
    if recorded.get("requirements") == requirements and all(
        manifest.has(files, name) for name in recorded.get("files", [])
    ):
        return files / wheel.name
    log(f"downloading build tooling from PyPI: {', '.join(requirements)}")
    downloads = data / "tooling"
    shutil.rmtree(downloads, ignore_errors=True)
    for plugin in plugins:  # one at a time: both wheels have the same name
        _run([str(tools.python), "-m", "pip", "download", "--quiet", "--only-binary=:all:",
              "--index-url", PYPI, "--dest", str(downloads), "hatchling", str(plugin)],
             env)  # fmt: skip
    names = sorted(p.name for p in downloads.iterdir() if p.name != wheel.name)
    for name in names:
        os.replace(downloads / name, files / name)
        manifest.add(files, name)
    shutil.rmtree(downloads)
    stamp.write_text(json.dumps({"requirements": requirements, "files": names}, indent=1) + "\n")
    return files / wheel.name


def build_baseline(repo: Path, commit: str, data: Path, tools: Tools) -> Path:
    """The plugin wheel of ``commit`` (the tree as committed, from ``git archive``)."""
    source = data / "baseline" / "source"
    shutil.rmtree(source.parent, ignore_errors=True)
    source.mkdir(parents=True)
    # the commit named as a full id first: a value starting with `-` is not read as an option
    resolved = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--end-of-options",
         f"{commit}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if resolved.returncode != 0:
        raise FixtureError(f"{commit!r} is not a commit of {repo}: {resolved.stderr.strip()}")
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", resolved.stdout.strip()],
        capture_output=True, check=False,
    )  # fmt: skip
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace")
        raise FixtureError(f"git archive {commit} failed: {message}")
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return _build_wheel(source, source.parent / "dist", tools, _prepare_env(tools, data))


def _prepare_env(tools: Tools, data: Path) -> dict[str, str]:
    return controlled_env(
        tools,
        UV_CACHE_DIR=str(data / "prepare-cache" / "uv"),
        PIP_CACHE_DIR=str(data / "prepare-cache" / "pip"),
    )


def _build_wheel(source: Path, out: Path, tools: Tools, env: dict[str, str]) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    _run([str(tools.uv), "build", "--quiet", "--wheel", "--default-index", PYPI,
          "-o", str(out), str(source)], env)  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


def _filename(artifact: Artifact) -> str:
    assert artifact.filename is not None
    return artifact.filename


def _download_verified(artifact: Artifact, files: Path) -> str:
    """Download ``artifact`` into ``files``; return its sha256 (checked against the lock's)."""
    assert artifact.url is not None and artifact.hash is not None
    if artifact.hash.algorithm != "sha256":
        raise FixtureError(f"{artifact.filename}: the lock's hash is not sha256")
    final = files / _filename(artifact)
    partial = final.with_name(final.name + ".part")
    for attempt in range(1, ATTEMPTS + 1):
        digest = hashlib.sha256()
        try:
            with (
                urllib.request.urlopen(artifact.url, timeout=60) as response,
                partial.open("wb") as out,
            ):
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            break
        except OSError as error:
            if attempt == ATTEMPTS:
                raise FixtureError(f"cannot download {artifact.url}: {error}") from None
            time.sleep(2**attempt)
    if digest.hexdigest() != artifact.hash.value:
        partial.unlink()
        raise FixtureError(
            f"{artifact.url} does not match the lock: expected sha256:{artifact.hash.value}, "
            f"got sha256:{digest.hexdigest()}"
        )
    os.replace(partial, final)
    return digest.hexdigest()


def _requires_dist(wheel: Path) -> Iterable[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(archive.read(metadata).decode())
    return headers.get_all("Requires-Dist") or []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FixtureError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
