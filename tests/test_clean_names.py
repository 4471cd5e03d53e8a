"""Which entries of dist/ `hatch clean -t lockbundle[:VERSION]` counts as its own."""

from __future__ import annotations

import pytest

from hatch_lockbundle.bundle import bundle_name
from hatch_lockbundle.errors import LockbundleError
from hatch_lockbundle.outputs import bundle_of, is_bundle


@pytest.mark.parametrize(
    ("entry", "owner"),
    [
        ("app-0.1.0-target", "app-0.1.0-target"),
        ("app-0.1.0-wheelhouse.tar.gz", "app-0.1.0-wheelhouse"),
        ("app-0.1.0-lambda-x86.zip", "app-0.1.0-lambda-x86"),
        (".app-0.1.0-target.lb-k2j_x9.tmp", "app-0.1.0-target"),
        (".app-0.1.0-target.lb-abc.old", "app-0.1.0-target"),
        (".app-0.1.0-wheelhouse.zip.lb-q1w2e3.tmp", "app-0.1.0-wheelhouse"),
        (".gitignore", ""),
    ],
)
def test_entries_belong_to_their_bundle(entry: str, owner: str) -> None:
    assert bundle_of(entry) == owner


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app-0.1.0-x86", True),
        ("app-0.1.0-lambda-x86", False),  # another bundle whose name ends the same
        ("app-0.1.0.dev3+local-x86", True),
        ("app--x86", False),
        ("application-0.1.0-x86", False),
    ],
)
def test_a_bundle_name_is_prefix_version_suffix(name: str, expected: bool) -> None:
    assert is_bundle(name, "app-", "-x86") is expected


@pytest.mark.parametrize(
    ("version", "bundle"),
    [("0.1.0/../../../../x/victim", "target"), ("1.0", "target/../../x"), ("1.0\x1b[2J", "target")],
    ids=["version-path", "bundle-path", "escape"],
)
def test_a_bundle_name_is_never_a_path(version: str, bundle: str) -> None:
    with pytest.raises(LockbundleError):
        bundle_name("app", version, bundle)


def test_a_bundle_name_keeps_a_valid_version_as_written() -> None:
    assert bundle_name("my-app", "1.0.0rc1", "wheelhouse") == "my_app-1.0.0rc1-wheelhouse"
