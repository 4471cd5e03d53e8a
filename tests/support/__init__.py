"""Helpers for the end-to-end tests: a local package index, fixture builds, real uv and hatch runs."""
