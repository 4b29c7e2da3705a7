"""`python -m workflows.hardened` (configured by environment variables, see docs/workflows.md)."""

from __future__ import annotations

import asyncio
import sys

from workflows.service.config import ConfigError
from workflows.service.serve import serve

from .app import create_app
from .settings import HardenedSettings


def main() -> int:
    try:
        settings = HardenedSettings.from_env()
    except ConfigError as exc:
        print(f"workflows.hardened: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(create_app(settings), settings.base.port, "hardened"))
    except KeyboardInterrupt:
        pass
    return 0


sys.exit(main())
