"""The by-hand baseline: ``uv export --no-editable | uv pip install --target`` from the same lock."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .environ import run, uv_binary

# The `uv_reference_target` fixture: `(project, package=None, extras=(), groups=(), *, index=None)`.
UvReferenceTarget = Callable[..., Path]


def export_requirements(
    project: Path,
    *,
    package: str | None = None,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    env: Mapping[str, str],
) -> str:
    """``uv export --frozen --no-editable --no-default-groups`` with the given selection.

    Dependency groups are only those named, as in hatch-lockbundle (``dev`` is uv's default group).
    """
    args: list[str] = ["export", "--frozen", "--no-editable", "--no-default-groups"]
    args += ["--format", "requirements.txt"]
    if package is not None:
        args += ["--package", package]
    for extra in extras:
        args += ["--extra", extra]
    for group in groups:
        args += ["--group", group]
    return run([uv_binary(), *args], cwd=project, env=env).stdout


def reference_target(
    project: Path,
    dest: Path,
    *,
    index_url: str,
    package: str | None = None,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    env: Mapping[str, str],
    platform_args: Sequence[str] = (),
) -> Path:
    """Install what the lock selects into ``dest`` the way a user does by hand, and return ``dest``.

    ``uv pip install --target DIR --no-deps -r -`` reads the export on standard input; it runs in
    ``project`` because the export names workspace members by paths relative to it.

    :param index_url: the index that registry packages (and build backends) come from.
    :param platform_args: uv's ``--python-platform``/``--python-version`` for another target.
    """
    requirements = export_requirements(
        project, package=package, extras=extras, groups=groups, env=env
    )
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
            *platform_args,
            "--default-index",
            index_url,
            "-r",
            "-",
        ],
        cwd=project,
        env=env,
        input=requirements,
    )
    return dest
