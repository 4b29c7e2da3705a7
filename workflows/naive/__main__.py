"""`python -m workflows.naive` (configured by environment variables, see docs/workflows.md)."""

from __future__ import annotations

import asyncio
import sys

from workflows.common.config import ConfigError, Settings
from workflows.common.serve import serve

from .app import create_app


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"workflows.naive: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(create_app(settings), settings.port, "naive"))
    except KeyboardInterrupt:
        pass
    return 0


sys.exit(main())
