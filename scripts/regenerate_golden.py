#!/usr/bin/env python3
"""Regenerate fixtures/golden/: what real uv installs from each fixture lock, for each target.

uv is the oracle for selection. For every lock (each ``fixtures/locks/<name>/uv.lock``, and each
``fixtures/projects/<name>`` locked here by the real ``uv lock``), every root of the lock with its
extras and groups, every target platform of :data:`UV_PLATFORMS` and every Python of
:data:`PYTHONS`, this runs what a user runs by hand::

    uv export --frozen --no-hashes --no-editable --no-default-groups --package P [--extra/--group]
      | uv pip install --target DIR --no-deps --python-platform P --python-version V -r -

against a package index on 127.0.0.1, and records what uv installed: each ``.dist-info``'s name,
version and ``WHEEL`` ``Tag:`` lines, and so the wheel file it picked. The index holds the files
each lock lists and nothing else a lock could pick: the fixture packages built from
``fixtures/packages`` (what the projects are locked against) and, for the locks of
``fixtures/locks`` (locked against PyPI), a stand-in wheel for every wheel file name the lock
lists. A stand-in carries the real file's tags, so uv ranks the very files ``uv sync`` would rank.
Markers are evaluated by uv, not by ``packaging``.

Each golden directory also gets ``inputs.json``, a fingerprint of what its files were made from
(:func:`inputs`): the sha256 of every file of the fixture lock's or project's directory, of the
packages the index served for it (the fixture packages' sources, or the names of the stand-in
files), of this script, and the uv version. It is written last, and only by a run over every
target, so that it never vouches for files an interrupted or partial run left behind.

``tests/test_select_vs_uv.py`` compares the product's selection with these files offline; its fast
tests recompute every fingerprint from the repository as it is (a changed lock, a new lock, a uv
bumped in uv.lock or a changed script fails at once, without running uv); its slow test runs this
script over :data:`SAMPLE` into a temporary directory and compares with the committed files.

Usage (from the repository root, with the development environment)::

    .venv/bin/python scripts/regenerate_golden.py                  # every lock, every target
    .venv/bin/python scripts/regenerate_golden.py --only LOCK ...  # these golden directories
    .venv/bin/python scripts/regenerate_golden.py --out DIR --only LOCK --targets linux-x86_64-3.12

``--targets`` writes only the files of those targets (for checking; ``inputs.json`` is not
written); ``--jobs N`` runs N uv installs at once (2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.artifacts import write_wheel  # noqa: E402
from support.compat import tomllib  # noqa: E402
from support.environ import CommandFailed, Sandbox, run, uv_binary  # noqa: E402
from support.index import IndexServer, dead_url, project_name  # noqa: E402
from support.packages import build_fixture_packages, uv_build  # noqa: E402
from support.platform_wheels import (  # noqa: E402
    NATIVE,
    NATIVE_VERSION,
    NATIVE_WHEELS,
    PURE_PACKAGES,
    publish_platform_packages,
    sdist_bytes,
)
from support.projects import copy_project, uv_lock  # noqa: E402
from support.seed import download_seed_wheels, seed_requirements  # noqa: E402

FIXTURES = REPO / "fixtures"
GOLDEN = FIXTURES / "golden"
#: The fingerprint of a golden directory's inputs (see :func:`inputs`).
INPUTS = "inputs.json"
#: What the slow test regenerates and compares: a lock with conflicting extras (locked against
#: PyPI, served as stand-ins) and a fixture project (locked here against the fixture packages,
#: with conflicting extras and sdist-only packages), on one Linux, one macOS and one Windows target.
SAMPLE = {
    "locks": ("conflicts", "projects-app"),
    "targets": ("linux-aarch64-3.12", "macos-arm64-3.12", "windows-amd64-3.12"),
}
#: The command that regenerates one golden directory (for the tests' messages).
COMMAND = ".venv/bin/python scripts/regenerate_golden.py --only {name}"

#: The product's platform alias (``tool.lockbundle.platforms``, see ``target.PLATFORM_ALIASES``)
#: and the ``--python-platform`` of uv that names the same machine. uv's Linux targets take a
#: glibc version (``x86_64-manylinux_2_28`` is the preset's ``manylinux_2_28_x86_64``); its musl
#: targets are musllinux_1_2, as the presets are; its macOS targets take their version from
#: ``MACOSX_DEPLOYMENT_TARGET`` (set to :data:`MACOS_VERSION`, the presets' version).
UV_PLATFORMS = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "musllinux-x86_64": "x86_64-unknown-linux-musl",
    "musllinux-aarch64": "aarch64-unknown-linux-musl",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-amd64": "x86_64-pc-windows-msvc",
    "windows-arm64": "aarch64-pc-windows-msvc",
}
MACOS_VERSION = "13.0"
#: Targets of the product that uv cannot be asked about, and why; they are not generated.
NOT_COMPARABLE = {
    "musllinux_1_1_<arch> and older": "uv's musl targets are musllinux_1_2 only; no flag picks "
    "another musl version",
    "linux_<arch>": "the product refuses a plain linux tag (it means 'built on this machine'); "
    "uv's `x86_64-unknown-linux-gnu` is manylinux, not plain linux",
    "manylinux_2_<n> for n outside uv's list": "uv offers manylinux2014 and 2_17, 2_28, 2_31 to "
    "2_40 (and the same for aarch64); other glibc versions and other architectures (ppc64le, "
    "s390x, armv7l) have no --python-platform",
    "the running interpreter": "`Target.current()` uses this machine's tags; the golden files "
    "are for named targets, so that they are the same on every machine",
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# The fixture projects' locks hold the index URL, which changes with the port: golden copies
# name this one instead (selection never reads it).
GOLDEN_INDEX = "http://index.golden.invalid/simple/"


@dataclass(frozen=True)
class LockSource:
    """One lock to take uv's decisions for."""

    #: the golden directory's name: the fixture lock's name, or ``projects-<name>``
    name: str
    #: a project directory to copy (``fixtures/locks/<name>`` or ``fixtures/projects/<name>``)
    directory: Path
    #: whether the copy is locked here (a fixture project), or carries its own uv.lock
    lock_here: bool


@dataclass(frozen=True)
class Case:
    """One root of a lock, with the extras and dependency groups asked for."""

    package: str
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"package": self.package, "extras": list(self.extras), "groups": list(self.groups)}


def lock_sources() -> list[LockSource]:
    """Every lock of ``fixtures/locks/`` and every project of ``fixtures/projects/``."""
    found = [
        LockSource(path.parent.name, path.parent, lock_here=False)
        for path in sorted((FIXTURES / "locks").glob("*/uv.lock"))
    ]
    found += [
        LockSource(f"projects-{path.parent.name}", path.parent, lock_here=True)
        for path in sorted((FIXTURES / "projects").glob("*/pyproject.toml"))
    ]
    return found


def cases(lock: dict[str, Any]) -> list[Case]:
    """The roots of ``lock`` (its workspace members, or its project) with nothing extra, each of
    their extras alone, each group alone, every group with each extra in turn, and all extras."""
    packages = lock.get("package", [])
    members = set(lock.get("manifest", {}).get("members", []))
    found = []
    for package in packages:
        source = package.get("source", {})
        local = source.get("editable", source.get("virtual", source.get("directory")))
        if package["name"] not in members and local != ".":
            continue
        metadata = package.get("metadata", {})
        extras = sorted(
            set(package.get("optional-dependencies", {})) | set(metadata.get("provides-extras", []))
        )
        groups = tuple(
            sorted(set(package.get("dev-dependencies", {})) | set(metadata.get("requires-dev", {})))
        )
        name = package["name"]
        found.append(Case(name))
        found += [Case(name, (extra,)) for extra in extras]
        found += [Case(name, (), (group,)) for group in groups]
        if len(groups) > 1 or (groups and extras):
            found += [Case(name, (extra,), groups) for extra in extras] or [Case(name, (), groups)]
        if len(extras) > 1:  # the lock's `conflicts` may forbid this; then uv refuses it
            found.append(Case(name, tuple(extras)))
    return found


def stand_in_files(lock: dict[str, Any]) -> list[str]:
    """The file name of every wheel and sdist of every registry package of ``lock``: the files
    that :func:`stand_in_wheels` serves."""
    found = []
    for package in lock.get("package", []):
        if "registry" not in package.get("source", {}):
            continue
        for artifact in [*package.get("wheels", []), *filter(None, [package.get("sdist")])]:
            found.append(artifact.get("filename") or artifact["url"].rsplit("/", 1)[-1])
    return sorted(found)


def stand_in_wheels(lock: dict[str, Any], directory: Path) -> None:
    """Write a stand-in for every wheel and sdist of every registry package of ``lock`` into
    ``directory``.

    A stand-in has the real file's name and so its tags (in ``WHEEL``, as ``Tag:`` lines), and a
    module of its own; uv ranks the stand-ins as it would rank the real files. Files already
    there (the fixture packages) are left alone.
    """
    for package in lock.get("package", []):
        if "registry" not in package.get("source", {}):
            continue
        for wheel in package.get("wheels", []):
            filename = wheel.get("filename") or wheel["url"].rsplit("/", 1)[-1]
            path = directory / filename
            if path.exists():
                continue
            distribution, version, _, tags = parse_wheel_filename(filename)
            tag_text = filename[: -len(".whl")].split("-", 2)[2]
            if len(filename[: -len(".whl")].split("-")) == 6:  # a build tag: name-ver-build-tags
                tag_text = filename[: -len(".whl")].split("-", 3)[3]
            module = str(distribution).replace("-", "_")
            write_wheel(
                directory,
                filename.split("-", 1)[0],
                str(version),
                {f"{module}/__init__.py": f'STAND_IN = "{filename}"\n'},
                filename=filename,
                tags=tag_text,
                purelib=all(tag.platform == "any" for tag in tags),
                metadata_fields={
                    "Requires-Python": ">=3",
                    "Summary": f"a stand-in for {filename} (scripts/regenerate_golden.py)",
                },
            )
        sdist = package.get("sdist")
        if sdist is not None:
            filename = sdist.get("filename") or sdist["url"].rsplit("/", 1)[-1]
            path = directory / filename
            if not path.exists():
                # never built (see `install`): only its presence on the index matters
                path.write_bytes(sdist_bytes(package["name"], package["version"], {}, ""))


@contextmanager
def golden_index(
    workdir: Path, sandbox: Sandbox, locks: Sequence[dict[str, Any]]
) -> Iterator[IndexServer]:
    """The index the tests serve (seed wheels, platform wheels, fixture packages), plus stand-ins
    for every wheel that ``locks`` list."""
    directory = workdir / "index"
    directory.mkdir()
    seed = download_seed_wheels(
        REPO / ".cache" / "seed-wheels", seed_requirements(REPO / "pyproject.toml")
    )
    for wheel in seed.glob("*.whl"):
        shutil.copy2(wheel, directory)
    publish_platform_packages(directory)
    with IndexServer(directory) as index:
        env = sandbox.environ({"UV_DEFAULT_INDEX": index.simple_url})
        build_fixture_packages(
            FIXTURES / "packages", workdir / "package-sources", directory, env=env
        )
        uv_build(REPO, directory, ("wheel",), env=env)
        for lock in locks:
            stand_in_wheels(lock, directory)
        yield index


def export(project: Path, case: Case, env: dict[str, str]) -> tuple[str | None, str | None]:
    """``uv export`` of ``case``: (requirements, None), or (None, uv's error) if uv refuses."""
    args: list[str | os.PathLike[str]] = [
        uv_binary(),
        "export",
        "--frozen",
        "--no-hashes",
        "--no-header",
        "--no-annotate",
    ]
    args += ["--no-editable", "--no-default-groups", "--package", case.package]
    args += [arg for extra in case.extras for arg in ("--extra", extra)]
    args += [arg for group in case.groups for arg in ("--group", group)]
    result = run(args, cwd=project, env=env, check=False)
    if not_a_decision(result):
        raise CommandFailed(result)
    if result.returncode != 0:
        return None, error_text(result.stderr)
    return result.stdout, None


def not_a_decision(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether uv failed for a reason that is not about the lock or the target: a command line
    it does not understand (``Usage:``), a crash (killed by a signal), or a network error."""
    return result.returncode < 0 or (
        result.returncode != 0
        and ("\nUsage:" in result.stderr or "Failed to fetch" in result.stderr)
    )


def error_text(stderr: str) -> str:
    """uv's error and its causes, without the paths of this run (so that golden files are the
    same on every machine); progress lines, with their timings, are left out."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.startswith(("error:", "  Caused by:", "  cause:", "  ╰─▶"))
    ]
    return "\n".join(re.sub(r"(/[^ `']+)+/", "…/", line) for line in lines)


_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;]+)")
_NEEDS_BUILD = re.compile(r"Because (\S+)==(\S+) has no ")


def install(
    project: Path,
    requirements: str,
    platform: str,
    python: str,
    index: IndexServer,
    env: dict[str, str],
    dest: Path,
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """What uv installs from ``requirements`` for the target: (installed, None) or (None, error).

    Registry packages are never built (``--only-binary``): what a build gives depends on
    the machine (its compiler, its Python), not on the target, and a golden file must be the
    same on every machine. When uv says a package has no wheel for the target, its line is taken
    out and the rest installed again; the package is recorded with ``from`` = ``sdist`` (uv
    would build it) or ``nothing`` (the lock has no sdist: uv cannot install it). Source trees
    (the project, workspace members) are built, as uv does (``from`` = ``source tree``).
    """
    lines = [line for line in requirements.splitlines() if line.strip()]
    unbuilt: list[dict[str, Any]] = []
    for attempt in range(len(lines) + 1):
        registry = sorted({match[1] for line in lines if (match := _REQUIREMENT.match(line))})
        args: list[str | os.PathLike[str]] = [
            uv_binary(), "pip", "install", "--target", dest / str(attempt), "--no-deps",
            "--python", sys.executable, "--python-platform", UV_PLATFORMS[platform],
            "--python-version", python, "--default-index", index.simple_url, "-r", "-",
        ]  # fmt: skip
        args += [arg for name in registry for arg in ("--only-binary", name)]
        result = run(
            args,
            cwd=project,
            env={**env, "MACOSX_DEPLOYMENT_TARGET": MACOS_VERSION},
            input="\n".join(lines) + "\n",
            check=False,
        )
        if not_a_decision(result):
            raise CommandFailed(result)
        if result.returncode == 0:
            found = installed(dest / str(attempt), index.directory) + unbuilt
            return sorted(found, key=lambda item: (item["name"], item["version"])), None
        needs_build = _NEEDS_BUILD.search(result.stderr)
        if needs_build is None:
            return None, error_text(result.stderr)
        name, version = canonicalize_name(needs_build[1]), needs_build[2]
        has_sdist = any(
            path.name.endswith((".tar.gz", ".zip")) and project_name(path.name) == name
            and f"-{version}." in path.name
            for path in index.directory.iterdir()
        )  # fmt: skip
        unbuilt.append(
            {
                "name": name,
                "version": version,
                "wheel": None,
                "tags": [],
                "from": "sdist" if has_sdist else "nothing",
            }
        )
        lines = [
            line
            for line in lines
            if not ((match := _REQUIREMENT.match(line)) and canonicalize_name(match[1]) == name)
        ]
    raise AssertionError(f"uv kept refusing packages of {requirements!r}")


def installed(dest: Path, index_files: Path) -> list[dict[str, Any]]:
    """Each distribution in ``dest``: name, version, its WHEEL tags, and the index's wheel file
    with those tags (None: uv built it from a source tree; registry sdists are never built)."""
    found = []
    for dist_info in sorted(dest.glob("*.dist-info")):
        metadata = HeaderParser().parsestr((dist_info / "METADATA").read_text())
        wheel = HeaderParser().parsestr((dist_info / "WHEEL").read_text())
        name = canonicalize_name(metadata["Name"])
        version = metadata["Version"]
        tags = sorted(wheel.get_all("Tag") or [])
        wheel_file = index_wheel(index_files, name, version, tags)
        found.append(
            {
                "name": name,
                "version": version,
                "wheel": wheel_file,
                "tags": tags,
                "from": "wheel" if wheel_file is not None else "source tree",
            }
        )
    return found


def index_wheel(directory: Path, name: str, version: str, tags: list[str]) -> str | None:
    for path in directory.glob("*.whl"):
        if project_name(path.name) != name:
            continue
        _, file_version, _, file_tags = parse_wheel_filename(path.name)
        if str(file_version) == version and sorted(map(str, file_tags)) == tags:
            return path.name
    return None


def inputs(source: LockSource, uv: str) -> dict[str, Any]:
    """The fingerprint of what ``source``'s golden files are made from, with uv version ``uv``.

    Each file of the lock's or project's directory by its sha256 (a new, changed or removed file
    shows by name), this script's sha256, and what the index served that this lock could pick:
    for a lock of ``fixtures/locks`` (locked against PyPI), the names of the stand-in files (their
    tags are in their names); for a fixture project, the sources of ``fixtures/packages``, of the
    fabricated platform packages and the product's own ``[project]`` table (its wheel is on the
    index, as ``hatch-lockbundle``). Computed from the repository alone: no uv, no index.
    """
    found: dict[str, Any] = {
        "uv": uv,
        "script": _sha256(Path(__file__).resolve().read_bytes()),
        "files": _tree(source.directory),
    }
    if source.lock_here:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        platform_files = sorted(
            [wheel.filename for wheel in NATIVE_WHEELS]
            + [f"{NATIVE}-{NATIVE_VERSION}.tar.gz"]
            + [f"{name}-1.0-py3-none-any.whl" for name in PURE_PACKAGES]
        )
        found["served"] = {
            "fixtures/packages": _sha256(json.dumps(_tree(FIXTURES / "packages")).encode()),
            "tests/support/platform_wheels.py": _sha256(
                (REPO / "tests" / "support" / "platform_wheels.py").read_bytes()
            ),
            "platform files": _sha256("\n".join(platform_files).encode()),
            "hatch-lockbundle": _sha256(
                json.dumps(
                    [project[key] for key in ("name", "version", "requires-python")]
                    + [seed_requirements(REPO / "pyproject.toml")]
                ).encode()
            ),
        }
    else:
        names = stand_in_files(tomllib.loads((source.directory / "uv.lock").read_text()))
        found["served"] = {"stand-ins": _sha256("\n".join(names).encode()), "count": len(names)}
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(directory: Path) -> dict[str, str]:
    """sha256 of each file under ``directory`` by its path from the repository root (caches
    that Python or a tool leaves there are not inputs)."""
    return {
        path.relative_to(REPO).as_posix(): _sha256(path.read_bytes())
        for path in sorted(directory.rglob("*"))
        if path.is_file()
        and not any(
            part in {"__pycache__", ".venv"} or part.endswith(".egg-info")
            for part in path.relative_to(directory).parts
        )
        and path.suffix != ".pyc"
    }


def locked_uv_version() -> str:
    """The uv version that the repository's uv.lock pins (the one CI installs)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return str(next(p["version"] for p in lock["package"] if p["name"] == "uv"))


def regenerate(
    out: Path, only: Sequence[str] = (), jobs: int = 2, targets: Sequence[str] = ()
) -> dict[str, int]:
    """Write the golden files of every lock (or of those named in ``only``) under ``out``.

    :param targets: only these ``<platform>-<python>`` (all if empty): the other files of a golden
        directory are left as they are, and its ``inputs.json`` is not written.
    :returns: how many golden files were written, per lock.
    """
    sources = [source for source in lock_sources() if not only or source.name in only]
    unknown = set(only) - {source.name for source in sources}
    if unknown:
        raise SystemExit(f"no such lock: {', '.join(sorted(unknown))}")
    every_target = {f"{platform}-{python}" for platform in UV_PLATFORMS for python in PYTHONS}
    if set(targets) - every_target:
        raise SystemExit(f"no such target: {', '.join(sorted(set(targets) - every_target))}")
    uv = uv_version()
    written: dict[str, int] = {}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="golden-")))
        proxy = stack.enter_context(dead_url()).removesuffix("/simple/")
        sandbox = Sandbox(root=workdir / "sandbox", offline_proxy=proxy)
        fixture_locks = [
            tomllib.loads((source.directory / "uv.lock").read_text())
            for source in sources
            if not source.lock_here
        ]
        index = stack.enter_context(golden_index(workdir, sandbox, fixture_locks))
        # uv wraps its errors to the terminal's width (COLUMNS): one width, so that the errors
        # recorded are the same wherever this runs (pytest, for one, sets a narrow one)
        env = sandbox.environ({"COLUMNS": "10000"})
        for source in sources:
            written[source.name] = _regenerate_lock(
                source, out, workdir, index, env, jobs, targets, uv
            )
    (out / "README.md").write_text(readme(uv))
    return written


def readme(uv: str) -> str:
    """fixtures/golden/README.md: what the files are, from which uv, for which targets."""
    platforms = "\n".join(f"| `{alias}` | `{uv}` |" for alias, uv in UV_PLATFORMS.items())
    missing = "\n".join(f"- {what}: {why}." for what, why in NOT_COMPARABLE.items())
    return f"""# uv's decisions, for tests/test_select_vs_uv.py

Written by `scripts/regenerate_golden.py` with uv {uv} (do not edit by hand). One
directory per lock (`projects-<name>` holds the lock `uv lock` wrote for that fixture project), one
file per target: for each root, extras and groups, what `uv pip install --target --no-deps
--python-platform P --python-version V` installed from `uv export` of the lock, or uv's refusal.
`inputs.json` fingerprints what a directory was made from (the lock's or project's files, the
packages served, the script, uv's version); the fast tests fail when it no longer matches.
Each package has its name, version, `from` (`wheel`; `source tree`, which uv built; `sdist`: no
wheel fits, uv would build the sdist, which the script does not let it do; `nothing`: no wheel
fits and there is no sdist) and, for a wheel, the file uv picked and its `WHEEL` tags.
Pythons: {", ".join(PYTHONS)}; macOS targets with `MACOSX_DEPLOYMENT_TARGET={MACOS_VERSION}`.

| platform (product alias) | uv `--python-platform` |
| --- | --- |
{platforms}

Not compared:
{missing}
"""


def _regenerate_lock(
    source: LockSource,
    out: Path,
    workdir: Path,
    index: IndexServer,
    env: dict[str, str],
    jobs: int,
    only_targets: Sequence[str],
    uv: str,
) -> int:
    golden = out / source.name
    if source.lock_here:
        project = copy_project(source.directory, workdir / source.name, index.simple_url)
        lock_path = uv_lock(project, env=env)
        lock_text = lock_path.read_text().replace(index.simple_url, GOLDEN_INDEX)
        lock_text = lock_text.replace(f"{index.url}/", GOLDEN_INDEX.removesuffix("simple/"))
        relative_lock = f"fixtures/golden/{source.name}/uv.lock"
    else:
        project = workdir / source.name
        shutil.copytree(source.directory, project)
        lock_text = None
        relative_lock = f"fixtures/locks/{source.name}/uv.lock"
    lock = tomllib.loads((project / "uv.lock").read_text())
    requires_python = lock.get("requires-python")
    exported = {case: export(project, case, env) for case in cases(lock)}

    def target(platform: str, python: str) -> tuple[str, dict[str, Any]]:
        results = []
        for number, (case, (requirements, refused)) in enumerate(exported.items()):
            result = case.as_json()
            if requirements is None:
                result["refused"] = f"uv export: {refused}"
            else:
                dest = workdir / "targets" / source.name / f"{platform}-{python}-{number}"
                found, refused = install(project, requirements, platform, python, index, env, dest)
                if found is None:
                    result["refused"] = f"uv pip install: {refused}"
                else:
                    result["installed"] = found
            results.append(result)
        document = {
            "lock": relative_lock,
            "platform": platform,
            "python": python,
            "uv": {"python-platform": UV_PLATFORMS[platform], "python-version": python},
            "cases": results,
        }
        return f"{platform}-{python}.json", document

    targets = [
        (platform, python)
        for platform in UV_PLATFORMS
        for python in PYTHONS
        if python_allowed(requires_python, python)
        and (not only_targets or f"{platform}-{python}" in only_targets)
    ]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        documents = list(pool.map(lambda item: target(*item), targets))
    if not only_targets:  # a full run replaces the directory: no file of a former target stays
        shutil.rmtree(golden, ignore_errors=True)
    golden.mkdir(parents=True, exist_ok=True)
    (golden / INPUTS).unlink(missing_ok=True)  # written last, once every file is
    if lock_text is not None:
        (golden / "uv.lock").write_text(lock_text)
    for filename, document in documents:
        (golden / filename).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    if not only_targets:
        fingerprint = json.dumps(inputs(source, uv), indent=1, sort_keys=True) + "\n"
        (golden / INPUTS).write_text(fingerprint)
    return len(documents)


def python_allowed(requires_python: str | None, python: str) -> bool:
    """Whether the lock supports ``python`` at all: a target it excludes is not generated (the
    product refuses it before selecting, which tests/test_select.py covers)."""
    return requires_python is None or SpecifierSet(requires_python).contains(f"{python}.0")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN, help="where to write (fixtures/golden)")
    parser.add_argument("--only", nargs="*", default=(), help="only these locks (golden names)")
    parser.add_argument("--jobs", type=int, default=2, help="uv installs run at once")
    parser.add_argument(
        "--targets",
        nargs="*",
        default=(),
        help="only these <platform>-<python> (no inputs.json is written)",
    )
    options = parser.parse_args(argv)
    started = time.monotonic()
    written = regenerate(options.out, options.only, options.jobs, options.targets)
    for name, count in written.items():
        print(f"{name}: {count} targets")
    elapsed = time.monotonic() - started
    print(f"uv {uv_version()}; {sum(written.values())} golden files in {elapsed:.0f} s")
    return 0


def uv_version() -> str:
    return run([uv_binary(), "--version"], cwd=REPO, env=dict(os.environ)).stdout.split()[1]


if __name__ == "__main__":
    raise SystemExit(main())
