"""The wheelhouse layout: every selected wheel in ``wheels/``, with locks that install only from it.

The bundle installs on a machine with the same Python and platform and no compiler, with any of:
``uv sync --frozen --offline`` (a rewritten ``uv.lock`` and a minimal ``pyproject.toml``),
``pip install --no-index -r requirements.txt``, or ``uv pip install -r pylock.toml`` (PEP 751).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, parse_wheel_filename

from .. import __version__
from ..fetch import FetchedWheel
from ..select import Plan

WHEELS_DIR = "wheels"
LOCK_REVISION = 3  # understood by every uv that reads lock version 1 with revisions


@dataclass(frozen=True)
class HouseWheel:
    """One wheel of the wheelhouse, or (``binary-only``) one left on its index."""

    fetched: FetchedWheel
    filename: str
    sha256: str
    size: int
    #: False for a pure wheel that the server downloads from its index (``binary-only``)
    local: bool

    @property
    def name(self) -> NormalizedName:
        return self.fetched.planned.name

    @property
    def version(self) -> str:
        version = self.fetched.planned.version
        return version if version is not None else str(parse_wheel_filename(self.filename)[1])

    @property
    def built_here(self) -> bool:
        return self.fetched.origin.startswith("built")

    @property
    def index(self) -> str:
        return self.fetched.planned.package.source.location

    @property
    def url(self) -> str:
        url = self.fetched.planned.artifact.url
        assert url is not None
        return url


def write_wheelhouse(
    plan: Plan,
    wheels: Sequence[FetchedWheel],
    destination: Path,
    *,
    lock_sha256: str,
    binary_only: bool = False,
) -> None:
    """Write the wheelhouse for ``plan`` into the empty directory ``destination``.

    :param wheels: the verified wheels of every planned package
    :param lock_sha256: the hash of the source ``uv.lock``, recorded in the manifest
    :param binary_only: leave downloaded pure-Python wheels on their index
    """
    (destination / WHEELS_DIR).mkdir(parents=True)
    house = [_place(wheel, destination / WHEELS_DIR, binary_only) for wheel in wheels]
    house.sort(key=lambda wheel: wheel.name)
    project = f"{plan.root.name}-wheelhouse"
    tops = _top_level(plan)
    environment = target_marker(plan)
    requires_python = f"=={plan.target.python_version}.*"
    files = {
        "uv.lock": _uv_lock(plan, house, project, tops, environment, requires_python),
        "pyproject.toml": _pyproject(plan, house, project, tops, environment, requires_python),
        "requirements.txt": _requirements(house, plan, lock_sha256),
        "pylock.toml": _pylock(house, environment, requires_python),
        "lockbundle.json": _manifest(plan, house, lock_sha256),
        "INSTALL.md": _install_guide(plan, house, binary_only),
    }
    for name, text in files.items():
        (destination / name).write_text(text, encoding="utf-8")


def target_marker(plan: Plan) -> str:
    """The environment marker of the target platform (``supported-markers``)."""
    env = plan.target.environment
    return (
        f"platform_machine == {_quote(env['platform_machine'])} and "
        f"sys_platform == {_quote(env['sys_platform'])}"
    )


def _place(wheel: FetchedWheel, directory: Path, binary_only: bool) -> HouseWheel:
    filename = wheel.path.name
    _, _, _, tags = parse_wheel_filename(filename)
    pure = all(tag.abi == "none" and tag.platform == "any" for tag in tags)
    downloaded = not wheel.origin.startswith("built") and wheel.planned.artifact.url is not None
    local = not (
        binary_only and pure and downloaded and wheel.planned.package.source.is_remote_registry
    )
    digest = hashlib.sha256()
    size = 0
    with wheel.path.open("rb") as source:
        if local:
            with (directory / filename).open("wb") as copy:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    copy.write(chunk)
                    size += len(chunk)
        else:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    return HouseWheel(wheel, filename, digest.hexdigest(), size, local)


def _top_level(plan: Plan) -> list[NormalizedName]:
    """What the wheelhouse project depends on: the root, or a virtual root's dependencies."""
    if plan.root.source.kind != "virtual":
        return [plan.root.name]
    return _expand(plan, plan.edges.get(plan.root.name, ()))


def _expand(plan: Plan, names: Iterable[NormalizedName]) -> list[NormalizedName]:
    """``names`` with virtual packages replaced by what they depend on (transitively)."""
    installed = {planned.name for planned in plan.packages}
    result: dict[NormalizedName, None] = {}
    pending = list(names)
    seen: set[NormalizedName] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in installed:
            result[name] = None
        else:
            pending.extend(plan.edges.get(name, ()))
    return sorted(result)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


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


def _uv_lock(
    plan: Plan,
    house: Sequence[HouseWheel],
    project: str,
    tops: Sequence[NormalizedName],
    environment: str,
    requires_python: str,
) -> str:
    lines = [
        "# Written by hatch-lockbundle: `uv sync --frozen --offline` installs it (see INSTALL.md)",
        "version = 1",
        f"revision = {LOCK_REVISION}",
        f"requires-python = {_string(requires_python)}",
        *_array("supported-markers", [_string(environment)]),
        "",
        "[[package]]",
        f"name = {_string(project)}",
        f"version = {_string(str(plan.root.version or '0'))}",
        'source = { virtual = "." }',
        *_array("dependencies", [_inline({"name": name}) for name in tops]),
    ]
    local_sources = {wheel.name: wheel for wheel in house if _is_project(wheel)}
    if tops:
        lines += ["", "[package.metadata]"]
        requirements = []
        for name in tops:
            requirement: dict[str, object] = {"name": name}
            if name in local_sources:
                requirement["path"] = f"{WHEELS_DIR}/{local_sources[name].filename}"
            requirements.append(_inline(requirement))
        lines += _array("requires-dist", requirements)
    for wheel in house:
        lines += ["", "[[package]]", f"name = {_string(wheel.name)}"]
        lines.append(f"version = {_string(wheel.version)}")
        dependencies = [
            _inline({"name": name}) for name in _expand(plan, plan.edges.get(wheel.name, ()))
        ]
        if _is_project(wheel):
            path = f"{WHEELS_DIR}/{wheel.filename}"
            lines.append(f"source = {_inline({'path': path})}")
            lines += _array("dependencies", dependencies)
            entry: dict[str, object] = {
                "filename": wheel.filename,
                "hash": f"sha256:{wheel.sha256}",
            }
        elif wheel.local:
            lines.append(f"source = {_inline({'registry': WHEELS_DIR})}")
            lines += _array("dependencies", dependencies)
            entry = {"path": wheel.filename, "hash": f"sha256:{wheel.sha256}"}
        else:
            lines.append(f"source = {_inline({'registry': wheel.index})}")
            lines += _array("dependencies", dependencies)
            entry = {"url": wheel.url, "hash": f"sha256:{wheel.sha256}", "size": wheel.size}
        lines += _array("wheels", [_inline(entry)])
    return "\n".join(lines) + "\n"


def _is_project(wheel: HouseWheel) -> bool:
    """The project, workspace members and other source trees: installed from a path wheel."""
    return wheel.fetched.planned.artifact.kind in (
        "tree",
        "git",
    ) or wheel.fetched.planned.package.source.kind in ("path", "url")


def _pyproject(
    plan: Plan,
    house: Sequence[HouseWheel],
    project: str,
    tops: Sequence[NormalizedName],
    environment: str,
    requires_python: str,
) -> str:
    by_name = {wheel.name: wheel for wheel in house}
    lines = [
        "# Written by hatch-lockbundle: the project that installs this wheelhouse (INSTALL.md)",
        "[project]",
        f"name = {_string(project)}",
        f"version = {_string(str(plan.root.version or '0'))}",
        f"requires-python = {_string(requires_python)}",
        *_array("dependencies", [_string(name) for name in tops]),
        "",
        "[tool.uv]",
        "package = false",
        f"environments = [{_string(environment)}]",
    ]
    sources = [name for name in tops if _is_project(by_name[name])]
    if sources:
        lines += ["", "[tool.uv.sources]"]
        for name in sources:
            lines.append(f"{name} = {_inline({'path': f'{WHEELS_DIR}/{by_name[name].filename}'})}")
    return "\n".join(lines) + "\n"


def _requirements(house: Sequence[HouseWheel], plan: Plan, lock_sha256: str) -> str:
    indexes = list(dict.fromkeys(wheel.index for wheel in house if not wheel.local))
    lines = [
        f"# Written by hatch-lockbundle from uv.lock (sha256 {lock_sha256}) for "
        f"{plan.target.describe()}.",
        "# Install: pip install -r requirements.txt",
    ]
    if indexes:
        lines.append(f"--index-url {indexes[0]}")
        lines += [f"--extra-index-url {index}" for index in indexes[1:]]
    else:
        lines.append("--no-index")
    lines.append(f"--find-links {WHEELS_DIR}")
    for wheel in house:
        lines.append(f"{wheel.name}=={wheel.version} \\")
        lines.append(f"    --hash=sha256:{wheel.sha256}")
    return "\n".join(lines) + "\n"


def _pylock(house: Sequence[HouseWheel], environment: str, requires_python: str) -> str:
    lines = [
        "# Written by hatch-lockbundle (PEP 751): uv pip install -r pylock.toml",
        'lock-version = "1.0"',
        f"environments = [{_string(environment)}]",
        f"requires-python = {_string(requires_python)}",
        'created-by = "hatch-lockbundle"',
    ]
    for wheel in house:
        lines += ["", "[[packages]]", f"name = {_string(wheel.name)}"]
        lines.append(f"version = {_string(wheel.version)}")
        entry: dict[str, object] = {"name": wheel.filename}
        if wheel.local:
            entry["path"] = f"{WHEELS_DIR}/{wheel.filename}"
        else:
            lines.append(f"index = {_string(wheel.index)}")
            entry["url"] = wheel.url
        entry["size"] = wheel.size
        entry["hashes"] = {"sha256": wheel.sha256}
        lines += _array("wheels", [_inline(entry)])
    return "\n".join(lines) + "\n"


def _manifest(plan: Plan, house: Sequence[HouseWheel], lock_sha256: str) -> str:
    entries = []
    for wheel in house:
        artifact = wheel.fetched.planned.artifact
        entry: dict[str, object] = {
            "name": wheel.name,
            "version": wheel.version,
            "file": f"{WHEELS_DIR}/{wheel.filename}" if wheel.local else None,
            "sha256": wheel.sha256,
            "origin": "built" if wheel.built_here else "downloaded" if artifact.url else "copied",
        }
        if wheel.built_here:
            entry["built-from"] = (
                artifact.filename
                if artifact.kind == "sdist"
                else artifact.location
                if artifact.kind == "git"
                else "source tree"
            )
        elif artifact.url:
            entry["url"] = artifact.url
        entries.append(entry)
    document = {
        "generator": f"hatch-lockbundle {__version__}",
        "layout": "wheelhouse",
        "root": plan.root.name,
        "extras": list(plan.extras),
        "groups": list(plan.groups),
        "target": {
            "python": plan.target.python_version,
            "marker": target_marker(plan),
            "implementation": plan.target.environment.get("implementation_name"),
        },
        "lock": {"sha256": lock_sha256},
        "wheels": entries,
    }
    return json.dumps(document, indent=2) + "\n"


def _install_guide(plan: Plan, house: Sequence[HouseWheel], binary_only: bool) -> str:
    target = plan.target
    count = sum(wheel.local for wheel in house)
    offline = "" if binary_only else " --offline"
    no_index = "" if binary_only else " --no-index"
    remote = (
        "\nWith `binary-only`, pure-Python wheels are not in `wheels/`: the server downloads them "
        "from the index recorded in the locks, with their hashes checked.\n"
        if binary_only
        else ""
    )
    return f"""# Installing {plan.root.name} {plan.root.version or ""} from this wheelhouse

This directory holds {count} wheels in `wheels/` and the locks that install exactly them, for
{target.describe()} (any Python {target.python_version}.x on the same platform). Nothing is
built on the server and no compiler is needed; every wheel's sha256 is checked on install.
{remote}
Copy the whole directory to the server, then use one of:

## uv (a virtual environment in this directory, `.venv/`)

```console
cd /path/to/this/directory
uv sync --frozen{offline}
```

Set `UV_PROJECT_ENVIRONMENT=/opt/app/venv` to create the environment elsewhere. Always pass
`--frozen`: the lock must be used as it is, never re-resolved.

## pip (any virtual environment)

```console
python{target.python_version} -m venv /opt/app/venv
/opt/app/venv/bin/pip install{no_index} -r requirements.txt
```

## uv pip with the PEP 751 lock

```console
uv pip install{offline} --python /opt/app/venv/bin/python -r pylock.toml
```

`lockbundle.json` lists every wheel with its sha256 and where it came from, and the sha256 of the
`uv.lock` it was made from.
"""
