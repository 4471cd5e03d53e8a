"""The hash of a file's content, read in chunks (no network: install workers import it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: bytes read at a time
CHUNK = 1 << 20


def hash_file(path: Path, algorithm: str) -> str:
    """The hex digest of the file at ``path`` by ``algorithm`` (a :mod:`hashlib` name)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
