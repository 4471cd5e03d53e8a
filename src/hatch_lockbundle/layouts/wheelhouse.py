"""The wheelhouse layout: every selected wheel in ``wheels/``, with locks that install only from it.

The bundle installs on a machine with the same Python and platform and no compiler, with any of:
``uv pip install -r pylock.toml`` (PEP 751), ``pip install --no-index -r requirements.txt``, or,
when it was made from a ``uv.lock``, ``uv sync --frozen --offline`` (a rewritten ``uv.lock`` and a
minimal ``pyproject.toml``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from packaging.markers import Marker
from packaging.pylock import Package, PackageWheel, Pylock
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, parse_wheel_filename
from packaging.version import Version

from .. import __version__
from ..cache import replace_file
from ..digest import hash_file
from ..errors import LockbundleError
from ..fetched import FetchedPlan, FetchedWheel
from ..lock import LockFormat
from ..select import Plan
from ..wheelsource import inspect_wheel
from . import Layout, WrittenLayout
from .house import HouseGraph, HousePackage, HouseWheel
from .install_guide import install_guide

WHEELS_DIR = "wheels"
LOCK_REVISION = 3  # understood by every uv that reads lock version 1 with revisions


class WheelhouseLayout(Layout):
    """Wheels and the locks that install them, for a server with no compiler and no network.

    Each wheel is looked inside as it arrives (entries, metadata, every file against RECORD),
    once per content: a marker in the cache, by the wheel's hash, remembers it.
    """

    def take(self, wheel: FetchedWheel) -> None:
        digest = wheel.sha256 or hash_file(wheel.path, "sha256")
        marker = self.inputs.cache.inspected(digest, wheel.identity)
        if marker.is_file() and not marker.is_symlink():
            return
        package = wheel.planned.package
        inspect_wheel(wheel.path, package.label, package.name, package.version)
        replace_file(marker, b"")

    def write(self, fetched: Sequence[FetchedPlan], directory: Path) -> WrittenLayout:
        shipped = write_wheelhouse(
            fetched,
            directory,
            lock_sha256=self.inputs.lock_sha256,
            lock_format=self.inputs.lock_format,
            lock_path=self.inputs.lock_path,
            binary_only=self.inputs.config.binary_only,
        )
        return WrittenLayout(distributions=shipped)

    def archive_prefix(self, name: str) -> str:
        """A wheelhouse unpacks into a directory of its own name, its ``INSTALL.md`` on top."""
        return name


@dataclass(frozen=True)
class _SourceLock:
    """The lock a wheelhouse is made from, as its outputs name it."""

    #: relative to the project (``uv.lock``, ``pylock.prod.toml``, ``../../uv.lock``)
    path: str
    sha256: str
    format: LockFormat


def write_wheelhouse(
    fetched: Sequence[FetchedPlan],
    destination: Path,
    *,
    lock_sha256: str,
    lock_format: LockFormat,
    lock_path: str | None = None,
    binary_only: bool = False,
) -> list[tuple[str, int]]:
    """Write the wheelhouse for ``fetched`` (one plan per target platform) into ``destination``.

    :param lock_sha256: the hash of the lock it is made from, recorded in the manifest
    :param lock_format: what that lock is: only a ``uv.lock`` gives a rewritten ``uv.lock``
    :param lock_path: that lock's path relative to the project, as the outputs name it (None:
        its format's usual name, ``uv.lock`` or ``pylock.toml``)
    :param binary_only: leave downloaded pure-Python wheels on their index
    :return: the file name and size of every wheel in ``wheels/``
    """
    (destination / WHEELS_DIR).mkdir(parents=True)
    house = _collect(fetched, binary_only)
    shipped = []
    for package in house.values():
        if package.local:
            for wheel in package.wheels:
                _copy_checked(wheel, destination / WHEELS_DIR / wheel.filename)
                shipped.append((wheel.filename, wheel.size))
    plans = [each.plan for each in fetched]
    graph = HouseGraph(plans, house)
    first = plans[0]
    project = f"{first.root.name}-wheelhouse"
    requires_python = f"=={first.target.python_version}.*"
    source = _SourceLock(lock_path or lock_format.value, lock_sha256, lock_format)
    files: dict[str, str] = {}
    if lock_format is LockFormat.UV_LOCK:
        # a PEP 751 lock has no graph that uv resolved (uv's own export writes no edges), so
        # a uv.lock made from one would claim what was never locked: pylock.toml installs it
        files["uv.lock"] = _uv_lock(first, graph, project, requires_python)
        files["pyproject.toml"] = _pyproject(first, graph, project, requires_python)
    files["requirements.txt"] = _requirements(graph, source)
    files["pylock.toml"] = _pylock(graph, requires_python)
    files["INSTALL.md"] = install_guide(plans, graph, binary_only, lock_format, source.path)
    files["lockbundle.json"] = _manifest(plans, graph, source, files)
    for name, text in files.items():
        # bytes, not text: the manifest gives each file's sha256, whatever the platform's newlines
        (destination / name).write_bytes(text.encode("utf-8"))
    return shipped


def _collect(
    fetched_plans: Sequence[FetchedPlan], binary_only: bool
) -> dict[NormalizedName, HousePackage]:
    house: dict[NormalizedName, HousePackage] = {}
    for index, each in enumerate(fetched_plans):
        for fetched in each.wheels:
            version = fetched.planned.version or str(parse_wheel_filename(fetched.path.name)[1])
            package = house.setdefault(
                fetched.planned.name, HousePackage(fetched.planned.name, version, [], set())
            )
            if package.version != version:
                raise LockbundleError(
                    f"{fetched.planned.name} is locked at {package.version} for one platform and "
                    f"at {version} for another; a wheelhouse for several platforms needs one "
                    "version of each package: make one wheelhouse per platform"
                )
            package.plans.add(index)
            if all(wheel.filename != fetched.path.name for wheel in package.wheels):
                package.wheels.append(_measure(fetched))
    for package in house.values():
        package.wheels.sort(key=lambda wheel: wheel.filename)
        package.local = not (
            binary_only
            and package.first.planned.package.source.is_remote_registry
            and all(_pure(wheel.filename) and wheel.downloadable for wheel in package.wheels)
        )
    return dict(sorted(house.items()))


def _measure(fetched: FetchedWheel) -> HouseWheel:
    digest = hashlib.sha256()
    size = 0
    with fetched.path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    wheel = HouseWheel(fetched, fetched.path.name, digest.hexdigest(), size)
    _check_unchanged(wheel, fetched.sha256)
    return wheel


def _copy_checked(wheel: HouseWheel, destination: Path) -> None:
    """Copy ``wheel`` into the wheelhouse, hashing what is copied: the cache is input, and a
    file replaced there after it was verified must not be shipped (nor recorded as verified)."""
    digest = hashlib.sha256()
    with wheel.fetched.path.open("rb") as source, destination.open("xb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    _check_unchanged(wheel, wheel.sha256, digest.hexdigest())


def _check_unchanged(wheel: HouseWheel, expected: str | None, actual: str | None = None) -> None:
    actual = actual or wheel.sha256
    if expected is not None and expected != actual:
        label = wheel.fetched.planned.package.label
        raise LockbundleError(
            f"{label}: {wheel.fetched.path} changed after it was verified (sha256 "
            f"{expected} expected, {actual} found): something replaced it in the cache. "
            "Remove that file from the cache and build again"
        )


def _pure(filename: str) -> bool:
    _, _, _, tags = parse_wheel_filename(filename)
    return all(tag.abi == "none" and tag.platform == "any" for tag in tags)


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _inline(table: Mapping[str, object]) -> str:
    parts = []
    for key, value in table.items():
        if isinstance(value, str):
            rendered = _string(value)
        elif isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int):
            rendered = str(value)
        elif isinstance(value, Mapping):
            rendered = _inline(value)
        else:
            rendered = "[" + ", ".join(_string(item) for item in value) + "]"  # type: ignore[attr-defined]
        parts.append(f"{key} = {rendered}")
    return "{ " + ", ".join(parts) + " }"


def _array(key: str, items: Sequence[str]) -> list[str]:
    if not items:
        return []
    return [f"{key} = [", *(f"    {item}," for item in items), "]"]


def _edge(name: str, marker: str | None) -> str:
    table: dict[str, object] = {"name": name}
    if marker is not None:
        table["marker"] = marker
    return _inline(table)


def _uv_lock(plan: Plan, graph: HouseGraph, project: str, requires_python: str) -> str:
    lines = [
        "# Written by hatch-lockbundle: `uv sync --frozen --offline` installs it (see INSTALL.md)",
        "version = 1",
        f"revision = {LOCK_REVISION}",
        f"requires-python = {_string(requires_python)}",
        *_array("supported-markers", [_string(marker) for marker in graph.all_markers]),
        "",
        "[[package]]",
        f"name = {_string(project)}",
        f"version = {_string(str(plan.root.version or '0'))}",
        'source = { virtual = "." }',
        *_array("dependencies", [_edge(n, graph.marker(p)) for n, p in graph.tops.items()]),
    ]
    if graph.tops:
        lines += ["", "[package.metadata]"]
        requirements = []
        for name, plans in graph.tops.items():
            requirement: dict[str, object] = {"name": name}
            marker = graph.marker(plans)
            if marker is not None:
                requirement["marker"] = marker
            package = graph.house[name]
            if package.is_project:
                requirement["path"] = f"{WHEELS_DIR}/{package.wheels[0].filename}"
            requirements.append(_inline(requirement))
        lines += _array("requires-dist", requirements)
    for package in graph.house.values():
        lines += ["", "[[package]]", f"name = {_string(package.name)}"]
        lines.append(f"version = {_string(package.version)}")
        dependencies = [_edge(child, marker) for child, marker in graph.dependencies(package.name)]
        entries: list[dict[str, object]]
        if package.is_project:
            path = f"{WHEELS_DIR}/{package.wheels[0].filename}"
            lines.append(f"source = {_inline({'path': path})}")
            entries = [
                {"filename": w.filename, "hash": f"sha256:{w.sha256}"} for w in package.wheels
            ]
        elif package.local:
            lines.append(f"source = {_inline({'registry': WHEELS_DIR})}")
            entries = [{"path": w.filename, "hash": f"sha256:{w.sha256}"} for w in package.wheels]
        else:
            lines.append(f"source = {_inline({'registry': package.index})}")
            entries = [
                {"url": w.url, "hash": f"sha256:{w.sha256}", "size": w.size} for w in package.wheels
            ]
        lines += _array("dependencies", dependencies)
        lines += _array("wheels", [_inline(entry) for entry in entries])
    return "\n".join(lines) + "\n"


def _pyproject(plan: Plan, graph: HouseGraph, project: str, requires_python: str) -> str:
    dependencies = []
    for name, plans in graph.tops.items():
        marker = graph.marker(plans)
        dependencies.append(_string(name if marker is None else f"{name} ; {marker}"))
    lines = [
        "# Written by hatch-lockbundle: the project that installs this wheelhouse (INSTALL.md)",
        "[project]",
        f"name = {_string(project)}",
        f"version = {_string(str(plan.root.version or '0'))}",
        f"requires-python = {_string(requires_python)}",
        *_array("dependencies", dependencies),
        "",
        "[tool.uv]",
        "package = false",
        f"environments = [{', '.join(_string(marker) for marker in graph.all_markers)}]",
    ]
    sources = [name for name in graph.tops if graph.house[name].is_project]
    if sources:
        lines += ["", "[tool.uv.sources]"]
        for name in sources:
            path = f"{WHEELS_DIR}/{graph.house[name].wheels[0].filename}"
            lines.append(f"{name} = {_inline({'path': path})}")
    return "\n".join(lines) + "\n"


def _requirements(graph: HouseGraph, source: _SourceLock) -> str:
    packages = list(graph.house.values())
    indexes = list(dict.fromkeys(package.index for package in packages if not package.local))
    targets = ", ".join(plan.target.describe() for plan in graph.plans)
    lines = [
        f"# Written by hatch-lockbundle from {source.path} (sha256 {source.sha256}) for {targets}.",
        "# Install: pip install -r requirements.txt",
    ]
    if indexes:
        lines.append(f"--index-url {indexes[0]}")
        lines += [f"--extra-index-url {index}" for index in indexes[1:]]
    else:
        lines.append("--no-index")
    lines.append(f"--find-links {WHEELS_DIR}")
    for package in packages:
        marker = graph.marker(package.plans)
        requirement = f"{package.name}=={package.version}"
        if marker is not None:
            requirement += f" ; {marker}"
        hashes = [f"    --hash=sha256:{wheel.sha256}" for wheel in package.wheels]
        lines.append(" \\\n".join([requirement, *hashes]))
    return "\n".join(lines) + "\n"


def _pylock(graph: HouseGraph, requires_python: str) -> str:
    """``pylock.toml`` (PEP 751), validated by ``packaging``'s model as it is written.

    Each package lists its ``dependencies`` (by name: one version of each is in a wheelhouse) for
    audits and SBOM tools; installers ignore them.
    """
    packages = []
    for package in graph.house.values():
        marker = graph.marker(package.plans)
        packages.append(
            Package(
                name=package.name,
                version=Version(package.version),
                marker=None if marker is None else Marker(marker),
                dependencies=[{"name": child} for child, _ in graph.dependencies(package.name)]
                or None,
                index=None if package.local else package.index,
                wheels=[
                    PackageWheel(
                        name=wheel.filename,
                        path=f"{WHEELS_DIR}/{wheel.filename}" if package.local else None,
                        url=None if package.local else wheel.url,
                        size=wheel.size,
                        hashes={"sha256": wheel.sha256},
                    )
                    for wheel in package.wheels
                ],
            )
        )
    document = Pylock(
        lock_version=Version("1.0"),
        environments=[Marker(marker) for marker in graph.all_markers],
        requires_python=SpecifierSet(requires_python),
        created_by="hatch-lockbundle",
        packages=packages,
    )
    document.validate()
    header = "# Written by hatch-lockbundle (PEP 751): uv pip install -r pylock.toml\n"
    return header + tomli_w.dumps(document.to_dict())


def _manifest(
    plans: Sequence[Plan],
    graph: HouseGraph,
    source: _SourceLock,
    files: Mapping[str, str],
) -> str:
    """``lockbundle.json``: every wheel with its sha256 and origin, and the sha256 of every
    other file of the wheelhouse (``lockbundle verify`` checks each)."""
    entries = []
    for package in graph.house.values():
        for wheel in package.wheels:
            artifact = wheel.fetched.planned.artifact
            entry: dict[str, object] = {
                "name": package.name,
                "version": package.version,
                "file": f"{WHEELS_DIR}/{wheel.filename}" if package.local else None,
                "sha256": wheel.sha256,
                "origin": "built"
                if wheel.built_here
                else "downloaded"
                if artifact.url
                else "copied",
            }
            if wheel.built_here:
                entry["built-from"] = {
                    "sdist": artifact.filename,
                    "git": artifact.location,
                }.get(artifact.kind, "source tree")
            elif artifact.url:
                entry["url"] = artifact.url
            entries.append(entry)
    first = plans[0]
    document = {
        "generator": f"hatch-lockbundle {__version__}",
        "layout": "wheelhouse",
        "root": first.root.name,
        "extras": list(first.extras),
        "groups": list(first.groups),
        "targets": [
            {
                "python": plan.target.python_version,
                "implementation": plan.target.environment.get("implementation_name"),
                "platform": plan.target.platform,
                "marker": plan.target.marker,
            }
            for plan in plans
        ],
        "lock": {"sha256": source.sha256, "format": source.format.value, "path": source.path},
        "wheels": entries,
        "files": {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest()
            for name, text in sorted(files.items())
        },
    }
    return json.dumps(document, indent=2) + "\n"
