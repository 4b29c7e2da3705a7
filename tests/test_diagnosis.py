"""A drill that cannot run says so: contract mismatches are not the workflow's failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cli_kit import chaoslab
from pilot_tree import naive_logistics_pilot

from harness.drill.diagnose import contract_mismatch, unexpected_calls, webhook_refused
from harness.journal import frame, load_run


def req(partner: str, status: int, reason: str = "", path: str = "/v1/things") -> dict[str, Any]:
    return {"partner": partner, "method": "POST", "path": path, "status": status, "reason": reason}


def effects(*partners: str) -> pd.DataFrame:
    return frame(
        "effects", [{"partner": p, "kind": f"{p}:x", "business_key": "k"} for p in partners]
    )


def test_all_rejected_before_any_effect_names_partner_call_and_reason() -> None:
    calls = [req("erp", 400, "body.address: required")] * 5 + [req("erp", 429, "rate limited")]
    line = contract_mismatch(frame("requests", calls), effects())
    assert line == (
        "erp: 5 of 6 calls rejected before any effect: POST /v1/things -> 400 "
        "body.address: required"
    )


def test_unmatched_routes_count_as_rejections() -> None:
    calls = [req("crm", 404, "no route matches", "/v2/contact")] * 3
    line = contract_mismatch(frame("requests", calls), effects())
    assert line is not None and "404 no route matches" in line and "3 of 3" in line


def test_a_partner_with_effects_or_few_rejections_is_not_diagnosed() -> None:
    rejected = [req("erp", 400, "body.x: required")] * 4
    # Some effects happened: the contract works, the workflow is to be judged.
    assert contract_mismatch(frame("requests", rejected), effects("erp")) is None
    # Mostly served (5xx from injected faults are not contract problems).
    mixed = rejected[:1] + [req("erp", 503, "injected 503")] * 3
    assert contract_mismatch(frame("requests", mixed), effects()) is None
    assert contract_mismatch(frame("requests", []), effects()) is None


def test_only_the_broken_partner_is_named() -> None:
    calls = [req("crm", 201)] * 3 + [req("erp", 422, "body.qty: must be integer")] * 2
    line = contract_mismatch(frame("requests", calls), effects("crm"))
    assert line is not None and line.startswith("erp: 2 of 2 calls")


def test_a_workflow_refusing_the_webhook_path_is_diagnosed() -> None:
    attempts = frame("attempts", [{"event_id": f"e{i}", "status": 404} for i in range(9)])
    line = webhook_refused(attempts, "/hooks/in")
    assert line == (
        "workflow: 9 of 9 deliveries answered 404 on POST /hooks/in: is [webhook] path right?"
    )
    served = frame("attempts", [{"event_id": "e", "status": 200}, {"event_id": "f", "status": 404}])
    assert webhook_refused(served, "/hooks/in") is None


# ---------------------------------------------------------------- end to end

REPO = Path(__file__).resolve().parents[1]


def mismatched_pilot(tmp_path: Path) -> Path:
    """The naive order-sync workflow against a partner that also requires a carrier."""
    partner = (REPO / "pilots/partners/logistics.toml").read_text()
    needs = 'required = ["body.order_id", "body.address", "body.version"]'
    assert needs in partner
    logistics = partner.replace(
        needs, needs.replace('"body.version"]', '"body.version", "body.carrier"]')
    )
    tail = "[scenarios.short]\ndelivery = { limit = 6 }\n"
    return naive_logistics_pilot(tmp_path, "mismatch", logistics, tail)


@pytest.mark.slow
def test_contract_mismatch_exits_2_with_the_partners_reason(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    # In-process: what is checked is what `chaoslab drill` says and its exit code.
    done = chaoslab(
        "drill", str(mismatched_pilot(tmp_path)), "--quiet", "--reports", str(reports),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "logistics: " in lines[0]
    assert (
        "calls rejected before any effect: POST /v1/shipments -> 400 body.carrier: required"
        in (lines[0])
    )
    assert "lost" not in done.stdout
    # The journal keeps every request the partner received.
    (run_dir,) = list((reports / "runs").iterdir())
    run = load_run(run_dir)
    assert run.meta["status"] == "unusable"
    assert len(run.requests) >= 6 and set(run.requests["status"]) == {400}
    assert run.effects.empty


def test_calls_no_route_declares_are_listed_not_judged() -> None:
    calls = [
        {**req("crm", 201), "route": "create"},
        {**req("crm", 404, "no route matches", "/v3/lists"), "route": ""},
        # A declared route answering 404 (an update before its create) is no stray call.
        {**req("crm", 404, "contact x not found", "/v3/c/x"), "route": "update"},
        {**req("erp", 404, "no route matches", "/stock"), "method": "GET", "route": ""},
    ]
    assert unexpected_calls(frame("requests", calls)) == [
        "crm: POST /v3/lists",
        "erp: GET /stock",
    ]
    assert unexpected_calls(frame("requests", [])) == []


def page_request(status: int, page: int, reason: str = "") -> dict[str, Any]:
    """A job's page request to the lab's source, as the poll source journals it."""
    return {"partner": "source", "method": "GET", "path": "/records", "status": status,
            "reason": reason, "route": "", "page": page}  # fmt: skip


def test_page_requests_to_the_source_are_no_partner_contract() -> None:
    # A job that pages past max_pages, or sends a cursor the source never handed out, is
    # answered 400 by the source: the page log says so, and no declared partner was wronged.
    paged = [page_request(400, 0, "cursor: not one this source handed out")] * 5
    calls = [*paged, {**req("crm", 201), "route": "create"}]
    assert contract_mismatch(frame("requests", calls), effects("crm")) is None
    assert contract_mismatch(frame("requests", paged), effects()) is None
    assert unexpected_calls(frame("requests", [page_request(404, 0), *calls])) == []
    # The same answers from a partner are still diagnosed.
    as_partner = [{**row, "page": None, "partner": "erp"} for row in paged]
    assert contract_mismatch(frame("requests", as_partner), effects()) is not None
