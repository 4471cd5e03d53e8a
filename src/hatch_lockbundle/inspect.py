"""Look inside a wheel before anything uses it: refuse what no honest wheel contains."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import zipfile
from collections.abc import Iterator
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, cast

from installer.exceptions import InstallerError
from installer.records import RecordEntry
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


def inspect_wheel(
    path: Path, label: str, name: str, version: str | None, *, contents: bool = True
) -> None:
    """Refuse ``path`` unless it is a well-formed wheel of ``name`` ``version``.

    Checked: every entry is a regular file with a relative path inside the wheel; the archive does
    not expand absurdly (zip bombs); RECORD lists every file with a hash and size, and they match
    (unless ``contents`` is false: then whoever unpacks the wheel checks them, as
    :class:`RecordCheckedWheel` does); METADATA names the locked project and version.
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
            wheel.validate_record(validate_contents=contents)
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


class RecordCheckedWheel(WheelFile):
    """A wheel whose files are checked against its RECORD while they are read, so that unpacking
    a wheel verifies it without a second pass over its contents.

    Call :meth:`check` after the contents were consumed; what was unpacked must not be used if
    it raises. The file names were checked before, by ``inspect_wheel(..., contents=False)``.
    """

    def __init__(self, f: zipfile.ZipFile) -> None:
        super().__init__(f)
        self.mismatches: list[str] = []

    def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
        # RECORD itself and its signatures have no hash in RECORD, and only those, only there
        unrecorded = {
            f"{self.dist_info_dir}/{name}" for name in ("RECORD", "RECORD.jws", "RECORD.p7s")
        }
        for elements, stream, executable in super().get_contents():
            path = elements[0]
            if path in unrecorded:
                yield elements, stream, executable
                continue
            reader = CheckedMember(stream, RecordEntry.from_elements(*elements))
            yield elements, cast(BinaryIO, reader), executable
            if not reader.matches():
                self.mismatches.append(path)

    def check(self, label: str) -> None:
        if self.mismatches:
            listing = ", ".join(f"`{path}`" for path in self.mismatches)
            raise HostileWheelError(
                f"{label}: refusing {Path(self._zipfile.filename or '').name}: the hash or size "
                f"of {listing} does not match its RECORD"
            )


class CheckedMember(io.RawIOBase):
    """A wheel member being read, hashed as it goes; ``record`` is its RECORD entry, which
    :meth:`matches` compares with what was read (reading what is left first)."""

    def __init__(self, stream: BinaryIO, record: RecordEntry) -> None:
        super().__init__()
        self.stream = stream
        self.record = record
        self._restart()

    def _restart(self) -> None:
        assert self.record.hash_ is not None  # inspect_wheel refused RECORD rows without one
        self.digest = hashlib.new(self.record.hash_.name)
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("a checked wheel member can only be rewound")
        self.stream.seek(0)
        self._restart()
        return 0

    def read(self, size: int | None = -1) -> bytes:
        data = self.stream.read(-1 if size is None else size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def matches(self) -> bool:
        while chunk := self.stream.read(1 << 20):
            self.digest.update(chunk)
            self.size += len(chunk)
        expected = self.record.hash_
        assert expected is not None
        actual = base64.urlsafe_b64encode(self.digest.digest()).decode("ascii").rstrip("=")
        return actual == expected.value and self.size == self.record.size
