"""What the real ``uv pip install --target`` makes of wheels, to compare the target layout with."""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .environ import run, uv_binary
from .records import records

#: files uv writes that a bundle leaves out on purpose (they name the build machine or uv)
UV_ONLY = frozenset({"direct_url.json", "REQUESTED", "uv_cache.json"})
#: files both write, each with its own contents (the installer's name; RECORD lists its own rows)
INSTALLER_SPECIFIC = frozenset({"INSTALLER", "RECORD"})


def uv_install_target(wheels: Sequence[Path], dest: Path, *, env: Mapping[str, str]) -> Path:
    """``uv pip install --target dest --no-deps <wheels>`` for the running interpreter."""
    run(
        [
            uv_binary(),
            "pip",
            "install",
            "--target",
            dest,
            "--no-deps",
            "--python",
            sys.executable,
            *wheels,
        ],
        cwd=dest.parent,
        env=env,
    )
    return dest


def comparable_tree(root: Path) -> dict[str, bytes | None]:
    """Every file of a target directory by relative path, with its contents, as two installers
    should agree on them: scripts in ``bin/`` by name only (a bundle's are relocatable
    launchers, uv's name the build machine's interpreter), files only uv writes left out, and
    the installer-specific ones (``INSTALLER``, ``RECORD``) by name only."""
    tree: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == ".lock":  # uv's lock file for the target
            continue
        relative = path.relative_to(root).as_posix()
        in_dist_info = relative.split("/")[0].endswith(".dist-info")
        if in_dist_info and path.name in UV_ONLY:
            continue
        scripts = relative.startswith("bin/")
        tree[relative] = (
            None
            if scripts or (in_dist_info and path.name in INSTALLER_SPECIFIC)
            else path.read_bytes()
        )
    return tree


def recorded_paths(root: Path) -> set[str]:
    """The paths every RECORD of ``root`` lists, normalised, without uv's own files."""
    return {
        posixpath.normpath(entry.path)
        for rows in records(root).values()
        for entry in rows
        if posixpath.basename(entry.path) not in UV_ONLY
    }
