"""The hatch builder: ``hatch build -t lockbundle[:LAYOUT]`` runs the engine for this project."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface
from packaging.utils import canonicalize_name

from .archive import FORMATS as ARCHIVE_FORMATS
from .bundle import build_bundle, file_name
from .config import LAYOUTS, bundle_names
from .errors import LockbundleError
from .progress import INFO, WARNING, Reporter, terminal_of
from .project import project_from_document
from .sbom import SUFFIX as SBOM_SUFFIX
from .staging import remove_tree


class LockbundleBuilder(BuilderInterface):  # type: ignore[type-arg]
    """Builds deployable bundles from the project's ``uv.lock``."""

    PLUGIN_NAME = "lockbundle"

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        settings = project_from_document(self.metadata.config, Path(self.root)).settings
        names = [*LAYOUTS, *bundle_names(settings)]
        return {name: self._builder_for(name) for name in names}

    def get_default_versions(self) -> list[str]:
        return ["target"]

    def clean(self, directory: str, versions: list[str]) -> None:
        """Remove this project's bundles (and leftovers of interrupted builds), nothing else."""
        project = project_from_document(self.metadata.config, Path(self.root))
        roots = {self.metadata.core.raw_name}
        settings = project.settings if isinstance(project.settings, dict) else {}
        if isinstance(settings.get("package"), str):
            roots.add(settings["package"])
        variants = versions or [*LAYOUTS, *bundle_names(settings)]
        if not Path(directory).is_dir():
            return
        for path in Path(directory).iterdir():
            owner = _bundle_of(path.name)
            if any(
                _is_bundle(owner, f"{file_name(canonicalize_name(root))}-", f"-{variant}")
                for root in roots
                for variant in variants
            ):
                _remove(path)

    def _builder_for(self, layout: str) -> Callable[..., str]:
        def build(directory: str, **build_data: Any) -> str:
            project = project_from_document(self.metadata.config, Path(self.root))
            try:
                bundle = build_bundle(
                    Path(self.root),
                    Path(directory),
                    layout=layout,
                    project=project,
                    version=self.metadata.version,
                    reproducible=self.config.reproducible,
                    log=self._reporter(),
                )
            except LockbundleError as error:
                self.app.abort(str(error))
                raise  # abort exits; this satisfies type checkers
            return str(bundle)

        return build

    def _reporter(self) -> Reporter:
        """Lines through hatchling's application (its verbosity, ``hatch -v``/``-q``), and the
        status line on hatch's terminal, as the ``lockbundle`` command shows them."""
        app = self.app

        def line(level: int, message: str) -> None:
            if level <= WARNING:
                app.display_warning(message)
            elif level == INFO:
                app.display_info(message)
            else:
                app.display_debug(message, level=min(level, 3))

        return Reporter(line, verbosity=app.verbosity, terminal=terminal_of(sys.stderr))


def _is_bundle(name: str, prefix: str, suffix: str) -> bool:
    """``name`` is ``<prefix><version><suffix>`` with a version (which never holds ``-``)."""
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return False
    version = name[len(prefix) : len(name) - len(suffix)]
    return bool(version) and "-" not in version


def _bundle_of(filename: str) -> str:
    """The bundle an entry of ``dist/`` belongs to: itself, its archive, or a leftover of it."""
    if filename.startswith("."):  # .<bundle>.<random>.tmp or .old, left by an interrupted build
        for marker in (".tmp", ".old"):
            if filename.endswith(marker):
                filename = filename[1 : -len(marker)].rsplit(".", 1)[0]
                break
        else:
            return ""
    for suffix in (*(f".{fmt}" for fmt in ARCHIVE_FORMATS), SBOM_SUFFIX):
        filename = filename.removesuffix(suffix)
    return filename


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        path.unlink()
