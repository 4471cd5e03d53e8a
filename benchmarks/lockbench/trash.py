"""Deleting trees so that no measured run pays for the deletion.

ext4 without a journal (as on the benchmark machine: the kernel's ``recently_deleted`` in
``fs/ext4/ialloc.c``) avoids reusing an inode freed in the last 60 seconds, or 360 while its
inode table block is dirty, which creating files next to it makes it again: every file created
meanwhile in the same block group is slowed by a scan over the freed inodes, up to 0.5 ms a file
after a reset deleted a cold run's 17,000 files. Whichever contender ran after such a reset was
penalised for the previous one's files, and more in every round. So resets move trees here
instead, and the trash is emptied only between harness runs; a harness run starting less than
six minutes after the last emptying waits for the rest.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

#: how long ext4 may avoid freed inodes (60 s, 360 s while their inode table block is dirty,
#: which creating files in it makes it again), with a margin
FORGET_SECONDS = 370.0


class Trash:
    """A directory that deleted trees are moved into (same file system: a rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp = directory.with_name(directory.name + "-emptied")

    def discard(self, path: Path) -> None:
        """Move ``path`` (if it exists) out of the way, deleting nothing now."""
        if not path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path.rename(self.directory / uuid.uuid4().hex)

    def empty(self) -> None:
        """Delete what was discarded, and write it to disk (the wait counts from then)."""
        if not self.directory.exists():
            return
        shutil.rmtree(self.directory, ignore_errors=True)
        os.sync()
        self._stamp.write_text(f"{time.time()}\n")

    def wait_until_forgotten(self, say: Callable[[str], None]) -> None:
        """Sleep until the last emptying no longer slows file creation."""
        try:
            emptied = float(self._stamp.read_text())
        except (OSError, ValueError):
            return
        left = emptied + FORGET_SECONDS - time.time()
        if left > 0:
            say(f"waiting {left:.0f} s: files deleted just now would slow file creation")
            time.sleep(left)
