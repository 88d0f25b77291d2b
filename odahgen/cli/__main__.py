"""``python -m odahgen.cli``: the same as the ``odahgen`` command."""

import sys

from odahgen.cli import main

sys.exit(main())
