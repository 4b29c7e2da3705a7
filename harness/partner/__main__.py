"""`python -m harness.partner --port N [--ledger FILE] [--faults JSON]`."""

from __future__ import annotations

import sys

from .server import main

sys.exit(main(sys.argv[1:]))
