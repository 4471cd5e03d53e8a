"""The one exception type for problems a user can cause and fix, and its kinds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class LockbundleError(Exception):
    """A problem with the user's input or environment, reported without a traceback.

    The message says what is wrong, where (file, field, package), and what to do.
    """


class ConfigurationError(LockbundleError):
    """Every problem found in ``[tool.lockbundle]`` at once, so they can be fixed in one pass."""

    def __init__(self, errors: list[str], source: str = "pyproject.toml") -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {error}" for error in self.errors)
        super().__init__(f"Invalid configuration in {source}:\n{lines}")


class SelectionError(LockbundleError):
    """The requested root, extras or groups do not fit the lock, or nothing installable exists."""


class BuildError(LockbundleError):
    """A wheel could not be built (:mod:`.build`)."""


class BackendFailedError(BuildError):
    """The build backend ran and failed (a compiler error, a missing library, ...).

    Here, not in :mod:`.build`, because fetch tells a failed build for a foreign target from
    others, and a build that builds nothing does not import the build machinery.
    """

    def __init__(self, message: str, source: Path, output: list[str]) -> None:
        super().__init__(message)
        self.source = source
        #: the backend's output, secrets removed, one line an item
        self.output = output


def indented(lines: Sequence[str]) -> str:
    """Lines of another program's output, indented under a message of ours."""
    return "\n".join(f"    {line}" for line in lines)
