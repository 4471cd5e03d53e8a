"""The environment a bundle is for: its marker environment and its ordered wheel tags."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from packaging.markers import default_environment
from packaging.tags import Tag, sys_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename


@dataclass(frozen=True)
class Target:
    """A Python environment to install for.

    ``tags`` are in an installer's order of preference: the first is the most specific.
    """

    environment: Mapping[str, str]
    tags: Sequence[Tag]
    #: ``major.minor`` of the target interpreter
    python_version: str
    #: whether this is the interpreter running the build (bytecode can only be compiled for it)
    native: bool = False

    @classmethod
    def current(cls) -> Target:
        """The running interpreter and platform."""
        return cls(
            environment={k: str(v) for k, v in default_environment().items()},
            tags=tuple(sys_tags()),
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            native=True,
        )

    @cached_property
    def priority(self) -> Mapping[Tag, int]:
        return {tag: rank for rank, tag in reversed(list(enumerate(self.tags)))}

    def wheel_rank(self, filename: str) -> int | None:
        """Rank of a wheel file for this target (lower is preferred), or None if it does not fit."""
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        ranks = [self.priority[tag] for tag in tags if tag in self.priority]
        return min(ranks) if ranks else None

    def describe(self) -> str:
        env = self.environment
        return (
            f"{env.get('implementation_name', '?')} {env.get('python_full_version', '?')} "
            f"on {env.get('sys_platform', '?')} {env.get('platform_machine', '?')}"
        )
