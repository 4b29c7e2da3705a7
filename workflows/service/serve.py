"""Serve a Starlette app on 127.0.0.1 and announce readiness with one stdout line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

import uvicorn
from starlette.applications import Starlette

from workflows.service.config import ConfigError


class _HasPort(Protocol):
    @property
    def port(self) -> int: ...


S = TypeVar("S", bound=_HasPort)


async def serve(app: Starlette, port: int, name: str, host: str = "127.0.0.1") -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    async with asyncio.TaskGroup() as tg:
        serving = tg.create_task(server.serve())
        # uvicorn exposes "socket bound" only as a flag.
        while not server.started:
            if serving.done():
                return
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        print(f"{name} ready on http://{host}:{bound}", flush=True)


def run(name: str, settings_from_env: Callable[[], S], create_app: Callable[[S], Starlette]) -> int:
    """A workflow's `__main__`: settings from the environment (one line if bad), then serve."""
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        print(f"workflows.{name}: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(create_app(settings), settings.port, name))
    except KeyboardInterrupt:
        pass
    return 0
