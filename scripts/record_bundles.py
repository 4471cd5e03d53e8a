#!/usr/bin/env python3
"""Record fixtures/bundles/: the tree of every bundle the fixture projects build, file by file.

For every shape of :data:`SHAPES` (a fixture project of ``fixtures/projects/`` and a named bundle
of its own or written here into a copy of its ``pyproject.toml``: target and wheelhouse layouts,
a directory, a zip and a tar.gz, the ``aws-lambda`` preset, foreign platforms, a binary-only
wheelhouse, bytecode for the running Python, trim, exclude and include, an SBOM), this builds the
bundle from scratch with the real ``lockbundle`` command against a package index on 127.0.0.1
(the fixture packages, built here, as the tests serve them), and writes what came out into
``fixtures/bundles/<project>/<shape>.json``: every path of the output directory with its type
(``file``, ``dir``, ``symlink`` and its target), mode, size and sha256; every archive (each
wheel of a wheelhouse too) also with the tree of its members, as ``<archive>!<member>`` (type,
mode, size, sha256, and the time and owner each entry carries), so that a difference names the
file inside.
``tests/test_bundle_trees.py`` builds the same shapes with the code under test and compares, so
that a change meant to leave the output alone (a refactoring) shows any byte it moved.

What differs between runs or hosts on purpose is normalised out of a recording (:class:`Volatile`),
each kind replaced by a token saying what stood there:

* the loopback index's address, ``127.0.0.1:<port>``: the port is a free one picked per run, and a
  binary-only wheelhouse writes the URLs of the wheels it leaves on the index (and the host in
  its INSTALL.md);
* the running Python's full version where a wheelhouse describes the target it was built for
  (``cpython 3.11.7 on linux x86_64`` in requirements.txt and INSTALL.md): CI runs 3.11.7 and
  Debian's 3.11.2, whose bundles are otherwise the same;
* the sha256 of the project's ``uv.lock``, which the wheelhouse records: the lock holds the index's
  URL and the hashes of the fixture packages' sdists, which setuptools does not build
  byte-reproducibly;
* the working directory of the run: no bundle holds it (the end-to-end tests check that), and
  one that appeared would show as its token;
* compiled code built on this machine: a wheel built here from an sdist with a C extension
  (tagged ``linux_<arch>``: no index publishes that tag) holds what this host's compiler made for
  this Python's build flags (Debian's 3.11.2 and a pyenv 3.11.7 differ; two builds on one host
  are byte-identical). Its compiled files are recorded as ``compiled here`` (type and mode only),
  its RECORD lines for them without hash and size, the wheel file itself by the tree of its
  members, and its sha256 and size, wherever an output names them, by a token.

A file whose bytes a token changed is recorded with ``normalised: true`` and the size and sha256
of its normalised bytes; another file naming its real sha256 (``lockbundle.json`` names every
file's) gets a token carrying that normalised sha256 instead, so the reference is still checked.
An archive holding a normalised member is recorded without its own sha256 (its members are).

Usage (from the repository root, with the development environment)::

    .venv/bin/python scripts/record_bundles.py                          # every shape
    .venv/bin/python scripts/record_bundles.py --only app/zip-bytecode  # these shapes
    .venv/bin/python scripts/record_bundles.py --out DIR                # elsewhere (to compare)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import stat
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "scripts"))

from regenerate_golden import golden_index  # noqa: E402

from support.cli import lockbundle  # noqa: E402
from support.environ import Sandbox  # noqa: E402
from support.index import IndexServer, dead_url  # noqa: E402
from support.projects import add_to_pyproject, copy_project, uv_lock  # noqa: E402

FIXTURES = REPO / "fixtures"
RECORDINGS = FIXTURES / "bundles"
#: The Python version the recordings are made with: the bundles for the running interpreter
#: depend on it (``python`` of a recording).
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: The command that records one shape again (for the tests' messages).
COMMAND = ".venv/bin/python scripts/record_bundles.py --only {shape}"


@dataclass(frozen=True)
class Shape:
    """One bundle of a fixture project: a named bundle, built by ``lockbundle build --bundle``."""

    project: str
    #: the named bundle, and the recording's file name
    name: str
    #: the body of ``[tool.lockbundle.bundles.<name>]`` written into the copy's pyproject.toml;
    #: None: the fixture project declares this bundle itself
    table: str | None
    #: the directory to build in, relative to the project (a workspace member)
    member: str = "."

    @property
    def key(self) -> str:
        return f"{self.project}/{self.name}"


#: Every shape recorded. Foreign targets name their Python, so that what they select is the same
#: whatever interpreter runs the build; the others are for the running Python (CI's 3.11).
SHAPES = (
    # app: sdists built here (one a C extension), a fork, conflicting extras, a console script
    Shape("app", "directory", 'layout = "target"'),
    Shape(
        "app",
        "directory-extras-bytecode",
        'extras = ["feature", "gpu"]\ngroups = ["dev"]\ncompile-bytecode = true\n'
        'link-mode = "copy"',
    ),
    Shape("app", "zip-bytecode", 'archive = "zip"\ncompile-bytecode = true'),
    Shape(
        "app",
        "wheelhouse-extras",
        'layout = "wheelhouse"\nextras = ["feature", "cpu"]\ngroups = ["dev"]',
    ),
    Shape("app", "wheelhouse-tar", 'layout = "wheelhouse"\narchive = "tar.gz"'),
    # crossapp: wheels for other platforms and Pythons, markers only the target decides
    Shape(
        "crossapp", "linux-aarch64", 'python = "3.12"\nplatforms = ["linux-aarch64"]\nsbom = true'
    ),
    Shape(
        "crossapp",
        "musllinux-tar-prefix-level9",
        'python = "3.11"\nplatforms = ["musllinux-x86_64"]\narchive = "tar.gz"\nprefix = "python"\n'
        "compression-level = 9",
    ),
    Shape(
        "crossapp",
        "wheelhouse-platforms",
        'layout = "wheelhouse"\npython = "3.12"\n'
        'platforms = ["linux-x86_64", "macos-arm64", "windows-amd64"]\nsbom = true',
    ),
    Shape(
        "crossapp",
        "wheelhouse-binary-only",
        'layout = "wheelhouse"\npython = "3.12"\nplatforms = ["linux-x86_64", "linux-aarch64"]\n'
        "binary-only = true",
    ),
    # lambdaapp: what deployments trim, a handler module, entry points of its own
    Shape(
        "lambdaapp",
        "aws-lambda",
        'preset = "aws-lambda"\ntrim = true\nexclude = ["bin/"]\ncompile-bytecode = true\n'
        'include = ["src/lambdaapp/plugins.py"]',
    ),
    Shape(
        "lambdaapp",
        "aws-lambda-arm64-layer",
        'preset = "aws-lambda"\narchitecture = "arm64"\npython = "3.12"\nprefix = "python"\n'
        "trim = true\nsbom = true",
    ),
    Shape("lambdaapp", "trimmed", 'trim = true\nexclude = ["*.txt"]'),
    # privateapp: the bundles it declares (a target zip, a wheelhouse tar.gz, a binary-only one)
    Shape("privateapp", "zipped", None),
    Shape("privateapp", "packed", None),
    Shape("privateapp", "remote", None),
    # workspace: members with sibling members as real wheels
    Shape("workspace", "api", 'layout = "target"', member="packages/api"),
    # the virtual root, which has nothing of its own: a member picked by `package`
    Shape("workspace", "root-worker", 'package = "worker"\narchive = "zip"'),
    Shape(
        "workspace",
        "worker-wheelhouse",
        'layout = "wheelhouse"\narchive = "zip"\nprefix = "srv"\nsbom = true',
        member="packages/worker",
    ),
)


# -- building --------------------------------------------------------------------------------


def locked_project(
    project: str, shapes: Sequence[Shape], workdir: Path, index: IndexServer, sandbox: Sandbox
) -> Path:
    """A copy of ``fixtures/projects/<project>`` with the named bundles of ``shapes`` added to
    its (or its member's) pyproject.toml, locked by the real ``uv lock`` against ``index``."""
    root = copy_project(FIXTURES / "projects" / project, workdir / project, index.simple_url)
    for shape in shapes:
        if shape.table is not None:
            add_to_pyproject(
                root / shape.member, f"[tool.lockbundle.bundles.{shape.name}]\n{shape.table}\n"
            )
    uv_lock(root, env=sandbox.environ())
    return root


def build(shape: Shape, project: Path, out: Path, cache: Path, sandbox: Sandbox) -> Path:
    """Build ``shape`` from ``project`` into the empty directory ``out`` with the real
    ``lockbundle`` command (the code of this checkout); returns ``out``."""
    out.mkdir(parents=True)
    lockbundle(
        sandbox,
        project / shape.member,
        "build",
        "--bundle",
        shape.name,
        "--out-dir",
        str(out),
        "-q",
        cache=cache,
    )
    return out


# -- recording -------------------------------------------------------------------------------

#: what a compiled file built here is recorded as, instead of its bytes
COMPILED_HERE = "compiled here"
#: file names of compiled code (extension modules, shared libraries)
_COMPILED = re.compile(r"\.(so|pyd|dylib)(\.[0-9.]+)?$")


@dataclass
class Volatile:
    """What a recording must not hold, and the token written instead (see the module's docstring).

    :param replacements: bytes that differ between runs or hosts -> the token written instead
    """

    replacements: dict[bytes, bytes] = field(default_factory=dict)
    #: sizes that differ between runs, written as ``size = N`` (TOML) or ``"size": N`` (JSON)
    #: next to the hash -> the token written instead of the number
    sizes: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def of_run(cls, index: IndexServer, lock: Path, workdir: Path) -> Volatile:
        """The index's address, the sha256 of the project's lock, the running Python's full
        version where a target for it is described, the run's working directory."""
        found = {
            # in URLs, and alone where INSTALL.md names the host
            index.url.removeprefix("http://").encode(): b"127.0.0.1:<index-port>",
            _sha256(lock.read_bytes()).encode(): b"<sha256 of the project's uv.lock>",
            f"cpython {platform.python_version()} on".encode(): b"cpython <running 3.x.y> on",
        }
        for path in {str(workdir), str(workdir.resolve())}:
            found[path.encode()] = b"<working directory>"
        return cls(found)

    def apply(self, data: bytes) -> bytes:
        # longest first: a path inside another one is replaced whole
        for value in sorted(self.replacements, key=len, reverse=True):
            data = data.replace(value, self.replacements[value])
        for size, token in self.sizes.items():
            data = re.sub(rb'(size = |"size": )%d\b' % size, rb"\g<1>" + token, data)
        return data

    def state(self) -> tuple[dict[bytes, bytes], dict[int, bytes]]:
        return dict(self.replacements), dict(self.sizes)


@dataclass(frozen=True)
class Entry:
    """One path of a tree: a directory's file or an archive's member."""

    path: str
    kind: str  # "file", "dir", "symlink", "hardlink"
    mode: int
    data: bytes = b""
    #: a link's target
    target: str | None = None
    #: what else an archive member carries (time, owner), recorded as it is
    extra: Mapping[str, Any] = field(default_factory=dict)


def directory_entries(root: Path) -> list[Entry]:
    """Every path under ``root`` (not ``root`` itself), in a stable order."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            status = path.lstat()
            mode = stat.S_IMODE(status.st_mode)
            if stat.S_ISLNK(status.st_mode):
                found.append(Entry(relative, "symlink", mode, target=os.readlink(path)))
            elif stat.S_ISDIR(status.st_mode):
                found.append(Entry(relative, "dir", mode))
            else:
                found.append(Entry(relative, "file", mode, path.read_bytes()))
    return found


def archive_entries(name: str, data: bytes) -> list[Entry] | None:
    """The members of a zip (a wheel too) or tar.gz file, or None for any other file."""
    if name.endswith((".zip", ".whl")):
        return zip_entries(data)
    if name.endswith(".tar.gz"):
        return tar_entries(data)
    return None


def zip_entries(data: bytes) -> list[Entry]:
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            extra = {
                "date_time": "{:04}-{:02}-{:02} {:02}:{:02}:{:02}".format(*info.date_time),
                "compress_type": info.compress_type,
                "create_system": info.create_system,
            }
            kind = "symlink" if stat.S_ISLNK(mode) else "dir" if info.is_dir() else "file"
            content = b"" if kind == "dir" else archive.read(info)
            if kind == "symlink":
                found.append(
                    Entry(info.filename, kind, stat.S_IMODE(mode), b"", content.decode(), extra)
                )
            else:
                found.append(Entry(info.filename, kind, stat.S_IMODE(mode), content, extra=extra))
    return found


def tar_entries(data: bytes) -> list[Entry]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            extra = {
                "mtime": member.mtime,
                "uid": member.uid,
                "gid": member.gid,
                "uname": member.uname,
                "gname": member.gname,
            }
            if member.issym() or member.islnk():
                kind = "symlink" if member.issym() else "hardlink"
                found.append(Entry(member.name, kind, member.mode, b"", member.linkname, extra))
            elif member.isdir():
                found.append(Entry(member.name, "dir", member.mode, extra=extra))
            else:
                content = archive.extractfile(member)
                assert content is not None, member.name
                found.append(Entry(member.name, "file", member.mode, content.read(), extra=extra))
    return found


def compiled_here(entries: Sequence[Entry]) -> set[str]:
    """Paths of the compiled files of ``entries`` that distributions built on this machine hold.

    Such a distribution's ``.dist-info/WHEEL`` has a ``linux_<arch>`` tag (what a build here is
    tagged, never a published wheel); its ``RECORD`` lists the files, relative to the
    ``.dist-info``'s parent."""
    by_path = {entry.path: entry for entry in entries}
    found = set()
    for entry in entries:
        if not entry.path.endswith(".dist-info/WHEEL"):
            continue
        tags = HeaderParser().parsestr(entry.data.decode("utf-8")).get_all("Tag") or []
        if not any(tag.split("-")[-1].startswith("linux_") for tag in tags):
            continue
        dist_info = entry.path.rsplit("/", 1)[0]
        top = dist_info.rsplit("/", 1)[0] + "/" if "/" in dist_info else ""
        record = by_path.get(f"{dist_info}/RECORD")
        if record is None:
            continue
        for line in record.data.decode("utf-8").splitlines():
            listed = top + line.rsplit(",", 2)[0]
            if _COMPILED.search(listed) and listed in by_path:
                found.add(listed)
    return found


def built_here(filename: str) -> bool:
    """Whether ``filename`` is a wheel built on this machine (a ``linux_<arch>`` platform tag)."""
    if not filename.endswith(".whl"):
        return False
    tags = parse_wheel_filename(filename.rsplit("/", 1)[-1])[3]
    return any(tag.platform.startswith("linux_") for tag in tags)


def record_entries(
    entries: Sequence[Entry], volatile: Volatile, *, top: bool = False
) -> dict[str, Any]:
    """The recording of a tree: path -> what it is (see the module's docstring).

    ``volatile`` gains the tokens for what this tree holds that differs between runs (the
    sha256 and size of a wheel built here, the real sha256 of a normalised file), so that the
    files naming them are normalised in turn, until nothing changes.

    :param top: the output directory: its archives are recorded with their members too
    """
    compiled = compiled_here(entries)
    recorded: dict[str, Any] = {}
    # each pass can add tokens (a normalised file's sha256) that files of the next pass name
    while True:
        before = volatile.state()
        for entry in entries:
            recorded[entry.path] = record_entry(entry, compiled, volatile, top=top)
        if volatile.state() == before:
            return recorded


def record_entry(
    entry: Entry, compiled: set[str], volatile: Volatile, *, top: bool
) -> dict[str, Any]:
    """The recording of one path (see :func:`record_entries`)."""
    found: dict[str, Any] = {"type": entry.kind, "mode": oct(entry.mode), **entry.extra}
    if entry.kind in ("symlink", "hardlink"):
        found["target"] = entry.target
        return found
    if entry.kind == "dir":
        return found
    if entry.path in compiled:
        found["content"] = COMPILED_HERE
        return found
    name = entry.path.rsplit("/", 1)[-1]
    if built_here(name):
        members = archive_entries(name, entry.data)
        assert members is not None
        found["members"] = record_entries(members, volatile)
        found["normalised"] = True
        volatile.replacements[_sha256(entry.data).encode()] = f"<sha256 of {name}>".encode()
        volatile.sizes[len(entry.data)] = f"<size of {name}>".encode()
        return found
    data = entry.data
    if name == "RECORD":
        data = without_compiled_hashes(entry.path, data, compiled)
    normalised = volatile.apply(data)
    members = archive_entries(name, entry.data) if top else None
    if members is not None:
        found["members"] = record_entries(members, volatile)
        if any(
            "normalised" in member or "content" in member for member in found["members"].values()
        ):
            found["normalised"] = True  # its bytes hold what differs between runs
            return found
    found["size"] = len(normalised)
    found["sha256"] = _sha256(normalised)
    if normalised != entry.data:
        found["normalised"] = True
        token = f"<sha256 normalised: {found['sha256']}>".encode()
        volatile.replacements[_sha256(entry.data).encode()] = token
    return found


def without_compiled_hashes(path: str, data: bytes, compiled: set[str]) -> bytes:
    """The RECORD at ``path`` with the hash and size of each compiled file built here replaced
    by :data:`COMPILED_HERE`."""
    top = path.rsplit("/", 2)[0] + "/" if path.count("/") >= 2 else ""
    lines = []
    for line in data.decode("utf-8").splitlines(keepends=True):
        listed = line.rsplit(",", 2)[0]
        if top + listed in compiled:
            line = f"{listed},{COMPILED_HERE},{COMPILED_HERE}\n"
        lines.append(line)
    return "".join(lines).encode()


def record_output(out: Path, volatile: Volatile) -> dict[str, Any]:
    """The recording of an output directory (the bundle, its archive, its SBOM)."""
    return record_entries(directory_entries(out), volatile, top=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the run ---------------------------------------------------------------------------------


def record_project(
    project: str,
    shapes: Sequence[Shape],
    workdir: Path,
    index: IndexServer,
    sandbox: Sandbox,
    cache: Path,
) -> dict[str, dict[str, Any]]:
    """Lock a copy of ``project`` in ``workdir``, build each of its ``shapes`` with ``cache``,
    and return the recording of each, by :attr:`Shape.key`.

    :param workdir: where the project and the outputs go; its path is normalised out
    """
    root = locked_project(project, shapes, workdir, index, sandbox)
    recordings = {}
    for shape in shapes:
        output = build(shape, root, workdir / "outputs" / shape.name, cache, sandbox)
        volatile = Volatile.of_run(index, root / "uv.lock", workdir)
        recordings[shape.key] = recording(shape, record_output(output, volatile))
    return recordings


def recording(shape: Shape, tree: Mapping[str, Any]) -> dict[str, Any]:
    """The document written for ``shape``: how it was built, and its tree, flat (an archive's
    members follow it as ``<archive>!<member>``)."""
    return {
        "shape": shape.key,
        "built-in": shape.member,
        "bundle": shape.table if shape.table is not None else "declared by the project",
        # the running Python's bundles (its wheels, its bytecode) are for its version
        "python": PYTHON,
        "tree": flat(tree),
    }


def flat(tree: Mapping[str, Any], inside: str = "") -> dict[str, Any]:
    found = {}
    for path, entry in tree.items():
        found[inside + path] = {key: value for key, value in entry.items() if key != "members"}
        if "members" in entry:
            found |= flat(entry["members"], f"{inside}{path}!")
    return found


def document_text(document: Mapping[str, Any]) -> str:
    """``document`` as JSON with one line per path of its tree, so that a diff of two
    recordings shows one line per file that changed."""
    lines = [
        f"  {json.dumps(path)}: {json.dumps(entry, sort_keys=True)}"
        for path, entry in sorted(document["tree"].items())
    ]
    head = {key: value for key, value in document.items() if key != "tree"}
    text = json.dumps(head, indent=1, sort_keys=True).removesuffix("\n}")
    return f'{text},\n "tree": {{\n' + ",\n".join(lines) + "\n }\n}\n"


def recording_path(directory: Path, shape: Shape) -> Path:
    return directory / shape.project / f"{shape.name}.json"


def selected(only: Sequence[str]) -> list[Shape]:
    """The shapes named ``project/shape`` or ``project`` in ``only`` (all if empty)."""
    chosen = [shape for shape in SHAPES if not only or shape.key in only or shape.project in only]
    known = {shape.key for shape in SHAPES} | {shape.project for shape in SHAPES}
    unknown = set(only) - known
    if unknown:
        raise SystemExit(f"no such shape: {', '.join(sorted(unknown))} (known: {sorted(known)})")
    return chosen


def record_all(shapes: Sequence[Shape], out: Path) -> int:
    """Build and record ``shapes`` from scratch (a new index, cache and working directory), and
    write their recordings under ``out``; returns how many were written."""
    by_project: dict[str, list[Shape]] = {}
    for shape in shapes:
        by_project.setdefault(shape.project, []).append(shape)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="record-bundles-")))
        proxy = stack.enter_context(dead_url()).removesuffix("/simple/")
        sandbox = Sandbox(root=workdir / "sandbox", offline_proxy=proxy)
        # the packages the fixture projects lock, as the tests serve them (no stand-ins: those
        # are for the locks of fixtures/locks)
        index = stack.enter_context(golden_index(workdir, sandbox, []))
        recordings: dict[str, dict[str, Any]] = {}
        for project, its_shapes in by_project.items():
            recordings |= record_project(
                project, its_shapes, workdir / "projects", index, sandbox, workdir / "cache"
            )
    for shape in shapes:
        path = recording_path(out, shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document_text(recordings[shape.key]))
    if set(shapes) == set(SHAPES):  # a full run: no recording of a former shape stays
        wanted = {recording_path(out, shape) for shape in SHAPES}
        for stale in out.glob("*/*.json"):
            if stale not in wanted:
                stale.unlink()
    return len(shapes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=RECORDINGS, help="where to write (fixtures/bundles)"
    )
    parser.add_argument(
        "--only", nargs="*", default=(), help="only these shapes (`project/shape`) or projects"
    )
    options = parser.parse_args(argv)
    started = time.monotonic()
    written = record_all(selected(options.only), options.out)
    print(f"{written} recordings in {time.monotonic() - started:.0f} s under {options.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
