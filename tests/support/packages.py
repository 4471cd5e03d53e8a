"""Build the fixture packages of ``fixtures/packages/`` (and the plugin) into wheels and sdists."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .compat import tomllib
from .environ import run, uv_binary

PUBLISH_FORMATS = ("sdist", "wheel")


def publish_formats(source: Path) -> tuple[str, ...]:
    """How a fixture package is published: ``[tool.lockbundle-fixture] publish`` (default: a wheel)."""
    pyproject = tomllib.loads((source / "pyproject.toml").read_text())
    formats = pyproject.get("tool", {}).get("lockbundle-fixture", {}).get("publish", ["wheel"])
    unknown = set(formats) - set(PUBLISH_FORMATS)
    if unknown or not formats:
        raise ValueError(f"{source}: `tool.lockbundle-fixture.publish` must name {PUBLISH_FORMATS}")
    return tuple(formats)


def uv_build(
    source: Path, out_dir: Path, formats: tuple[str, ...], *, env: Mapping[str, str]
) -> None:
    """Build ``source`` with ``uv build`` into ``out_dir``, only in the given formats.

    :param env: the environment, naming the index that build backends come from.
    """
    flags = [] if set(formats) == set(PUBLISH_FORMATS) else [f"--{formats[0]}"]
    run(
        [uv_binary(), "build", *flags, "--out-dir", out_dir, "--python", sys.executable, source],
        cwd=source,
        env=env,
    )


def build_fixture_packages(
    sources: Path, workdir: Path, out_dir: Path, *, env: Mapping[str, str], jobs: int = 3
) -> list[Path]:
    """Build every package directory under ``sources`` as its ``publish`` setting says.

    Sources are copied into ``workdir`` first: setuptools writes ``build/`` and ``*.egg-info`` into
    the tree it builds, and the repository stays clean.

    :param env: the environment for ``uv build`` (its index must hold the build backends).
    :param jobs: builds run at once.
    :returns: the dists written to ``out_dir``.
    """
    uv_binary()  # resolved once, here: `sysconfig` is not safe to initialise from several threads
    before = set(out_dir.iterdir())
    copies = []
    for source in sorted(path for path in sources.iterdir() if (path / "pyproject.toml").is_file()):
        copy = workdir / source.name
        shutil.copytree(source, copy)
        copies.append(copy)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        builds = [
            pool.submit(uv_build, copy, out_dir, publish_formats(copy), env=env) for copy in copies
        ]
        for build in builds:
            build.result()
    return sorted(
        path for path in set(out_dir.iterdir()) - before if path.name.endswith((".whl", ".tar.gz"))
    )
