"""What the partners and the workflow recorded, turned into journal rows.

Partners write their ledger (applied effects) and request journal as JSONL
files in the run folder, one line per entry, flushed as it happens; these
functions read them back on the attempts' clock. A torn last line (a killed
simulator) is skipped, never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.inputs.expectations import as_version, effect_kind
from harness.places import inside


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            yield entry


def trace_of(traceparent: str) -> str:
    """The trace id of a W3C traceparent, "" when it is not one."""
    parts = str(traceparent or "").split("-")
    return parts[1] if len(parts) == 4 else ""


def ledger_effects(
    ledger: Path, run_id: str, clock_origin: float, trace_to_event: Mapping[str, str]
) -> list[dict[str, Any]]:
    """A partner's ledger lines → effects rows, tied to events by traceparent where forwarded."""
    rows: list[dict[str, Any]] = []
    for entry in _lines(ledger):
        trace = trace_of(str(entry.get("traceparent") or ""))
        event_id = trace_to_event.get(trace, "")
        partner = str(entry.get("partner") or "")
        rows.append(
            {
                "run_id": run_id,
                "at": float(entry.get("at", clock_origin)) - clock_origin,
                "partner": partner,
                "kind": effect_kind(partner, str(entry.get("effect") or "")),
                "business_key": str(entry.get("key") or ""),
                "entity_version": as_version(entry.get("version")),
                "idempotency_key": str(entry.get("idempotency_key") or ""),
                "correlation_id": trace,
                "event_id": event_id,
                "tied_by": "traceparent" if event_id else "",
                "route": str(entry.get("route") or ""),
                "ref": str(entry.get("id") or ""),
            }
        )
    return rows


def partner_requests(path: Path, run_id: str, clock_origin: float) -> list[dict[str, Any]]:
    """A partner's request journal → requests rows (every call, applied or not)."""
    rows = []
    for entry in _lines(path):
        status = entry.get("status")
        rows.append(
            {
                "run_id": run_id,
                "at": float(entry.get("at", clock_origin)) - clock_origin,
                "partner": str(entry.get("partner") or ""),
                "method": str(entry.get("method") or ""),
                "path": str(entry.get("path") or ""),
                "status": status if isinstance(status, int) else None,
                "duration_ms": entry.get("duration_ms"),
                "route": str(entry.get("route") or ""),
                "effect": str(entry.get("effect") or ""),
                "business_key": str(entry.get("key") or ""),
                "reason": str(entry.get("reason") or ""),
                "correlation_id": trace_of(str(entry.get("traceparent") or "")),
                "idempotency_key": str(entry.get("idempotency_key") or ""),
                "fault": str(entry.get("fault") or ""),
                "retry_after_s": _seconds(entry.get("retry_after_s")),
            }
        )
    return rows


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def ledger_file(run_dir: Path, partner: str) -> Path:
    return inside(run_dir, f"ledger-{partner}.jsonl")


def requests_file(run_dir: Path, partner: str) -> Path:
    return inside(run_dir, f"requests-{partner}.jsonl")
