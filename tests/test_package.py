"""The installed distribution and the package agree about what they are."""

from __future__ import annotations

import importlib.metadata

import hatch_lockbundle


def test_the_package_version_is_the_distributions() -> None:
    assert hatch_lockbundle.__version__ == importlib.metadata.version("hatch-lockbundle")
