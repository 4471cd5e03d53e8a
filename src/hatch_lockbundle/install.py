"""Install one wheel: the core between a wheel source and a destination, as pypa/installer's."""

from __future__ import annotations

import configparser
import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, cast

from installer.exceptions import InstallerError, InvalidWheelSource
from installer.records import RecordEntry
from installer.utils import SCHEME_NAMES, Scheme, parse_entrypoints, parse_metadata_file

from .destination import TargetDestination, scripts_as_uv_writes_them
from .errors import LockbundleError
from .wheelsource import CheckedMember, RecordCheckedWheel, inspect_wheel, open_wheel, record_digest
from .zipmembers import MemberReader, member_pieces, read_member, read_whole

#: the bundle's ``.dist-info/INSTALLER``
INSTALLER_NAME = b"hatch-lockbundle\n"

#: a locked distribution: its label (``name==version``, for messages), name and version
LockedDistribution = tuple[str, str, str | None]


def install_wheel(path: Path, package: LockedDistribution, destination: TargetDestination) -> None:
    """Install the wheel file ``path`` into ``destination``: its entries and metadata are
    checked first, and each file against RECORD as it is unpacked (the only look inside the
    wheel); a wheel that fails raises, and what was written must then not be used (callers
    write to staging places).

    :param package: the locked distribution the wheel must be
    """
    label, name, version = package
    with open_wheel(path, label) as archive:
        inspect_wheel(path, label, name, version, contents=False, archive=archive)
        try:
            source = RecordCheckedWheel(archive, label)
            install(source, destination, {"INSTALLER": INSTALLER_NAME})
        except InstallerError as error:
            # installer raises InvalidWheelSource(source, message): the message alone is ours
            reason = error.args[-1] if error.args else error
            raise LockbundleError(f"{label}: cannot install {path.name}: {reason}") from None
        except (configparser.Error, AssertionError) as error:  # installer's entry point parser
            reason = " ".join(str(error).split()) or "an entry is not `name = module:attribute`"
            raise LockbundleError(
                f"{label}: {path.name} has a malformed entry_points.txt ({reason}); the wheel "
                f"is broken: lock another version of {name}, or report it to its maintainers"
            ) from None
        except (ValueError, KeyError, zipfile.BadZipFile) as error:  # KeyError: no WHEEL
            raise LockbundleError(f"{label}: {path.name} is not a valid wheel: {error}") from None
    # what was written must not be used unless this passes (callers write to staging places)
    source.check()


def install(
    source: RecordCheckedWheel,
    destination: TargetDestination,
    additional_metadata: Mapping[str, bytes],
) -> None:
    """Install ``source`` into ``destination`` as installer's ``install()`` does, with its
    signature (the same files, scripts, metadata files and RECORD, through the same
    destination), except where uv, the reference for what a bundle holds, installs otherwise:

    - files under ``__pycache__`` are installed (``install()`` skips them with a warning; some
      real wheels ship them, numpy's for one);
    - console scripts named ``pip3.<minor>`` are replaced by one for the target's minor
      version when a ``pip3`` script exists (uv's special case for pip's own wheel);
    - headers go to ``include/<name>/`` (the destination's scheme).

    Not ``install()`` itself for the rest either: its per-file steps (a record parsed, a
    scheme found, a stream and a destination call for each file) cost more than reading,
    inflating and writing a typical file, and a bundle has tens of thousands. Here most
    members are read and inflated in one go, checked against RECORD and written.

    :param source: the wheel; call its :meth:`~.RecordCheckedWheel.check` afterwards, and use
        nothing written if it raises
    :param destination: where the files go
    :param additional_metadata: files to add to the ``.dist-info`` directory, by name
    """
    # the WHEEL checks of installer's install() (its _process_WHEEL_file, which is private)
    wheel = parse_metadata_file(source.read_dist_info("WHEEL"))
    version = wheel["Wheel-Version"]
    if not (version and version.startswith("1.")):
        raise InvalidWheelSource(
            source, f"Incompatible Wheel-Version {version}, only support version 1.x wheels."
        )
    root = Scheme("purelib" if wheel["Root-Is-Purelib"] == "true" else "platlib")
    records: list[tuple[Scheme, RecordEntry]] = []
    if "entry_points.txt" in source.dist_info_filenames:
        text = source.read_dist_info("entry_points.txt")
        for name, module, attr, section in scripts_as_uv_writes_them(
            parse_entrypoints(text), destination.python
        ):
            records.append(
                (Scheme("scripts"), destination.write_script(name, module, attr, section))
            )
    data_dir = source.data_dir + "/"
    with source.opened() as fd:
        for item, record, executable in source.members():
            scheme, path = root, item.filename
            in_root = not path.startswith(data_dir)
            if not in_root:
                scheme, path = _data_scheme(source, path[len(data_dir) :])
            if record is None:  # RECORD's signatures: nothing to check them against
                signature = MemberReader(member_pieces(fd, item, None, source.refuse))
                entry = destination.write_file(scheme, path, cast(BinaryIO, signature), executable)
                records.append((scheme, entry))
                continue
            assert record.hash_ is not None and record.size is not None
            if not in_root or not read_whole(item):  # large, or compressed otherwise
                member = CheckedMember(fd, item, record, source.refuse)
                stream = cast(BinaryIO, member)
                if in_root:
                    entry = destination.write_to_fs(root, path, stream, executable)
                else:  # scripts get their launcher here
                    entry = destination.write_file(scheme, path, stream, executable)
                records.append((scheme, entry))
                if not member.matches():
                    source.mismatches.append(item.filename)
                continue
            data = read_member(fd, item, record.size, source.refuse)
            if len(data) != record.size or _digest(record.hash_.name, data) != record.hash_.value:
                source.mismatches.append(item.filename)
            records.append((root, destination.write_member(record, data, executable)))
    for filename, contents in additional_metadata.items():
        path = f"{source.dist_info_dir}/{filename}"
        records.append((root, destination.write_file(root, path, io.BytesIO(contents), False)))
    record_file = f"{source.dist_info_dir}/RECORD"
    records.append((root, RecordEntry(record_file, None, None)))
    destination.finalize_installation(root, record_file, records)


def _data_scheme(source: RecordCheckedWheel, path: str) -> tuple[Scheme, str]:
    """The scheme and the path in it of ``<name>.data/<path>`` (installer's rule)."""
    scheme, _, inner = path.partition("/")
    if scheme not in SCHEME_NAMES or not inner:
        raise InvalidWheelSource(
            source, f"{source.data_dir}/{path} is not contained in a valid .data subdirectory."
        )
    return Scheme(scheme), inner


def _digest(algorithm: str, data: bytes) -> str:
    """``data``'s hash as RECORD writes it (urlsafe base64, unpadded)."""
    raw = hashlib.sha256(data) if algorithm == "sha256" else hashlib.new(algorithm, data)
    return record_digest(raw.digest())
