"""A small uv project that depends on hand-made dists served by an index of the test's own.

The project is virtual (no ``[build-system]``): a bundle of it holds only its dependencies, so
building one needs no build backend, and a test reaches the stage it is about quickly.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .index import IndexServer
from .projects import uv_lock


class Consumer:
    """``root/pyproject.toml`` depending on ``dependencies`` from ``index``, locked by real uv."""

    def __init__(self, root: Path, index: IndexServer) -> None:
        self.root = root
        self.index = index

    @classmethod
    def create(
        cls,
        root: Path,
        index: IndexServer,
        dependencies: Sequence[str],
        *,
        env: Mapping[str, str],
        name: str = "consumer",
        settings: str = "",
    ) -> Consumer:
        """Write the project and run ``uv lock`` against ``index``.

        :param settings: TOML lines for ``[tool.lockbundle]``.
        """
        root.mkdir(parents=True, exist_ok=True)
        listed = "".join(f'  "{dependency}",\n' for dependency in dependencies)
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
            f"dependencies = [\n{listed}]\n\n"
            f'[[tool.uv.index]]\nurl = "{index.simple_url}"\ndefault = true\n\n'
            f"[tool.lockbundle]\n{settings}\n"
        )
        uv_lock(root, env=env)
        return cls(root, index)

    @property
    def lock(self) -> Path:
        return self.root / "uv.lock"

    def serve_instead(self, filename: str, replacement: Path, served_as: str | None = None) -> None:
        """Serve ``replacement`` in place of the locked ``filename``, and lock it as it is now.

        The lock's entry for ``filename`` then records the replacement's URL (``served_as``, by
        default the same name), sha256 and size: as if the index had served those bytes when
        ``uv lock`` ran. Hash checks pass; whatever is refused is refused for what the file holds.
        """
        served_as = served_as or filename
        (self.index.directory / filename).unlink()
        shutil.copyfile(replacement, self.index.directory / served_as)
        data = replacement.read_bytes()
        text = self.lock.read_text()
        pattern = re.compile(
            r'(url = ")([^"]*/files/)' + re.escape(filename) + r'(", hash = ")sha256:[0-9a-f]+"'
            r"(, size = \d+)?"
        )

        def patch(match: re.Match[str]) -> str:
            size = f", size = {len(data)}" if match[4] else ""
            digest = hashlib.sha256(data).hexdigest()
            return f'{match[1]}{match[2]}{served_as}{match[3]}sha256:{digest}"{size}'

        patched, count = pattern.subn(patch, text)
        if count != 1:
            raise AssertionError(f"{self.lock} has {count} entries for {filename}, not one")
        self.lock.write_text(patched)
