"""Command line and serving loop for the partner simulator.

On success it prints exactly one line to stdout once the socket is bound,
`partner ready on http://127.0.0.1:<port>`, so a parent process (or a person)
can start it with `--port 0` and read the real port back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .faults import FaultConfig, FaultConfigError, parse_faults


def _load_faults(text: str) -> FaultConfig:
    """`--faults` takes inline JSON or `@path/to/file.json`."""
    source = "--faults"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FaultConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultConfigError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    try:
        return parse_faults(decoded)
    except FaultConfigError as exc:
        raise FaultConfigError(f"{source}: {exc}") from exc


async def serve(app: Starlette, host: str, port: int, name: str) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    async with asyncio.TaskGroup() as tg:
        serving = tg.create_task(server.serve())
        # uvicorn offers a flag, not an event, for "socket bound".
        while not server.started:
            if serving.done():
                return
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        print(f"{name} ready on http://{host}:{bound}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.partner", description="Partner (shipments API) simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ledger", type=Path, default=None, help="append effects here (JSONL)")
    parser.add_argument(
        "--faults", default=None, help="fault config as JSON, or @file.json (see docs)"
    )
    args = parser.parse_args(argv)
    try:
        faults = _load_faults(args.faults) if args.faults else FaultConfig()
    except FaultConfigError as exc:
        print(f"partner: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(faults, args.ledger)
    except OSError as exc:
        print(f"partner: {args.ledger}: cannot open ledger: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(app, args.host, args.port, "partner"))
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
