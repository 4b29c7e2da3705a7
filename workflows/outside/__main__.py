"""`python -m workflows.outside`: serve on 127.0.0.1:$LISTEN_PORT until stopped."""

from __future__ import annotations

import sys

import uvicorn

from .app import create_app
from .config import Config, ConfigError


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"workflows.outside: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(config),
        host="127.0.0.1",
        port=config.port,
        log_level="warning",
        access_log=False,
    )
    return 0


sys.exit(main())
