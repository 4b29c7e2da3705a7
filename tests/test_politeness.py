"""How a workflow treats its partners: Retry-After honoured and a call budget, on
hand-written request journals (pure checks, no sockets)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harness.checks.contract import contract
from harness.checks.politeness import Politeness, call_budget, retry_after_honoured
from harness.checks.registry import check_all
from harness.journal import frame


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


# ---------------------------------------------------------------- a polled source's pages


def page(at: float, number: int, *, wait: float | None = None, status: int = 200) -> dict[str, Any]:
    """A job's page request to the lab's source, as the poll source journals it."""
    return {
        "at": at, "duration_ms": 0.0, "partner": "source", "method": "GET", "path": "/records",
        "status": 429 if wait is not None else status, "retry_after_s": wait, "page": number,
    }  # fmt: skip


def test_a_page_asked_for_again_at_once_after_the_sources_429_is_named() -> None:
    rows = frame("requests", [page(0.0, 1), page(0.1, 2, wait=1.0), page(0.12, 2), page(1.2, 3)])
    result = retry_after_honoured(rows)
    assert not result.ok and result.judged == 2  # the two page requests after the wait
    assert result.counts["page_requests"] == 4 and result.counts["page_requests_too_soon"] == 1
    assert result.counts["calls"] == 0  # no partner call among them
    assert result.examples == [
        "source: page request GET /records (page 2) at 0.12s came 0.98s early: page 2 was "
        "answered 429 at 0.10s with Retry-After 1s"
    ]
    assert result.summary.startswith("1 of 4 page requests to the source came before")


def test_the_next_page_is_as_early_as_the_same_page_again() -> None:
    # The source asked the client to wait, not one page: a cursor moving on is no way round it.
    rows = frame("requests", [page(0.0, 2, wait=1.0), page(0.3, 3)])
    assert retry_after_honoured(rows).counts["too_soon"] == 1


def test_a_job_that_waits_as_long_or_longer_than_asked_is_not_blamed() -> None:
    for later in (1.01, 2.5):  # as asked; twice as long
        rows = frame("requests", [page(0.0, 2, wait=1.0), page(later, 2), page(later + 0.01, 3)])
        result = retry_after_honoured(rows)
        assert result.ok and result.judged == 2
        assert result.counts["page_requests_after_a_wait"] == 2
        assert "2 page requests after its 1 answer with Retry-After" in result.summary


def test_a_job_that_ends_its_pass_at_the_429_is_not_blamed() -> None:
    # sync-naive stops at the failed page and picks up on a later run: nothing came early.
    result = retry_after_honoured(frame("requests", [page(0.0, 1), page(0.1, 2, wait=1.0)]))
    # A wait no later request tested judges nothing, and the check says so.
    assert result.ok and result.judged_nothing
    assert result.summary == "No page request came after the source's 1 answer with Retry-After."


def test_a_request_that_reached_the_server_before_the_429_left_it_is_not_blamed() -> None:
    # Page 3 was on its way while page 2's answer was still being written (a job that
    # fetches ahead): it could not have heard of the wait.
    throttled = {**page(0.1, 2, wait=1.0), "duration_ms": 50.0}  # answered at 0.15 s
    rows = frame("requests", [throttled, page(0.12, 3), page(0.2, 4)])
    result = retry_after_honoured(rows)
    assert result.counts["too_soon"] == 1 and result.judged == 1
    assert "(page 4) at 0.20s came 0.95s early" in result.examples[0]


def test_a_wait_asked_of_a_partner_call_nobody_repeated_judges_nothing() -> None:
    result = retry_after_honoured(frame("requests", [call(0.0, wait=1.0)]))
    assert result.ok and result.judged_nothing and result.counts["asked_to_wait"] == 1


def test_the_source_and_a_partner_hold_their_own_waits() -> None:
    crm = {"partner": "crm", "trace": "", "idempotency_key": ""}
    rows = [call(0.0, wait=1.0, **crm), page(0.1, 2), page(0.2, 3, wait=1.0), call(0.3, **crm)]
    result = retry_after_honoured(frame("requests", rows), {"scope": "partner"})
    assert result.counts["too_soon"] == 1 and result.counts["calls"] == 2
    assert result.examples[0].startswith("crm POST /v1/shipments at 0.30s")
    # Unthrottled pages are judged by nothing: the check says it had nothing to judge.
    quiet = retry_after_honoured(frame("requests", [page(0.0, 1), page(0.1, 2)]))
    assert quiet.ok and quiet.judged_nothing
    assert quiet.summary == "The source never asked for a wait (2 page requests)."


def test_paging_is_not_a_partner_call_the_budget_counts() -> None:
    rows = [page(i * 0.01, i % 4 + 1) for i in range(60)] + [call(1.0)]
    result = call_budget(expected(1), frame("requests", rows))
    assert result.ok and result.counts["calls"] == 1 and result.judged == 61
    assert result.counts["page_requests"] == result.counts["pages_answered"] == 60
    assert result.summary.endswith(
        "60 page requests to the source for 60 pages it answered: 1.0 per page at worst, within 10."
    )
    assert "calls source" not in result.counts and result.counts["partners_expected_nothing"] == 0
    # The same sixty calls from a partner no event expects anything of are named.
    stray = [{**row, "page": None} for row in rows]
    assert not call_budget(expected(1), frame("requests", stray)).ok


def test_a_failing_page_asked_again_and_again_is_a_storm_at_the_source() -> None:
    # Page 2 fails with a 500 that names no wait, and the job asks again at once, 40
    # times: retry_after_honoured has nothing to hold it to, the budget does.
    storm = [page(0.0, 1)] + [page(0.1 + i * 0.001, 2, status=500) for i in range(40)]
    rows = frame("requests", [*storm, page(0.2, 2), page(0.3, 3), call(0.4)])
    assert retry_after_honoured(rows).ok
    result = call_budget(expected(1), rows)
    assert not result.ok and result.counts["worst_page_requests_per_page"] == 14.33
    assert result.examples == ["source: 43 page requests for 3 pages answered (14.3 per page)"]
    assert "A retry storm at the source: 1 source(s) got more than 10 page requests" in (
        result.summary
    )
    # A job that gives the failing page five tries with backoff stays well within it.
    patient = [page(0.0, 1)] + [page(0.1 * i, 2, status=500) for i in range(1, 6)]
    rows = frame("requests", [*patient, page(1.0, 2), page(1.1, 3), call(1.2)])
    assert call_budget(expected(1), rows).ok
    # A source that answered nothing gets one page's worth.
    down = frame("requests", [page(i * 0.1, 1, status=503) for i in range(11)])
    assert call_budget(expected(1), down).examples == [
        "source: 11 page requests for 0 pages answered (11.0 per page)"
    ]


def test_a_journal_without_pages_reads_every_row_as_a_partner_call() -> None:
    # Runs journaled before page requests were have no "page" column.
    older = requests(
        call(0.0, wait=1.0, partner="source", trace=""), call(0.5, partner="source", trace="")
    )
    result = retry_after_honoured(older)
    assert not result.ok and "page_requests" not in result.counts
    assert result.examples[0].startswith("source POST /v1/shipments at 0.50s")


def test_a_page_refused_by_the_source_is_no_contract_finding() -> None:
    rows = frame("requests", [page(0.0, 0, status=400), {**call(0.1), "route": "create"}])
    found = contract(rows, frame("expected", []), frame("effects", []))
    assert found.result.ok and found.result.counts == {"calls": 1, "rejected": 0}
