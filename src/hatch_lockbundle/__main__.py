"""``python -m hatch_lockbundle``: the ``lockbundle`` command."""

import sys

from .cli import main

sys.exit(main())
