"""Settling that cannot cut a drill short: the status endpoint *and* quiet, the later of the two.

A status endpoint that always says nothing is pending (here the hardened
workflow's /healthz stands in for one) must not end a drill while the
workflow is still retrying against a partner that is down.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from harness.drill import run_drill
from harness.drill.settling import MARGIN_S, default_quiet_s, settle
from harness.inputs.pilot import load_pilot
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parent.parent


def test_the_default_quiet_period_follows_the_declared_waits() -> None:
    assert default_quiet_s([], {}, []) == (MARGIN_S, "no declared wait: the shortest quiet period")
    quiet, why = default_quiet_s([0.2, 1.5], {}, [])
    assert quiet == pytest.approx(1.5 + MARGIN_S) and why.startswith("the workflow's own retry")
    # A rate limit refilling one token every 4 s answers Retry-After: 4.
    limited = {"crm": {"rate_limit": {"capacity": 2, "refill_per_s": 0.25}}}
    quiet, why = default_quiet_s([1.0], limited, [3.0])
    assert quiet == pytest.approx(4 + MARGIN_S) and why.startswith("a rate limit's Retry-After")
    slow = {"erp": {"slow": [{"delay_ms": 6000, "requests": [1]}]}}
    assert default_quiet_s([], slow, [2.0])[0] == pytest.approx(6 + MARGIN_S)


def _clock(busy_until: float, start: float) -> object:
    async def last_activity() -> float:
        now = time.time()
        return now if now - start < busy_until else start + busy_until

    return last_activity


def test_a_status_that_says_done_too_early_waits_for_quiet() -> None:
    async def always_done() -> int:
        return 0

    start = time.time()
    settled = asyncio.run(settle(always_done, _clock(0.6, start), 0.3, 5.0))  # type: ignore[arg-type]
    assert settled.done and settled.waited_s >= 0.6 + 0.3 - 0.05
    assert settled.status_done_s is not None and settled.status_done_s < 0.1
    assert settled.note().startswith("the status endpoint said nothing pending 0.")
    assert settled.note().endswith("the drill waited for the quiet")


def test_once_done_it_asks_again_when_the_quiet_period_can_end() -> None:
    # Every ask is a request to the workflow and each partner: a quiet period of
    # a second is waited out in one sleep, not asked through ten times a second.
    asks = 0

    async def done() -> int:
        nonlocal asks
        asks += 1
        return 0

    start = time.time()
    settled = asyncio.run(settle(done, _clock(0.0, start), 1.0, 5.0))  # type: ignore[arg-type]
    assert settled.done and settled.waited_s >= 1.0
    assert asks <= 3, asks


def test_a_busy_status_is_waited_for_past_the_quiet() -> None:
    start = time.time()

    async def busy_for_a_while() -> int:
        return 0 if time.time() - start > 0.7 else 3

    settled = asyncio.run(settle(busy_for_a_while, _clock(0.0, start), 0.2, 5.0))  # type: ignore[arg-type]
    assert settled.done and settled.waited_s >= 0.7
    assert settled.note().endswith("the drill waited for the status")
    never = asyncio.run(settle(lambda: asyncio.sleep(0, 2), _clock(0.0, start), 0.1, 0.4))  # type: ignore[arg-type]
    assert not never.done and "never said nothing pending (2 pending)" in never.note()


@pytest.mark.slow
def test_a_status_endpoint_that_always_says_done_cannot_cut_a_drill_short(tmp_path: Path) -> None:
    """The hardened workflow retries through a partner outage; its 'status' is /healthz."""
    # A pilot extends only inside its tree: a copy of pilots/ beside the code.
    pilot_file = pilot_tree(tmp_path) / "pilot.toml"
    pilot_file.write_text(
        'extends = "order-sync.toml"\n'
        '[pilot]\nname = "lying-status"\n'
        '[workflow]\nstatus_path = "/healthz"\n'
        "retry_schedule_s = [2.0]   # BACKOFF_CAP_S: the longest wait between its retries\n"
        "[scenarios.outage]\n"
        "delivery = { events = [0, 1, 2, 3, 4, 5], rate = 20 }\n"
        "partner = { bursts = [{ status = 503, from_s = 0.1, until_s = 1.6 }] }\n"
    )
    result = asyncio.run(run_drill(load_pilot(pilot_file), "outage", reports=tmp_path / "r"))
    assert result.ok, [r.summary for r in result.results if not r.ok]
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["settled_by"] == "status and quiescence"
    settle_meta = meta["settle"]
    assert settle_meta["quiet_s"] == pytest.approx(2.5)
    assert settle_meta["quiet_s_from"].startswith("the workflow's own retry wait (2 s)")
    assert settle_meta["status_done_s"] < settle_meta["quiet_done_s"]
    assert settle_meta["note"].endswith("the drill waited for the quiet")
