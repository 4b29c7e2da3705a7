"""Watching the workflow from outside: when it is done, and what it says it did.

Both are optional. A workflow with a status endpoint is done when it reports
nothing pending; one without is done by quiescence (no delivery in flight and
no partner request for a quiet period). A workflow with an outcomes source
(an HTTP endpoint or a JSONL file, in its own field names and words) tells
which events it dead-lettered; without one, dead letters are unknown.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.inputs.pilot import OutcomesSpec
from harness.runtime.http import client as http_client

POLL_S = 0.1  # the workflow offers no completion event; poll at a bounded interval


async def settle_by_status(client: httpx.AsyncClient, status_url: str, timeout_s: float) -> int:
    """Wait until the workflow has nothing pending; returns what is still pending (-1: unknown)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = -1
    while loop.time() < deadline:
        try:
            response = await client.get(status_url)
            if response.status_code == 404:
                return 0  # the workflow keeps no queue: done when it answered
            pending = int(response.json().get("pending", 0))
        except (httpx.HTTPError, ValueError, AttributeError):
            pending = -1
        if pending == 0:
            return 0
        await asyncio.sleep(POLL_S)
    return pending


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


async def settle_by_quiet(
    last_activity: Callable[[], Awaitable[float]], quiet_s: float, timeout_s: float
) -> bool:
    """Wait until nothing happened for ``quiet_s``; False when the timeout came first."""
    started = time.time()
    while True:
        now = time.time()
        since = now - max(started, await last_activity())
        if since >= quiet_s:
            return True
        if now - started >= timeout_s:
            return False
        await asyncio.sleep(min(POLL_S, quiet_s - since))


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
