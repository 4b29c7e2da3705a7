"""``chaoslab partner show PILOT``: every route of every declared partner, as the drill sees it.

An import can be weaker than its document thinks (no required fields, no
types, one id for every create); printed here, that is visible before a drill
rather than after a pass that proved nothing. A route that checks nothing is
said to accept anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli_support import fail
from harness.partner.schema_outline import outline

app = typer.Typer(
    help="The partners a pilot declares.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _where(route: dict[str, Any]) -> str:
    for key, label in (("path", ""), ("path_regex", "path ~ "), ("url_regex", "url ~ ")):
        if route.get(key):
            return f"{label}{route[key]}"
    return "?"


def _checks(route: dict[str, Any]) -> list[str]:
    lines = [f"{s}: required" for s in route.get("required") or [] if s != "body"]
    types = (route.get("types") or {}).items()
    lines += [f"{s}: must be {' or '.join(t.split('|'))}" for s, t in types]
    for selector, expected in (route.get("when") or {}).items():
        lines.append(f"matched only when {selector} = {expected!r}")
    schema = route.get("body_schema")
    if schema:
        rows = outline(schema)
        if "body" in (route.get("required") or []):
            rows[0] = ("body", f"{rows[0][1]}, required".removeprefix("anything, "))
        width = max(len(field) for field, _ in rows)
        lines += [f"{field.ljust(width)}  {what}" for field, what in rows]
    elif "body" in (route.get("required") or []):
        lines.append("body: required")
    if route.get("known_id"):
        lines.append(f"{route['known_id']}: an id handed out by {route['id_space']}, else 404")
    return lines


def _effects(route: dict[str, Any]) -> list[str]:
    lines = []
    if route.get("effect"):
        key = route.get("key") or f"the entity {route.get('known_id')} was handed out for"
        line = f"{route['effect']} on {route['entity']} keyed by {key}"
        if route.get("version"):
            line += f", version {route['version']}"
        lines.append(line)
    else:
        lines.append("none (reads or changes nothing the drill counts)")
    if route.get("needs_entity"):
        lines.append(f"404 unless that {route['entity']} exists")
    if route.get("answer_id"):
        lines.append(f"hands out a fresh id at answer {route['answer_id']} ({route['id_space']})")
    return lines


def route_lines(route: dict[str, Any]) -> list[str]:
    """One route: its answer, what it checks and what it causes."""
    name = f"{route['name']}: " if route.get("name") else ""
    status = route.get("status", 200)
    head = f"{name}{route.get('method', 'GET')} {_where(route)} -> {status}"
    if route.get("fault"):
        head += f" then {route['fault']}"
    lines = [head]
    checks = _checks(route)
    if not checks:
        checks = ["none: any request is accepted"]
    lines += ["  checks:  " + checks[0], *("           " + c for c in checks[1:])]
    effects = _effects(route)
    lines += ["  effect:  " + effects[0], *("           " + e for e in effects[1:])]
    return lines


def partner_lines(name: str, partner: dict[str, Any]) -> list[str]:
    """A partner's heading (idempotency keys, baseline faults), then each route's lines."""
    idem = partner.get("idempotency") or {}
    header = idem.get("header", "Idempotency-Key")
    keys = f"Idempotency-Key header {header!r}" if header else "no idempotency keys"
    if header and idem.get("ttl_s"):
        keys += f", kept {idem['ttl_s']:g} s"
    faults = ", ".join(sorted(partner.get("faults") or {})) or "none"
    routes = partner.get("routes") or []
    lines = [f"partner {name}: {len(routes)} route(s); {keys}; baseline faults: {faults}"]
    for route in routes:
        lines += ["  " + line for line in route_lines(route)]
    return lines


def show_command(
    pilot_path: Annotated[Path, typer.Argument(metavar="PILOT", help="the pilot file")],
) -> None:
    """Print every route of every partner the pilot declares, with its checks and effects."""
    from harness.inputs.pilot import PilotError, load_pilot

    try:
        pilot = load_pilot(pilot_path, require_fixtures=False)
    except (PilotError, OSError) as exc:
        raise fail(str(exc)) from None
    if not pilot.partners:
        typer.echo(f"{pilot_path}: declares no partner")
        return
    for name, partner in pilot.partners.items():
        typer.echo("\n".join(partner_lines(name, partner)))


app.command("show")(show_command)


def register(root: typer.Typer) -> None:
    """Add the `partner` group (`show`) to the `chaoslab` command."""
    root.add_typer(app, name="partner")
