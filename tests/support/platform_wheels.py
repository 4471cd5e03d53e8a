"""Fabricated platform-specific wheels (and binaries to check them by) for the cross-platform tests.

Nothing here can be compiled for aarch64, macOS or Windows on the test machine, so the wheels of
``nativepkg`` are written directly: valid wheels (METADATA, WHEEL with its ``Tag:`` lines and
``Root-Is-Purelib: false``, RECORD with hashes) whose extension module is only the header of a
shared library for the wheel's platform (ELF, Mach-O or PE, with the right machine field). It is
never imported: ``nativepkg/__init__.py`` does not load it. What the tests check is which file an
installer chose and that its machine is the target's.

The spread of wheels is the kind a real project publishes, so that tag priority matters: three
manylinux levels per architecture (one newer than the targets' glibc), an abi3 wheel, wheels for an
older CPython, two musllinux levels, macOS (one newer than the targets', and universal2) and
Windows, and an sdist (with a real C extension) for everything else.
"""

from __future__ import annotations

import io
import struct
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .artifacts import write_wheel

NATIVE = "nativepkg"
NATIVE_VERSION = "1.0"

# A fixed entry time: the same sdist every session, so its hash (and the locks) are stable (the
# wheels' writer fixes theirs).
_TAR_MTIME = 1704067200


# -- shared-library headers ---------------------------------------------------------------------------

EM_X86_64 = 62
EM_AARCH64 = 183
_ELF_MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}

_MACHO_MAGIC_64 = 0xFEEDFACF
_CPU_TYPE_X86_64 = 0x01000007
_CPU_TYPE_ARM64 = 0x0100000C
_MACHO_CPUS = {_CPU_TYPE_X86_64: "x86_64", _CPU_TYPE_ARM64: "arm64"}
_FAT_MAGIC = 0xCAFEBABE

_PE_MACHINES = {0x8664: "amd64", 0xAA64: "arm64", 0x014C: "x86"}


def elf_shared_object(machine: int) -> bytes:
    """The 64-byte header of an ELF64 little-endian shared object (``ET_DYN``) for ``machine``."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, ELFDATA2LSB, EV_CURRENT
    return ident + struct.pack(
        "<HHIQQQIHHHHHH",
        3,  # e_type: ET_DYN
        machine,
        1,  # e_version
        0,  # e_entry
        0,  # e_phoff
        0,  # e_shoff
        0,  # e_flags
        64,  # e_ehsize
        56,  # e_phentsize
        0,  # e_phnum
        64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )


def macho_bundle(cpu_type: int) -> bytes:
    """The 32-byte header of a 64-bit Mach-O bundle (``MH_BUNDLE``, as CPython extensions are)."""
    subtype = 3 if cpu_type == _CPU_TYPE_X86_64 else 0
    return struct.pack("<IiiIIIII", _MACHO_MAGIC_64, cpu_type, subtype, 8, 0, 0, 0, 0)


def macho_universal(cpu_types: tuple[int, ...]) -> bytes:
    """A fat (universal) Mach-O header listing a slice per CPU type (big-endian, as the format is)."""
    slices = b"".join(
        struct.pack(">iiIII", cpu, 3 if cpu == _CPU_TYPE_X86_64 else 0, 4096 * (i + 1), 32, 12)
        for i, cpu in enumerate(cpu_types)
    )
    return struct.pack(">II", _FAT_MAGIC, len(cpu_types)) + slices


def pe_dll(machine: int) -> bytes:
    """A DOS stub pointing at a PE signature and COFF header of a DLL for ``machine``."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 64)
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, 0, 0x2022)  # DLL | EXECUTABLE | LARGE_ADDR
    return bytes(dos) + b"PE\0\0" + coff


def binary_machine(data: bytes) -> str:
    """What a shared library is built for, from its header: ``"ELF aarch64"``, ``"Mach-O arm64"``,
    ``"Mach-O universal (x86_64, arm64)"``, ``"PE amd64"``; ``"ELF32"``, ``"ELF big-endian"`` or
    ``"unknown"`` for anything else."""
    if data[:4] == b"\x7fELF":
        if data[4] != 2:
            return "ELF32"
        if data[5] != 1:
            return "ELF big-endian"
        (machine,) = struct.unpack_from("<H", data, 18)
        return f"ELF {_ELF_MACHINES.get(machine, f'e_machine={machine}')}"
    if len(data) >= 8 and struct.unpack_from("<I", data)[0] == _MACHO_MAGIC_64:
        (cpu,) = struct.unpack_from("<I", data, 4)
        return f"Mach-O {_MACHO_CPUS.get(cpu, hex(cpu))}"
    if len(data) >= 8 and struct.unpack_from(">I", data)[0] == _FAT_MAGIC:
        (count,) = struct.unpack_from(">I", data, 4)
        cpus = [struct.unpack_from(">i", data, 8 + 20 * i)[0] for i in range(count)]
        return "Mach-O universal (" + ", ".join(_MACHO_CPUS.get(c, hex(c)) for c in cpus) + ")"
    if data[:2] == b"MZ" and len(data) >= 0x40:
        (offset,) = struct.unpack_from("<I", data, 0x3C)
        if data[offset : offset + 4] == b"PE\0\0":
            (machine,) = struct.unpack_from("<H", data, offset + 4)
            return f"PE {_PE_MACHINES.get(machine, hex(machine))}"
    return "unknown"


# -- wheels --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformWheel:
    """One wheel of ``nativepkg``: its compressed tag set and its extension module."""

    tags: str  # as in the file name: `cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64`
    extension: str  # file name of the extension module inside `nativepkg/`
    binary: bytes  # the extension module's bytes

    @property
    def filename(self) -> str:
        return f"{NATIVE}-{NATIVE_VERSION}-{self.tags}.whl"

    @property
    def machine(self) -> str:
        return binary_machine(self.binary)


def _linux(tags: str, extension: str, arch: str) -> PlatformWheel:
    machine = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}[arch]
    return PlatformWheel(tags, extension, elf_shared_object(machine))


# Every wheel of nativepkg on the index, in no particular order: installers must rank them.
NATIVE_WHEELS: tuple[PlatformWheel, ...] = (
    *(
        _linux(
            f"cp312-cp312-manylinux_2_17_{arch}.manylinux2014_{arch}",
            f"_speedups.cpython-312-{arch}-linux-gnu.so",
            arch,
        )
        for arch in ("x86_64", "aarch64")
    ),
    *(
        _linux(
            f"cp312-cp312-manylinux_2_28_{arch}",
            f"_speedups.cpython-312-{arch}-linux-gnu.so",
            arch,
        )
        for arch in ("x86_64", "aarch64")
    ),
    # For a newer glibc than manylinux_2_28 targets have: never chosen for them.
    *(
        _linux(
            f"cp312-cp312-manylinux_2_34_{arch}",
            f"_speedups.cpython-312-{arch}-linux-gnu.so",
            arch,
        )
        for arch in ("x86_64", "aarch64")
    ),
    *(
        _linux(f"cp38-abi3-manylinux_2_17_{arch}.manylinux2014_{arch}", "_speedups.abi3.so", arch)
        for arch in ("x86_64", "aarch64")
    ),
    # CPython 3.11 only for x86_64: on aarch64 a 3.11 target gets the abi3 wheel.
    _linux(
        "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "_speedups.cpython-311-x86_64-linux-gnu.so",
        "x86_64",
    ),
    _linux(
        "cp311-cp311-musllinux_1_2_x86_64",
        "_speedups.cpython-311-x86_64-linux-musl.so",
        "x86_64",
    ),
    *(
        _linux(
            f"cp312-cp312-musllinux_1_{minor}_{arch}",
            f"_speedups.cpython-312-{arch}-linux-musl.so",
            arch,
        )
        for minor in (1, 2)
        for arch in ("x86_64", "aarch64")
    ),
    PlatformWheel(
        "cp312-cp312-macosx_11_0_arm64",
        "_speedups.cpython-312-darwin.so",
        macho_bundle(_CPU_TYPE_ARM64),
    ),
    # For a newer macOS than `macos-arm64` (13.0) targets: never chosen for it.
    PlatformWheel(
        "cp312-cp312-macosx_14_0_arm64",
        "_speedups.cpython-312-darwin.so",
        macho_bundle(_CPU_TYPE_ARM64),
    ),
    # Fits both Mac architectures, after each one's own wheel in priority.
    PlatformWheel(
        "cp312-cp312-macosx_10_9_universal2",
        "_speedups.cpython-312-darwin.so",
        macho_universal((_CPU_TYPE_X86_64, _CPU_TYPE_ARM64)),
    ),
    PlatformWheel(
        "cp312-cp312-macosx_10_9_x86_64",
        "_speedups.cpython-312-darwin.so",
        macho_bundle(_CPU_TYPE_X86_64),
    ),
    PlatformWheel("cp312-cp312-win_amd64", "_speedups.cp312-win_amd64.pyd", pe_dll(0x8664)),
    PlatformWheel("cp311-cp311-win_amd64", "_speedups.cp311-win_amd64.pyd", pe_dll(0x8664)),
)

_NATIVE_INIT = f'MARKER = "{NATIVE} {NATIVE_VERSION}"\n'
# Requires-Python as wide as the abi3 wheel: the lock keeps every wheel a Python >= 3.11 can use.
_NATIVE_REQUIRES_PYTHON = ">=3.8"

# Pure packages whose markers tell target environments apart: name -> summary.
PURE_PACKAGES = {
    "armonly": "wanted on 64-bit ARM machines only (a platform_machine marker)",
    "backport": "wanted on Pythons older than 3.12 only (a python_version marker)",
}


def _metadata(name: str, version: str, requires_python: str, summary: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        f"Requires-Python: {requires_python}\n"
    )


# -- the sdist of nativepkg: a real C extension ----------------------------------------------------------

_SPEEDUPS_C = """\
#include <Python.h>

static struct PyModuleDef speedups = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&speedups); }
"""

_SDIST_FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{NATIVE}"\nversion = "{NATIVE_VERSION}"\n'
        f'requires-python = "{_NATIVE_REQUIRES_PYTHON}"\n\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    ),
    "setup.py": (
        "from setuptools import Extension, setup\n\n"
        f'setup(ext_modules=[Extension("{NATIVE}._speedups", ["src/{NATIVE}/_speedups.c"])])\n'
    ),
    f"src/{NATIVE}/__init__.py": _NATIVE_INIT,
    f"src/{NATIVE}/_speedups.c": _SPEEDUPS_C,
}


def sdist_bytes(name: str, version: str, files: dict[str, str], pkg_info: str) -> bytes:
    """A ``.tar.gz`` sdist: ``files`` and ``PKG-INFO`` under ``<name>-<version>/``."""
    root = f"{name}-{version}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, text in sorted({**files, "PKG-INFO": pkg_info}.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def publish_platform_packages(directory: Path) -> list[Path]:
    """Write every wheel and the sdist of ``nativepkg``, and the pure marker packages, to ``directory``.

    :returns: the files written.
    """
    paths = [
        write_wheel(
            directory,
            NATIVE,
            NATIVE_VERSION,
            {
                f"{NATIVE}/__init__.py": _NATIVE_INIT,
                f"{NATIVE}/{wheel.extension}": wheel.binary,
            },
            filename=wheel.filename,
            tags=wheel.tags,
            purelib=False,
            metadata_fields={
                "Summary": "a compiled package with wheels for many platforms (fabricated)",
                "Requires-Python": _NATIVE_REQUIRES_PYTHON,
            },
        )
        for wheel in NATIVE_WHEELS
    ]
    sdist = directory / f"{NATIVE}-{NATIVE_VERSION}.tar.gz"
    sdist.write_bytes(
        sdist_bytes(
            NATIVE,
            NATIVE_VERSION,
            _SDIST_FILES,
            _metadata(NATIVE, NATIVE_VERSION, _NATIVE_REQUIRES_PYTHON, "a compiled package"),
        )
    )
    paths.append(sdist)
    for name, summary in PURE_PACKAGES.items():
        paths.append(
            write_wheel(
                directory,
                name,
                "1.0",
                {f"{name}/__init__.py": f'MARKER = "{name} 1.0"\n'},
                metadata_fields={"Summary": summary, "Requires-Python": ">=3.10"},
            )
        )
    return sorted(paths)


def extension_modules(root: Path) -> list[Path]:
    """Compiled extension modules under ``root`` (``*.so``, ``*.pyd``), in a stable order."""
    return sorted(path for path in root.rglob("*") if path.suffix in (".so", ".pyd"))


def machines(paths: Iterable[Path], root: Path) -> dict[str, str]:
    """Relative path -> :func:`binary_machine` of each file."""
    return {path.relative_to(root).as_posix(): binary_machine(path.read_bytes()) for path in paths}
