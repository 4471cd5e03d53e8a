"""The import check of a trimmed bundle: its packages import in a fresh interpreter as before."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .importscan import module_name

#: how long the import check may take (a package whose import hangs must not hang the build)
IMPORT_CHECK_SECONDS = 300

# Records each failure with the module it missed: ``error.name``, or for ``from p import x``
# of a submodule that is gone, ``p.x`` (Python names only ``p``). Paths in messages are made
# relative to the bundle, whose directory is a staging one while this runs.
_CHECK = """\
import importlib, json, re, sys
root, names, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as error:
        missing = getattr(error, "name", None)
        member = re.match(r"cannot import name '(\\w+)'", str(error))
        if missing and member:
            missing = f"{missing}.{member[1]}"
        message = f"{type(error).__name__}: {error}".replace(root + "/", "")
        failed[name] = [message, missing]
with open(out, "w", encoding="utf-8") as handle:
    json.dump(failed, handle)
"""


def failing_imports(
    root: Path, packages: Sequence[str], python: str
) -> dict[str, list[str | None]] | None:
    """The ``packages`` that fail to import from ``root`` in a fresh ``python``, each with its
    error and the name of the module it missed; None if the check could not run."""
    if not packages:
        return {}
    with tempfile.TemporaryDirectory(prefix="lockbundle-import-") as work:
        out = Path(work) / "failed.json"
        # -B: nothing written into the bundle (a __pycache__ left there would keep a removed
        # package's directory, and make it importable as a namespace package)
        command = [
            python,
            "-I",
            "-S",
            "-B",
            "-c",
            _CHECK,
            str(root),
            json.dumps(list(packages)),
            str(out),
        ]
        try:
            # output discarded: packages may print on import; what matters is in `out`
            subprocess.run(
                command,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=IMPORT_CHECK_SECONDS,
                check=False,
            )
            failed: dict[str, list[str | None]] = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
    return failed


def top_level_packages(root: Path, paths: Iterable[str]) -> set[str]:
    """The importable packages (or modules) of ``root`` that hold ``paths``: the first dotted
    prefix with an ``__init__.py`` (``google.protobuf`` under the namespace ``google``), or a
    top-level module."""
    packages = set()
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if not all(part.isidentifier() for part in prefix):
                break
            if (root.joinpath(*prefix) / "__init__.py").is_file():
                packages.add(".".join(prefix))
                break
        else:
            name = module_name(path)
            if name is not None and "." not in name:
                packages.add(name)
    return packages


def broken_message(broken: dict[str, list[str | None]], removed: Mapping[str, int]) -> str:
    """What a user reads when the exclusion broke imports: each import, its error and the files
    removed that it points at (``removed``: each file removed, with its size)."""
    problems = []
    for name, (error, missing) in sorted(broken.items()):
        problems.append(
            f"`import {name}` fails with {error}\n"
            f"    removed: {_removed_for(name, missing, removed)}"
        )
    return (
        "the bundle's exclusions broke imports that worked before files were removed:\n  "
        + "\n  ".join(problems)
        + "\nSet `trim = false` (and list what to remove in `exclude`), or narrow the "
        "`exclude` patterns that removed these files"
    )


def _removed_for(package: str, missing: str | None, removed: Mapping[str, int]) -> str:
    """The removed files an import failure points at: the missing module's, else the
    directories files were removed from in the package."""
    for name in (missing, package):
        if not name:
            continue
        prefix = name.replace(".", "/")
        places = sorted(
            {
                directory if directory else path
                for path in removed
                if path == f"{prefix}.py" or path.startswith(f"{prefix}/")
                for directory in [path.rpartition("/")[0] + "/" if "/" in path else ""]
            }
        )
        if places:
            more = f" and {len(places) - 5} more" if len(places) > 5 else ""
            return ", ".join(places[:5]) + more
    return "nothing of this package (files of another were removed)"
