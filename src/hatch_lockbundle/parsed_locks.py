"""Decoded lock files kept in the cache, so that a rebuild does not decode the TOML again."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from contextlib import suppress
from pathlib import Path

from .cache import Cache, replace_file
from .errors import LockbundleError
from .lock import Lock
from .uvlock import decode_document, parse_lock, read_lock_bytes

_USERINFO = re.compile(rb"://[^/\s\"'@]*@")


class ParsedLocks:
    """Decoded lock files kept in the cache, so that a rebuild does not decode the TOML again.

    Kept because the benchmark's no-op build shows it (a lock of 92 packages decodes several
    times faster from here than from its TOML).

    An entry is found by the lock's path and used only for the same bytes, read on this Python
    (the cache's format is in the entry's path); one entry per path, replaced when the lock
    changes. It is the TOML document as JSON, turned into a :class:`~.lock.Lock` by the same
    validating parser as the file: loading it runs no code, whatever the cache holds (not a
    pickle). A lock whose URLs carry credentials is not kept, so that the cache holds no secret.
    """

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def read(self, path: Path) -> Lock:
        data = read_lock_bytes(path)
        key = hashlib.sha256(f"{sys.version}\0{path}\0".encode() + data).hexdigest()
        entry = self.cache.parsed_lock(path)
        try:
            stored = json.loads(entry.read_bytes())
            if stored["key"] == key:
                return parse_lock(stored["document"], path)
        except (OSError, ValueError, LockbundleError, KeyError, TypeError):
            pass  # missing, unreadable, from another version, or tampered with: decode again
        document = decode_document(data, path)
        lock = parse_lock(document, path)
        # any `user[:password]@` anywhere (an ssh password, a URL in metadata): not kept
        if not lock.credentials and not _USERINFO.search(data):
            # TOML's dates and times have no JSON form: such a lock is decoded every time
            with suppress(OSError, TypeError, ValueError):
                replace_file(entry, json.dumps({"key": key, "document": document}).encode())
        return lock
