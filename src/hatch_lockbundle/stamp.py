"""The no-op build: what a bundle was made from, kept in the cache, and whether it is still so."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from . import __version__, fingerprint
from .archive import archive_epoch
from .cache import Cache, replace_file
from .config import BundleConfig
from .digest import hash_file
from .fetched import FetchedPlan


class Stamp:
    """What a bundle was built from, kept in the cache, so that an unchanged rebuild is a no-op.

    The bundle counts as current only if the inputs are the same and the bundle on disk is still
    exactly as it was written (every file's size, mtime and mode).
    """

    def __init__(self, cache: Cache, artifact: Path, inputs: str) -> None:
        self.path = cache.stamp(artifact)
        self.artifact = artifact
        self.inputs = inputs
        #: the bundle's digest for ``lockbundle verify --expect`` (:func:`~.verify.bundle_digest`)
        self.anchor: str | None = None

    def current(self) -> bool:
        if not self.artifact.exists():
            return False
        try:
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(recorded, dict):
            return False
        anchor = recorded.get("anchor")
        self.anchor = anchor if isinstance(anchor, str) else None
        return bool(
            recorded.get("inputs") == self.inputs
            and recorded.get("output") == fingerprint.output(self.artifact)
        )

    def record(self, output: str | None = None) -> None:
        """Remember the inputs, and ``output``, the bundle's fingerprint (computed if None)."""
        document = {
            "inputs": self.inputs,
            "output": output or fingerprint.output(self.artifact),
            "anchor": self.anchor,
        }
        replace_file(self.path, json.dumps(document).encode())


def stamp_inputs(
    config: BundleConfig,
    fetched: Sequence[FetchedPlan],
    lock_sha256: str,
    reproducible: bool,
    included: str,
) -> str:
    """Everything a bundle's content depends on, hashed.

    :param lock_sha256: the hash of the lock the bundle is made from
    :param included: the fingerprint of the project's files that ``include`` copies
    """
    document = {
        "tool": __version__,
        "included": included,
        "config": repr(config),
        "lock": lock_sha256,
        "epoch": archive_epoch(reproducible) if config.archive and reproducible else None,
        "targets": [each.plan.target.describe() for each in fetched],
        "wheels": [
            [
                (w.planned.name, w.path.name, w.sha256 or hash_file(w.path, "sha256"))
                for w in each.wheels
            ]
            for each in fetched
        ],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
