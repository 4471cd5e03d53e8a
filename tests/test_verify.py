"""``lockbundle verify``: every file against its RECORD or the wheelhouse manifest, links and
paths outside refused, problems reported without a traceback, and a digest the build prints as
the anchor from outside (RECORD and the manifest vouch only for themselves)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_lockbundle.bundle import build_bundle
from hatch_lockbundle.cache import Cache
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.verify import verify_bundle
from hatch_lockbundle.wheelsource import record_digest
from support.archives import extract
from support.cli import lockbundle
from support.environ import Sandbox
from support.projects import MakeProject

pytestmark = pytest.mark.slow

LAYOUTS = {
    "directory": {},
    "zip": {"archive": "zip"},
    "tar.gz": {"archive": "tar.gz", "prefix": "python"},
    "wheelhouse": {"layout": "wheelhouse"},
}


@dataclass(frozen=True)
class Built:
    path: Path
    digest: str


@pytest.fixture(scope="module")
def built(make_project: MakeProject, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """The workspace member ``api`` built in every layout, with the digest each build printed."""
    member = make_project("workspace") / "packages" / "api"
    cache = tmp_path_factory.mktemp("verify-cache")
    found = {}
    for name, overrides in LAYOUTS.items():
        lines: list[str] = []
        layout = overrides.get("layout", "target")
        path = build_bundle(
            member,
            tmp_path_factory.mktemp(name.replace(".", "-")),
            bundle=layout,
            cache_dir=cache,
            overrides={k: v for k, v in overrides.items() if k != "layout"},
            log=lines.append,
        )
        (digest,) = [line.split()[1] for line in lines if line.startswith("Digest: ")]
        found[name] = Built(path, digest)
    return found


def copy(bundle: Path, tmp_path: Path) -> Path:
    destination = tmp_path / bundle.name
    if bundle.is_dir():
        shutil.copytree(bundle, destination, symlinks=True)
        for directory, _, names in os.walk(destination):
            for name in names:
                os.chmod(Path(directory) / name, 0o644)  # bundle files are read-only
    else:
        shutil.copy(bundle, destination)
    return destination


def rewrite_record(root: Path, relative: str, content: bytes) -> None:
    """Give ``relative`` in its RECORD the hash and size of ``content``, as a forger would."""
    (record,) = [
        record for record in root.glob("*.dist-info/RECORD") if f"{relative}," in record.read_text()
    ]
    rows = list(csv.reader(io.StringIO(record.read_text())))
    for row in rows:
        if row and row[0] == relative:
            row[1] = f"sha256={record_digest(__import__('hashlib').sha256(content).digest())}"
            row[2] = str(len(content))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    record.write_text(text.getvalue())


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_fresh_bundle_verifies_with_the_digest_its_build_printed(
    built: dict[str, Built], layout: str
) -> None:
    result = verify_bundle(built[layout].path, expect=built[layout].digest)

    assert result.problems == []
    assert result.digest == built[layout].digest


def test_an_archive_has_the_digest_of_the_directory_it_packs(built: dict[str, Built]) -> None:
    assert built["zip"].digest == built["tar.gz"].digest == built["directory"].digest


def test_a_forged_file_with_its_record_updated_is_caught_only_by_the_digest(
    built: dict[str, Built], tmp_path: Path
) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    forged = b"import os  # forged\n"
    (bundle / "api" / "__init__.py").write_bytes(forged)
    rewrite_record(bundle, "api/__init__.py", forged)

    assert verify_bundle(bundle).problems == []  # RECORD vouches for itself
    problems = verify_bundle(bundle, expect=built["directory"].digest).problems
    assert problems == [
        f"digest: {verify_bundle(bundle).digest}, expected {built['directory'].digest}"
    ]


def test_a_zip_member_turned_into_a_symlink_is_reported(
    built: dict[str, Built], tmp_path: Path
) -> None:
    source = built["zip"].path
    forged = tmp_path / source.name
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(forged, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "api/__init__.py":
                info.external_attr = (0o120777 << 16) | (info.external_attr & 0xFFFF)
                data = b"/etc/passwd"
            out.writestr(info, data)
    # the RECORD says what the extracted file will hold: the link's target as text
    unpacked = extract(forged, tmp_path / "unpacked")
    rewrite_record(unpacked, "api/__init__.py", b"/etc/passwd")
    (record,) = unpacked.glob("api-*.dist-info/RECORD")
    with zipfile.ZipFile(forged) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
        infos = archive.infolist()
    members[record.relative_to(unpacked).as_posix()] = record.read_bytes()
    with zipfile.ZipFile(forged, "w") as out:
        for info in infos:
            out.writestr(info, members[info.filename])

    assert verify_bundle(forged).problems == ["link: api/__init__.py"]


def test_a_tar_symlink_is_reported(built: dict[str, Built], tmp_path: Path) -> None:
    forged = tmp_path / built["tar.gz"].path.name
    with tarfile.open(built["tar.gz"].path) as original, tarfile.open(forged, "w:gz") as out:
        for member in original.getmembers():
            out.addfile(member, original.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("python/api/evil.py")
        link.type, link.linkname = tarfile.SYMTYPE, "__init__.py"
        out.addfile(link)

    problems = verify_bundle(forged).problems

    assert "link: python/api/evil.py" in problems


def test_a_symlink_in_a_bundle_directory_is_reported_and_not_followed(
    built: dict[str, Built], tmp_path: Path
) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    (bundle / "api" / "__init__.py").unlink()
    (bundle / "api" / "__init__.py").symlink_to("/etc/passwd")
    (bundle / "elsewhere").symlink_to(tmp_path, target_is_directory=True)

    problems = verify_bundle(bundle).problems

    assert problems == ["link: api/__init__.py", "link: elsewhere"]


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("../../../etc/passwd,,", "outside: '../../../etc/passwd' in api-0.1.0.dist-info/RECORD"),
        ("/etc/passwd,,", "outside: '/etc/passwd' in api-0.1.0.dist-info/RECORD"),
        (
            "api/__init__.py,shake_128=abc,3",
            "unreadable: api-0.1.0.dist-info/RECORD (hash algorithm 'shake_128' for api/__init__.py)",
        ),
        (
            "api/__init__.py,md5=abc,3",
            "unreadable: api-0.1.0.dist-info/RECORD (hash algorithm 'md5' for api/__init__.py)",
        ),
    ],
    ids=["dotdot", "absolute", "unknown-algorithm", "weak-algorithm"],
)
def test_a_hostile_record_row_is_a_problem_not_a_traceback(
    built: dict[str, Built], tmp_path: Path, row: str, said: str
) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    record = bundle / "api-0.1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + row + "\n")

    assert said in verify_bundle(bundle).problems


def test_a_record_that_is_not_utf8_is_a_problem(built: dict[str, Built], tmp_path: Path) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    record = bundle / "api-0.1.0.dist-info" / "RECORD"
    record.write_bytes(record.read_bytes() + b"api/\xff.py,,\n")

    problems = verify_bundle(bundle).problems

    assert any(p.startswith("unreadable: api-0.1.0.dist-info/RECORD (") for p in problems)


def test_an_edited_wheelhouse_file_is_reported(built: dict[str, Built], tmp_path: Path) -> None:
    house = copy(built["wheelhouse"].path, tmp_path)
    requirements = house / "requirements.txt"
    requirements.write_text(
        requirements.read_text().replace("--no-index", "--index-url https://evil.example/simple")
    )
    (house / "wheels" / "extra-1.0-py3-none-any.whl").write_bytes(b"")

    problems = verify_bundle(house).problems

    assert problems == ["added: wheels/extra-1.0-py3-none-any.whl", "changed: requirements.txt"]


@pytest.mark.parametrize(
    "manifest",
    [b"{not json", b"[]", b'{"wheels": [{"file": "../../x", "sha256": "00"}]}', b"\xff"],
    ids=["not-json", "not-an-object", "outside", "not-utf8"],
)
def test_a_malformed_manifest_is_a_problem_and_no_traceback(
    built: dict[str, Built], tmp_path: Path, sandbox: Sandbox, manifest: bytes
) -> None:
    house = copy(built["wheelhouse"].path, tmp_path)
    (house / "lockbundle.json").write_bytes(manifest)

    result = lockbundle(sandbox, tmp_path, "verify", str(house), cache=tmp_path, check=False)

    assert result.returncode == 1
    assert result.stdout.startswith("unreadable: lockbundle.json (")
    assert "Traceback" not in result.stderr


def test_bytecode_written_at_run_time_is_reported_apart(
    built: dict[str, Built], tmp_path: Path, sandbox: Sandbox
) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    (bundle / "api" / "__pycache__").mkdir()
    (bundle / "api" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")

    result = lockbundle(sandbox, tmp_path, "verify", str(bundle), cache=tmp_path, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "runtime: api/__pycache__/__init__.cpython-311.pyc\n"
    assert "1 __pycache__ file(s) no RECORD lists" in result.stderr


def test_with_the_digest_any_bytecode_the_build_did_not_write_is_a_problem(
    built: dict[str, Built], tmp_path: Path, sandbox: Sandbox
) -> None:
    # an unchecked hash-based .pyc runs instead of its source: the code is swapped
    bundle = copy(built["directory"].path, tmp_path)
    (bundle / "api" / "__pycache__").mkdir()
    planted = bundle / "api" / "__pycache__" / "__init__.cpython-311.pyc"
    planted.write_bytes(b"\0")

    result = lockbundle(
        sandbox, tmp_path, "verify", "--expect", built["directory"].digest, str(bundle),
        cache=tmp_path, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == "added: api/__pycache__/__init__.cpython-311.pyc (bytecode)\n"


def test_a_wheel_replaced_in_the_cache_never_reaches_a_wheelhouse(
    make_project: MakeProject, tmp_path: Path
) -> None:
    member = make_project("workspace") / "packages" / "api"
    cache = tmp_path / "cache"
    build_bundle(member, tmp_path / "first", bundle="wheelhouse", cache_dir=cache)
    (cached,) = (Cache(cache).entries / "files").rglob("apidep-*.whl")
    cached.chmod(0o644)
    with zipfile.ZipFile(cached, "a") as wheel:
        wheel.writestr("apidep/planted.py", "print('planted')\n")

    with pytest.raises(LockbundleError, match=r"apidep==.*changed after it was verified"):
        build_bundle(member, tmp_path / "second", bundle="wheelhouse", cache_dir=cache)
    assert not (tmp_path / "second").exists() or list((tmp_path / "second").iterdir()) == []


def test_a_fifo_in_place_of_a_file_is_reported_without_blocking(
    built: dict[str, Built], tmp_path: Path
) -> None:
    bundle = copy(built["directory"].path, tmp_path)
    (bundle / "api" / "__init__.py").unlink()
    os.mkfifo(bundle / "api" / "__init__.py")
    record = bundle / "api-0.1.0.dist-info" / "RECORD"
    record.unlink()
    os.mkfifo(record)

    problems = verify_bundle(bundle).problems

    assert "special: api/__init__.py (not a regular file; not read)" in problems
    assert "special: api-0.1.0.dist-info/RECORD (not a regular file; not read)" in problems
