"""The by-hand baseline for another Python and platform, and what tells installed wheels apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.parser import HeaderParser
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename

from .reference import reference_target


def foreign_reference_target(
    project: Path,
    dest: Path,
    *,
    python_platform: str,
    python_version: str,
    index_url: str,
    extras: Sequence[str] = (),
    env: Mapping[str, str],
) -> Path:
    """What uv installs from the lock for another platform and Python, into ``dest``.

    ``uv export --frozen --no-editable ... | uv pip install --target DIR --no-deps --python-platform
    P --python-version V -r -``: uv picks, among the wheels the export's hashes allow, the one an
    installer on that platform prefers, and evaluates the export's markers for it.

    :param python_platform: uv's name of the platform, e.g. ``aarch64-manylinux_2_28``.
    :param python_version: ``3.12`` or ``3.12.4``.
    """
    return reference_target(
        project,
        dest,
        index_url=index_url,
        extras=extras,
        env=env,
        platform_args=("--python-platform", python_platform, "--python-version", python_version),
    )


def installed_wheel_tags(target: Path) -> dict[str, frozenset[str]]:
    """Normalized name -> the ``Tag:`` lines of the ``WHEEL`` file of every ``.dist-info`` in ``target``.

    Installers copy ``WHEEL`` as it is in the wheel, so its tags say which wheel file was installed.
    """
    found: dict[str, frozenset[str]] = {}
    parser = HeaderParser()
    for dist_info in target.glob("*.dist-info"):
        metadata = parser.parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        wheel = parser.parsestr((dist_info / "WHEEL").read_text(encoding="utf-8"))
        found[canonicalize_name(metadata["Name"])] = frozenset(wheel.get_all("Tag") or ())
    return found


def filename_tags(wheel_filename: str) -> frozenset[str]:
    """The expanded tags of a wheel file name (``a.b`` platforms give one tag each)."""
    return frozenset(str(tag) for tag in parse_wheel_filename(wheel_filename)[3])


def expanded(tags: str) -> frozenset[str]:
    """The tags of a compressed tag set such as ``cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64``."""
    return frozenset(str(tag) for tag in parse_tag(tags))
