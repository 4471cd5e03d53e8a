"""Turn a uv lockfile into a deployable bundle."""

# a literal, not importlib.metadata (a tenth of a second at every start); a test keeps it equal
# to the version in pyproject.toml
__version__ = "0.1.0"
