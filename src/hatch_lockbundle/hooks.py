"""Registers the builder with hatch (entry-point group ``hatch``)."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from .plugin import LockbundleBuilder


@hookimpl
def hatch_register_builder() -> type[LockbundleBuilder]:
    return LockbundleBuilder
