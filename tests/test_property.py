"""Property: whatever a lock document holds, reading and selecting give a result or a LockbundleError.

Documents start from real locks (``fixtures/locks/*/uv.lock`` and the test locks of every source
kind) and are mutated: keys dropped, values of another type, unknown lock versions and revisions,
random strings for markers, hashes, URLs and sources, renamed and duplicated packages, dangling
edges and dependency cycles. Lock files are also damaged byte by byte, and documents made from
nothing. ``read_lock``/``parse_lock`` and then ``select`` (for several targets, roots, extras and
groups) must either succeed or raise :class:`LockbundleError`, never any other exception.

Examples are derandomized, so that a run in CI explores the same cases as a run here.
"""

from __future__ import annotations

import contextlib
import copy
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.lock import SOURCE_KINDS, Lock, parse_lock, read_lock
from hatch_lockbundle.select import select
from hatch_lockbundle.target import Target
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


def _some_of(known: list[str], everything: Any) -> st.SearchStrategy[Any]:
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
