"""Turn a uv lockfile into a deployable bundle."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hatch-lockbundle")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0+unknown"
