"""Property: a drawn wheel or lock, honest or hostile, is bundled or refused, and nothing escapes.

Each example is a project of its own (a virtual root ``app``, a hand-written ``uv.lock``, wheels
next to it by ``path``) built in this process by the engine the ``lockbundle build`` command runs,
into both layouts, with the output directory beside decoy files, a planted symlink and a secret.
For every example, honest or hostile:

- the build gives a bundle or a :class:`LockbundleError`, never another exception;
- the error names the distribution (or the wheel's file name, or the lock's field);
- nothing appears, changes or disappears outside the output directory and the cache;
- no byte of the secret (a file outside the inputs a symlink member or a path aims at), and no
  credential of a lock's URL, reaches the bundle, the cache, a message or a log line;
- a target bundle holds only files inside it that the wheel's RECORD vouches for, and a
  wheelhouse carries the wheel unchanged, with no link or path outside among its members;
- and an honest wheel or lock is bundled, so that a parser refusing everything fails.

Examples are derandomized (as in ``test_property.py``), so CI explores the cases run here.
"""

from __future__ import annotations

import hashlib
import os
import stat
import string
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from support.bundle import distributions, files, occurrences
from support.hostile import (
    ESCAPE,
    EXECUTABLE,
    LAYOUTS,
    LINK,
    ROOT,
    ROOT_VERSION,
    SECRET,
    DrawnWheel,
    Member,
    Outcome,
    RecordLie,
    Sandbox,
    path_package,
    toml_string,
)
from support.index import IndexServer
from support.records import record, record_hash, record_mismatches

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    # shrinking a failure is cheap here (a build takes milliseconds)
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NAMES = ["victim", "good-pkg", "a-b-c", "x1"]
VERSIONS = ["1.0", "0.1.0", "2.0.post1", "3.1rc2", "1!2.0", "1.0+local.7"]
COMMENT = st.text(alphabet=string.ascii_letters + string.digits + " .,", max_size=30)
METHODS = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])


# -- wheels: the honest base ------------------------------------------------------------------------


@st.composite
def valid_wheels(draw: st.DrawFn) -> DrawnWheel:
    """A wheel any installer takes: a package, METADATA, WHEEL and RECORD, and maybe entry points,
    ``.data`` scripts, purelib files and headers; member order, compression and spellings vary."""
    name = draw(st.sampled_from(NAMES))
    version = draw(st.sampled_from(VERSIONS))
    stem = name.replace("-", "_")
    data = f"{stem}-{version}.data"
    method = METHODS

    def py(text: str) -> bytes:
        return f"{text}\n# {draw(COMMENT)}\n".encode()

    payload = [
        Member(
            f"{stem}/__init__.py",
            py("def main():\n    return 0\n\ndef gui():\n    return 0"),
            method=draw(method),
        )
    ]
    for index in range(draw(st.integers(0, 2))):
        payload.append(Member(f"{stem}/m{index}.py", py(f"VALUE = {index}"), method=draw(method)))
    if draw(st.booleans()):
        payload.append(
            Member(f"{stem}/blob.bin", draw(st.binary(max_size=200)), method=draw(method))
        )
    if draw(st.booleans()):
        payload.append(Member(f"{data}/scripts/{stem}-tool", b"#!/bin/sh\necho tool\n", EXECUTABLE))
    if draw(st.booleans()):
        payload.append(Member(f"{data}/purelib/{stem}_extra.py", py("EXTRA = 1")))
    if draw(st.booleans()):
        payload.append(Member(f"{data}/headers/{stem}.h", b"int f(void);\n"))
    payload = [payload[i] for i in draw(st.permutations(range(len(payload))))]

    dist_info = f"{stem}-{version}.dist-info"
    spelled = draw(st.sampled_from([name, stem, name.upper(), name.title()]))
    purelib = draw(st.sampled_from(["true", "false"]))
    meta = [
        Member(
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: {spelled}\nVersion: {version}\n".encode(),
        ),
        Member(
            f"{dist_info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: drawn\nRoot-Is-Purelib: {purelib}\n"
            "Tag: py3-none-any\n".encode(),
        ),
    ]
    if draw(st.booleans()):
        groups = [f"[console_scripts]\n{name}-cli = {stem}:main\n"]
        if draw(st.booleans()):
            groups.append(f"[gui_scripts]\n{name}-gui = {stem}:gui\n")
        if draw(st.booleans()):
            groups.append(f"[some.plugins]\nthing = {stem}.sub:Thing [extra]\n")
        meta.append(Member(f"{dist_info}/entry_points.txt", "\n".join(groups).encode()))
    return DrawnWheel(name, version, tuple(payload + meta))


# -- wheels: hostile variations of it ---------------------------------------------------------------

CONTROL = ["\0", "\x1b[2J", "\n", "\r", "\x7f", "\u202e", "\t", "\x08"]


def _fill(text: str, wheel: DrawnWheel) -> str:
    return text.replace("{pkg}", wheel.stem).replace("{data}", f"{wheel.stem}-{wheel.version}.data")


SCHEME_PREFIXES = st.sampled_from(
    ["", "{pkg}/", "{data}/scripts/", "{data}/purelib/", "{data}/headers/", "{data}/data/",
     "{data}/platlib/"]
)  # fmt: skip
#: climbing out: a few levels (out of the install's staging, the cache, the sandbox), or all the
#: way up and down to the escape directory (drawn most, as it is what an attacker aims at)
climbing = st.builds(
    lambda prefix, depth: prefix + "../" * depth + "owned.py",
    SCHEME_PREFIXES,
    st.sampled_from([1, 2, 3, 5, 6, 8]),
)
climbing_to_escape = st.builds(
    lambda prefix: prefix + "../" * 64 + f"{ESCAPE}/owned.py", SCHEME_PREFIXES
)
# hypothesis draws the first branches most (they are the "simplest"): escapes come first
hostile_member_names = st.one_of(
    climbing_to_escape,
    climbing,
    st.sampled_from(
        [
            f"/{ESCAPE}/owned.py",
            f"{{data}}/data//{ESCAPE}/owned",
            f"{{data}}/scripts//{ESCAPE}/owned",
            "{pkg}\\..\\..\\..\\owned.py",
            "..\\" * 64 + ESCAPE.replace("/", "\\") + "\\owned.py",
            "C:/owned.py",
            "C:\\owned.py",
            "c:owned.py",
            "{pkg}/C:/owned.py",
            "{data}/unknown/owned.py",
            "{data}/../owned.py",
            "{pkg}/",
            "./{pkg}/dot.py",
            "{pkg}//double.py",
        ]
    ),
    st.builds(lambda char: "{pkg}/m" + char + ".py", st.sampled_from(CONTROL)),
    st.builds(lambda depth: "{pkg}/" + "d/" * depth + "x.py", st.sampled_from([199, 201, 2100])),
)


@st.composite
def _with_hostile_name(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    name = _fill(draw(hostile_member_names), wheel)
    # listed in RECORD, as an attacker would: an unlisted member is refused for that alone
    member = Member(name, b"owned = True\n")
    return wheel.with_member(member, f"a member named {name!r}")


@st.composite
def _with_twin(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    """A second member whose name is the same, or the same but for case or normalisation."""
    kind = draw(st.sampled_from(["duplicate", "case", "unicode"]))
    if kind == "unicode":
        nfc = f"{wheel.stem}/caf\u00e9.py"
        first = Member(nfc, b"A = 1\n")
        second = Member(unicodedata.normalize("NFD", nfc), b"A = 2\n")
        return replace(wheel, members=(first, *wheel.members, second), hostile="NFC and NFD")
    original = draw(st.sampled_from(wheel.members))
    name = original.name if kind == "duplicate" else original.name.swapcase()
    twin = Member(name, b"twin = True\n", recorded=draw(st.booleans()))
    return wheel.with_member(twin, f"{kind} of {original.name}")


@st.composite
def _with_symlink(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    """A member that is a symbolic link (zip external attributes), in place of a file or new."""
    target = draw(
        st.sampled_from(
            [f"/{SECRET}", "../" * 64 + SECRET, "../../../secret.txt", "__init__.py", "/etc/passwd"]
        )
    )
    replaced = draw(st.one_of(st.none(), st.sampled_from(wheel.members)))
    name = replaced.name if replaced is not None else f"{wheel.stem}/link.py"
    kept = tuple(m for m in wheel.members if m is not replaced)
    link = Member(name, target.encode(), LINK)
    return replace(wheel, members=(*kept, link), hostile=f"{name} a symlink to {target}")


@st.composite
def _with_lying_record(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    kind = draw(
        st.sampled_from(
            ["wrong-hash", "wrong-size", "huge-size", "missing", "outside", "algorithm",
             "non-utf8", "malformed"]
        )
    )  # fmt: skip
    member = draw(st.sampled_from(wheel.members)).name
    value = ""
    if kind == "outside":
        value = _fill(draw(st.sampled_from(
            ["../../owned.py", f"/{ESCAPE}/owned.py", "{pkg}/../../../owned.py",
             "../" * 64 + SECRET]
        )), wheel)  # fmt: skip
    elif kind == "algorithm":
        value = draw(st.sampled_from(["md5", "sha1", "shake_128", "nosuch", "sha3_256", "SHA256"]))
    elif kind == "malformed":
        value = draw(
            st.sampled_from(
                ["a,b,c,d,e", f"{member},sha256,12", f"{member},=abc,1", '"unterminated',
                 f"{member},sha256=abc,-5", f"{member},sha256=abc,ten"]
            )
        )  # fmt: skip
    return replace(wheel, lie=RecordLie(kind, member, value), hostile=f"RECORD {kind} {member}")


def _replace_meta(wheel: DrawnWheel, suffix: str, data: bytes | None, hostile: str) -> DrawnWheel:
    name = f"{wheel.dist_info}/{suffix}"
    kept = tuple(m for m in wheel.members if m.name != name)
    added = (Member(name, data),) if data is not None else ()
    return replace(wheel, members=(*kept, *added), hostile=hostile)


@st.composite
def _with_other_identity(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    name, version = draw(
        st.sampled_from(
            [
                ("other", wheel.version),
                (wheel.name, "6.6.6"),
                ("", ""),
                (wheel.name, "not a version"),
            ]
        )
    )
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    if draw(st.booleans()):
        return _replace_meta(wheel, "METADATA", metadata, f"METADATA says {name} {version}")
    return _replace_meta(wheel, "METADATA", None, "no METADATA")


@st.composite
def _with_bad_wheel_file(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    version, purelib = draw(
        st.sampled_from([("1.0", "maybe"), ("2.0", "true"), ("banana", "true"), ("1.0", None),
                         (None, "true"), ("1.9", "TRUE")])
    )  # fmt: skip
    lines = ["Generator: drawn", "Tag: py3-none-any"]
    if version is not None:
        lines.append(f"Wheel-Version: {version}")
    if purelib is not None:
        lines.append(f"Root-Is-Purelib: {purelib}")
    data = ("\n".join(lines) + "\n").encode() if draw(st.integers(0, 5)) else None
    return _replace_meta(wheel, "WHEEL", data, f"WHEEL {version} {purelib}")


ENTRY_POINTS = [
    f"[console_scripts]\nevil = os:system('touch /{ESCAPE}/ran')\n",
    "[console_scripts]\nevil = {pkg}:main; import os\n",
    "[console_scripts]\nevil = __import__('os').system('x'):main\n",
    "evil = {pkg}:main\n",
    "[console_scripts]\nevil = {pkg}:main\nevil = {pkg}:gui\n",
    "[console_scripts]\na = {pkg}:main\n[console_scripts]\nb = {pkg}:main\n",
    "[console_scripts]\n" + "../" * 12 + f"{ESCAPE}/evil = {{pkg}}:main\n",
    f"[console_scripts]\n/{ESCAPE}/evil = {{pkg}}:main\n",
    "[gui_scripts]\n..\\..\\evil = {pkg}:main\n",
    "[console_scripts]\nev\x1b[2Jil = {pkg}:main\n",
    "[console_scripts]\nevil =\n",
    "[console_scripts]\nevil = {pkg}:main [extra\n",
    "[console_scripts\nevil = {pkg}:main\n",
    "[console_scripts]\nevil = {pkg}:\n",
    "[console_scripts]\n= {pkg}:main\n",
    "[console_scripts]\nevil = {pkg}.:main\n",
]


@st.composite
def _with_bad_entry_points(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    text = _fill(draw(st.sampled_from(ENTRY_POINTS)), wheel)
    return _replace_meta(wheel, "entry_points.txt", text.encode(), f"entry points {text!r}")


@st.composite
def _with_bad_zip_header(draw: st.DrawFn, wheel: DrawnWheel) -> DrawnWheel:
    """A member with a lying size, the encryption flag, or compressed with bzip2 or lzma (which
    another part of the product may accept within bounds: accepted or refused, both do)."""
    original = draw(st.sampled_from(wheel.members))
    change = draw(st.sampled_from(["size", "encrypted", "bzip2", "lzma"]))
    if change == "size":
        size = draw(st.sampled_from([0xFFFFFF00, 1 << 31, 0, max(len(original.data) - 1, 0)]))
        changed = replace(original, declared_size=size)
    elif change == "encrypted":
        changed = replace(original, encrypted=True)
    else:
        method = zipfile.ZIP_BZIP2 if change == "bzip2" else zipfile.ZIP_LZMA
        changed = replace(original, method=method)
    members = tuple(changed if m is original else m for m in wheel.members)
    return replace(wheel, members=members, hostile=f"{original.name}: {change}")


HOSTILE = [
    _with_hostile_name,  # first: names are how a wheel would write outside
    _with_twin,
    _with_symlink,
    _with_lying_record,
    _with_other_identity,
    _with_bad_wheel_file,
    _with_bad_entry_points,
    _with_bad_zip_header,
]


@st.composite
def hostile_wheels(draw: st.DrawFn) -> DrawnWheel:
    """The honest base with one hostile variation (some of them, a twin by case on Linux or a
    RECORD hashed with sha3, may well be accepted)."""
    base = draw(valid_wheels())
    return draw(st.sampled_from(HOSTILE).flatmap(lambda vary: vary(base)))


# -- running a drawn wheel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-property")


def build_wheel(parent: Path, wheel: DrawnWheel) -> tuple[Sandbox, Path, list[Outcome]]:
    """The wheel written beside a lock that names it by ``path``, built into both layouts, each
    checked to change nothing outside the output directory and the cache."""
    sandbox = Sandbox.create(parent)
    written = wheel.write(sandbox.project / "wheels", sandbox.places)
    sandbox.write_lock([path_package(written, wheel.name, wheel.version)], [wheel.name])
    outcomes = []
    for layout in LAYOUTS:
        before = sandbox.snapshot()
        outcome = sandbox.build(layout)
        assert_nothing_outside(sandbox, before, outcome)
        outcomes.append(outcome)
    return sandbox, written, outcomes


def assert_nothing_outside(sandbox: Sandbox, before: dict[str, str], outcome: Outcome) -> None:
    after = sandbox.snapshot()
    if outcome.bundle is not None:
        assert outcome.bundle.parent == sandbox.out and not outcome.bundle.is_symlink()
        mine = f"out/{outcome.bundle.name}"
        after = {k: v for k, v in after.items() if k != mine and not k.startswith(mine + "/")}
        before = {k: v for k, v in before.items() if k != mine and not k.startswith(mine + "/")}
    appeared = sorted(set(after) - set(before))
    vanished = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert (appeared, vanished, changed) == ([], [], []), f"{outcome.layout}: {outcome.error}"


def assert_names(outcome: Outcome, *names: str) -> None:
    if outcome.error is not None:
        message = str(outcome.error)
        assert any(name in message for name in names), f"{names} not in: {message}"
        assert " object at 0x" not in message, message  # a Python repr is not a message


def assert_no_secret(sandbox: Sandbox, outcome: Outcome, *secrets: str) -> None:
    needles = [sandbox.secret_bytes.decode(), *secrets]
    places = [sandbox.cache] + ([outcome.bundle] if outcome.bundle is not None else [])
    for place in places:
        found = occurrences(place, needles) if place.exists() else {}
        assert found == {}, f"{outcome.layout}: in {place}: {found}"
    said = [str(outcome.error), *outcome.logged]
    assert not [line for line in said for needle in needles if needle in line]


def vouched(wheel: Path) -> set[str]:
    """The sha256 RECORD hashes of ``wheel`` (what its RECORD vouches for)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        text = archive.read(name).decode("utf-8", "replace")
    return {line.split(",")[1] for line in text.splitlines() if line.count(",") >= 2}


def assert_vouched(outcome: Outcome, written: Path) -> None:
    """A bundle holds only files inside it; a target bundle only files its RECORDs list truly,
    whose content the wheel's RECORD vouches for; a wheelhouse the wheel itself, unchanged."""
    bundle = outcome.bundle
    if bundle is None:
        return
    for path in files(bundle):
        assert os.path.realpath(path).startswith(os.path.realpath(bundle) + os.sep), path
    if outcome.layout == "wheelhouse":
        carried = bundle / "wheels" / written.name
        assert carried.read_bytes() == written.read_bytes()
        # what the server's installer unpacks: nothing that could land outside its target
        with zipfile.ZipFile(carried) as archive:
            for info in archive.infolist():
                name = info.filename.replace("\\", "/")
                assert not stat.S_ISLNK(info.external_attr >> 16), f"carries a link {name!r}"
                assert not name.startswith("/") and name[1:2] != ":", f"carries {name!r}"
                assert ".." not in name.split("/"), f"carries {name!r}"
        return
    assert record_mismatches(bundle) == []
    listed = {
        os.path.normpath(row.path)
        for dist_info in bundle.glob("*.dist-info")
        for row in record(dist_info)
    }
    trusted = vouched(written)
    for path in files(bundle):
        relative = path.relative_to(bundle)
        if "__pycache__" in relative.parts:
            continue
        assert str(relative) in listed, f"{relative} is in no RECORD"
        if relative.parts[0] == "bin" or relative.parts[0].endswith(".dist-info"):
            continue  # launchers and the installer's own files: written here, not unpacked
        assert record_hash(path.read_bytes()) in trusted, f"{relative}: not what RECORD vouches"


# -- wheel properties -------------------------------------------------------------------------------


@PROPERTY
@given(wheel=valid_wheels())
def test_a_drawn_valid_wheel_is_bundled_in_both_layouts(sandboxes: Path, wheel: DrawnWheel) -> None:
    _, written, outcomes = build_wheel(sandboxes, wheel)

    for outcome in outcomes:
        assert outcome.error is None, f"{outcome.layout}: {outcome.error}"
        assert_vouched(outcome, written)
    target = outcomes[0].bundle
    assert target is not None and distributions(target) == {(wheel.name, wheel.version)}


@PROPERTY
@given(wheel=hostile_wheels())
def test_a_drawn_hostile_wheel_is_bundled_or_refused_naming_it_and_nothing_escapes(
    sandboxes: Path, wheel: DrawnWheel
) -> None:
    _, written, outcomes = build_wheel(sandboxes, wheel)

    for outcome in outcomes:
        assert_names(outcome, wheel.name, written.name)


@PROPERTY
@given(wheel=hostile_wheels())
def test_a_drawn_hostile_wheel_bundled_holds_only_what_its_record_vouches_for(
    sandboxes: Path, wheel: DrawnWheel
) -> None:
    _, written, outcomes = build_wheel(sandboxes, wheel)

    for outcome in outcomes:
        assert_vouched(outcome, written)


@PROPERTY
@given(wheel=valid_wheels().flatmap(_with_symlink) | hostile_wheels())
def test_no_byte_of_a_file_outside_the_inputs_reaches_the_bundle_the_cache_or_a_message(
    sandboxes: Path, wheel: DrawnWheel
) -> None:
    sandbox, _, outcomes = build_wheel(sandboxes, wheel)

    for outcome in outcomes:
        assert_no_secret(sandbox, outcome)


# -- locks ------------------------------------------------------------------------------------------

LOCK_PROPERTY = settings(PROPERTY, max_examples=40)
package_names = st.from_regex(r"[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,3})?", fullmatch=True).filter(
    lambda name: name != ROOT
)


@dataclass(frozen=True)
class DrawnLock:
    """Packages (name, version, the names they depend on) and the root's dependencies."""

    packages: tuple[tuple[str, str, tuple[str, ...]], ...]
    roots: tuple[str, ...]

    def reachable(self) -> set[tuple[str, str]]:
        by_name = {name: (version, edges) for name, version, edges in self.packages}
        seen: set[str] = set()
        queue = list(self.roots)
        while queue:
            name = queue.pop()
            if name not in seen:
                seen.add(name)
                queue += by_name[name][1]
        return {(name, by_name[name][0]) for name in seen}


@st.composite
def valid_locks(draw: st.DrawFn) -> DrawnLock:
    """Path wheels with edges between them (cycles included), and a root depending on some."""
    names = draw(st.lists(package_names, min_size=1, max_size=4, unique=True))
    packages = tuple(
        (
            name,
            draw(st.sampled_from(VERSIONS)),
            tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=3))),
        )
        for name in names
    )
    roots = tuple(draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    return DrawnLock(packages, roots)


def honest_wheel(name: str, version: str) -> DrawnWheel:
    """The smallest honest wheel of ``name`` ``version`` (the same bytes for the same two)."""
    stem = name.replace("-", "_")
    dist_info = f"{stem}-{version}.dist-info"
    return DrawnWheel(
        name,
        version,
        (
            Member(f"{stem}/__init__.py", f"NAME = {name!r}\n".encode()),
            Member(
                f"{dist_info}/METADATA",
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
            ),
            Member(
                f"{dist_info}/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            ),
        ),
    )


@dataclass(frozen=True)
class LockChange:
    """One hostile value put into a drawn lock: ``field`` of package #``index`` (or the root's)."""

    field: str
    index: int
    value: str


HOSTILE_TEXT = [
    "../../x", "a/b", "x\x1b[2J", "x\x00y", "x\ny", " spaced", "", ".hidden", "\u202ex",
    "a" * 5000, "C:x", "..", "1.0/../../../../x/victim", "1." + "0" * 3000,
]  # fmt: skip
#: the package's own name or version made hostile (``{same}``): the wheel still matches it
HOSTILE_SAME = ["{same}\n", " {same}", "{same}\t", "{same}\x1b[2J", "{same}/../../../x/victim"]
#: the wheel's own file name (``{same}``) made a path: it still names the right wheel
HOSTILE_SAME_FILENAMES = ["../../{same}", f"/{ESCAPE}/{{same}}", "sub/{same}", "..\\{same}"]
HOSTILE_FILENAMES = [
    "../../evil-1.0-py3-none-any.whl", f"/{ESCAPE}/evil-1.0-py3-none-any.whl",
    "x\x00-1.0-py3-none-any.whl", ".hidden-1.0-py3-none-any.whl", "C:evil-1.0-py3-none-any.whl",
    "x\x1b[2J-1.0-py3-none-any.whl", "a" * 5000 + "-1.0-py3-none-any.whl", "",
]  # fmt: skip
HOSTILE_PATHS = [
    "../secret.txt", f"/{SECRET}", "wheels/../../secret.txt", "wheels/x\x00.whl", "wheels",
    "-oProxyCommand=x", "wheels/" + "a" * 5000,
]  # fmt: skip
CREDENTIAL = "s3cr3t-T0KEN"
HOSTILE_URLS = [
    f"http://user:{CREDENTIAL}@{{host}}/files/{{file}}",
    f"http://{CREDENTIAL}@{{host}}/files/{{file}}",
    f"http://user:{quote(CREDENTIAL + '@/:', safe='')}@{{host}}/files/{{file}}",
    "http://{host}/files/../../{file}",
    "http://{host}/files/{file}?x=\x1b[2J",
    "http://{host}/files/%2e%2e%2f%2e%2e%2f{file}",
    f"file:///{SECRET}",
    f"-oProxyCommand=touch /{ESCAPE}/x",
    "http://{host}/files/" + "a" * 5000 + ".whl",
    f"http://user:{CREDENTIAL}@{{host}}:99999/files/{{file}}",
]  # fmt: skip


@st.composite
def hostile_locks(draw: st.DrawFn) -> tuple[DrawnLock, LockChange]:
    lock = draw(valid_locks())
    field = draw(
        st.sampled_from(["name", "version", "root-version", "filename", "path", "url", "registry"])
    )
    index = draw(st.integers(0, len(lock.packages) - 1))
    same_or_not = st.sampled_from(HOSTILE_TEXT) | st.sampled_from(HOSTILE_SAME)
    values = {
        "name": same_or_not,
        "version": same_or_not,
        "root-version": same_or_not,
        "filename": st.sampled_from(HOSTILE_SAME_FILENAMES) | st.sampled_from(HOSTILE_FILENAMES),
        "path": st.sampled_from(HOSTILE_PATHS),
        "url": st.sampled_from(HOSTILE_URLS),
        "registry": st.sampled_from(HOSTILE_URLS[:3]),
    }[field]
    name, version, _ = lock.packages[index]
    same = {
        "name": name,
        "root-version": ROOT_VERSION,
        "filename": honest_wheel(name, version).filename,
    }.get(field, version)
    return lock, LockChange(field, index, draw(values).replace("{same}", same))


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """Serves the wheels that drawn locks name by URL (each name and version has one content)."""
    with IndexServer(tmp_path_factory.mktemp("served")) as server:
        yield server


def write_drawn_lock(
    sandbox: Sandbox, lock: DrawnLock, server: IndexServer, change: LockChange | None = None
) -> None:
    """Write each package's wheel and the lock naming them, with ``change`` made."""
    change = change or LockChange("nothing", -1, "")
    host = server.url.removeprefix("http://")
    renamed = {lock.packages[change.index][0]: change.value} if change.field == "name" else {}
    entries = []
    for index, (name, version, edges) in enumerate(lock.packages):
        written = honest_wheel(name, version).write(sandbox.project / "wheels", sandbox.places)
        entry = path_package(written, name, version, [renamed.get(e, e) for e in edges])
        digest = hashlib.sha256(written.read_bytes()).hexdigest()
        field = change.field if change.index == index else "nothing"
        value = sandbox.fill(change.value)
        if field == "name":
            entry = replace(entry, name=value)
        elif field == "version":
            entry = replace(entry, version=value)
        elif field == "filename":
            entry = replace(
                entry,
                wheels=f'[{{ filename = {toml_string(value)}, hash = "sha256:{digest}" }}]',
            )
        elif field == "path":
            entry = replace(entry, source=f"{{ path = {toml_string(value)} }}")
        elif field in ("url", "registry"):
            (server.directory / written.name).write_bytes(written.read_bytes())
            url = value.replace("{host}", host).replace("{file}", written.name)
            registry = url.partition("/files/")[0] + "/simple/"
            source = f"{{ url = {toml_string(url)} }}"
            if field == "registry":
                source = f"{{ registry = {toml_string(registry)} }}"
            wheels = f'[{{ url = {toml_string(url)}, hash = "sha256:{digest}" }}]'
            entry = replace(entry, source=source, wheels=wheels)
        entries.append(entry)
    root_version = change.value if change.field == "root-version" else ROOT_VERSION
    sandbox.write_lock(entries, [renamed.get(r, r) for r in lock.roots], root_version)


def build_lock(
    parent: Path, server: IndexServer, lock: DrawnLock, change: LockChange | None = None
) -> tuple[Sandbox, list[Outcome]]:
    sandbox = Sandbox.create(parent)
    write_drawn_lock(sandbox, lock, server, change)
    outcomes = []
    for layout in LAYOUTS:
        before = sandbox.snapshot()
        outcome = sandbox.build(layout)
        assert_nothing_outside(sandbox, before, outcome)
        outcomes.append(outcome)
    return sandbox, outcomes


@LOCK_PROPERTY
@given(lock=valid_locks())
def test_a_drawn_valid_lock_is_bundled_with_exactly_what_its_root_reaches(
    sandboxes: Path, file_server: IndexServer, lock: DrawnLock
) -> None:
    _, outcomes = build_lock(sandboxes, file_server, lock)

    target, wheelhouse = outcomes
    assert target.error is None and wheelhouse.error is None, (target.error, wheelhouse.error)
    assert target.bundle is not None and wheelhouse.bundle is not None
    assert distributions(target.bundle) == lock.reachable()
    assert {p.name for p in (wheelhouse.bundle / "wheels").iterdir()} == {
        honest_wheel(name, version).filename for name, version in lock.reachable()
    }


@settings(LOCK_PROPERTY, max_examples=150)  # most are refused as the lock is read
@given(drawn=hostile_locks())
def test_a_drawn_hostile_lock_is_bundled_or_refused_naming_the_package_and_nothing_escapes(
    sandboxes: Path, file_server: IndexServer, drawn: tuple[DrawnLock, LockChange]
) -> None:
    lock, change = drawn
    _, outcomes = build_lock(sandboxes, file_server, lock, change)

    original = ROOT if change.field == "root-version" else lock.packages[change.index][0]
    for outcome in outcomes:
        assert_names(
            outcome, original, "[[package]] #", change.value[:20], repr(change.value)[1:21]
        )
        if outcome.bundle is not None and change.field in PLAIN_FIELDS:
            # accepted, it is copied into outputs (rewritten locks, requirements, messages)
            assert plain(change.value), f"{outcome.layout} accepted {change.field} {change.value!r}"


PLAIN_FIELDS = ("name", "version", "root-version", "filename")


def plain(value: str) -> bool:
    """Nothing a path, a line-based file or a terminal treats specially."""
    return value.isprintable() and value == value.strip() and not set(value) & set("/\\:")


@LOCK_PROPERTY
@given(drawn=hostile_locks())
def test_no_credential_or_outside_byte_from_a_drawn_lock_reaches_an_output_or_a_message(
    sandboxes: Path, file_server: IndexServer, drawn: tuple[DrawnLock, LockChange]
) -> None:
    lock, change = drawn
    sandbox, outcomes = build_lock(sandboxes, file_server, lock, change)

    for outcome in outcomes:
        assert_no_secret(sandbox, outcome, CREDENTIAL, quote(CREDENTIAL))


@pytest.mark.parametrize("version", ["1.0\n", " 1.0", "1.0\t"])
def test_a_locked_version_with_whitespace_around_it_is_refused_naming_the_package(
    sandboxes: Path, file_server: IndexServer, version: str
) -> None:
    lock = DrawnLock((("dep", "1.0", ()),), ("dep",))

    _, outcomes = build_lock(sandboxes, file_server, lock, LockChange("version", 0, version))

    for outcome in outcomes:
        assert outcome.bundle is None
        assert "[[package]] dep" in str(outcome.error), outcome.error
        assert repr(version) in str(outcome.error)


def test_a_failed_download_names_the_package_whose_file_it_is(
    sandboxes: Path, file_server: IndexServer
) -> None:
    lock = DrawnLock((("my-dep", "1.0", ()),), ("my-dep",))
    missing = LockChange("url", 0, "http://{host}/files/../{file}")  # the server says 404

    _, outcomes = build_lock(sandboxes, file_server, lock, missing)

    for outcome in outcomes:
        assert "my-dep==1.0: cannot download" in str(outcome.error), outcome.error


@pytest.mark.parametrize(
    "url", ["http://{host}/files/{file}?x=\x1b[2J", "http://{host}/\nfiles/{file}"]
)
def test_a_locked_url_with_a_control_character_is_refused_naming_the_package(
    sandboxes: Path, file_server: IndexServer, url: str
) -> None:
    lock = DrawnLock((("dep", "1.0", ()),), ("dep",))

    _, outcomes = build_lock(sandboxes, file_server, lock, LockChange("url", 0, url))

    for outcome in outcomes:
        assert "[[package]] dep: " in str(outcome.error), outcome.error
        assert "holds a control character" in str(outcome.error)


def test_a_locked_url_whose_host_part_does_not_parse_is_refused_without_its_secret(
    sandboxes: Path, file_server: IndexServer
) -> None:
    lock = DrawnLock((("dep", "1.0", ()),), ("dep",))
    # a raw `/` in the password: the host part ends before `@`, the secret reads as a port
    broken = LockChange("url", 0, "http://user:s3cr3t%40/x@{host}/files/{file}")

    _, outcomes = build_lock(sandboxes, file_server, lock, broken)

    for outcome in outcomes:
        assert "[[package]] dep: " in str(outcome.error), outcome.error
        assert "is not a valid URL" in str(outcome.error)
        assert "s3cr3t" not in str(outcome.error)


@pytest.mark.parametrize(
    "hostile",
    [
        lambda wheel: wheel.with_member(Member("victim-1.0.data/unknown/x.py", b"x = 1\n"), ""),
        lambda wheel: _replace_meta(
            wheel, "WHEEL", b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n", ""
        ),
    ],
    ids=["unknown-data-scheme", "wheel-version-2"],
)
def test_what_the_installer_refuses_is_told_as_a_message_not_a_python_repr(
    tmp_path: Path, hostile: Callable[[DrawnWheel], DrawnWheel]
) -> None:
    sandbox = Sandbox.create(tmp_path)
    wheel = hostile(honest_wheel("victim", "1.0"))
    written = wheel.write(sandbox.project / "wheels", sandbox.places)
    sandbox.write_lock([path_package(written, wheel.name, wheel.version)], [wheel.name])

    error = str(sandbox.build("target").error)

    assert error.startswith("victim==1.0: cannot install victim-1.0-py3-none-any.whl: "), error
    assert "object at 0x" not in error and not error.endswith(")"), error
