"""Hostile artifacts: each is refused with an error naming its distribution, and nothing is written.

Every case goes through the real pipeline: a project locked by the real ``uv lock`` against an index
on 127.0.0.1, whose file is then swapped for the hostile one with the lock recording the hostile
file's hash (as if the index had served it when the lock was made). Hash checks pass, so whatever
refuses the file refuses it for what it holds. Paths that would escape aim at a file of the test's
own temporary directory, which must never appear.

The size bound for archives that expand (zip bombs) is the engine's to choose; these tests pin both
ends: a wheel of under 1 MiB that expands to hundreds of MiB (a ratio near 1000:1), whether in one
200 MiB entry or in ten of 48 MiB, must be refused; a wheel holding a 1 MiB run of zeros and a
16 MiB incompressible file must be bundled.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError
from support.artifacts import (
    Entry,
    Member,
    corrupt_member,
    rename_in_local_header,
    sdist_members,
    symlink,
    understate_size,
    write_sdist,
    write_wheel,
    write_zip_bomb_wheel,
    write_zip_sdist,
)
from support.bundle import files
from support.consumer import Consumer
from support.environ import Sandbox
from support.index import IndexServer

pytestmark = pytest.mark.slow

WHEEL_NAME, SDIST_NAME, VERSION = "evil", "evilsdist", "1.0"
WHEEL = f"{WHEEL_NAME}-{VERSION}-py3-none-any.whl"
SDIST = f"{SDIST_NAME}-{VERSION}.tar.gz"
SDIST_ROOT = f"{SDIST_NAME}-{VERSION}"
LAYOUTS = ["target", "wheelhouse"]
BOMB_SIZE = 200 << 20


def honest_entries() -> list[Entry]:
    return [
        Entry(f"{WHEEL_NAME}/__init__.py", b"MARKER = 'evil 1.0'\n"),
        Entry(f"{WHEEL_NAME}/util.py", b"def helper():\n    return 1\n"),
    ]


@dataclass
class Scene:
    """A locked consumer of one hand-made dist, and where a hostile file would like to write."""

    consumer: Consumer
    escape: Path  # a path outside everything the build may touch
    work: Path  # a scratch directory for the hostile files
    out: Path
    cache: Path

    def build(self, layout: str = "target") -> Path:
        return build_bundle(self.consumer.root, self.out, bundle=layout, cache_dir=self.cache)

    def refused(self, label: str, layout: str = "target") -> str:
        """Build, expecting a :class:`LockbundleError` that names ``label``; return its message.

        Nothing may be left in the output directory, and nothing may appear outside it.
        """
        with pytest.raises(LockbundleError) as raised:
            self.build(layout)
        message = str(raised.value)
        assert label in message, message
        leftovers = (
            [p.relative_to(self.out).as_posix() for p in files(self.out)]
            if self.out.exists()
            else []
        )
        assert leftovers == [], f"left in the output directory: {leftovers}"
        assert not self.escape.parent.exists(), (
            f"written outside: {list(files(self.escape.parent))}"
        )
        return message


def reaching(path: Path, prefix: str = "") -> str:
    """An archive member name that climbs from any depth up to ``/`` and then down to ``path``."""
    return prefix + "../" * 64 + str(path).lstrip("/")


def make_scene(tmp_path: Path, sandbox: Sandbox, dependency: str) -> Iterator[Scene]:
    directory = tmp_path / "index"
    directory.mkdir()
    write_wheel(directory, WHEEL_NAME, VERSION, honest_entries())
    write_sdist(directory, SDIST_NAME, VERSION, sdist_members(SDIST_NAME, VERSION))
    work = tmp_path / "work"
    work.mkdir()
    with IndexServer(directory) as index:
        consumer = Consumer.create(tmp_path / "project", index, [dependency], env=sandbox.environ())
        yield Scene(
            consumer,
            escape=tmp_path / "escaped" / "owned.py",
            work=work,
            out=tmp_path / "project" / "dist",
            cache=tmp_path / "cache",
        )


@pytest.fixture
def wheel_scene(tmp_path: Path, sandbox: Sandbox) -> Iterator[Scene]:
    """A consumer of ``evil==1.0``, a wheel."""
    yield from make_scene(tmp_path, sandbox, WHEEL_NAME)


@pytest.fixture
def sdist_scene(tmp_path: Path, sandbox: Sandbox) -> Iterator[Scene]:
    """A consumer of ``evilsdist==1.0``, an sdist built by a backend it carries."""
    yield from make_scene(tmp_path, sandbox, SDIST_NAME)


# -- wheels -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A hostile file, the name it is served under, and what the error must point at."""

    path: Path
    served_as: str | None = None
    #: text the message must hold besides the distribution (the entry, the wrong name...)
    telling: str = ""


# Each makes the hostile file in a scratch directory, given the path an escape would aim at.
HostileWheel = Callable[[Path, Path], Hostile]
ESCAPE = "@ESCAPE@"  # in an entry name or a symlink's target: the escape target, without its "/"
TRAVERSAL = "../" * 64 + ESCAPE


def _with_entry(entry: Entry, *, escaping: bool = False) -> HostileWheel:
    """The honest wheel plus ``entry``; the error must name the entry (or, ``escaping``, the
    path outside that it aims at, as the entry's path under its scheme directory may be shown)."""

    def make(work: Path, escape: Path) -> Hostile:
        target = str(escape).lstrip("/")
        aimed = replace(
            entry,
            name=entry.name.replace(ESCAPE, target),
            data=entry.data.replace(ESCAPE.encode(), target.encode()),  # a symlink's target
        )
        wheel = write_wheel(work, WHEEL_NAME, VERSION, [*honest_entries(), aimed])
        return Hostile(wheel, telling=target if escaping else aimed.name)

    return make


def _recompressed(method: int, *, encrypted: bool = False) -> HostileWheel:
    """The honest wheel with its first entry compressed by ``method`` (or marked encrypted)."""

    def make(work: Path, escape: Path) -> Hostile:
        (work / "honest").mkdir(parents=True, exist_ok=True)
        honest = write_wheel(work / "honest", WHEEL_NAME, VERSION, honest_entries())
        chosen = honest_entries()[0].name
        wheel = work / honest.name
        with zipfile.ZipFile(honest) as source, zipfile.ZipFile(wheel, "w") as out:
            for info in source.infolist():
                data = source.read(info)
                if info.filename == chosen:
                    info.compress_type = method
                out.writestr(info, data)
        if encrypted:  # the flag alone: zipfile writes no encrypted members
            with zipfile.ZipFile(wheel) as archive:
                offset = archive.getinfo(chosen).header_offset
            raw = bytearray(wheel.read_bytes())
            raw[offset + 6] |= 0x1  # local header's flags
            directory = raw.find(b"PK\x01\x02")
            while directory != -1:
                name_length = int.from_bytes(raw[directory + 28 : directory + 30], "little")
                name = bytes(raw[directory + 46 : directory + 46 + name_length]).decode()
                if name == chosen:
                    raw[directory + 8] |= 0x1  # central directory's flags
                directory = raw.find(b"PK\x01\x02", directory + 4)
            wheel.write_bytes(bytes(raw))
        return Hostile(wheel, telling=chosen)

    return make


def _claiming(**identity: str) -> HostileWheel:
    """The honest wheel, but its dist-info or METADATA says another name or version."""

    def make(work: Path, escape: Path) -> Hostile:
        wheel = write_wheel(
            work,
            identity.get("dist_info_name", WHEEL_NAME),
            VERSION,
            honest_entries(),
            filename=WHEEL,
            metadata_name=identity.get("metadata_name"),
            metadata_version=identity.get("metadata_version"),
        )
        telling = ".dist-info" if "dist_info_name" in identity else next(iter(identity.values()))
        return Hostile(wheel, telling=telling)

    return make


def _renamed(filename: str) -> HostileWheel:
    """The honest wheel served (and locked) under another project's or version's file name."""

    def make(work: Path, escape: Path) -> Hostile:
        return Hostile(write_wheel(work, WHEEL_NAME, VERSION, honest_entries()), filename, filename)

    return make


def _corrupt(work: Path, escape: Path) -> Hostile:
    honest = write_wheel(work, WHEEL_NAME, VERSION, honest_entries())
    member = f"{WHEEL_NAME}/__init__.py"
    return Hostile(corrupt_member(honest, member, work / "corrupt.whl"), telling=member)


def _local_header_naming_another_file(work: Path, escape: Path) -> Hostile:
    honest = write_wheel(work, WHEEL_NAME, VERSION, honest_entries())
    member = f"{WHEEL_NAME}/util.py"
    return Hostile(
        rename_in_local_header(honest, member, f"{WHEEL_NAME}/evil.py", work / "two-faced.whl"),
        telling=member,
    )


def _not_a_zip(work: Path, escape: Path) -> Hostile:
    path = work / "garbage.whl"
    path.write_bytes(b"this is not a zip archive\n" * 40)
    return Hostile(path, telling=WHEEL)


HOSTILE_WHEELS: dict[str, HostileWheel] = {
    "entry-climbing-out-with-dot-dot": _with_entry(
        Entry(TRAVERSAL, b"owned = True\n"), escaping=True
    ),
    "entry-climbing-out-of-the-package": _with_entry(
        Entry(f"{WHEEL_NAME}/{TRAVERSAL}", b"owned = True\n"), escaping=True
    ),
    "entry-with-an-absolute-path": _with_entry(
        Entry(f"/{ESCAPE}", b"owned = True\n"), escaping=True
    ),
    "data-file-climbing-out": _with_entry(
        Entry(f"{WHEEL_NAME}-{VERSION}.data/data/{TRAVERSAL}", b"x\n"), escaping=True
    ),
    "script-climbing-out": _with_entry(
        Entry(f"{WHEEL_NAME}-{VERSION}.data/scripts/{TRAVERSAL}", b"#!/bin/sh\n"), escaping=True
    ),
    "symlink-to-an-absolute-path-outside": _with_entry(
        symlink(f"{WHEEL_NAME}/outside", f"/{ESCAPE}")
    ),
    "symlink-climbing-out": _with_entry(symlink(f"{WHEEL_NAME}/outside", TRAVERSAL)),
    "symlink-inside-the-wheel": _with_entry(symlink(f"{WHEEL_NAME}/alias.py", "util.py")),
    "record-hash-mismatch": _with_entry(
        Entry(f"{WHEEL_NAME}/extra.py", b"A = 2\n", claimed=b"A = 1\n")
    ),
    "record-size-mismatch": _with_entry(
        Entry(f"{WHEEL_NAME}/extra.py", b"A = 2\n", claimed_size=600)
    ),
    "file-missing-from-record": _with_entry(
        Entry(f"{WHEEL_NAME}/extra.py", b"A = 2\n", recorded=False)
    ),
    "file-name-of-another-project": _renamed(f"other-{VERSION}-py3-none-any.whl"),
    "file-name-of-another-version": _renamed(f"{WHEEL_NAME}-6.6.6-py3-none-any.whl"),
    "metadata-name-of-another-project": _claiming(metadata_name="other"),
    "metadata-version-of-another-version": _claiming(metadata_version="6.6.6"),
    "dist-info-of-another-project": _claiming(dist_info_name="other"),
    "corrupt-member-crc": _corrupt,
    "encrypted-member": _recompressed(zipfile.ZIP_DEFLATED, encrypted=True),
    "local-header-naming-another-file": _local_header_naming_another_file,
    "not-a-zip-at-all": _not_a_zip,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(HOSTILE_WHEELS))
def test_a_hostile_wheel_is_refused_naming_the_distribution(
    wheel_scene: Scene, case: str, layout: str
) -> None:
    hostile = HOSTILE_WHEELS[case](wheel_scene.work, wheel_scene.escape)
    wheel_scene.consumer.serve_instead(WHEEL, hostile.path, hostile.served_as)

    message = wheel_scene.refused(f"{WHEEL_NAME}=={VERSION}", layout)

    assert hostile.telling in message


# name -> files of zeros (name: size), each far beyond what it is stored in
ZIP_BOMBS = {
    "one-entry-of-200-mib": {f"{WHEEL_NAME}/zeros.bin": 200 << 20},
    "ten-entries-of-48-mib": {f"{WHEEL_NAME}/zeros{n}.bin": 48 << 20 for n in range(10)},
}


@pytest.fixture(scope="module")
def zip_bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels whose files are hundreds of MiB of zeros, each stored in well under 1 MiB."""
    bombs = {}
    for name, members in ZIP_BOMBS.items():
        directory = tmp_path_factory.mktemp(name)
        bombs[name] = write_zip_bomb_wheel(directory, WHEEL_NAME, VERSION, members)
        assert bombs[name].stat().st_size < 1 << 20
    return bombs


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bomb", list(ZIP_BOMBS))
def test_a_zip_bomb_wheel_is_refused_naming_the_distribution(
    wheel_scene: Scene, zip_bombs: dict[str, Path], bomb: str, layout: str
) -> None:
    wheel_scene.consumer.serve_instead(WHEEL, zip_bombs[bomb])

    wheel_scene.refused(f"{WHEEL_NAME}=={VERSION}", layout)

    # and it was not expanded anywhere on the way
    expanded = sum(p.stat().st_size for p in files(wheel_scene.cache) if p.name.endswith(".bin"))
    assert expanded < 64 << 20


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_entry_inflating_beyond_the_size_the_archive_states_is_refused_unexpanded(
    wheel_scene: Scene, layout: str
) -> None:
    # the zip directory says 1000 bytes (so the bomb checks, which read it, pass), RECORD tells
    # the truth: unpacking must stop at the smaller of the two
    member = f"{WHEEL_NAME}/zeros.bin"
    bomb = write_zip_bomb_wheel(
        wheel_scene.work, WHEEL_NAME, VERSION, {member: BOMB_SIZE}, zip64=False
    )
    understated = understate_size(bomb, member, 1000, wheel_scene.work / "understated.whl")
    wheel_scene.consumer.serve_instead(WHEEL, understated)

    message = wheel_scene.refused(f"{WHEEL_NAME}=={VERSION}", layout)

    assert member in message
    expanded = sum(p.stat().st_size for p in files(wheel_scene.cache) if p.name.endswith(".bin"))
    assert expanded < 64 << 20


@pytest.mark.parametrize("layout", LAYOUTS)
def test_honest_large_or_compressible_files_are_within_the_bound(
    wheel_scene: Scene, layout: str
) -> None:
    random = os.urandom(16 << 20)
    entries = [
        *honest_entries(),
        Entry(f"{WHEEL_NAME}/zeros.bin", bytes(1 << 20)),
        Entry(f"{WHEEL_NAME}/random.bin", random),
    ]
    honest = write_wheel(wheel_scene.work, WHEEL_NAME, VERSION, entries)
    wheel_scene.consumer.serve_instead(WHEEL, honest)

    bundle = wheel_scene.build(layout)

    if layout == "wheelhouse":
        assert (bundle / "wheels" / WHEEL).read_bytes() == honest.read_bytes()
    else:
        assert (bundle / WHEEL_NAME / "zeros.bin").read_bytes() == bytes(1 << 20)
        assert (bundle / WHEEL_NAME / "random.bin").read_bytes() == random


# -- sdists -----------------------------------------------------------------------------------------

# Each returns the hostile members added to an honest sdist's; the error must name the first.
HOSTILE_TAR_MEMBERS: dict[str, Callable[[Path], list[Member]]] = {
    "member-climbing-out-with-dot-dot": lambda escape: [
        Member(reaching(escape, f"{SDIST_ROOT}/"), b"owned = True\n")
    ],
    "member-with-an-absolute-path": lambda escape: [Member(str(escape), b"owned = True\n")],
    "symlink-to-an-absolute-path-outside": lambda escape: [
        Member(f"{SDIST_ROOT}/outside", kind=tarfile.SYMTYPE, link=str(escape.parent)),
        Member(f"{SDIST_ROOT}/outside/{escape.name}", b"owned = True\n"),
    ],
    "symlink-climbing-out": lambda escape: [
        Member(f"{SDIST_ROOT}/outside", kind=tarfile.SYMTYPE, link=reaching(escape.parent)),
        Member(f"{SDIST_ROOT}/outside/{escape.name}", b"owned = True\n"),
    ],
}


@pytest.mark.parametrize("case", list(HOSTILE_TAR_MEMBERS))
def test_a_hostile_sdist_is_refused_naming_the_distribution(sdist_scene: Scene, case: str) -> None:
    members = [*sdist_members(SDIST_NAME, VERSION), *HOSTILE_TAR_MEMBERS[case](sdist_scene.escape)]
    hostile = write_sdist(sdist_scene.work, SDIST_NAME, VERSION, members)
    sdist_scene.consumer.serve_instead(SDIST, hostile)

    message = sdist_scene.refused(f"{SDIST_NAME}=={VERSION}")

    assert members[len(sdist_members(SDIST_NAME, VERSION))].name in message


def test_an_sdist_hard_link_to_a_file_outside_is_refused(sdist_scene: Scene) -> None:
    secret = sdist_scene.escape.with_name("secret.txt")
    secret.parent.mkdir()
    secret.write_text("keep me\n")
    link = Member(f"{SDIST_ROOT}/secret.txt", kind=tarfile.LNKTYPE, link=reaching(secret))
    hostile = write_sdist(
        sdist_scene.work, SDIST_NAME, VERSION, [*sdist_members(SDIST_NAME, VERSION), link]
    )
    sdist_scene.consumer.serve_instead(SDIST, hostile)

    with pytest.raises(LockbundleError, match=f"{SDIST_NAME}=={VERSION}") as raised:
        sdist_scene.build()

    assert link.name in str(raised.value)
    assert not sdist_scene.out.exists() or list(sdist_scene.out.iterdir()) == []
    assert [p.name for p in secret.parent.iterdir()] == ["secret.txt"]
    assert secret.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "name",
    [f"{SDIST_ROOT}/{TRAVERSAL}", f"/{ESCAPE}"],
    ids=["dot-dot", "absolute"],
)
def test_a_zip_sdist_with_a_path_outside_is_refused(sdist_scene: Scene, name: str) -> None:
    escaping = name.replace(ESCAPE, str(sdist_scene.escape).lstrip("/"))
    members = [*sdist_members(SDIST_NAME, VERSION), Member(escaping, b"owned = True\n")]
    hostile = write_zip_sdist(sdist_scene.work, SDIST_NAME, VERSION, members)
    sdist_scene.consumer.serve_instead(SDIST, hostile, f"{SDIST_ROOT}.zip")

    message = sdist_scene.refused(f"{SDIST_NAME}=={VERSION}")

    assert escaping in message


def test_the_honest_sdist_is_bundled(sdist_scene: Scene) -> None:
    """The control for the sdist cases: without the hostile members the same sdist builds."""
    bundle = sdist_scene.build()

    assert (bundle / SDIST_NAME / "__init__.py").read_text() == "MARKER = 'evilsdist 1.0'\n"
    assert all(stat.S_ISREG(path.lstat().st_mode) for path in files(bundle))
