"""`python -m workflows.tickets`, configured by environment variables (see settings.py)."""

from __future__ import annotations

import asyncio
import sys

from workflows.common.config import ConfigError
from workflows.common.serve import serve

from .app import create_app
from .settings import RouterSettings


def main() -> int:
    try:
        settings = RouterSettings.from_env()
    except ConfigError as exc:
        print(f"workflows.tickets: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(create_app(settings), settings.port, "tickets"))
    except KeyboardInterrupt:
        pass
    return 0


sys.exit(main())
