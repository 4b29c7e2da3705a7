"""`python -m harness.proxy`: a toxiproxy-server drop-in (binds 127.0.0.1 by default)."""

import sys

from harness.proxy.server import main

sys.exit(main())
