"""Wheels and locks drawn by hypothesis, honest or hostile, and a sandbox that sees every write.

A drawn wheel is a :class:`DrawnWheel`: its members (name, bytes, Unix mode, compression, flags,
the size its zip headers state) and what its RECORD says about them. The honest base has what real
wheels have (a package, METADATA, WHEEL, entry points, ``.data`` scripts, purelib and headers);
each hostile variation changes one thing about it. Names and bytes may hold the placeholders
:data:`ESCAPE` (a directory outside everything a build may touch) and :data:`SECRET` (a file
outside the inputs), both without their leading ``/``, which :meth:`DrawnWheel.write` fills in
for the example's own :class:`Sandbox`.

A :class:`Sandbox` is one project (``pyproject.toml``, a hand-written ``uv.lock``, path wheels)
with its output directory and cache, next to decoy files, a planted symlink and the secret: its
:meth:`~Sandbox.snapshot` of everything but the cache tells what a build wrote or changed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.errors import LockbundleError

ESCAPE = "@ESCAPE@"
SECRET = "@SECRET@"
REGULAR = stat.S_IFREG | 0o644
EXECUTABLE = stat.S_IFREG | 0o755
LINK = stat.S_IFLNK | 0o777
ROOT = "app"  # the bundled project: virtual, it only depends on what is drawn
ROOT_VERSION = "0.1.0"
LAYOUTS = ("target", "wheelhouse")


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def record_hash(data: bytes, algorithm: str = "sha256") -> str:
    """``<algorithm>=<urlsafe base64>`` as a wheel's RECORD writes it."""
    return f"{algorithm}={_b64(hashlib.new(algorithm, data).digest())}"


@dataclass(frozen=True)
class Member:
    """One member of a wheel's zip, exactly as stored."""

    name: str
    data: bytes
    mode: int = REGULAR
    method: int = zipfile.ZIP_DEFLATED
    #: the encryption flag is set (the data itself is not encrypted: zipfile cannot write that)
    encrypted: bool = False
    #: the uncompressed size the zip headers state, when it is a lie
    declared_size: int | None = None
    #: listed in the honest RECORD
    recorded: bool = True


@dataclass(frozen=True)
class RecordLie:
    """What RECORD says wrongly. ``kind`` is one of ``wrong-hash``, ``wrong-size``,
    ``huge-size``, ``missing``, ``outside`` (a row for ``value``, a path outside),
    ``algorithm`` (``member``'s row hashed with ``value``, a weak or unknown algorithm),
    ``non-utf8`` and ``malformed`` (a row with ``value`` as its text)."""

    kind: str
    member: str = ""
    value: str = ""


@dataclass(frozen=True)
class DrawnWheel:
    """A wheel to write: what it holds, and what was done to it (empty: nothing, it is valid)."""

    name: str  # normalized, as the lock names it
    version: str
    members: tuple[Member, ...]  # every member but RECORD, in zip order
    lie: RecordLie | None = None
    hostile: str = ""

    @property
    def stem(self) -> str:
        return self.name.replace("-", "_")

    @property
    def filename(self) -> str:
        return f"{self.stem}-{self.version}-py3-none-any.whl"

    @property
    def dist_info(self) -> str:
        return f"{self.stem}-{self.version}.dist-info"

    def with_member(self, member: Member, hostile: str) -> DrawnWheel:
        return replace(self, members=(*self.members, member), hostile=hostile)

    def write(self, directory: Path, places: Mapping[str, str]) -> Path:
        """Write the wheel into ``directory``, placeholders filled in from ``places``."""

        def fill(text: str) -> str:
            for placeholder, value in places.items():
                text = text.replace(placeholder, value)
            return text

        members = [
            replace(m, name=fill(m.name), data=fill_bytes(m.data, places)) for m in self.members
        ]
        record = self._record(members, fill)
        path = directory / self.filename
        _write_zip(path, [*members, Member(f"{self.dist_info}/RECORD", record)])
        return path

    def _record(self, members: Sequence[Member], fill: Callable[[str], str]) -> bytes:
        rows = [[m.name, record_hash(m.data), str(len(m.data))] for m in members if m.recorded]
        lie = self.lie
        extra = b""
        if lie is not None:
            value = fill(lie.value)
            for row in rows:
                if row[0] != lie.member:
                    continue
                if lie.kind == "wrong-hash":
                    row[1] = record_hash(b"not these bytes")
                elif lie.kind == "wrong-size":
                    row[2] = str(int(row[2]) + 1)
                elif lie.kind == "huge-size":
                    row[2] = str(10**30)
                elif lie.kind == "algorithm":
                    data = next(m.data for m in members if m.name == row[0])
                    row[1] = (
                        record_hash(data, value)
                        if value in hashlib.algorithms_available and "shake" not in value
                        else f"{value}={_b64(b'0' * 16)}"
                    )
            if lie.kind == "missing":
                rows = [row for row in rows if row[0] != lie.member]
            elif lie.kind == "outside":
                rows.append([value, record_hash(b"owned = True\n"), "14"])
            elif lie.kind == "non-utf8":
                extra = b"\xff\xfe/\xc3(.py,,\n"
            elif lie.kind == "malformed":
                extra = value.encode() + b"\n"
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows(rows)
        writer.writerow([f"{self.dist_info}/RECORD", "", ""])
        return text.getvalue().encode() + extra


def fill_bytes(data: bytes, places: Mapping[str, str]) -> bytes:
    for placeholder, value in places.items():
        data = data.replace(placeholder.encode(), value.encode())
    return data


def _write_zip(path: Path, members: Sequence[Member]) -> None:
    """Write ``members`` as they are, then patch what zipfile cannot write: NUL in names,
    encryption flags and lying sizes (in the local header and the central directory alike)."""
    stand_ins: list[tuple[int, bytes]] = []
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": drawn on purpose
        for index, member in enumerate(members):
            name = member.name
            if "\0" in name:  # zipfile cuts a name at NUL: write a stand-in, patch it below
                stand_ins.append((index, name.encode()))
                name = name.replace("\0", "_")
            info = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
            info.external_attr = member.mode << 16
            info.create_system = 3
            info.compress_type = member.method
            archive.writestr(info, member.data)
    if not stand_ins and not any(m.encrypted or m.declared_size is not None for m in members):
        return
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        central = archive.start_dir
    patches = dict(stand_ins)
    for index, (member, info) in enumerate(zip(members, infos, strict=True)):
        local = info.header_offset
        entry = _central_entry(raw, central, index)
        if index in patches:
            encoded = patches[index]
            raw[local + 30 : local + 30 + len(encoded)] = encoded
            raw[entry + 46 : entry + 46 + len(encoded)] = encoded
        if member.encrypted:
            raw[local + 6] |= 0x1
            raw[entry + 8] |= 0x1
        if member.declared_size is not None:
            size = member.declared_size.to_bytes(4, "little")
            raw[local + 22 : local + 26] = size
            raw[entry + 24 : entry + 28] = size
    path.write_bytes(bytes(raw))


def _central_entry(raw: bytearray, start: int, index: int) -> int:
    """The offset of the ``index``-th entry of the central directory beginning at ``start``."""
    offset = start
    for _ in range(index):
        lengths = raw[offset + 28 : offset + 34]
        offset += 46 + sum(int.from_bytes(lengths[i : i + 2], "little") for i in (0, 2, 4))
    assert raw[offset : offset + 4] == b"PK\x01\x02"
    return offset


# -- locks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedWheel:
    """A package of the lock, as its ``[[package]]`` table says it."""

    name: str
    version: str
    source: str  # the inline table's text, e.g. `{ path = "wheels/x.whl" }`
    wheels: str  # the `wheels` array's text
    dependencies: tuple[str, ...] = ()


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (every control character escaped)."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def lock_text(
    packages: Sequence[LockedWheel], roots: Sequence[str], root_version: str = ROOT_VERSION
) -> str:
    """A uv.lock (version 1, revision 3) of the virtual root ``app`` depending on ``roots``."""

    def edges(names: Sequence[str]) -> str:
        return "[" + ", ".join(f"{{ name = {toml_string(n)} }}" for n in names) + "]"

    parts = [
        'version = 1\nrevision = 3\nrequires-python = ">=3.8"\n',
        f"[[package]]\nname = {toml_string(ROOT)}\nversion = {toml_string(root_version)}\n"
        f'source = {{ virtual = "." }}\ndependencies = {edges(roots)}\n',
    ]
    for package in packages:
        parts.append(
            f"[[package]]\nname = {toml_string(package.name)}\n"
            f"version = {toml_string(package.version)}\nsource = {package.source}\n"
            f"dependencies = {edges(package.dependencies)}\nwheels = {package.wheels}\n"
        )
    return "\n".join(parts)


def path_package(
    wheel: Path, name: str, version: str, dependencies: Sequence[str] = ()
) -> LockedWheel:
    """The lock's entry for ``wheel``, a file under the project's ``wheels/``."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return LockedWheel(
        name=name,
        version=version,
        source=f"{{ path = {toml_string('wheels/' + wheel.name)} }}",
        wheels=f'[{{ filename = {toml_string(wheel.name)}, hash = "sha256:{digest}" }}]',
        dependencies=tuple(dependencies),
    )


# -- the sandbox ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one build did: the bundle it made, or the error it gave, and what it logged."""

    layout: str
    bundle: Path | None = None
    error: LockbundleError | None = None
    logged: list[str] = field(default_factory=list)


@dataclass
class Sandbox:
    """One project, its output directory and cache, and what lies around them to be left alone."""

    root: Path

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def escape(self) -> Path:
        """Where escaping paths aim; it must stay as it is (empty)."""
        return self.root / "escape"

    @property
    def secret(self) -> Path:
        return self.root / "secret.txt"

    @property
    def secret_bytes(self) -> bytes:
        return f"SECRET-{self.root.name}-never-in-a-bundle".encode()

    @property
    def temporary(self) -> Path:
        return self.root / "tmp"

    @property
    def places(self) -> dict[str, str]:
        return {ESCAPE: str(self.escape).lstrip("/"), SECRET: str(self.secret).lstrip("/")}

    def fill(self, text: str) -> str:
        """``text`` with the placeholders filled in for this sandbox."""
        for placeholder, value in self.places.items():
            text = text.replace(placeholder, value)
        return text

    @classmethod
    def create(cls, parent: Path) -> Sandbox:
        sandbox = cls(Path(tempfile.mkdtemp(prefix="s", dir=parent)))
        sandbox.project.mkdir()
        (sandbox.project / "wheels").mkdir()
        sandbox.out.mkdir()
        sandbox.escape.mkdir()
        sandbox.temporary.mkdir()
        sandbox.secret.write_bytes(sandbox.secret_bytes)
        # decoys: a file and a link beside the output, and a link inside it pointing out
        (sandbox.root / "decoy.py").write_text("decoy = True\n")
        (sandbox.root / "elsewhere").mkdir()
        (sandbox.root / "elsewhere" / "keep.txt").write_text("keep\n")
        (sandbox.root / "out-link").symlink_to(sandbox.root / "elsewhere")
        # a user's link named like the SBOM's temporary once was (a build followed it)
        (sandbox.out / f"{ROOT}-{ROOT_VERSION}-target.sbom.json.tmp").symlink_to(
            sandbox.root / "elsewhere" / "keep.txt"
        )
        (sandbox.out / "planted").symlink_to(sandbox.root / "elsewhere")
        (sandbox.project / "pyproject.toml").write_text(
            f'[project]\nname = "{ROOT}"\nversion = "{ROOT_VERSION}"\n'
            'requires-python = ">=3.8"\ndependencies = []\n\n'
            # the lock is written by hand, not by uv: use it as it is
            "[tool.lockbundle]\nfrozen = true\n"
        )
        return sandbox

    def snapshot(self) -> dict[str, str]:
        """Path -> digest (or link target) of everything in the sandbox but the cache; a
        directory appears as itself, so an empty one created is seen too."""
        found: dict[str, str] = {}
        for directory, dirnames, filenames in os.walk(self.root):
            here = Path(directory)
            dirnames[:] = [d for d in dirnames if here / d != self.cache]
            for name in dirnames + filenames:
                path = here / name
                key = path.relative_to(self.root).as_posix()
                if path.is_symlink():
                    found[key] = "-> " + os.readlink(path)
                elif path.is_dir():
                    found[key] = "dir"
                else:
                    found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found

    def write_lock(
        self,
        packages: Sequence[LockedWheel],
        roots: Sequence[str],
        root_version: str = ROOT_VERSION,
    ) -> None:
        (self.project / "uv.lock").write_text(lock_text(packages, roots, root_version))

    def build(self, layout: str) -> Outcome:
        """Build ``layout`` in this process, as the ``lockbundle build`` command does."""
        outcome = Outcome(layout)
        with temporary_directory(self.temporary), one_cpu():
            try:
                outcome.bundle = build_bundle(
                    self.project,
                    self.out,
                    bundle=layout,
                    cache_dir=self.cache,
                    log=outcome.logged.append,
                )
            except LockbundleError as error:
                outcome.error = error
        return outcome


@contextmanager
def one_cpu() -> Iterator[None]:
    """Run on one CPU, where the target layout installs wheels in this process.

    On more, it installs from the second wheel on in worker processes, each a new interpreter:
    seconds per example on a busy machine, for the same install code (``test_layout_target``
    covers the workers)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def temporary_directory(directory: Path) -> Iterator[None]:
    """Make ``tempfile`` create its temporary files in ``directory`` (the sandbox's), so that
    one left behind shows in the snapshot."""
    before = tempfile.tempdir
    tempfile.tempdir = str(directory)
    try:
        yield
    finally:
        tempfile.tempdir = before
