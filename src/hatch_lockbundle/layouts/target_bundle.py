"""The target layout as the engine drives it: install into the cache, fill, include, trim."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .. import fingerprint
from ..cached_installs import CachedInstalls
from ..fetched import FetchedPlan, FetchedWheel
from ..include import copy_included
from . import Layout, LayoutInputs, WrittenLayout
from .target import write_target


class TargetLayout(Layout):
    """A flat directory of installed distributions (``PYTHONPATH``, a Lambda task root).

    Each wheel starts installing into the cache as soon as it is fetched, while the others are
    still downloaded or built; :func:`~.target.write_target` then fills the bundle from there.
    """

    takes_project_files = True

    def __init__(self, inputs: LayoutInputs) -> None:
        super().__init__(inputs)
        config = inputs.config
        self.installs = CachedInstalls(inputs.cache, config.compile_bytecode, inputs.python)

    def take(self, wheel: FetchedWheel) -> None:
        self.installs.prepare(wheel)

    def write(self, fetched: Sequence[FetchedPlan], directory: Path) -> WrittenLayout:
        config, log = self.inputs.config, self.inputs.log
        written = write_target(
            fetched[0].wheels,
            directory,
            compile_bytecode=config.compile_bytecode,
            cache=self.inputs.cache,
            link_mode=config.link_mode,
            log=log,
            installs=self.installs,
            python=self.inputs.python,
        )
        if config.include:  # before trimming, which keeps what they import
            copied = copy_included(self.inputs.project_root, config.include, directory)
            listed = ", ".join(config.include)
            files = "file" if len(copied) == 1 else "files"
            log(f"Included {len(copied)} {files} of the project: {listed}")
        # imported by a build that writes, and trims: trim.py with its import check are a few
        # percent of a no-op build, which writes nothing (as the builder, see fetch.py)
        from ..trim import trim_bundle, trim_patterns

        patterns = [*config.exclude]
        if config.trim:
            patterns += trim_patterns(config.compile_bytecode)
        excluded = None
        if patterns:
            excluded = trim_bundle(
                directory,
                patterns,
                trim=config.trim,
                check_imports=fetched[0].plan.target.native,
                log=log,
            )
        if written.files is None or patterns or config.include:
            return WrittenLayout(excluded)
        # the files are the cache's, linked: no walk needed (paths are relative, so the
        # fingerprint is the bundle's once it is moved into place)
        linked = {path.replace("/", os.sep): status for path, status in written.files.items()}
        return WrittenLayout(excluded, fingerprint.of_files(linked), written.distributions)

    def close(self, *, cancel: bool) -> None:
        self.installs.close(cancel=cancel)
