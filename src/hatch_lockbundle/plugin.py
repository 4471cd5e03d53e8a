"""The hatch builder: ``hatch build -t lockbundle[:BUNDLE]`` runs the engine for this project.

hatch calls a target's variants *versions*; here each one is a bundle: a layout (``target``,
``wheelhouse``) or a named bundle of ``[tool.lockbundle.bundles]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hatchling.builders.plugin.interface import BuilderInterface

from .bundle import build_bundle
from .config import LAYOUTS
from .config_tables import bundle_names
from .errors import LockbundleError
from .outputs import clean_project
from .progress import INFO, WARNING, Reporter, printable, terminal_of
from .project import project_from_document


class LockbundleBuilder(BuilderInterface):  # type: ignore[type-arg]
    """Builds deployable bundles from the project's ``uv.lock``."""

    PLUGIN_NAME = "lockbundle"

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        settings = project_from_document(self.metadata.config, Path(self.root)).settings
        bundles = [*LAYOUTS, *bundle_names(settings)]
        return {bundle: self._builder_for(bundle) for bundle in bundles}

    def get_default_versions(self) -> list[str]:
        return ["target"]

    def clean(self, directory: str, versions: list[str]) -> None:
        """Remove the bundles this target wrote for the project, and say which.

        hatchling passes its default versions when none is named, so ``-t lockbundle`` cannot
        be told from ``-t lockbundle:target``: both remove every layout and every configured
        bundle. Named versions (``-t lockbundle:wheelhouse``) remove only those.
        """
        project = project_from_document(self.metadata.config, Path(self.root))
        cleaned = clean_project(
            Path(directory),
            self.metadata.core.raw_name,
            project.settings,
            None if versions == self.config.versions else versions,
        )
        for path in cleaned.removed:
            self.app.display_info(f"Removed {path}")
        for path in cleaned.kept:
            self.app.display_info(
                f"Kept {path}: named like a bundle, but not written by hatch-lockbundle"
            )

    def _builder_for(self, bundle: str) -> Callable[..., str]:
        def build(directory: str, **build_data: Any) -> str:
            project = project_from_document(self.metadata.config, Path(self.root))
            try:
                built = build_bundle(
                    Path(self.root),
                    Path(directory),
                    bundle=bundle,
                    project=project,
                    version=self.metadata.version,
                    reproducible=self.config.reproducible,
                    log=self._reporter(),
                )
            except LockbundleError as error:
                self.app.abort(printable(str(error)))
                raise  # abort exits; this satisfies type checkers
            return str(built)

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
