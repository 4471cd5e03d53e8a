"""Turn a uv lockfile into a deployable bundle."""
