"""`python -m harness.partner --spec FILE --port N`; see server.py for every flag."""

from __future__ import annotations

import sys

from .server import main

sys.exit(main(sys.argv[1:]))
