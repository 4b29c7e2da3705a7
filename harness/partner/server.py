"""Command line and serving loop for the partner simulator.

    python -m harness.partner --spec partner.json [--name NAME] --port N \
        [--ledger FILE] [--requests FILE] [--faults JSON|@file]

`--spec` is what `resolve_partner` wrote (JSON), or a declaration file
(TOML/JSON `PartnerDecl`) resolved here. On success it prints exactly one
line to stdout once the socket is bound, `partner ready on
http://127.0.0.1:<port>`, so a parent can pass `--port 0` and read the port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette

from .app import create_app
from .faults import FaultConfig, FaultConfigError, parse_faults
from .netfaults import ConnectionRegistry, protocol_class
from .spec import PartnerSpecError, ResolvedPartner, describe

_RESOLVED_KEYS = set(ResolvedPartner.model_fields)


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


def load_spec(path: Path, name: str | None) -> ResolvedPartner:
    """A resolved declaration (has only resolved keys, JSON) or a declaration to resolve."""
    # Drills hand over resolved JSON: the importers (YAML, OpenAPI, WireMock)
    # load only for a declaration given by hand, to keep start-up short.
    if path.suffix.lower() == ".json":
        try:
            decoded: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            decoded = None
        if isinstance(decoded, dict) and set(decoded) <= _RESOLVED_KEYS:
            return _validated(path, {**decoded, **({"name": name} if name else {})})
    from .documents import read_document
    from .resolve import resolve_partner

    decoded = read_document(path)
    if not isinstance(decoded, dict):
        raise PartnerSpecError(f"{path}: must hold one partner declaration (an object)")
    if path.suffix.lower() != ".toml" and set(decoded) <= _RESOLVED_KEYS:
        data = {**decoded, **({"name": name} if name else {})}
    else:
        data = resolve_partner(name or path.stem, decoded, path.parent, label=str(path))
    return _validated(path, data)


def _validated(path: Path, data: dict[str, Any]) -> ResolvedPartner:
    try:
        return ResolvedPartner.model_validate(data)
    except ValidationError as exc:
        raise PartnerSpecError(f"{path}: {describe(exc)}") from None


async def serve(app: Starlette, host: str, port: int, name: str) -> None:
    """Serve until stopped, printing "<name> ready on http://host:port" once the socket is bound."""
    registry: ConnectionRegistry = app.state.simulator.registry
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False,
        http=protocol_class(registry),
    )  # fmt: skip
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.partner", description="Declarative partner API simulator"
    )
    parser.add_argument("--spec", type=Path, required=True, help="resolved or declared partner")
    parser.add_argument("--name", default=None, help="partner name in ledger and journal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ledger", type=Path, default=None, help="append effects here (JSONL)")
    parser.add_argument("--requests", type=Path, default=None, help="journal every request (JSONL)")
    parser.add_argument(
        "--faults", default=None, help="faults as JSON or @file.json; replaces the spec's"
    )
    return parser


def main(argv: list[str]) -> int:
    """`python -m harness.partner`: 2 with a one-line message for a bad spec or faults, else 0."""
    args = _parser().parse_args(argv)
    try:
        spec = load_spec(args.spec, args.name)
        faults = _load_faults(args.faults) if args.faults else parse_faults(spec.faults)
    except (PartnerSpecError, FaultConfigError) as exc:
        print(f"partner: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(
            spec, faults=faults, ledger_path=args.ledger, requests_path=args.requests,
            registry=ConnectionRegistry(),
        )  # fmt: skip
    except OSError as exc:
        print(f"partner: {exc.filename}: cannot open: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(app, args.host, args.port, "partner"))
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
