"""Hand-made wheels and sdists, honest or hostile, written byte by byte.

A wheel is a list of :class:`Entry` values: each says what the zip holds (name, bytes, mode) and
what ``RECORD`` claims about it, so that a test can make the two disagree on purpose. An sdist is a
list of :class:`Member` values for a ``.tar.gz`` (or names and bytes for a ``.zip``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import parse_tag

from .records import record_hash

CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One member of a wheel's zip, and what RECORD says about it.

    :param name: the name stored in the zip, exactly (``../x``, ``/abs/x`` and such included).
    :param data: the bytes stored.
    :param mode: the Unix mode stored in ``external_attr`` (``S_IFLNK | 0o777`` makes a symlink
        whose target is ``data``).
    :param recorded: listed in RECORD at all.
    :param claimed: the bytes RECORD's hash is computed from (default: ``data``).
    :param claimed_size: the size RECORD states (default: the length of ``claimed``).
    """

    name: str
    data: bytes
    mode: int = stat.S_IFREG | 0o644
    recorded: bool = True
    claimed: bytes | None = None
    claimed_size: int | None = None

    def record_line(self) -> str:
        claimed = self.data if self.claimed is None else self.claimed
        size = len(claimed) if self.claimed_size is None else self.claimed_size
        return f"{self.name},{record_hash(claimed)},{size}"


def symlink(name: str, target: str) -> Entry:
    """A zip entry that unzip and pip's unpacker turn into a symlink to ``target``."""
    return Entry(name, target.encode(), mode=stat.S_IFLNK | 0o777)


def dist_info_entries(
    name: str,
    version: str,
    *,
    metadata_name: str | None = None,
    metadata_version: str | None = None,
    tags: str = "py3-none-any",
    purelib: bool = True,
    metadata_fields: Mapping[str, str] | None = None,
) -> list[Entry]:
    """METADATA and WHEEL of ``<name>-<version>.dist-info`` (METADATA may claim another identity).

    :param tags: the wheel's compressed tag set (``cp312-cp312-manylinux_2_17_x86_64``): one
        ``Tag:`` line per expanded tag, as wheel builders write them.
    :param metadata_fields: more METADATA fields (``Requires-Python``, ``Summary``), in order.
    """
    dist_info = f"{name}-{version}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {metadata_name or name}\n"
        f"Version: {metadata_version or version}\n"
    ) + "".join(f"{field}: {value}\n" for field, value in (metadata_fields or {}).items())
    wheel = (
        "Wheel-Version: 1.0\nGenerator: hand\n"
        f"Root-Is-Purelib: {'true' if purelib else 'false'}\n"
        + "".join(f"Tag: {tag}\n" for tag in sorted(map(str, parse_tag(tags))))
    )
    return [
        Entry(f"{dist_info}/METADATA", metadata.encode()),
        Entry(f"{dist_info}/WHEEL", wheel.encode()),
    ]


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    entries: Sequence[Entry] | Mapping[str, str | bytes],
    *,
    filename: str | None = None,
    metadata_name: str | None = None,
    metadata_version: str | None = None,
    tags: str = "py3-none-any",
    purelib: bool = True,
    metadata_fields: Mapping[str, str] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A wheel of ``entries`` plus its dist-info, with a RECORD as each entry claims.

    Every entry has the same fixed time, so that the same arguments make the same bytes.

    :param entries: :class:`Entry` values, or file name -> contents (honest entries).
    :param filename: the wheel's file name (default ``<name>-<version>-<tags>.whl``).
    :param tags, purelib, metadata_fields: see :func:`dist_info_entries`.
    :param compression: how every member is stored (``zipfile.ZIP_STORED``, ...).
    :returns: the wheel's path.
    """
    if isinstance(entries, Mapping):
        entries = [
            Entry(path, data.encode() if isinstance(data, str) else data)
            for path, data in entries.items()
        ]
    dist_info = f"{name}-{version}.dist-info"
    everything = [
        *entries,
        *dist_info_entries(
            name,
            version,
            metadata_name=metadata_name,
            metadata_version=metadata_version,
            tags=tags,
            purelib=purelib,
            metadata_fields=metadata_fields,
        ),
    ]
    record = "".join(f"{entry.record_line()}\n" for entry in everything if entry.recorded)
    record += f"{dist_info}/RECORD,,\n"
    path = directory / (filename or f"{name}-{version}-{tags}.whl")
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for entry in everything:
            archive.writestr(_zip_info(entry.name, entry.mode, compression), entry.data)
        archive.writestr(_zip_info(f"{dist_info}/RECORD", compression=compression), record)
    return path


def write_zip_bomb_wheel(
    directory: Path, name: str, version: str, members: dict[str, int], *, zip64: bool = True
) -> Path:
    """A wheel, valid in every respect, whose files ``members`` are each that many zero bytes.

    Zeros deflate about a thousandfold, so 200 MiB fit in about 200 KiB. Files are streamed, so
    writing them never holds one in memory; RECORD states their true hashes and sizes.

    :param zip64: store the sizes in zip64 fields (``False``: in the plain 32-bit ones, which
        :func:`understate_size` can rewrite)
    """
    zeros = bytes(CHUNK)
    dist_info = f"{name}-{version}.dist-info"
    meta = dist_info_entries(name, version)
    record = ""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member, size in members.items():
            digest = hashlib.sha256()
            info = _zip_info(member)
            info.file_size = size
            with archive.open(info, "w", force_zip64=zip64) as out:
                remaining = size
                while remaining:
                    chunk = zeros[: min(CHUNK, remaining)]
                    out.write(chunk)
                    digest.update(chunk)
                    remaining -= len(chunk)
            encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
            record += f"{member},sha256={encoded},{size}\n"
        for entry in meta:
            archive.writestr(_zip_info(entry.name), entry.data)
        record += "".join(f"{entry.record_line()}\n" for entry in meta)
        record += f"{dist_info}/RECORD,,\n"
        archive.writestr(_zip_info(f"{dist_info}/RECORD"), record)
    return path


def corrupt_member(wheel: Path, member: str, out: Path) -> Path:
    """A copy of ``wheel`` in which one byte of ``member``'s stored data is flipped.

    The zip's directory still describes the original (its CRC no longer matches), the way a disk or
    transfer error, or a careless tamperer, leaves it.
    """
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(member)
    # the local header: 30 fixed bytes, then the name and the extra field, then the data
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def rename_in_local_header(wheel: Path, member: str, name: str, out: Path) -> Path:
    """A copy of ``wheel`` whose ``member`` is named ``name`` (of the same length) in its local
    header, while the zip's directory still names it ``member``: readers that trust one or the
    other would see different files."""
    assert len(name.encode()) == len(member.encode())
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        offset = archive.getinfo(member).header_offset
    start = offset + 30
    assert data[start : start + len(member.encode())] == member.encode()
    data[start : start + len(name.encode())] = name.encode()
    out.write_bytes(bytes(data))
    return out


def understate_size(wheel: Path, member: str, size: int, out: Path) -> Path:
    """A copy of ``wheel`` whose zip directory and local header say ``member`` unpacks to
    ``size`` bytes; its data and RECORD are unchanged (sizes in 32-bit fields, not zip64)."""
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        offset = archive.getinfo(member).header_offset
        directory = archive.start_dir
    data[offset + 22 : offset + 26] = size.to_bytes(4, "little")  # local header
    name = member.encode()
    central = data.find(b"PK\x01\x02", directory)
    while central != -1:
        name_length = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + name_length] == name:
            data[central + 24 : central + 28] = size.to_bytes(4, "little")
            break
        central = data.find(b"PK\x01\x02", central + 4)
    else:
        raise AssertionError(f"{member} has no entry in the zip directory of {wheel}")
    out.write_bytes(bytes(data))
    return out


def _zip_info(
    name: str, mode: int = stat.S_IFREG | 0o644, compression: int = zipfile.ZIP_DEFLATED
) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
    info.external_attr = mode << 16
    info.create_system = 3  # Unix, so that the mode bits are read
    info.compress_type = compression
    return info


# -- sdists -----------------------------------------------------------------------------------------

# A PEP 517 backend kept inside the sdist (``backend-path = ["."]``): it needs no build requirement,
# so building it needs no index. It writes a pure wheel of the package directory named in PKG-INFO.
# ``LOCKBUNDLE_TEST_BUILD_STARTED`` names a file it creates when a build starts, and
# ``LOCKBUNDLE_TEST_BUILD_SECONDS`` how long it then sleeps, so that a test can interrupt a build.
IN_TREE_BACKEND = '''\
"""A build backend with no requirements, for hand-made sdists."""

import base64
import hashlib
import os
import time
import zipfile
from email.parser import HeaderParser


def _identity():
    with open("PKG-INFO", encoding="utf-8") as handle:
        headers = HeaderParser().parse(handle)
    return headers["Name"], headers["Version"]


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    started = os.environ.get("LOCKBUNDLE_TEST_BUILD_STARTED")
    if started:
        with open(started, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\\n")
    time.sleep(float(os.environ.get("LOCKBUNDLE_TEST_BUILD_SECONDS") or 0))
    name, version = _identity()
    module = name.replace("-", "_")
    files = {}
    for directory, _, names in sorted(os.walk(module)):
        for filename in sorted(names):
            if filename.endswith(".py"):
                path = os.path.join(directory, filename).replace(os.sep, "/")
                with open(path, "rb") as handle:
                    files[path] = handle.read()
    dist_info = f"{module}-{version}.dist-info"
    with open("PKG-INFO", "rb") as handle:
        files[f"{dist_info}/METADATA"] = handle.read()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: in-tree\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 2, 2, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return wheel
'''


@dataclass(frozen=True)
class Member:
    """One member of an sdist's tar: a file (``data``), a symlink or a hard link (``link``)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def sdist_members(name: str, version: str, modules: dict[str, str] | None = None) -> list[Member]:
    """The members of an honest sdist built by :data:`IN_TREE_BACKEND`, under ``<name>-<version>/``.

    PKG-INFO is static metadata (2.2, nothing dynamic), so uv reads it without building.
    """
    module = name.replace("-", "_")
    root = f"{name.replace('-', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n"
    pyproject = (
        f'[project]\nname = "{name}"\nversion = "{version}"\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "in_tree_backend"\nbackend-path = ["."]\n'
    )
    files = {
        "PKG-INFO": pkg_info,
        "pyproject.toml": pyproject,
        "in_tree_backend.py": IN_TREE_BACKEND,
        f"{module}/__init__.py": f"MARKER = {f'{name} {version}'!r}\n",
        **(modules or {}),
    }
    return [Member(f"{root}/{path}", text.encode()) for path, text in files.items()]


def write_sdist(directory: Path, name: str, version: str, members: Iterable[Member]) -> Path:
    """``<name>-<version>.tar.gz`` holding exactly ``members`` (in that order, names as given)."""
    path = directory / f"{name.replace('-', '_')}-{version}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.mtime = 1580601600
            info.mode = 0o644
            if member.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = member.link
                archive.addfile(info)
            else:
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
    return path


def write_zip_sdist(directory: Path, name: str, version: str, members: Iterable[Member]) -> Path:
    """``<name>-<version>.zip`` holding the regular-file ``members`` (names stored as given)."""
    path = directory / f"{name.replace('-', '_')}-{version}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            archive.writestr(_zip_info(member.name), member.data)
    return path
