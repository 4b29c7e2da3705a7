"""Watching the workflow from outside: when it is done, and what it says it did.

Both are optional. A workflow is done when it has gone quiet (no partner
request for a quiet period) and, if it has a status endpoint, that endpoint
reports nothing pending (``harness.drill.settling`` waits for both). A
workflow with an outcomes source (an HTTP endpoint or a JSONL file, in its
own field names and words) tells which events it dead-lettered; without one,
dead letters are unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.inputs.pilot import OutcomesSpec
from harness.runtime.http import client as http_client


async def pending(client: httpx.AsyncClient, status_url: str) -> int:
    """What the workflow's status endpoint says is pending (-1: no usable answer).

    A 404 means the workflow keeps no queue: nothing pending.
    """
    try:
        response = await client.get(status_url)
        if response.status_code == 404:
            return 0
        return int(response.json().get("pending", 0))
    except (httpx.HTTPError, ValueError, AttributeError, TypeError):
        return -1


async def last_partner_call(client: httpx.AsyncClient, partner_urls: Sequence[str]) -> float:
    """Unix time of the newest request any partner received (0 when none)."""
    newest = 0.0
    for url in partner_urls:
        try:
            state = (await client.get(f"{url}/_sim/state")).json()
            newest = max(newest, float(state.get("last_request_at") or 0.0))
        except (httpx.HTTPError, ValueError, TypeError, AttributeError):
            continue
    return newest


def _rows(items: Any, spec: OutcomesSpec, run_id: str) -> list[dict[str, Any]]:
    if isinstance(items, Mapping) and spec.list_key:
        items = items.get(spec.list_key)
    names = {"event_id": "event_id", "outcome": "outcome", "detail": "detail", **spec.fields}
    rows = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or names["event_id"] not in item:
            continue
        theirs = str(item.get(names["outcome"], ""))
        rows.append(
            {
                "run_id": run_id,
                "event_id": str(item[names["event_id"]]),
                "outcome": spec.values.get(theirs, theirs),
                "detail": str(item.get(names["detail"], "") or ""),
            }
        )
    return rows


async def read_outcomes(
    spec: OutcomesSpec, workflow_url: str, file: Path | None, run_id: str
) -> list[dict[str, Any]]:
    """Outcome rows in our words, from the workflow's endpoint or file."""
    if spec.http is not None:
        async with http_client(timeout=5.0) as client:
            try:
                response = await client.get(workflow_url + spec.http)
                response.raise_for_status()
                return _rows(response.json(), spec, run_id)
            except (httpx.HTTPError, ValueError):
                return []
    return _rows(_jsonl_items(file), spec, run_id) if file is not None else []


def _jsonl_items(file: Path) -> list[Any]:
    # Read once the workflow has settled; a small file, so no thread hop.
    if not file.exists():
        return []
    items = []
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line the workflow was still writing
    return items
