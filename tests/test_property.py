"""Properties of reading, selecting, rewriting and archiving, on drawn inputs.

Damaged locks: documents start from real locks (``fixtures/locks/*/uv.lock`` and the test locks of
every source kind) and are mutated: keys dropped, values of another type, unknown lock versions and
revisions, random strings for markers, hashes, URLs and sources, renamed and duplicated packages,
dangling edges and dependency cycles. Lock files are also damaged byte by byte, and documents made
from nothing. ``read_lock``/``parse_lock`` and then ``select`` (for several targets, roots, extras
and groups) must either succeed or raise :class:`LockbundleError`, never any other exception.

Valid locks: a parser that rejects everything passes the above, so locks valid by construction are
drawn too (packages of every source kind, names locked twice, edges with markers and extras, the
root's extras and groups), with what they must select worked out apart from the code under test:
the selection is the closure of the root under the edges that hold, whatever the order of the
document, the same for every platform when nothing has a marker, and the same again when read from
the wheelhouse's rewritten ``uv.lock``. The fixture locks written by uv select without error, and an
archive is the same bytes whatever order its files were created in.

Examples are derandomized, so that a run in CI explores the same cases as a run here.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import shutil
import string
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from hatch_lockbundle.archive import FORMATS, write_archive
from hatch_lockbundle.errors import LockbundleError, SelectionError
from hatch_lockbundle.fetched import FetchedPlan, FetchedWheel, WheelOrigin
from hatch_lockbundle.layouts.house import HouseGraph
from hatch_lockbundle.layouts.wheelhouse import _collect, _uv_lock
from hatch_lockbundle.lock import SOURCE_KINDS, Lock
from hatch_lockbundle.select import Plan, select
from hatch_lockbundle.target import Target
from hatch_lockbundle.uvlock import decode_lock, parse_lock, read_lock
from support.compat import tomllib
from test_lock import EVERY_SOURCE
from test_select import WHEELS

FIXTURE_LOCKS = Path(__file__).resolve().parent.parent / "fixtures" / "locks"
LOCK_TEXTS: dict[str, str] = {
    **{path.parent.name: path.read_text() for path in sorted(FIXTURE_LOCKS.glob("*/uv.lock"))},
    "every-source": EVERY_SOURCE.format(revision=5),
    "wheels": WHEELS,
}
LOCKS: dict[str, dict[str, Any]] = {name: tomllib.loads(text) for name, text in LOCK_TEXTS.items()}
LOCK_PATH = Path("/workspace/uv.lock")  # parse_lock only names it (and takes the root from it)

TARGETS = [
    Target.current(),
    Target.for_("3.12", "linux-aarch64"),
    Target.for_("3.10", "windows-x86_64"),
    Target.for_("3.13", "macos-arm64"),
    Target.for_("3.9", "musllinux-x86_64"),
]

# Shrinking is left out: on these documents it takes minutes for a failure (thousands of parses of
# an 80 KB lock). The failing example is printed as drawn, its draws labelled.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ------------------------------------------------------------------------------------------

LOCK_KEYS = [
    "version", "revision", "requires-python", "resolution-markers", "supported-markers",
    "manifest", "members", "conflicts", "package", "name", "source", "dependencies",
    "optional-dependencies", "dev-dependencies", "metadata", "requires-dist", "requires-dev",
    "provides-extras", "sdist", "wheels", "url", "path", "filename", "hash", "size", "marker",
    "extra", "group", "specifier", "extras", "subdirectory", *SOURCE_KINDS,
]  # fmt: skip

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.sampled_from(["", ".", "..", "*", "1.0", ">=3.10", "sha256:00", "https://x/y.whl"]),
)
toml_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(LOCK_KEYS) | st.text(max_size=6), children, max_size=3),
    ),
    max_leaves=8,
)

any_value = st.one_of(scalars, scalars, toml_values)  # a scalar more often than not

MARKER_VARIABLES = [
    "python_version", "python_full_version", "os_name", "sys_platform", "platform_release",
    "platform_system", "platform_version", "platform_machine", "platform_python_implementation",
    "implementation_name", "implementation_version", "extra",
]  # fmt: skip
MARKER_OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"]
marker_values = st.one_of(
    st.sampled_from(
        [
            "3",
            "3.11",
            "3.11.7",
            "3.*",
            "1.0.post1",
            "linux",
            "win32",
            "darwin",
            "x86_64",
            "aarch64",
            "CPython",
            "cpu",
            "extra-3-app-cpu",
            "project-3-app",
            "group-3-app-dev",
            "",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + ".-_*+!<>= ", max_size=8),
)


@st.composite
def marker_atoms(draw: st.DrawFn) -> str:
    variable = draw(st.sampled_from(MARKER_VARIABLES))
    operator = draw(st.sampled_from(MARKER_OPERATORS))
    value = draw(marker_values)
    if draw(st.booleans()):
        return f"{variable} {operator} '{value}'"
    return f"'{value}' {operator} {variable}"


marker_expressions = st.recursive(
    marker_atoms(),
    lambda inner: st.builds(
        lambda left, join, right: f"({left}) {join} {right}",
        inner,
        st.sampled_from(["and", "or"]),
        inner,
    ),
    max_leaves=4,
)
markers = st.one_of(
    marker_expressions, marker_expressions, marker_expressions, st.text(max_size=30)
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://pypi.org/simple",
            "https://files.example/pkg-1.0-py3-none-any.whl",
            "https://files.example/pkg-1.0.tar.gz",
            "https://user:secret@files.example/pkg-1.0-py3-none-any.whl",
            "file:///tmp/pkg-1.0-py3-none-any.whl",
            "git+https://github.com/o/r?rev=main#0123456789abcdef",
            "wheels",
        ]
    ),
    st.sampled_from(  # malformed or unusual
        [
            "http://[::1",
            "http://[not-an-address]/pkg-1.0-py3-none-any.whl",
            "git+https://[::1/o/r#0123456789abcdef",
            "http://host:99999999/pkg-1.0.tar.gz",
            "https://files.example/",
            "git+https://github.com/o/r?subdirectory=../..#",
            "../outside",
            ".",
            "",
        ]
    ),
    st.text(max_size=40),
)
hashes = st.one_of(
    st.builds(
        lambda algorithm, digest: f"{algorithm}:{digest}",
        st.sampled_from(["sha256", "sha512", "md5", "blake2b", "SHA256", "nope", ""]),
        st.text(alphabet="0123456789abcdefABCDEFxyz:", max_size=130),
    ),
    st.text(max_size=20),
)
sources = st.one_of(
    st.dictionaries(
        st.sampled_from([*SOURCE_KINDS, "subdirectory", "rev"]),
        st.one_of(urls, toml_values),
        max_size=3,
    ),
    toml_values,
)
names = st.one_of(st.text(max_size=12), st.sampled_from(["", "-", "A_b", "a.b", "a--b"]))

# -- mutations ---------------------------------------------------------------------------------------

# A mutation changes the document in place and returns the name of the package it changed (if it
# changed one), which then is likely to be the root of the selection that follows: so that the
# change is on the walk's way.
Mutation = Callable[[st.DataObject, dict[str, Any]], "str | None"]


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of ``node``, depth first."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        found.append((node, key))
        if isinstance(value, (dict, list)):
            found += _slots(value)
    return found


def _packages(document: dict[str, Any]) -> list[dict[str, Any]]:
    packages = document.get("package")
    if not isinstance(packages, list):
        return []
    return [package for package in packages if isinstance(package, dict)]


def _name(package: dict[str, Any]) -> str | None:
    name = package.get("name")
    return name if isinstance(name, str) else None


def _edge_lists(package: dict[str, Any]) -> list[list[Any]]:
    """The package's dependency arrays (made when missing): main, per extra, per group."""
    lists = []
    if not isinstance(package.get("dependencies"), list):
        package["dependencies"] = []
    lists.append(package["dependencies"])
    for key in ("optional-dependencies", "dev-dependencies"):
        table = package.get(key)
        if isinstance(table, dict):
            lists += [edges for edges in table.values() if isinstance(edges, list)]
    return lists


def _package_names(document: dict[str, Any]) -> list[str]:
    return [name for package in _packages(document) if (name := _name(package))]


def drop_a_key(data: st.DataObject, document: dict[str, Any]) -> str | None:
    slots = [(node, key) for node, key in _slots(document) if isinstance(node, dict)]
    if slots:
        node, key = data.draw(st.sampled_from(slots))
        del node[key]
    return None


def change_a_value(data: st.DataObject, document: dict[str, Any]) -> str | None:
    slots = _slots(document)
    if slots:
        node, key = data.draw(st.sampled_from(slots))
        node[key] = data.draw(toml_values)
    return None


# Where uv.lock keeps what: `*` is any package, array item or table key (an existing one, or a
# new one). Retyping one of these at a time reaches every field the reader looks at equally often.
FIELDS = [
    "requires-python", "resolution-markers", "supported-markers", "manifest", "manifest.members",
    "conflicts", "conflicts.*", "conflicts.*.*", "package", "package.*",
    "package.*.name", "package.*.version", "package.*.source", "package.*.source.registry",
    "package.*.source.git", "package.*.source.path", "package.*.source.subdirectory",
    "package.*.resolution-markers", "package.*.dependencies", "package.*.dependencies.*",
    "package.*.dependencies.*.name", "package.*.dependencies.*.extra",
    "package.*.dependencies.*.marker", "package.*.dependencies.*.version",
    "package.*.dependencies.*.source", "package.*.optional-dependencies",
    "package.*.optional-dependencies.*", "package.*.optional-dependencies.*.*",
    "package.*.optional-dependencies.*.*.extra", "package.*.dev-dependencies",
    "package.*.dev-dependencies.*", "package.*.dev-dependencies.*.*.name", "package.*.sdist",
    "package.*.sdist.url", "package.*.sdist.path", "package.*.sdist.hash", "package.*.sdist.size",
    "package.*.wheels", "package.*.wheels.*", "package.*.wheels.*.url",
    "package.*.wheels.*.filename", "package.*.wheels.*.hash", "package.*.wheels.*.size",
    "package.*.metadata", "package.*.metadata.requires-dist",
    "package.*.metadata.requires-dist.*", "package.*.metadata.requires-dist.*.name",
    "package.*.metadata.requires-dist.*.extras", "package.*.metadata.requires-dist.*.specifier",
    "package.*.metadata.requires-dist.*.marker", "package.*.metadata.requires-dev",
    "package.*.metadata.requires-dev.*", "package.*.metadata.requires-dev.*.*.extras",
    "package.*.metadata.provides-extras",
]  # fmt: skip


TABLES_OF_ARRAYS = {"optional-dependencies", "dev-dependencies", "requires-dev"}


def retype_a_field(data: st.DataObject, document: dict[str, Any]) -> str | None:
    """One field of :data:`FIELDS` (made if missing) set to a drawn value of any type."""
    path = data.draw(st.sampled_from(FIELDS), label="field").split(".")
    node: Any = document
    package = None
    for depth, part in enumerate(path):
        if part != "*":
            key: Any = part
        elif isinstance(node, list):
            key = data.draw(st.integers(min_value=0, max_value=len(node)))
            if key == len(node):
                node.append({})
        else:
            key = data.draw(st.sampled_from([*node, "x"]))
        if depth == len(path) - 1:
            node[key] = data.draw(any_value, label="value")
            break
        present = key < len(node) if isinstance(node, list) else key in node
        if not present or not isinstance(node[key], (dict, list)):
            after = path[depth + 1]
            node[key] = [] if after == "*" and part not in TABLES_OF_ARRAYS else {}
        node = node[key]
        if not isinstance(node, (dict, list)) or (
            path[depth + 1] != "*" and isinstance(node, list)
        ):
            return package
        if path[0] == "package" and depth == 1 and isinstance(node, dict):
            package = _name(node)
    return package


def change_version_or_revision(data: st.DataObject, document: dict[str, Any]) -> str | None:
    key = data.draw(st.sampled_from(["version", "revision"]))
    document[key] = data.draw(
        st.one_of(st.sampled_from([0, 1, 2, 3, 5, 6, -1, "1", 1.0, True, 10**40]), toml_values)
    )
    return None


def set_a_marker(data: st.DataObject, document: dict[str, Any]) -> str | None:
    """A drawn marker on an edge of a package that has edges."""
    edged = [
        (package, edges)
        for package in _packages(document)
        if (edges := [e for es in _edge_lists(package) for e in es if isinstance(e, dict)])
    ]
    if not edged:
        return None
    package, edges = data.draw(st.sampled_from(edged))
    data.draw(st.sampled_from(edges))["marker"] = data.draw(markers)
    return _name(package)


def set_a_hash_or_url(data: st.DataObject, document: dict[str, Any]) -> str | None:
    packages = _packages(document)
    if not packages:
        return None
    package = data.draw(st.sampled_from(packages))
    dists = [package["sdist"]] if isinstance(package.get("sdist"), dict) else []
    if isinstance(package.get("wheels"), list):
        dists += [wheel for wheel in package["wheels"] if isinstance(wheel, dict)]
    if dists:
        dist = data.draw(st.sampled_from(dists))
        key = data.draw(st.sampled_from(["hash", "url", "url", "path", "filename", "size"]))
        dist[key] = data.draw({"hash": hashes, "size": toml_values}.get(key, urls))
    return _name(package)


def set_a_source(data: st.DataObject, document: dict[str, Any]) -> str | None:
    packages = _packages(document)
    if not packages:
        return None
    package = data.draw(st.sampled_from(packages))
    package["source"] = data.draw(sources)
    return _name(package)


def add_an_edge(data: st.DataObject, document: dict[str, Any]) -> str | None:
    """An edge to any package (or none): dangling edges, self-edges, extras that do not exist."""
    packages = _packages(document)
    if not packages:
        return None
    package = data.draw(st.sampled_from(packages))
    edges = data.draw(st.sampled_from(_edge_lists(package)))
    edge: dict[str, Any] = {
        "name": data.draw(st.one_of(st.sampled_from(_package_names(document) or ["x"]), names))
    }
    if data.draw(st.booleans()):
        edge["extra"] = data.draw(st.lists(names, max_size=2))
    if data.draw(st.booleans()):
        edge["marker"] = data.draw(markers)
    if data.draw(st.booleans()):
        edge["version"] = data.draw(st.one_of(st.text(max_size=5), toml_values))
    if data.draw(st.booleans()):
        edge["source"] = data.draw(sources)
    edges.append(edge)
    return _name(package)


def make_a_cycle(data: st.DataObject, document: dict[str, Any]) -> str | None:
    """``a -> b -> ... -> a`` through main dependencies and, sometimes, extras."""
    packages = [package for package in _packages(document) if _name(package)]
    if not packages:
        return None
    ring = data.draw(st.lists(st.sampled_from(packages), min_size=1, max_size=4))
    for source, target in zip(ring, [*ring[1:], ring[0]], strict=True):
        edge: dict[str, Any] = {"name": target["name"]}
        if data.draw(st.booleans()):
            extra = data.draw(st.sampled_from(["cpu", "gpu", "socks", "x"]))
            edge["extra"] = [extra]
            table = target.setdefault("optional-dependencies", {})
            if isinstance(table, dict):
                table.setdefault(extra, []).append({"name": source["name"], "extra": [extra]})
        _edge_lists(source)[0].append(edge)
    return _name(ring[0])


def rename_a_package(data: st.DataObject, document: dict[str, Any]) -> str | None:
    packages = _packages(document)
    if not packages:
        return None
    package = data.draw(st.sampled_from(packages))
    package["name"] = data.draw(
        st.one_of(st.sampled_from(_package_names(document) or ["x"]), names, toml_values)
    )
    return _name(package)


def duplicate_a_package(data: st.DataObject, document: dict[str, Any]) -> str | None:
    packages = _packages(document)
    if not packages or not isinstance(document.get("package"), list):
        return None
    twin = copy.deepcopy(data.draw(st.sampled_from(packages)))
    if data.draw(st.booleans()):
        twin["version"] = data.draw(st.one_of(st.text(max_size=6), toml_values))
    document["package"].append(twin)
    return _name(twin)


def set_declarations(data: st.DataObject, document: dict[str, Any]) -> str | None:
    """Conflicts, requires-python, a package's recorded metadata, the workspace members."""
    where = data.draw(st.sampled_from(["conflicts", "requires-python", "metadata", "manifest"]))
    if where == "conflicts":
        item = st.dictionaries(st.sampled_from(["package", "extra", "group"]), names | toml_values)
        document["conflicts"] = data.draw(st.lists(st.lists(item, max_size=3), max_size=3))
    elif where == "requires-python":
        document["requires-python"] = data.draw(
            st.one_of(st.sampled_from([">=3.10", "<3", "==3.11.*", ">=3.10,<3.9", "~=3"]), scalars)
        )
    elif where == "manifest":
        document["manifest"] = data.draw(
            st.fixed_dictionaries({"members": st.lists(names, max_size=3) | toml_values})
            | toml_values
        )
    elif packages := _packages(document):
        requirement = st.fixed_dictionaries(
            {"name": names},
            optional={
                "extras": st.lists(names, max_size=2) | any_value,
                "specifier": st.sampled_from([">=1", "==1.*", "~=1", "<<1", ""]) | any_value,
                "marker": markers | any_value,
                "editable": any_value,
            },
        ) | st.dictionaries(st.sampled_from(LOCK_KEYS), any_value)
        package = data.draw(st.sampled_from(packages))
        package["metadata"] = {
            "requires-dist": data.draw(st.lists(requirement | toml_values, max_size=3)),
            "requires-dev": data.draw(
                st.dictionaries(names, st.lists(requirement, max_size=2) | toml_values)
            ),
            "provides-extras": data.draw(st.lists(names, max_size=3) | toml_values),
        }
        return _name(package)
    return None


FAMILIES: dict[str, list[Mutation]] = {
    "keys-dropped-or-retyped": [drop_a_key, change_a_value, retype_a_field, retype_a_field],
    "versions-and-revisions": [change_version_or_revision],
    "markers": [set_a_marker],
    "hashes-urls-and-sources": [set_a_hash_or_url, set_a_source],
    "edges-cycles-and-names": [add_an_edge, make_a_cycle, rename_a_package, duplicate_a_package],
    "declarations": [set_declarations, retype_a_field],
}


def select_somehow(data: st.DataObject, lock: Lock, touched: list[str]) -> None:
    """``select`` for a drawn target, root (a touched package, most often), extras and groups.

    Most draws ask for what the lock has, so that the walk runs; some ask for what it has not.
    """
    locked = sorted({str(package.name) for package in lock.packages})
    pools = [st.sampled_from(touched)] * 3 if touched else []
    pools += [st.sampled_from(locked)] if locked else []
    root = data.draw(st.one_of(*pools, names), label="root")
    found = lock.by_name(root)
    known_extras = sorted({e for p in found for e in p.extras})
    known_groups = sorted({g for p in found for g in p.groups})
    extras = data.draw(_some_of(known_extras, everything="all"), label="extras")
    groups = data.draw(_some_of(known_groups, everything=known_groups), label="groups")
    target = data.draw(st.sampled_from(TARGETS), label="target")
    with contextlib.suppress(LockbundleError):
        select(lock, target, root, extras, groups)


def _some_of(known: Sequence[str], everything: Any) -> st.SearchStrategy[Any]:
    choices = [st.just([]), st.just([]), st.just(everything), st.lists(names, min_size=1)]
    if known:
        choices += [st.lists(st.sampled_from(known), max_size=3)] * 2
    return st.one_of(*choices)


# -- properties --------------------------------------------------------------------------------------


def test_the_unmutated_locks_are_readable() -> None:
    """The starting points themselves parse: mutations start from a valid lock."""
    for name, document in LOCKS.items():
        assert parse_lock(document, LOCK_PATH).packages, name


@pytest.mark.parametrize("family", list(FAMILIES))
@PROPERTY
@given(data=st.data())
def test_a_mutated_lock_gives_a_plan_or_a_lockbundle_error(
    family: str, data: st.DataObject
) -> None:
    document = copy.deepcopy(LOCKS[data.draw(st.sampled_from(sorted(LOCKS)), label="base")])
    touched = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        mutation = data.draw(st.sampled_from(FAMILIES[family]), label="mutation")
        if name := mutation(data, document):
            touched.append(name)

    try:
        lock = parse_lock(document, LOCK_PATH)
    except LockbundleError:
        return
    select_somehow(data, lock, touched)


@PROPERTY
@given(data=st.data())
def test_a_lock_mutated_every_way_gives_a_plan_or_a_lockbundle_error(data: st.DataObject) -> None:
    document = copy.deepcopy(LOCKS[data.draw(st.sampled_from(sorted(LOCKS)), label="base")])
    mutations = [mutation for family in FAMILIES.values() for mutation in family]
    touched = []
    for _ in range(data.draw(st.integers(min_value=2, max_value=6), label="mutations")):
        if name := data.draw(st.sampled_from(mutations), label="mutation")(data, document):
            touched.append(name)

    try:
        lock = parse_lock(document, LOCK_PATH)
    except LockbundleError:
        return
    select_somehow(data, lock, touched)


@PROPERTY
@given(
    document=st.dictionaries(st.sampled_from(LOCK_KEYS) | st.text(max_size=8), toml_values),
    data=st.data(),
)
def test_a_document_made_from_nothing_gives_a_lock_or_a_lockbundle_error(
    document: dict[str, Any], data: st.DataObject
) -> None:
    if data.draw(st.booleans(), label="a lock's version and revision"):
        document.update(version=1, revision=3)
    try:
        lock = parse_lock(document, LOCK_PATH)
    except LockbundleError:
        return
    select_somehow(data, lock, [])


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("damaged") / "uv.lock"


@PROPERTY
@given(data=st.data())
def test_a_damaged_lock_file_gives_a_lock_or_a_lockbundle_error(
    lock_file: Path, data: st.DataObject
) -> None:
    text = LOCK_TEXTS[data.draw(st.sampled_from(sorted(LOCK_TEXTS)), label="base")].encode()
    start = data.draw(st.integers(min_value=0, max_value=len(text)), label="start")
    end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 64)))
    damage = data.draw(
        st.one_of(
            st.binary(max_size=16),
            st.text(max_size=16).map(str.encode),
            st.sampled_from([b"", b"\xff\xfe", b"\x00", b'"', b"[[package]]\n", b"\n[", b"="]),
        ),
        label="damage",
    )
    lock_file.write_bytes(text[:start] + damage + text[end:])

    try:
        lock = read_lock(lock_file)
    except LockbundleError:
        return
    select_somehow(data, lock, [])


# -- valid locks, drawn ------------------------------------------------------------------------------
#
# The properties above hold for a parser that rejects everything. Those below draw locks that are
# valid by construction, so that reading and selecting must succeed, and say what the selection is.
# A drawn lock is first a `Drawn` (packages, versions, sources, files and edges with marker trees),
# from which both the uv.lock document and the expected closure are made: the expectation never
# goes through the code under test.

ROOT = "root-app"
POOL = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
EXTRA_NAMES = ["cli", "fast", "socks"]
GROUP_NAMES = ["dev", "test"]
REGISTRIES = ["https://pypi.org/simple", "https://mirror.example/simple"]
#: environment atoms an edge marker is made of
ENV_ATOMS = [
    ("python_version", ">=", "3.11"), ("python_version", "<", "3.12"),
    ("sys_platform", "==", "linux"), ("sys_platform", "!=", "win32"),
    ("sys_platform", "==", "darwin"), ("platform_machine", "==", "x86_64"),
    ("platform_machine", "==", "aarch64"), ("implementation_name", "==", "cpython"),
    ("os_name", "==", "nt"),
]  # fmt: skip
#: how a name locked twice is split: the first atom holds for one version, the second for the other
FORK_SPLITS = [
    (("python_version", ">=", "3.11"), ("python_version", "<", "3.11")),
    (("sys_platform", "==", "win32"), ("sys_platform", "!=", "win32")),
    (("platform_machine", "==", "aarch64"), ("platform_machine", "!=", "aarch64")),
]
PLATFORM_WHEEL_TAGS = [
    "cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_17_aarch64",
    "cp310-cp310-win_amd64", "cp313-cp313-macosx_11_0_arm64", "cp39-abi3-musllinux_1_2_x86_64",
]  # fmt: skip
VALID = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# A marker tree: ("atom", variable, operator, value) | ("and" | "or", [trees]).
MarkerTree = tuple[Any, ...]


def render(tree: MarkerTree) -> str:
    if tree[0] == "atom":
        return f"{tree[1]} {tree[2]} '{tree[3]}'"
    return f" {tree[0]} ".join(f"({render(item)})" for item in tree[1])


def holds(tree: MarkerTree | None, environment: dict[str, str], activated: set[str]) -> bool:
    """Whether an edge's marker holds: environment atoms one by one with packaging, encoded
    extras (``extra == 'extra-8-root-app-cli'``) by membership in ``activated``."""
    if tree is None:
        return True
    if tree[0] == "atom":
        variable, operator, value = tree[1:]
        if variable == "extra":
            return bool((value in activated) == (operator == "=="))
        return Marker(render(tree)).evaluate(environment)
    results = [holds(item, environment, activated) for item in tree[1]]
    return all(results) if tree[0] == "and" else any(results)


def encoded_extra(package: str, extra: str) -> str:
    return f"extra-{len(package)}-{package}-{extra}"


Key = tuple[str, str]  # (name, version) of a drawn package


@dataclass
class DrawnEdge:
    to: Key
    pinned: bool  # the edge names the version (always, when the name is locked twice)
    extras: tuple[str, ...] = ()
    marker: MarkerTree | None = None
    with_source: bool = False


@dataclass
class DrawnPackage:
    key: Key
    source: dict[str, str]
    wheels: list[dict[str, Any]] = dataclass_field(default_factory=list)
    sdist: dict[str, Any] | None = None
    edges: list[DrawnEdge] = dataclass_field(default_factory=list)
    extras: dict[str, list[DrawnEdge]] = dataclass_field(default_factory=dict)
    groups: dict[str, list[DrawnEdge]] = dataclass_field(default_factory=dict)
    resolution_markers: list[str] = dataclass_field(default_factory=list)


@dataclass
class Drawn:
    packages: dict[Key, DrawnPackage]  # the root first

    @property
    def root(self) -> DrawnPackage:
        return next(iter(self.packages.values()))

    def document(self, data: st.DataObject | None = None) -> dict[str, Any]:
        """The uv.lock document; with ``data``, its packages and every edge list in a drawn order."""

        def order(items: list[Any]) -> list[Any]:
            return items if data is None else data.draw(st.permutations(items))

        def edges(drawn: list[DrawnEdge]) -> list[dict[str, Any]]:
            return order([self.edge(edge) for edge in drawn])

        tables = []
        for package in self.packages.values():
            table: dict[str, Any] = {
                "name": package.key[0],
                "version": package.key[1],
                "source": package.source,
            }
            if package.resolution_markers:
                table["resolution-markers"] = package.resolution_markers
            if package.edges:
                table["dependencies"] = edges(package.edges)
            if package.sdist is not None:
                table["sdist"] = package.sdist
            if package.wheels:
                table["wheels"] = package.wheels
            if package.extras:
                names = order(sorted(package.extras))
                table["optional-dependencies"] = {n: edges(package.extras[n]) for n in names}
            if package.groups:
                names = order(sorted(package.groups))
                table["dev-dependencies"] = {n: edges(package.groups[n]) for n in names}
            tables.append(table)
        return {
            "version": 1,
            "revision": 3,
            "requires-python": ">=3.9",
            "package": [tables[0], *order(tables[1:])],
        }

    def edge(self, edge: DrawnEdge) -> dict[str, Any]:
        table: dict[str, Any] = {"name": edge.to[0]}
        if edge.pinned:
            table["version"] = edge.to[1]
        if edge.with_source:
            table["source"] = self.packages[edge.to].source
        if edge.extras:
            table["extra"] = list(edge.extras)
        if edge.marker is not None:
            table["marker"] = render(edge.marker)
        return table

    def closure(self, target: Target, extras: list[str], groups: list[str]) -> set[Key]:
        """What the lock says is installed for ``target``: every package reached from the root
        (with ``extras`` and ``groups``) through edges whose marker holds, an edge's extras
        activating those of the package it leads to. Worked out here from the drawn lock, not
        by the code under test."""
        environment = dict(target.environment)
        # encoded extras name only the root's, which only the request activates (no edge
        # leads to the root): known before the walk
        activated = {encoded_extra(ROOT, extra) for extra in extras}
        states: set[tuple[Key, str | None]] = set()
        pending: list[tuple[Key, str | None]] = []

        def reach(key: Key, extra: str | None) -> None:
            if (key, extra) not in states:
                states.add((key, extra))
                pending.append((key, extra))

        def follow(edges: list[DrawnEdge]) -> None:
            for edge in edges:
                if holds(edge.marker, environment, activated):
                    reach(edge.to, None)
                    for extra in edge.extras:
                        reach(edge.to, extra)

        reach(self.root.key, None)
        for requested in extras:
            reach(self.root.key, requested)
        for group in groups:
            follow(self.root.groups[group])
        while pending:
            key, state = pending.pop()
            package = self.packages[key]
            follow(package.edges if state is None else package.extras.get(state, []))
        return {key for key, _ in states}


def _digest(text: str, length: int = 64) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _file(name: str, filename: str) -> dict[str, Any]:
    return {
        "url": f"https://files.example/{name}/{filename}",
        "hash": f"sha256:{_digest(filename)}",
        "size": 100 * len(filename),
    }


def _drawn_package(draw: st.DrawFn, name: str, version: str) -> DrawnPackage:
    """A package from one of the sources uv writes, with files that fit every target: a pure
    wheel or an sdist (platform wheels besides)."""
    kind = draw(
        st.sampled_from(["registry", "registry", "registry", "git", "url", "path", "directory"]),
        label="source",
    )
    key = (name, version)
    if kind == "git":
        location = f"https://git.example/{name}.git?rev=v{version}#{_digest(name + version, 40)}"
        return DrawnPackage(key, {"git": location})
    if kind == "url":
        source = {"url": f"https://files.example/{name}-{version}.tar.gz"}
        return DrawnPackage(key, source, sdist={"hash": f"sha256:{_digest(name + version)}"})
    if kind == "path":
        wheel = f"{name}-{version}-py3-none-any.whl"
        entries = [{"filename": wheel, "hash": f"sha256:{_digest(wheel)}"}]
        return DrawnPackage(key, {"path": f"vendor/{wheel}"}, wheels=entries)
    if kind == "directory":
        return DrawnPackage(key, {"directory": f"libs/{name}-{version}"})
    files = draw(st.sampled_from(["pure", "pure+platform", "sdist", "pure+sdist"]), label="files")
    wheels = [_file(name, f"{name}-{version}-py3-none-any.whl")] if "pure" in files else []
    if "platform" in files:
        tags = draw(
            st.lists(st.sampled_from(PLATFORM_WHEEL_TAGS), min_size=1, max_size=3, unique=True)
        )
        wheels += [_file(name, f"{name}-{version}-{tag}.whl") for tag in tags]
    sdist = _file(name, f"{name}-{version}.tar.gz") if "sdist" in files else None
    registry = draw(st.sampled_from(REGISTRIES))
    return DrawnPackage(key, {"registry": registry}, wheels=wheels, sdist=sdist)


def marker_trees(root_extras: list[str]) -> st.SearchStrategy[MarkerTree]:
    """An atom, two or three joined, or an atom joined with such a join: environment atoms and
    the root's encoded extras (``==`` and ``!=``)."""
    atoms: list[MarkerTree] = [("atom", *atom) for atom in ENV_ATOMS]
    atoms += [
        ("atom", "extra", operator, encoded_extra(ROOT, extra))
        for extra in root_extras
        for operator in ("==", "!=")
    ]
    atom = st.sampled_from(atoms)
    joins = st.sampled_from(["and", "or"])
    joined = st.tuples(joins, st.lists(atom, min_size=2, max_size=3))
    return st.one_of(atom, joined, st.tuples(joins, st.tuples(atom, joined).map(list)))


@st.composite
def drawn_locks(draw: st.DrawFn, *, markers: bool = True) -> Drawn:
    """A valid lock: a root project (editable or virtual) with extras and groups, packages of
    every source kind, some names locked twice (forks), edges with markers and extras."""
    names = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True))
    forked = (
        draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        if markers
        else []
    )
    # either side of a split may be the older version
    splits = {
        name: split if draw(st.booleans()) else split[::-1]
        for name in forked
        for split in [draw(st.sampled_from(FORK_SPLITS), label="split")]
    }
    root = DrawnPackage(
        (ROOT, "0.1.0"), draw(st.sampled_from([{"editable": "."}, {"virtual": "."}]))
    )
    packages = {root.key: root}
    versions: dict[str, list[str]] = {}
    for name in names:
        versions[name] = (
            ["1.0", "2.0"] if name in forked else [draw(st.sampled_from(["0.1", "1.0", "2.3.1"]))]
        )
        for index, version in enumerate(versions[name]):
            package = _drawn_package(draw, name, version)
            if name in forked:
                package.resolution_markers = [render(("atom", *splits[name][index]))]
            packages[package.key] = package
    for package in packages.values():
        # the root has an extra, which edge markers may name (encoded)
        least = 1 if package is root else 0
        extras = draw(
            st.lists(st.sampled_from(EXTRA_NAMES), min_size=least, max_size=2, unique=True)
        )
        package.extras = {extra: [] for extra in extras}
    root.groups = {g: [] for g in draw(st.lists(st.sampled_from(GROUP_NAMES), unique=True))}
    trees = marker_trees(sorted(root.extras))

    def edges(most: int, least: int = 0) -> list[DrawnEdge]:
        drawn = []
        named = st.lists(st.sampled_from(names), min_size=least, max_size=most)
        for name in draw(named, label="edges"):
            marker = draw(st.none() | trees) if markers else None
            # a name locked twice is reached under its split's markers only, one version a side
            ends = draw(st.sampled_from([[0], [1], [0, 1]])) if name in forked else [0]
            for index in ends:
                to = (name, versions[name][index])
                fork = ("atom", *splits[name][index]) if name in forked else None
                both = [tree for tree in (marker, fork) if tree is not None]
                extras = draw(
                    st.lists(
                        st.sampled_from(sorted(packages[to].extras) or ["-"]),
                        max_size=2,
                        unique=True,
                    )
                )
                drawn.append(
                    DrawnEdge(
                        to,
                        pinned=name in forked or draw(st.booleans()),
                        extras=tuple(extra for extra in extras if extra != "-"),
                        marker=both[0] if len(both) == 1 else ("and", both) if both else None,
                        with_source=draw(st.booleans()),
                    )
                )
        return drawn

    for package in packages.values():
        # the root depends on something: the walk has somewhere to go
        package.edges = edges(4, least=1) if package is root else edges(3)
        for extra in package.extras:
            package.extras[extra] = edges(2)
    for group in root.groups:
        root.groups[group] = edges(2)
    return Drawn(packages)


def _request(data: st.DataObject, drawn: Drawn) -> tuple[Target, list[str], list[str]]:
    """A target, and some of the root's extras and groups."""
    target = data.draw(st.sampled_from(TARGETS), label="target")
    every = sorted(drawn.root.extras) or ["-"]
    extras = data.draw(st.just(every) | st.lists(st.sampled_from(every), unique=True))
    groups = data.draw(st.lists(st.sampled_from(sorted(drawn.root.groups) or ["-"]), unique=True))
    return target, [e for e in extras if e != "-"], [g for g in groups if g != "-"]


def _selected(plan: Plan) -> set[Key]:
    return {(str(planned.name), str(planned.version)) for planned in plan.packages}


def _installed(drawn: Drawn, target: Target, extras: list[str], groups: list[str]) -> set[Key]:
    """The drawn closure without a virtual root, which is never installed."""
    closure = drawn.closure(target, extras, groups)
    if "virtual" in drawn.root.source:
        closure.discard(drawn.root.key)
    return closure


@VALID
@given(drawn=drawn_locks(), data=st.data())
def test_a_valid_lock_selects_a_subset_of_itself_closed_under_the_edges_that_hold(
    drawn: Drawn, data: st.DataObject
) -> None:
    lock = parse_lock(drawn.document(), LOCK_PATH)
    target, extras, groups = _request(data, drawn)

    plan = select(lock, target, ROOT, extras, groups)

    assert all(any(p.package is q for q in lock.packages) for p in plan.packages)
    # closed: every package an edge that holds reaches, at the version that edge leads to
    assert _installed(drawn, target, extras, groups) - _selected(plan) == set()


@VALID
@given(drawn=drawn_locks(), data=st.data())
def test_a_valid_lock_selects_only_what_an_edge_that_holds_reaches(
    drawn: Drawn, data: st.DataObject
) -> None:
    lock = parse_lock(drawn.document(), LOCK_PATH)
    target, extras, groups = _request(data, drawn)

    plan = select(lock, target, ROOT, extras, groups)

    assert _selected(plan) - _installed(drawn, target, extras, groups) == set()


def _summary(plan: Plan) -> tuple[object, ...]:
    """All that a plan says except why each package is in it (the first path found, which
    depends on the order edges are read in)."""
    packages = [(p.name, p.version, p.artifact) for p in plan.packages]
    return packages, dict(plan.edges), plan.extras, plan.groups


@VALID
@given(drawn=drawn_locks(), data=st.data())
def test_reordering_packages_and_edges_changes_nothing_selected(
    drawn: Drawn, data: st.DataObject
) -> None:
    target, extras, groups = _request(data, drawn)
    written = parse_lock(drawn.document(), LOCK_PATH)
    reordered = parse_lock(drawn.document(data), LOCK_PATH)

    assert _summary(select(reordered, target, ROOT, extras, groups)) == _summary(
        select(written, target, ROOT, extras, groups)
    )


@VALID
@given(drawn=drawn_locks(markers=False), data=st.data())
def test_a_lock_without_markers_selects_the_same_set_for_every_target(
    drawn: Drawn, data: st.DataObject
) -> None:
    lock = parse_lock(drawn.document(), LOCK_PATH)
    _, extras, groups = _request(data, drawn)

    plans = [select(lock, target, ROOT, extras, groups) for target in TARGETS]

    assert [(_selected(plan), dict(plan.edges)) for plan in plans] == [
        (_selected(plans[0]), dict(plans[0].edges))
    ] * len(TARGETS)


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the wheels "fetched" for rewritten locks are: each file holds its own name."""
    return tmp_path_factory.mktemp("fetched")


def _fetched(plan: Plan, directory: Path) -> list[FetchedWheel]:
    """A wheel for each planned package, as fetch hands them on: the locked wheel chosen, or
    one built from the sdist, source tree or git checkout."""
    fetched = []
    for planned in plan.packages:
        artifact = planned.artifact
        if artifact.kind == "wheel":
            assert artifact.filename is not None
            origin = WheelOrigin.DOWNLOADED if artifact.url else WheelOrigin.LOCAL_FILE
            filename = artifact.filename
        else:
            name = str(planned.name).replace("-", "_")
            filename = f"{name}-{planned.version}-py3-none-any.whl"
            origin = WheelOrigin.BUILT_FROM_SOURCE_TREE
        path = directory / filename
        if not path.exists():
            path.write_bytes(filename.encode())
        fetched.append(FetchedWheel(planned, path, origin))
    return fetched


@VALID
@given(drawn=drawn_locks(), data=st.data())
def test_a_wheelhouse_lock_selects_the_same_wheels_as_the_lock_it_was_made_from(
    wheel_files: Path, drawn: Drawn, data: st.DataObject
) -> None:
    target, extras, groups = _request(data, drawn)
    plan = select(parse_lock(drawn.document(), LOCK_PATH), target, ROOT, extras, groups)
    fetched = _fetched(plan, wheel_files)
    graph = HouseGraph([plan], _collect([FetchedPlan(plan, tuple(fetched))], binary_only=False))
    project = f"{ROOT}-wheelhouse"
    text = _uv_lock(plan, graph, project, f"=={target.python_version}.*")

    rewritten = decode_lock(text.encode(), Path("/wheelhouse/uv.lock"))
    again = select(rewritten, target, project)

    assert {(p.name, p.version, p.artifact.filename) for p in again.packages} == {
        (f.planned.name, f.planned.version, f.path.name) for f in fetched
    }


def test_every_fixture_lock_selects_each_project_for_every_target_it_admits() -> None:
    """Known-valid locks, written by uv: each project alone, and with each of its extras and
    groups, selects a subset of the lock for every target whose Python the lock admits."""
    selections = refusals = 0
    for path in sorted(FIXTURE_LOCKS.glob("*/uv.lock")):
        lock = read_lock(path)
        admitted = SpecifierSet(lock.requires_python or "")
        targets = [t for t in TARGETS if t.environment["python_full_version"] in admitted]
        assert targets, path
        for root in (p for p in lock.packages if p.source.is_source_tree):
            requests: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())]
            requests += [((extra,), ()) for extra in root.extras]
            requests += [((), (group,)) for group in root.groups]
            for target in targets:
                for extras, groups in requests:
                    try:
                        plan = select(lock, target, root.name, extras, groups)
                    except SelectionError as error:
                        # the one refusal a valid lock may earn: a request that its declared
                        # conflicts make hold two versions of one package (as uv refuses it)
                        assert lock.conflicts, (path, root.name, extras, groups, error)
                        assert "more than once" in str(error), error
                        refusals += 1
                        continue
                    assert all(any(p.package is q for q in lock.packages) for p in plan.packages)
                    selections += 1
    assert selections > len(TARGETS)
    assert refusals < selections // 10


# -- archives ----------------------------------------------------------------------------------------

ARCHIVE_DIRS = ["", "pkg", "pkg/sub", "bin", "data/a"]
ARCHIVE_NAMES = ["__init__.py", "a.txt", "B", "z.bin"]


@st.composite
def drawn_trees(draw: st.DrawFn) -> dict[str, tuple[bytes, bool] | None]:
    """Relative path -> (content, executable) of each file, or None for an empty directory."""
    paths = draw(
        st.lists(
            st.tuples(st.sampled_from(ARCHIVE_DIRS), st.sampled_from(ARCHIVE_NAMES)),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    tree: dict[str, tuple[bytes, bool] | None] = {
        f"{directory}/{name}".lstrip("/"): (draw(st.binary(max_size=64)), draw(st.booleans()))
        for directory, name in paths
    }
    for empty in draw(st.lists(st.sampled_from(["empty", "pkg/empty", "data/a/b"]), unique=True)):
        tree[empty] = None
    return tree


def make_tree(root: Path, tree: dict[str, tuple[bytes, bool] | None], order: list[str]) -> Path:
    """Create the files and directories of ``tree`` in ``order``."""
    for relative in order:
        path = root / relative
        entry = tree[relative]
        if entry is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(entry[0])
        path.chmod(0o755 if entry[1] else 0o644)
    return root


@pytest.fixture(scope="module")
def tree_space() -> Iterator[Path]:
    """Where drawn trees are made: tmpfs when there is one, because a directory there lists its
    entries in the order they were created (ext4 lists them by a hash of the name, whatever the
    order: a tree made there would not show an archive that follows the listing)."""
    shm = Path("/dev/shm")
    where = tempfile.mkdtemp(
        prefix="lockbundle-trees-", dir=shm if os.access(shm, os.W_OK) else None
    )
    yield Path(where)
    shutil.rmtree(where)


@VALID
@given(tree=drawn_trees(), data=st.data())
def test_an_archive_is_the_same_bytes_whatever_order_its_files_were_created_in(
    tree_space: Path, tree: dict[str, tuple[bytes, bool] | None], data: st.DataObject
) -> None:
    orders = [sorted(tree), data.draw(st.permutations(sorted(tree)), label="order")]
    prefix = data.draw(st.sampled_from(["", "python", "app-1.0"]), label="prefix")
    work = Path(tempfile.mkdtemp(dir=tree_space))
    try:
        made = [make_tree(work / f"tree-{i}", tree, order) for i, order in enumerate(orders)]
        for fmt in FORMATS:
            written = [
                write_archive(directory, work / f"{directory.name}.{fmt}", fmt, prefix, 1580601600)
                for directory in made
            ]
            assert written[0].read_bytes() == written[1].read_bytes(), fmt
    finally:
        shutil.rmtree(work)
