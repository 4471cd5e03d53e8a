"""The ``lockbundle`` command: the same engine as the hatch builder, without hatch."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .bundle import build_bundle, plan_bundle
from .config import LAYOUTS, LINK_MODES
from .config_tables import load_and_validate_config
from .errors import LockbundleError
from .network import KEYRING_PROVIDERS
from .outputs import clean_project
from .progress import Reporter, printable, terminal_of
from .project import read_project
from .verify import verify_bundle


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lockbundle``; returns the exit status (0 success, 1 a user error or failed check)."""
    parser = _parser()
    args = parser.parse_args(argv)
    log = Reporter(
        _stderr_line,
        verbosity=args.verbose - args.quiet,
        terminal=terminal_of(sys.stderr),
    )
    try:
        result: int = args.run(args, log)
        _out(None)
        return result
    except LockbundleError as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 1


def _out(text: str | None) -> None:
    """Print ``text`` on standard output (None: flush it); a full or closed one is an error."""
    try:
        if text is None:
            sys.stdout.flush()
        else:
            print(text)
    except OSError as error:
        # what is left in the buffer would fail again at exit, with a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise LockbundleError(
            f"cannot write the result to standard output: {error.strerror or error}"
        ) from None


def _stderr_line(level: int, message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lockbundle",
        description=(
            "Turn a uv.lock or PEP 751 pylock.toml into a deployable bundle (target directory "
            "or wheelhouse)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build a bundle into dist/")
    _project_arguments(build)
    build.add_argument("--layout", choices=LAYOUTS, help="the layout (default: target)")
    build.add_argument("--bundle", action=_Once, help="a named bundle of [tool.lockbundle.bundles]")
    build.add_argument("-o", "--out-dir", type=Path, help="where to write (default: PROJECT/dist)")
    build.add_argument(
        "--offline", action="store_true", help="use only the cache, download nothing"
    )
    build.add_argument("--no-cache", action="store_true", help="use a temporary cache")
    build.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="fetch files locked from index FROM from the mirror TO (repeatable; URL prefixes "
        "end both with *)",
    )
    build.set_defaults(run=_build)

    plan = commands.add_parser("plan", help="show what would be bundled, and why")
    _project_arguments(plan)
    plan.add_argument("--layout", choices=LAYOUTS)
    plan.add_argument("--bundle", action=_Once)
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(run=_plan)

    clean = commands.add_parser("clean", help="remove the bundles the project's builds wrote")
    clean.add_argument("project", nargs="?", type=Path, default=Path("."), metavar="PROJECT_DIR")
    clean.add_argument(
        "--bundle",
        action="append",
        metavar="NAME",
        help="only this layout or named bundle (repeatable; default: all of them)",
    )
    clean.add_argument("-o", "--out-dir", type=Path, help="where they are (default: PROJECT/dist)")
    clean.add_argument("-q", "--quiet", action="count", default=0)
    clean.add_argument("-v", "--verbose", action="count", default=0)
    clean.set_defaults(run=_clean)

    verify = commands.add_parser("verify", help="check a bundle against its RECORDs / manifest")
    verify.add_argument(
        "bundle",
        type=Path,
        metavar="BUNDLE",
        help="a target bundle (directory or archive), or a wheelhouse",
    )
    verify.add_argument(
        "--expect",
        metavar="DIGEST",
        help="the digest the build printed (sha256:...): the bundle must have it",
    )
    verify.add_argument("-q", "--quiet", action="count", default=0)
    verify.add_argument("-v", "--verbose", action="count", default=0)
    verify.set_defaults(run=_verify)
    return parser


def _project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", type=Path, default=Path("."), metavar="PROJECT_DIR")
    parser.add_argument("--package", help="the package to bundle (default: this project)")
    parser.add_argument(
        "--extra", action="append", default=[], help="include an extra (repeatable)"
    )
    parser.add_argument("--all-extras", action="store_true", help="include every extra")
    parser.add_argument("--group", action="append", default=[], help="include a dependency group")
    parser.add_argument("--python", help='target Python, e.g. "3.12"')
    parser.add_argument(
        "--python-platform", action="append", default=[], help="target platform tag or alias"
    )
    parser.add_argument("--lock", help="the lock to use: a uv.lock or a PEP 751 pylock.toml")
    parser.add_argument(
        "--hatch-env", metavar="NAME", help="read the lock hatch writes for this environment"
    )
    parser.add_argument(
        "--lock-made-for-target",
        action="store_true",
        help="a pylock.toml without `environments` was locked for the target",
    )
    parser.add_argument("--frozen", action="store_true", help="do not check the lock is current")
    parser.add_argument("--archive", choices=("zip", "tar.gz"))
    parser.add_argument("--compile-bytecode", action="store_true", default=None)
    parser.add_argument(
        "--link-mode",
        choices=LINK_MODES,
        help="target layout: hardlink files from the cache (default) or copy them",
    )
    parser.add_argument(
        "--native-tls",
        action="store_true",
        default=None,
        help="trust the system's certificate store (as uv's --native-tls; over UV_NATIVE_TLS)",
    )
    parser.add_argument(
        "--keyring-provider",
        choices=KEYRING_PROVIDERS,
        help="subprocess: ask the `keyring` command for an index's password after a 401 (as "
        "uv's --keyring-provider; over UV_KEYRING_PROVIDER)",
    )
    parser.add_argument("-q", "--quiet", action="count", default=0)
    parser.add_argument("-v", "--verbose", action="count", default=0)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line options with the keys of ``[tool.lockbundle]``; unset ones are left out."""
    options: dict[str, Any] = {
        "package": args.package,
        "extras": "all" if args.all_extras else (args.extra or None),
        "groups": args.group or None,
        "python": args.python,
        "platforms": args.python_platform or None,
        "lock": str(Path(args.lock).resolve()) if args.lock else None,
        "hatch-env": args.hatch_env,
        "lock-made-for-target": True if args.lock_made_for_target else None,
        "frozen": True if args.frozen else None,
        "archive": args.archive,
        "compile-bytecode": args.compile_bytecode,
        "link-mode": args.link_mode,
        "mirrors": getattr(args, "mirror", None) or None,
        "native-tls": args.native_tls,
        "keyring-provider": args.keyring_provider,
    }
    return {key: value for key, value in options.items() if value is not None}


class _Once(argparse.Action):
    """An option that may be given once: a second ``--bundle`` would silently win."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(
                f"{option_string} is given once (one bundle a command; `hatch build` takes "
                "several targets: -t lockbundle:a -t lockbundle:b)"
            )
        setattr(namespace, self.dest, values)


def _clean(args: argparse.Namespace, log: Any) -> int:
    project = read_project(args.project.resolve())
    out_dir = args.out_dir.resolve() if args.out_dir else project.root / "dist"
    cleaned = clean_project(out_dir, project.name, project.settings, args.bundle)
    for path in cleaned.removed:
        _out(str(path))
    for path in cleaned.kept:
        log(f"Kept {path}: named like a bundle, but not written by hatch-lockbundle")
    if not cleaned.removed:
        log(f"Nothing to remove in {out_dir}")
    return 0


def _chosen_bundle(args: argparse.Namespace) -> str:
    """The bundle to build: a layout (``--layout``) or a named bundle (``--bundle``)."""
    if args.bundle and args.layout:
        raise LockbundleError("give --layout or --bundle, not both")
    return str(args.bundle or args.layout or "target")


def _build(args: argparse.Namespace, log: Any) -> int:
    project_root = args.project.resolve()
    out_dir = args.out_dir.resolve() if args.out_dir else project_root / "dist"
    with tempfile.TemporaryDirectory(prefix="lockbundle-cache-") as scratch:
        built = build_bundle(
            project_root,
            out_dir,
            bundle=_chosen_bundle(args),
            cache_dir=Path(scratch) if args.no_cache else None,
            overrides=_overrides(args),
            offline=args.offline,
            log=log,
        )
    _out(str(built))
    return 0


def _plan(args: argparse.Namespace, log: Any) -> int:
    project = read_project(args.project.resolve())
    config = load_and_validate_config(
        project.settings, project.root, _chosen_bundle(args), _overrides(args)
    )
    lock, plans = plan_bundle(project, config)
    document: dict[str, Any] = {
        "lock": str(lock.path),
        "targets": [
            {
                "description": plan.target.describe(),
                "python": plan.target.python_version,
                "platform": plan.target.platform,
                "environment": dict(plan.target.environment),
                "packages": [
                    {
                        "name": planned.name,
                        "version": planned.version,
                        "why": list(planned.why),
                        "artifact": planned.artifact.filename or planned.artifact.location,
                        "kind": planned.artifact.kind,
                        "source": planned.artifact.location,
                        "size": planned.artifact.size,
                    }
                    for planned in plan.packages
                ],
            }
            for plan in plans
        ],
    }
    first = document["targets"][0]
    document["target"] = {key: value for key, value in first.items() if key != "packages"}
    document["packages"] = first["packages"]
    if args.format == "json":
        _out(json.dumps(document, indent=2))
        return 0
    _out(f"# lock: {lock.path}")
    for target in document["targets"]:
        _out(f"# {target['description']}")
        for line in plan_table(target["packages"]):
            _out(line)
    return 0


def plan_table(packages: list[dict[str, Any]]) -> list[str]:
    """The lines of ``plan``'s text output for the packages of one target."""
    # columns as wide as their longest entry, so that a long local version keeps them aligned
    names = max((len(package["name"]) for package in packages), default=0)
    versions = max((len(package["version"] or "") for package in packages), default=0)
    lines = []
    for package in packages:
        size = f"{package['size']:>10}" if package["size"] is not None else " " * 10
        why = " -> ".join(package["why"])
        name, version = package["name"], package["version"] or ""
        lines.append(
            f"{name:<{names}}  {version:<{versions}}  {size}  {package['artifact']}  ({why})"
        )
    return lines


def _verify(args: argparse.Namespace, log: Any) -> int:
    found = verify_bundle(args.bundle, expect=args.expect)
    for problem in found.problems:
        print(problem)
    for written in found.runtime:
        print(f"runtime: {written}")
    if found.runtime:
        # bytecode can run instead of the source it was compiled from: said, not hidden
        print(
            f"{args.bundle}: {len(found.runtime)} __pycache__ file(s) no RECORD lists "
            "(Python writes them when the bundle runs; not counted as problems)",
            file=sys.stderr,
        )
    if found.problems:
        print(f"{args.bundle}: {len(found.problems)} problem(s)", file=sys.stderr)
        return 1
    anchored = " and the expected digest" if args.expect else f" (digest {found.digest})"
    log(f"{args.bundle}: every file matches{anchored}")
    return 0
