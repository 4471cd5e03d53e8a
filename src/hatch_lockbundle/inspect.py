"""Look inside a wheel before anything uses it: refuse what no honest wheel contains."""

from __future__ import annotations

import stat
import zipfile
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from installer.exceptions import InstallerError
from installer.sources import WheelFile
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import LockbundleError

#: bounds on what a wheel may expand to (the largest real wheels unpack to a few GB, at a few x)
MAX_UNPACKED = 32 * 1024**3
SUSPICIOUS_ENTRY = 64 * 1024**2
SUSPICIOUS_TOTAL = 256 * 1024**2
MAX_RATIO = 100


class HostileWheelError(LockbundleError):
    """A wheel holds something that could escape, mislead or exhaust the build."""


def inspect_wheel(path: Path, label: str, name: str, version: str | None) -> None:
    """Refuse ``path`` unless it is a well-formed wheel of ``name`` ``version``.

    Checked: every entry is a regular file with a relative path inside the wheel; the archive does
    not expand absurdly (zip bombs); RECORD matches every file (hash and size); METADATA names the
    locked project and version.
    """

    def refuse(reason: str) -> HostileWheelError:
        return HostileWheelError(f"{label}: refusing {path.name}: {reason}")

    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            total = 0
            packed = 0
            for entry in entries:
                parts = PurePosixPath(entry.filename.replace("\\", "/"))
                if (
                    entry.filename.startswith(("/", "\\"))
                    or parts.is_absolute()
                    or (len(entry.filename) > 1 and entry.filename[1] == ":")
                ):
                    raise refuse(f"entry `{entry.filename}` has an absolute path")
                if ".." in parts.parts:
                    raise refuse(f"entry `{entry.filename}` climbs out of the wheel with `..`")
                mode = entry.external_attr >> 16
                if entry.create_system == 3 and stat.S_ISLNK(mode):
                    raise refuse(f"entry `{entry.filename}` is a symbolic link")
                ratio = entry.file_size / max(entry.compress_size, 1)
                if entry.file_size > SUSPICIOUS_ENTRY and ratio > MAX_RATIO:
                    raise refuse(
                        f"`{entry.filename}` expands {ratio:.0f} times (to {entry.file_size} "
                        "bytes); that is a zip bomb, not a wheel"
                    )
                total += entry.file_size
                packed += entry.compress_size
            if total > MAX_UNPACKED or (
                total > SUSPICIOUS_TOTAL and total / max(packed, 1) > MAX_RATIO
            ):
                raise refuse(
                    f"it expands to {total} bytes from {packed}; that is a zip bomb, not a wheel"
                )
            metadata_name = next(
                (
                    n
                    for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                ),
                None,
            )
            if metadata_name is None:
                raise refuse("it has no .dist-info/METADATA")
            metadata = HeaderParser().parsestr(
                archive.read(metadata_name).decode("utf-8", "replace")
            )
        with WheelFile.open(path) as wheel:
            wheel.validate_record()
    except (zipfile.BadZipFile, EOFError, InstallerError, ValueError) as error:
        if isinstance(error, HostileWheelError):
            raise
        raise refuse(f"it is not a valid wheel: {error}") from None
    declared_name = canonicalize_name(metadata.get("Name") or "")
    declared_version = metadata.get("Version") or ""
    if declared_name != canonicalize_name(name):
        raise refuse(f"its METADATA names `{metadata.get('Name')}`, not `{name}`")
    if version is not None and not _same_version(declared_version, version):
        raise refuse(f"its METADATA says version {declared_version}, not {version}")


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b
