"""``INSTALL.md`` of a wheelhouse: what it holds and how a server installs it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..lock import LockFormat

if TYPE_CHECKING:
    from ..select import Plan
    from .house import HouseGraph


def install_guide(
    plans: Sequence[Plan],
    graph: HouseGraph,
    binary_only: bool,
    lock_format: LockFormat,
    lock_path: str | None = None,
) -> str:
    """The text of ``INSTALL.md``: what the wheelhouse holds, and the commands that install it.

    :param lock_format: the lock the wheelhouse is made from: ``uv sync`` is offered only from a
        ``uv.lock``, the only one that gets a rewritten ``uv.lock``
    :param lock_path: that lock's path relative to the project (None: its format's usual name)
    """
    first = plans[0]
    python = first.target.python_version
    count = sum(len(package.wheels) for package in graph.house.values() if package.local)
    targets = "\n".join(f"- {plan.target.describe()}" for plan in plans)
    offline = "" if binary_only else " --offline"
    no_index = "" if binary_only else " --no-index"
    remote = ""
    if binary_only:
        hosts = sorted(
            {
                urlsplit(package.index).netloc
                for package in graph.house.values()
                if not package.local and package.index
            }
        )
        named = ", ".join(f"`{host}`" for host in hosts) or "the index"
        remote = (
            "\nWith `binary-only`, pure-Python wheels are not in `wheels/`: the server downloads "
            f"them from {named}, recorded in the locks without any credentials, with their "
            "hashes checked. If the index needs a password, give it to the installer on the "
            "server, never in these files: a line `machine <host> login <user> password <secret>` "
            "in `~/.netrc` works for uv and pip alike, as does a keyring "
            "(`--keyring-provider subprocess`).\n"
        )
    uv_sync = (
        f"""
## uv (a virtual environment in this directory, `.venv/`)

```console
cd /path/to/this/directory
uv sync --frozen{offline}
```

Set `UV_PROJECT_ENVIRONMENT=/opt/app/venv` to create the environment elsewhere. Always pass
`--frozen`: the lock must be used as it is, never re-resolved.
"""
        if lock_format is LockFormat.UV_LOCK
        else ""
    )
    return f"""# Installing {first.root.name} {first.root.version or ""} from this wheelhouse

This directory holds {count} wheels in `wheels/` and the locks that install exactly them, for
Python {python}.x on:

{targets}

Nothing is built on the server and no compiler is needed; every wheel's sha256 is checked on
install, and uv refuses another Python version or platform.
{remote}
Copy the whole directory to the server, then use one of:
{uv_sync}
## pip (any virtual environment)

```console
python{python} -m venv /opt/app/venv
/opt/app/venv/bin/pip install{no_index} -r requirements.txt
```

## uv pip with the PEP 751 lock

```console
uv venv --python {python} /opt/app/venv
uv pip install{offline} --python /opt/app/venv/bin/python -r pylock.toml
```

`lockbundle.json` lists every wheel with its sha256 and where it came from, and the sha256 of the
`{lock_path or lock_format.value}` it was made from.
"""
