"""The one exception type for problems a user can cause and fix."""

from __future__ import annotations


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
