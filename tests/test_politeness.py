"""How a workflow treats its partners: Retry-After honoured and a call budget, on
hand-written request journals (pure checks, no sockets)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harness.checks.politeness import Politeness, call_budget, retry_after_honoured
from harness.checks.registry import check_all


def call(
    at: float, *, wait: float | None = None, trace: str = "t1", **extra: Any
) -> dict[str, Any]:
    row = {
        "at": at,
        "duration_ms": 10.0,
        "partner": "logistics",
        "method": "POST",
        "path": "/v1/shipments",
        "status": 429 if wait is not None else 201,
        "retry_after_s": wait,
        "correlation_id": trace,
        "idempotency_key": "",
    }
    return {**row, **extra}


def requests(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_a_retry_after_the_asked_wait_is_honoured() -> None:
    result = retry_after_honoured(requests(call(0.0, wait=1.0), call(1.02)))
    assert result.ok and result.counts["asked_to_wait"] == 1


def test_a_retry_before_the_asked_wait_fails() -> None:
    result = retry_after_honoured(requests(call(0.0, wait=1.0), call(0.05), call(0.1)))
    assert not result.ok
    assert result.counts["too_soon"] == 2
    assert "before the 1s asked at 0.01s" in result.examples[0]


def test_the_grace_absorbs_clock_noise_but_no_more() -> None:
    # The answer left at 0.01 s; 1 s later is 1.01 s. 1.0 is 10 ms early: within 100 ms grace.
    assert retry_after_honoured(requests(call(0.0, wait=1.0), call(1.0))).ok
    strict = Politeness(grace_ms=0.0)
    assert not retry_after_honoured(requests(call(0.0, wait=1.0), call(1.0)), strict).ok


def test_other_operations_may_call_unless_the_scope_is_the_partner() -> None:
    rows = requests(call(0.0, wait=1.0, trace="a"), call(0.2, trace="b"))
    assert retry_after_honoured(rows).ok
    assert not retry_after_honoured(rows, {"scope": "partner"}).ok


def test_without_a_trace_the_idempotency_key_names_the_operation() -> None:
    rows = requests(
        call(0.0, wait=2.0, trace="", idempotency_key="k1"),
        call(0.5, trace="", idempotency_key="k2"),
        call(0.6, trace="", idempotency_key="k1"),
    )
    result = retry_after_honoured(rows)
    assert result.counts["too_soon"] == 1


def test_a_throttled_answer_without_a_time_asks_nothing() -> None:
    rows = requests(call(0.0, status=503), call(0.01))
    assert retry_after_honoured(rows).ok


def expected(n: int, partner: str = "logistics", dropped: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "partner": [partner] * n,
            "expected_effect": [f"{partner}:shipment.created"] * n,
            "allowed_effect": [""] * n,
            "dropped": [i < dropped for i in range(n)],
        }
    )


def test_calls_within_budget_pass_and_a_storm_fails() -> None:
    calm = requests(*(call(i) for i in range(40)))
    assert call_budget(expected(4), calm).ok
    storm = requests(*(call(i * 0.01) for i in range(41)))
    result = call_budget(expected(4), storm)
    assert not result.ok
    assert result.counts["worst_calls_per_effect"] == 10.25
    assert "41 calls for 4 effects" in result.examples[0]


def test_the_budget_is_the_pilots_and_dropped_events_call_for_nothing() -> None:
    rows = requests(*(call(i) for i in range(10)))
    strict = Politeness(max_calls_per_effect=4)
    assert call_budget(expected(4, dropped=1), rows, strict).ok  # 10 calls for 3 effects
    assert not call_budget(expected(4, dropped=2), rows, strict).ok  # 10 calls for 2 effects
    assert call_budget(expected(4, dropped=2), rows).ok  # within the default of 10


def test_check_all_judges_politeness_when_it_has_the_requests() -> None:
    empty = pd.DataFrame()
    tables = {
        "attempts": empty, "effects": empty, "outcomes": empty, "expected": expected(1),
    }  # fmt: skip
    slo = {"p95_ms": 1000, "success_rate": 0.5}
    names = [r.name for r in check_all(tables, slo)]
    assert "retry_after_honoured" not in names
    with_requests = {**tables, "requests": requests(call(0.0, wait=1.0), call(0.1))}
    results = {r.name: r for r in check_all(with_requests, slo)}
    assert not results["retry_after_honoured"].ok
    assert results["call_budget"].ok


@pytest.mark.parametrize("scope", ["operation", "partner"])
def test_politeness_settings_read_from_a_mapping(scope: str) -> None:
    cfg = Politeness.of({"max_calls_per_effect": 2, "grace_ms": 5, "scope": scope})
    assert (cfg.max_calls_per_effect, cfg.grace_ms, cfg.scope) == (2.0, 5.0, scope)
