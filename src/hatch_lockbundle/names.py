"""The names of bundles: ``<name>-<version>-<layout or bundle>``, checked to be plain names."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from .errors import LockbundleError


def bundle_name(name: str, version: str, bundle: str) -> str:
    """``<name>-<version>-<layout or bundle>``, the name written as in wheel file names.

    Each part must be what it claims to be (a version from ``pyproject.toml`` or a build is
    input too): the result is one plain directory name, never a path.
    """
    try:
        Version(version)
    except InvalidVersion:
        raise LockbundleError(
            f"the version of {name}, {version!r}, is not a valid version (PEP 440); fix it in "
            "pyproject.toml or the version source, and lock again"
        ) from None
    result = f"{file_name(name)}-{version}-{bundle}"
    if (
        not result.isprintable()
        or any(char in result for char in "/\\:")
        or result != result.strip()
    ):
        raise LockbundleError(f"{result!r} cannot be a bundle's name: it is not a plain name")
    return result


def file_name(name: str) -> str:
    """A (normalized) project name as wheel and sdist file names write it."""
    return name.replace("-", "_")
