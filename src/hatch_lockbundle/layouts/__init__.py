"""Bundle layouts: where fetched wheels end up (a destination, in installer's terms).

The engine drives every layout through :class:`Layout`: it hands each wheel over as fetch
verifies it (:meth:`Layout.take`), then has the bundle written into a staging directory
(:meth:`Layout.write`), and closes it (:meth:`Layout.close`), cancelling what the layout
started when the bundle turns out to be up to date or the build fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# only types: install workers import this package, and start faster without the engine's modules
if TYPE_CHECKING:
    from ..cache import Cache
    from ..config import BundleConfig
    from ..fetched import FetchedPlan, FetchedWheel
    from ..fingerprint import Scan
    from ..lock import LockFormat
    from ..progress import Reporter
    from ..trim import Exclusion


@dataclass(frozen=True)
class LayoutInputs:
    """What a layout needs besides the wheels, the same for every layout."""

    config: BundleConfig
    #: the project's directory (``include`` copies its files)
    project_root: Path
    #: the sha256 of the lock the bundle is made from (layouts never read the lock itself)
    lock_sha256: str
    cache: Cache
    #: ``major.minor`` of the target interpreter
    python: str
    log: Reporter
    #: the kind of lock it is made from (the outputs a layout writes may depend on it)
    lock_format: LockFormat
    #: that lock's path relative to the project, as the outputs name it (None: its format's
    #: usual name)
    lock_path: str | None = None


@dataclass(frozen=True)
class WrittenLayout:
    """What :meth:`Layout.write` knows of the bundle it wrote, so that nobody looks again."""

    #: what ``exclude`` and ``trim`` removed, if they ran
    excluded: Exclusion | None = None
    #: the bundle's files, when known without a walk
    files: Scan | None = None
    #: (distribution, bytes) for the size report, when known without reading RECORD files
    distributions: list[tuple[str, int]] | None = None


class Layout(ABC):
    """One layout of a bundle, from the wheels as they arrive to the directory written.

    A context manager: leaving it closes the layout, cancelling its work on an error.
    """

    #: whether the project's own files go into it through ``include``
    takes_project_files: bool = False

    def __init__(self, inputs: LayoutInputs) -> None:
        self.inputs = inputs

    def take(self, wheel: FetchedWheel) -> None:  # noqa: B027 (a layout may need nothing)
        """Start on ``wheel`` as soon as fetch has verified it, while other wheels arrive."""

    @abstractmethod
    def write(self, fetched: Sequence[FetchedPlan], directory: Path) -> WrittenLayout:
        """Write the bundle of ``fetched`` (one plan per target) into the new ``directory``."""

    def archive_prefix(self, name: str) -> str:
        """The folder an archive of the bundle ``name`` holds its files in, unless configured."""
        return ""

    def close(self, *, cancel: bool) -> None:  # noqa: B027 (a layout may start nothing)
        """Stop what the layout started: wait for it, or (``cancel``) drop what can be."""

    def __enter__(self) -> Layout:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self.close(cancel=kind is not None)
