"""Zip members in every compression pip reads (stored, deflate, bzip2, lzma), read within bounds.

A member is inflated a piece at a time and stopped as soon as it passes the smaller of the size its
zip header states and the size RECORD states; its CRC-32 is checked; encrypted members and other
methods (zstandard) are refused by name. The same reader serves wheels (both layouts), sdists in
zips and archives given to ``lockbundle verify``; tar sdists (gzip, bzip2, xz) are read within a
cap on their inflated stream. Bombs run in a child process whose peak memory is measured: a bound
on memory, not on time.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle.artifact import Artifact
from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.destination import TargetDestination
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.extract import UnsafeArchiveError, extract_safely
from hatch_lockbundle.fetched import FetchedWheel
from hatch_lockbundle.install import install_wheel
from hatch_lockbundle.layouts.target import write_target
from hatch_lockbundle.lock import LockedPackage, Source
from hatch_lockbundle.select import PlannedPackage
from support.cli import LOCKBUNDLE
from support.consumer import Consumer
from support.environ import Sandbox
from support.index import IndexServer
from support.uv_target import comparable_tree, uv_install_target

NAME, VERSION = "packed", "1.0"
WHEEL = f"{NAME}-{VERSION}-py3-none-any.whl"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
LABEL = f"{NAME}=={VERSION}"
METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}
#: what zipfile reads without bounding its output (the methods this issue is about)
UNBOUNDED_IN_ZIPFILE = ["bzip2", "lzma"]
#: a bomb's true size: beyond the memory bound, so that inflating it whole fails the test
BOMB_SIZE = 320 << 20
#: the peak memory a child process may reach while refusing a bomb (it starts near 40 MB)
MEMORY_BOUND = 200 << 20
STATED = 1000  # the size a bomb's headers claim


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def package_files() -> dict[str, bytes]:
    """Files taking every way through an installation: a module, an empty file, one larger than
    the piece a member is read in, a data file, a script, and an entry point."""
    return {
        f"{NAME}/__init__.py": b"MARKER = 'packed 1.0'\n",
        f"{NAME}/empty.txt": b"",
        f"{NAME}/large.bin": os.urandom(64 << 10) * 24,  # 1.5 MiB that does not compress
        f"{NAME}-{VERSION}.data/data/share/{NAME}/notes.txt": b"notes\n" * 100,
        f"{NAME}-{VERSION}.data/scripts/packed-tool": b"#!python\nprint('tool')\n",
        f"{DIST_INFO}/entry_points.txt": b"[console_scripts]\npacked = packed:main\n",
    }


def write_wheel(
    path: Path,
    files: dict[str, bytes],
    method: int,
    *,
    record_sizes: dict[str, int] | None = None,
) -> Path:
    """A pure wheel of ``files`` and its dist-info, every member compressed with ``method``;
    RECORD tells the truth but for the sizes ``record_sizes`` overrides."""
    files = {
        **files,
        f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    sizes = record_sizes or {}
    record = "".join(
        f"{name},{record_hash(data)},{sizes.get(name, len(data))}\n" for name, data in files.items()
    )
    record += f"{DIST_INFO}/RECORD,,\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in {**files, f"{DIST_INFO}/RECORD": record.encode()}.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
            info.external_attr = (0o100755 if "scripts/" in name else 0o100644) << 16
            info.compress_type = method
            archive.writestr(info, data)
    return path


def rewrite_headers(archive: Path, member: str, **fields: int) -> Path:
    """Change ``member``'s ``method``, ``crc`` or ``file_size`` in its local header and in the zip's
    directory alike (32-bit fields), its data left as it is."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zipped:
        local = zipped.getinfo(member).header_offset
        directory = zipped.start_dir
    name = member.encode()
    central = data.find(b"PK\x01\x02", directory)
    while (
        data[
            central + 46 : central
            + 46
            + int.from_bytes(data[central + 28 : central + 30], "little")
        ]
        != name
    ):
        central = data.find(b"PK\x01\x02", central + 4)
    # (offset in the local header, in the directory's entry, width)
    places = {"method": (8, 10, 2), "crc": (14, 16, 4), "file_size": (22, 24, 4)}
    for field, value in fields.items():
        in_local, in_central, width = places[field]
        data[local + in_local : local + in_local + width] = value.to_bytes(width, "little")
        data[central + in_central : central + in_central + width] = value.to_bytes(width, "little")
    archive.write_bytes(bytes(data))
    return archive


def zip_lzma_stream(chunks: Iterator[bytes]) -> bytes:
    """What zip's lzma method stores: LZMA SDK's version, the properties' size, the LZMA1
    properties (lc=3, lp=0, pb=2, a 1 MiB dictionary) and the raw stream."""
    dictionary = 1 << 20
    compressor = lzma.LZMACompressor(
        lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "preset": 0, "dict_size": dictionary}]
    )
    properties = bytes([(2 * 5 + 0) * 9 + 3]) + dictionary.to_bytes(4, "little")
    body = b"".join(compressor.compress(chunk) for chunk in chunks) + compressor.flush()
    return b"\x09\x14\x05\x00" + properties + body


def compressed_zeros(method: str, size: int) -> bytes:
    """``size`` zero bytes as a ``method`` member's data holds them."""
    zeros = bytes(1 << 20)
    chunks = (zeros for _ in range(size >> 20))
    if method == "bzip2":
        compressor = bz2.BZ2Compressor(9)
        return b"".join(compressor.compress(chunk) for chunk in chunks) + compressor.flush()
    return zip_lzma_stream(chunks)


@pytest.fixture(scope="session")
def bomb_data() -> dict[str, bytes]:
    """:data:`BOMB_SIZE` zeros in bzip2 and in zip's lzma: a few hundred bytes to 50 KB each."""
    return {method: compressed_zeros(method, BOMB_SIZE) for method in UNBOUNDED_IN_ZIPFILE}


def with_bomb(path: Path, member: str, method: str, data: bytes, *, wheel: bool = True) -> Path:
    """A wheel (or a plain zip) holding ``member``: ``data``, compressed by ``method`` already,
    whose zip header and RECORD both claim :data:`STATED` bytes."""
    placeholder = bytes(STATED)
    files = {f"{NAME}/__init__.py": b"", member: placeholder}
    if wheel:
        write_wheel(path, files, zipfile.ZIP_STORED)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
    # the bomb's bytes go in as a stored member, then its header says they are bzip2 or lzma
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w") as out:
        for info, content in entries:
            out.writestr(info, data if info.filename == member else content)
    return rewrite_headers(path, member, method=METHODS[method], file_size=STATED)


@dataclass
class Scene:
    """A project locked by real uv against a loopback index serving ``packed``."""

    consumer: Consumer
    work: Path
    out: Path
    cache: Path
    sandbox: Sandbox

    def build(self, layout: str) -> Path:
        return build_bundle(self.consumer.root, self.out, bundle=layout, cache_dir=self.cache)

    def build_measured(self, layout: str) -> tuple[subprocess.CompletedProcess[str], int]:
        """The real ``lockbundle build`` in a child process, and its peak memory in bytes."""
        env = self.sandbox.environ({"LOCKBUNDLE_CACHE_DIR": str(self.cache)})
        command = [str(LOCKBUNDLE), "build", "--layout", layout, str(self.consumer.root)]
        return peak_memory(command, env)


@pytest.fixture
def scene(tmp_path: Path, sandbox: Sandbox) -> Iterator[Scene]:
    index_dir = tmp_path / "index"
    # locked as deflated (uv reads METADATA out of the wheel and does not read bzip2 or lzma),
    # then served as the tests want it
    write_wheel(index_dir / WHEEL, package_files(), zipfile.ZIP_DEFLATED)
    with IndexServer(index_dir) as index:
        consumer = Consumer.create(tmp_path / "project", index, [NAME], env=sandbox.environ())
        yield Scene(
            consumer, tmp_path / "work", tmp_path / "project" / "dist", tmp_path / "cache", sandbox
        )


#: runs the command given as arguments and reports the peak memory of the processes it started
MEASURER = """
import resource, subprocess, sys
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(result.stdout + result.stderr)
print(f"\\npeak-rss-kib {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(result.returncode)
"""


def peak_memory(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``command`` under a measuring parent (so that no earlier child of the test process
    counts); return its result and the peak resident memory of it and its children, in bytes."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURER, *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    last = result.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("peak-rss-kib "), result.stdout + result.stderr
    return result, int(last.split()[1]) * 1024


# -- accepted -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("method", UNBOUNDED_IN_ZIPFILE)
def test_a_wheel_of_bzip2_or_lzma_members_installs_as_uv_installs_the_same_files(
    scene: Scene, method: str, tmp_path: Path
) -> None:
    # uv itself refuses these methods ("files must be compressed with 'stored', 'DEFLATE', or
    # 'zstd'"): its reference is the same files and RECORD, deflated
    files = package_files()
    packed = write_wheel(scene.work / method / WHEEL, files, METHODS[method])
    twin = write_wheel(scene.work / "deflated" / WHEEL, files, zipfile.ZIP_DEFLATED)
    scene.consumer.serve_instead(WHEEL, packed)

    bundle = scene.build("target")
    reference = uv_install_target([twin], tmp_path / "uv-target", env=scene.sandbox.environ())

    assert comparable_tree(bundle) == comparable_tree(reference)
    assert (bundle / NAME / "large.bin").read_bytes() == files[f"{NAME}/large.bin"]


@pytest.mark.slow
@pytest.mark.parametrize("method", UNBOUNDED_IN_ZIPFILE)
def test_a_wheel_of_bzip2_or_lzma_members_goes_into_a_wheelhouse(scene: Scene, method: str) -> None:
    packed = write_wheel(scene.work / WHEEL, package_files(), METHODS[method])
    scene.consumer.serve_instead(WHEEL, packed)

    bundle = scene.build("wheelhouse")

    assert (bundle / "wheels" / WHEEL).read_bytes() == packed.read_bytes()


@pytest.mark.parametrize("method", list(METHODS))
def test_zip_archives_are_extracted_whole_in_every_method(tmp_path: Path, method: str) -> None:
    files = {
        "pkg-1.0/pkg/__init__.py": b"A = 1\n",
        "pkg-1.0/big.bin": os.urandom(64 << 10) * 24,
        "pkg-1.0/empty": b"",
    }
    archive = tmp_path / "pkg-1.0.zip"
    with zipfile.ZipFile(archive, "w", compression=METHODS[method]) as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)

    root = extract_safely(archive, tmp_path / "out")

    assert {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    } == files


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_tar_sdists_are_extracted_in_every_compression(tmp_path: Path, compression: str) -> None:
    files = {"pkg-1.0/pkg/__init__.py": b"A = 1\n", "pkg-1.0/big.bin": os.urandom(3 << 20)}
    archive = tmp_path / f"pkg-1.0.tar.{compression}"
    with tarfile.open(archive, f"w:{compression}") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    root = extract_safely(archive, tmp_path / "out")

    assert {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    } == files


# -- bombs ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["target", "wheelhouse"])
@pytest.mark.parametrize("method", UNBOUNDED_IN_ZIPFILE)
def test_a_wheel_bomb_whose_headers_understate_its_size_is_stopped_in_bounded_memory(
    scene: Scene, bomb_data: dict[str, bytes], method: str, layout: str
) -> None:
    member = f"{NAME}/zeros.bin"
    bomb = with_bomb(scene.work / WHEEL, member, method, bomb_data[method])
    assert bomb.stat().st_size < 1 << 20
    scene.consumer.serve_instead(WHEEL, bomb)

    result, peak = scene.build_measured(layout)

    assert result.returncode != 0
    assert LABEL in result.stdout
    assert (
        f"entry `{member}` inflates past the {STATED:,} bytes its zip header states"
        in result.stdout
    )
    assert "Traceback" not in result.stdout
    assert peak < MEMORY_BOUND, f"peak memory {peak >> 20} MiB"


@pytest.mark.slow
@pytest.mark.parametrize("method", UNBOUNDED_IN_ZIPFILE)
def test_verify_of_a_zip_bundle_holding_a_bomb_stays_bounded(
    tmp_path: Path, bomb_data: dict[str, bytes], method: str
) -> None:
    bundle = with_bomb(
        tmp_path / "app-1.0.zip", f"{NAME}/zeros.bin", method, bomb_data[method], wheel=False
    )

    result, peak = peak_memory([str(LOCKBUNDLE), "verify", str(bundle)])

    assert result.returncode != 0
    assert (
        f"app-1.0.zip: entry `{NAME}/zeros.bin` inflates past the {STATED:,} bytes" in result.stdout
    )
    assert "Traceback" not in result.stdout
    assert peak < MEMORY_BOUND, f"peak memory {peak >> 20} MiB"


@pytest.mark.slow
@pytest.mark.parametrize("method", UNBOUNDED_IN_ZIPFILE)
def test_a_zip_sdist_holding_a_bomb_is_stopped_in_bounded_memory(
    tmp_path: Path, bomb_data: dict[str, bytes], method: str
) -> None:
    sdist = with_bomb(
        tmp_path / "bomb-1.0.zip", "bomb-1.0/zeros.bin", method, bomb_data[method], wheel=False
    )
    unpack = (
        "import sys; from pathlib import Path; from hatch_lockbundle.build import _unpack_sdist\n"
        "from hatch_lockbundle.errors import LockbundleError\n"
        "try: _unpack_sdist(Path(sys.argv[1]), Path(sys.argv[2]), 'bomb==1.0')\n"
        "except LockbundleError as error: sys.exit(str(error))\n"
    )

    result, peak = peak_memory([sys.executable, "-c", unpack, str(sdist), str(tmp_path / "out")])

    assert result.returncode != 0
    assert "bomb==1.0: refusing unsafe sdist bomb-1.0.zip" in result.stdout
    assert f"entry `bomb-1.0/zeros.bin` inflates past the {STATED:,} bytes" in result.stdout
    assert peak < MEMORY_BOUND, f"peak memory {peak >> 20} MiB"


def pax_bomb(path: Path, compression: str, size: int) -> Path:
    """A tar sdist whose first entry has a pax header of ``size`` zero bytes: tarfile reads a
    pax header whole, so a few hundred KB of gzip would make it hold ``size`` bytes."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    entry = tarfile.TarInfo("bomb-1.0/setup.py")
    entry.size = 1
    opener: Callable[..., io.BufferedIOBase] = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[
        compression
    ]  # type: ignore[assignment]
    with opener(path, "wb") as out:
        out.write(header.tobuf(tarfile.USTAR_FORMAT))
        zeros = bytes(1 << 20)
        for _ in range(size >> 20):
            out.write(zeros)
        out.write(entry.tobuf(tarfile.USTAR_FORMAT) + b"\n" + bytes(511) + bytes(1024))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_tar_sdist_whose_pax_header_is_a_bomb_is_refused_in_bounded_memory(
    tmp_path: Path, compression: str
) -> None:
    sdist = pax_bomb(tmp_path / f"bomb-1.0.tar.{compression}", compression, BOMB_SIZE)
    assert sdist.stat().st_size < 1 << 20
    unpack = (
        "import sys; from pathlib import Path; from hatch_lockbundle.build import _unpack_sdist\n"
        "from hatch_lockbundle.errors import LockbundleError\n"
        "try: _unpack_sdist(Path(sys.argv[1]), Path(sys.argv[2]), 'bomb==1.0')\n"
        "except LockbundleError as error: sys.exit(str(error))\n"
    )

    result, peak = peak_memory([sys.executable, "-c", unpack, str(sdist), str(tmp_path / "out")])

    assert result.returncode != 0
    assert f"bomb==1.0: refusing unsafe sdist {sdist.name}" in result.stdout
    assert "a pax header or a long name" in result.stdout
    assert peak < MEMORY_BOUND, f"peak memory {peak >> 20} MiB"


def test_a_tar_stream_inflating_past_the_budget_and_its_headers_room_is_refused(
    tmp_path: Path,
) -> None:
    # each pax header stays under the read limit, but together they pass the budget (1,000
    # bytes) plus 4 KiB of headers for each of the 2 entries allowed
    archive = tmp_path / "padded-1.0.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("padded-1.0/a.txt")
        info.pax_headers = {"comment": "x" * 20_000}
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))

    with pytest.raises(
        UnsafeArchiveError,
        match=r"padded-1.0.tar.gz inflates to more than 9,192 bytes of tar stream",
    ):
        extract_safely(archive, tmp_path / "out", max_size=1000, max_members=2)
    extract_safely(archive, tmp_path / "within", max_size=100_000, max_members=2)


# -- refused members ------------------------------------------------------------------------------


def install_target(wheel: Path, tmp_path: Path) -> Path:
    """Install ``wheel`` as the target layout does (through the cache), in this process."""
    package = LockedPackage(name=NAME, version=VERSION, source=Source("registry", "x"))  # type: ignore[arg-type]
    fetched = FetchedWheel(
        PlannedPackage(package, Artifact("wheel", wheel.name), (NAME,)), wheel, "test"
    )
    bundle = tmp_path / "bundle"
    write_target([fetched], bundle, compile_bytecode=False, cache=Cache(tmp_path / "cache"))
    return bundle


@pytest.mark.parametrize(
    "member", [f"{NAME}/__init__.py", f"{NAME}/large.bin"], ids=["small", "large"]
)
@pytest.mark.parametrize("method", list(METHODS))
def test_a_member_longer_than_its_record_size_is_stopped_there(
    tmp_path: Path, method: str, member: str
) -> None:
    wheel = write_wheel(
        tmp_path / "w" / WHEEL, package_files(), METHODS[method], record_sizes={member: 10}
    )

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{member}` inflates past the 10 bytes its RECORD states: "
        "a decompression bomb or a damaged archive (reading stopped there)"
    )
    written = [path for path in (tmp_path / "cache").rglob(Path(member).name) if path.is_file()]
    assert all(path.stat().st_size <= 10 for path in written)


@pytest.mark.parametrize(
    "member", [f"{NAME}/__init__.py", f"{NAME}/large.bin"], ids=["small", "large"]
)
@pytest.mark.parametrize("method", list(METHODS))
def test_a_member_whose_crc_differs_from_its_header_is_refused(
    tmp_path: Path, method: str, member: str
) -> None:
    wheel = write_wheel(tmp_path / "w" / WHEEL, package_files(), METHODS[method])
    with zipfile.ZipFile(wheel) as archive:
        crc = archive.getinfo(member).CRC
    rewrite_headers(wheel, member, crc=crc ^ 0x1)  # the data and RECORD untouched

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{member}` fails its CRC-32 check: the archive is damaged"
    )


@pytest.mark.parametrize("layout", ["target", "wheelhouse"])
def test_a_zstandard_member_is_refused_naming_the_method(scene: Scene, layout: str) -> None:
    wheel = write_wheel(scene.work / WHEEL, package_files(), zipfile.ZIP_STORED)
    rewrite_headers(wheel, f"{NAME}/__init__.py", method=93)
    scene.consumer.serve_instead(WHEEL, wheel)

    with pytest.raises(LockbundleError) as raised:
        scene.build(layout)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{NAME}/__init__.py` is compressed with zstandard "
        "(zip method 93), which is not read here: only stored, deflate, bzip2 and lzma members are"
    )


def test_a_zip_archive_with_a_zstandard_member_is_refused_naming_the_method(tmp_path: Path) -> None:
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkg/a.txt", b"a")
    rewrite_headers(archive, "pkg/a.txt", method=93)

    with pytest.raises(
        UnsafeArchiveError,
        match=r"entry 'pkg/a.txt' of odd.zip is compressed with zstandard \(zip method 93\)",
    ):
        extract_safely(archive, tmp_path / "out")


def test_an_lzma_member_that_would_need_a_dictionary_over_64_mib_is_refused(
    tmp_path: Path,
) -> None:
    # the decoder holds its dictionary whole: one claimed at 1 GiB, for a member whose header
    # says 100 MiB, needs more than 64 MiB
    stream = bytearray(zip_lzma_stream(iter([b"x" * 1000])))
    stream[5:9] = (1 << 30).to_bytes(4, "little")
    archive = tmp_path / "big-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("big-1.0/data.bin", bytes(stream))
    rewrite_headers(archive, "big-1.0/data.bin", method=zipfile.ZIP_LZMA, file_size=100 << 20)

    with pytest.raises(UnsafeArchiveError) as raised:
        extract_safely(archive, tmp_path / "out")

    assert str(raised.value) == (
        f"big-1.0.zip: entry `big-1.0/data.bin` needs an LZMA dictionary of {(100 << 20) + (1 << 20):,} "
        "bytes, more than the 67,108,864 accepted (a bound on the memory a member takes)"
    )


# -- sizes the zip's directory states -------------------------------------------------------------


def state_compressed_size(archive: Path, member: str, size: int) -> Path:
    """Make the zip's directory state ``size`` as ``member``'s compressed size (its local header
    and data left as they are)."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zipped:
        position = zipped.start_dir
        for _ in zipped.infolist():
            name_length, extra_length, comment_length = (
                int.from_bytes(data[position + at : position + at + 2], "little")
                for at in (28, 30, 32)
            )
            if data[position + 46 : position + 46 + name_length] == member.encode():
                data[position + 20 : position + 24] = size.to_bytes(4, "little")
            position += 46 + name_length + extra_length + comment_length
    archive.write_bytes(bytes(data))
    return archive


@pytest.mark.parametrize(
    ("member", "where"),
    [
        (f"{NAME}/large.bin", "the next member"),
        (f"{DIST_INFO}/RECORD", "the zip's central directory"),
    ],
    ids=["into-the-next-member", "into-the-directory"],
)
def test_a_member_whose_stated_compressed_size_runs_past_its_room_is_refused(
    tmp_path: Path, member: str, where: str
) -> None:
    wheel = write_wheel(tmp_path / "w" / WHEEL, package_files(), zipfile.ZIP_BZIP2)
    with zipfile.ZipFile(wheel) as archive:
        item = archive.getinfo(member)
        room = (
            min(
                (
                    i.header_offset
                    for i in archive.infolist()
                    if i.header_offset > item.header_offset
                ),
                default=archive.start_dir,
            )
            - item.header_offset
            - 30
            - len(member)
        )
    state_compressed_size(wheel, member, room + 1)  # one byte more than fits

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{member}` states {room + 1:,} compressed bytes, which "
        f"run past {where} (members overlap): a zip bomb or a damaged archive"
    )


def test_a_member_whose_stated_compressed_size_just_fits_installs(tmp_path: Path) -> None:
    # bzip2 ends its stream itself: what follows it in the member's room is not read
    files = package_files()
    wheel = write_wheel(tmp_path / "w" / WHEEL, files, zipfile.ZIP_BZIP2)
    member = f"{NAME}/large.bin"
    with zipfile.ZipFile(wheel) as archive:
        item = archive.getinfo(member)
        following = min(
            i.header_offset for i in archive.infolist() if i.header_offset > item.header_offset
        )
    state_compressed_size(wheel, member, following - item.header_offset - 30 - len(member))

    bundle = install_target(wheel, tmp_path)

    assert (bundle / member).read_bytes() == files[member]


SMALL_BOMB = 64 << 20  # members up to this size are accepted at any ratio


def test_a_wheel_whose_directory_understates_its_compressed_sizes_is_refused_before_unpacking(
    tmp_path: Path,
) -> None:
    # six 64 MiB members of zeros in a few KB; stated at a hundredth of their size, they would
    # pass the ratio checks and unpack to 384 MiB
    zeros = compressed_zeros("bzip2", SMALL_BOMB)
    members = [f"{NAME}/f{i}.bin" for i in range(6)]
    placeholders = {name: bytes(STATED) for name in members}
    wheel = write_wheel(tmp_path / "w" / WHEEL, placeholders, zipfile.ZIP_STORED)
    with zipfile.ZipFile(wheel) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(wheel, "w") as out:
        for info, content in entries:
            out.writestr(info, zeros if info.filename in members else content)
    for name in members:
        rewrite_headers(wheel, name, method=zipfile.ZIP_BZIP2, file_size=SMALL_BOMB)
        state_compressed_size(wheel, name, SMALL_BOMB // 100 + 1)

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{members[0]}` states {SMALL_BOMB // 100 + 1:,} "
        "compressed bytes, which run past the next member (members overlap): a zip bomb or a "
        "damaged archive"
    )
    assert not list((tmp_path / "cache").rglob("f0.bin"))


# -- .dist-info files read whole ----------------------------------------------------------------


def wheel_with_dist_info(
    path: Path, record: bytes | None = None, metadata: bytes | None = None
) -> Path:
    """A wheel of one module whose RECORD or METADATA is replaced (bzip2-compressed: a few
    hundred bytes for MiBs of repeated lines)."""
    write_wheel(path, {f"{NAME}/__init__.py": b""}, zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    if record is not None:
        entries[f"{DIST_INFO}/RECORD"] = record
    if metadata is not None:
        entries[f"{DIST_INFO}/METADATA"] = metadata
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as out:
        for name, content in entries.items():
            out.writestr(name, content)
    return path


def test_a_record_larger_than_its_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from hatch_lockbundle.wheelsource import MAX_RECORD

    record = b"a,,\n" * (MAX_RECORD // 4) + b"b\n"
    wheel = wheel_with_dist_info(tmp_path / "w" / WHEEL, record=record)

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{DIST_INFO}/RECORD` is {len(record):,} bytes, more "
        f"than the {MAX_RECORD:,} accepted for it (it is read whole: real ones are far smaller)"
    )


def test_a_metadata_larger_than_its_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from hatch_lockbundle.wheelsource import MAX_DIST_INFO_FILE

    metadata = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n\n".encode()
    metadata += b"x" * (MAX_DIST_INFO_FILE + 1 - len(metadata))
    wheel = wheel_with_dist_info(tmp_path / "w" / WHEEL, metadata=metadata)

    with pytest.raises(LockbundleError) as raised:
        install_target(wheel, tmp_path)

    assert str(raised.value) == (
        f"{LABEL}: refusing {WHEEL}: entry `{DIST_INFO}/METADATA` is {len(metadata):,} bytes, "
        f"more than the {MAX_DIST_INFO_FILE:,} accepted for it (it is read whole: real ones are "
        "far smaller)"
    )


INSPECT = """
import sys
from pathlib import Path
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.wheelsource import inspect_wheel
try:
    inspect_wheel(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], contents=False)
except LockbundleError as error:
    print(error)
"""


def test_a_record_of_more_lines_than_members_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    from hatch_lockbundle.wheelsource import MAX_RECORD

    # just under the size bound, but millions of rows: parsing them takes GBs
    rows = (MAX_RECORD - 64) // 4
    wheel = wheel_with_dist_info(tmp_path / "w" / WHEEL, record=b"a,,\n" * rows)

    result, peak = peak_memory([sys.executable, "-c", INSPECT, str(wheel), LABEL, NAME, VERSION])

    assert result.stdout.startswith(
        f"{LABEL}: refusing {WHEEL}: its RECORD has {rows:,} lines for 4 members: a wheel's "
        "RECORD has one a file\n"
    ), result.stdout + result.stderr
    assert peak < MEMORY_BOUND


# -- files another distribution installed ---------------------------------------------------------


SHARED = f"{NAME}/__init__.py"
SHARED_SIZE = 256 << 20

INSTALL_OVER = """
import sys
from pathlib import Path
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.destination import TargetDestination
from hatch_lockbundle.install import install_wheel
try:
    label, name, version, root, shared = sys.argv[2:]
    destination = TargetDestination(Path(root), {shared: "other==1.0"}, False, name=name,
                                    distribution=label)
    install_wheel(Path(sys.argv[1]), (label, name, version), destination)
    print("installed")
except LockbundleError as error:
    print(error)
"""


def wheel_sharing_a_large_file(path: Path, content: Iterator[bytes], size: int) -> Path:
    """A wheel whose :data:`SHARED` holds ``size`` bytes of ``content`` in bzip2, its data
    padded after the stream to a hundredth of its size (as an honestly compressed member)."""
    chunks = list(content)
    compressor = bz2.BZ2Compressor(9)
    stream = b"".join(compressor.compress(chunk) for chunk in chunks) + compressor.flush()
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    padded = stream + bytes(max(size // 100 + 1 - len(stream), 0))
    write_wheel(path, {SHARED: bytes(STATED)}, zipfile.ZIP_STORED, record_sizes={SHARED: size})
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    record_name = f"{DIST_INFO}/RECORD"
    with zipfile.ZipFile(path, "w") as out:
        for info, data in entries:
            if info.filename == SHARED:
                data = padded
            elif info.filename == record_name:
                lines = data.decode().splitlines()
                stated = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
                data = "".join(
                    f"{SHARED},sha256={stated},{size}\n"
                    if line.startswith(SHARED + ",")
                    else line + "\n"
                    for line in lines
                ).encode()
            out.writestr(info, data)
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    return rewrite_headers(path, SHARED, method=zipfile.ZIP_BZIP2, file_size=size, crc=crc)


def test_a_large_file_another_distribution_installed_identically_is_compared_in_bounded_memory(
    tmp_path: Path,
) -> None:
    zeros = bytes(1 << 20)
    wheel = wheel_sharing_a_large_file(
        tmp_path / "w" / WHEEL, (zeros for _ in range(SHARED_SIZE >> 20)), SHARED_SIZE
    )
    root = tmp_path / "target"
    (root / NAME).mkdir(parents=True)
    with open(root / SHARED, "wb") as existing:
        existing.truncate(SHARED_SIZE)  # the same zeros, sparse

    result, peak = peak_memory(
        [sys.executable, "-c", INSTALL_OVER, str(wheel), LABEL, NAME, VERSION, str(root), SHARED]
    )

    assert result.stdout.startswith("installed\n"), result.stdout + result.stderr
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize("existing_size", [3 << 20, (3 << 20) + 1], ids=["last-byte", "longer"])
def test_a_file_another_distribution_installed_differing_past_the_first_piece_conflicts(
    tmp_path: Path, existing_size: int
) -> None:
    zeros = bytes(1 << 20)
    wheel = wheel_sharing_a_large_file(tmp_path / "w" / WHEEL, iter([zeros] * 3), 3 << 20)
    root = tmp_path / "target"
    (root / NAME).mkdir(parents=True)
    existing = bytearray(existing_size)
    existing[-1] = 1
    (root / SHARED).write_bytes(bytes(existing))

    destination = TargetDestination(
        root, {SHARED: "other==1.0"}, False, name=NAME, distribution=LABEL
    )

    with pytest.raises(LockbundleError) as raised:
        install_wheel(wheel, (LABEL, NAME, VERSION), destination)

    assert str(raised.value).startswith(
        f"other==1.0 and {LABEL} both install `{SHARED}` with different contents"
    )
