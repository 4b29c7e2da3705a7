"""The poll source: pages as declared, each fault as told, and drills on the sync job.

The pager tests are pure; the server test and the drills run real processes on
loopback (the sync job, the CRM partner, the fault proxy), bounded by timeouts.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import http_kit
import pytest
import stand_kit

from harness.drill import run_drill
from harness.drill.standing import cannot_stand
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import ScenarioSpec, load_pilot
from harness.inputs.poll import PollFaults, PollSpec, PollTrigger
from harness.journal import check_row, load_run
from harness.runtime.processes import ServiceError
from harness.sources import OpenContext
from harness.sources.poll_command import run_command, trigger_cwd
from harness.sources.poll_http import collection, open_poll
from harness.sources.poll_pages import Pager

ROOT = Path(__file__).resolve().parents[1]
PILOTS = ROOT / "pilots"
RECORDS = ROOT / "fixtures" / "sync" / "records.jsonl"
KEYS = [f"ct-{i:03d}" for i in range(1, 14)]


def _pager(paging: str, **faults: Any) -> Pager:
    spec = PollSpec(fixtures="x", paging=paging, page_size=4)  # type: ignore[arg-type]
    return Pager(spec, PollFaults(**faults), collection(spec, load_fixtures(RECORDS)))


def _next(pager: Pager, body: dict[str, Any], query: dict[str, str]) -> dict[str, str] | None:
    """The query of the next page, read the way a careful client reads each paging."""
    if pager.spec.paging == "cursor":
        return {"cursor": body["next_cursor"]} if body["next_cursor"] else None
    if pager.spec.paging == "page":
        return {"page": str(body["next_page"])} if body["next_page"] else None
    if not body["has_more"]:
        return None
    last = body["records"][-1]["updated_at"] if body["records"] else query.get("updated_since")
    return {"updated_since": str(last)} if last is not None else {}


def _walk(pager: Pager) -> tuple[list[str], list[int]]:
    """Keys served over one pass, and each answer's status."""
    keys, statuses, query = [], [], {}
    for _ in range(50):
        answer = pager.answer(query)
        statuses.append(answer.status)
        if answer.status != 200:
            continue  # the same page again, as a client retrying would
        keys += [r["id"] for r in answer.body["records"]]
        nxt = _next(pager, answer.body, query)
        if nxt is None:
            return keys, statuses
        query = nxt
    raise AssertionError("the pass did not end")


@pytest.mark.parametrize("paging", ["cursor", "page", "updated_since"])
def test_each_paging_serves_every_record_once_in_order(paging: str) -> None:
    pager = _pager(paging)
    keys, statuses = _walk(pager)
    assert keys == KEYS and set(statuses) == {200}
    assert pager.passes == 1


def test_repeat_at_boundary_serves_the_last_record_of_each_page_again() -> None:
    keys, _ = _walk(_pager("cursor", repeat_at_boundary=True))
    assert keys == [*KEYS[:4], "ct-004", *KEYS[4:8], "ct-008", *KEYS[8:12], "ct-012", *KEYS[12:]]


def test_a_change_between_pages_skips_a_record_under_page_numbers_not_under_a_cursor() -> None:
    by_page, _ = _walk(_pager("page", change_between_pages=1))
    assert "ct-005" not in by_page  # everything shifted one place left under the reader
    by_cursor, _ = _walk(_pager("cursor", change_between_pages=1))
    assert sorted(set(by_cursor)) == KEYS and by_cursor[-1] == "ct-004"  # again, at the end


def test_a_changed_record_keeps_the_version_it_was_served_at_on_its_page() -> None:
    pager = _pager("cursor", change_between_pages=1)
    first = pager.answer({})
    # The page just served is what the workflow saw: the record changed after it.
    assert first.served[-1].version == 1 and first.body["records"][-1]["version"] == 1
    assert pager.changed == {3: 2} and pager.records[-1].key == "ct-004"
    # Page 1 asked for again (after a timeout, say) changes nothing more.
    pager.answer({})
    assert pager.changed == {3: 2}


def test_error_at_page_answers_the_status_with_retry_after_then_the_page() -> None:
    pager = _pager("cursor", error_at_page={"page": 2, "status": 429, "retry_after_s": 0.4})
    first = pager.answer({})
    second = pager.answer({"cursor": first.body["next_cursor"]})
    assert (second.status, second.headers) == (429, {"Retry-After": "1"})
    again = pager.answer({"cursor": first.body["next_cursor"]})
    assert again.status == 200 and [r["id"] for r in again.body["records"]] == KEYS[4:8]


def test_slow_page_is_served_late_once() -> None:
    pager = _pager("page", slow_page={"page": 1, "delay_s": 0.7})
    assert pager.answer({}).delay_s == 0.7
    assert pager.answer({}).delay_s == 0.0


@pytest.mark.parametrize("paging", ["cursor", "page"])
def test_an_empty_page_before_the_end_still_leads_on(paging: str) -> None:
    keys, _ = _walk(_pager(paging, empty_page_before_end=True))
    assert keys == KEYS


def test_an_empty_page_ends_a_reader_that_stops_on_no_records() -> None:
    pager = _pager("updated_since", empty_page_before_end=True)
    first = pager.answer({})
    second = pager.answer({"updated_since": str(first.body["records"][-1]["updated_at"])})
    assert second.body == {"records": [], "has_more": True}


def test_faults_touch_only_the_first_pass() -> None:
    pager = _pager("cursor", repeat_at_boundary=True)
    _walk(pager)
    assert _walk(pager)[0] == KEYS


def test_every_fault_is_told_in_one_sentence() -> None:
    faults = PollFaults.model_validate(
        {"repeat_at_boundary": True, "change_between_pages": 1, "empty_page_before_end": True,
         "error_at_page": {"page": 2, "status": 503}, "slow_page": {"page": 1, "delay_s": 1}}
    )  # fmt: skip
    told = faults.tell()
    assert len(told) == 5 and all(line.endswith(".") and line.count(". ") == 0 for line in told)


async def test_the_server_answers_pages_on_loopback_and_journals_each_record() -> None:
    spec = PollSpec(fixtures="x", page_size=5)
    rows: list[dict[str, Any]] = []
    ctx = OpenContext(ROOT, ROOT, ScenarioSpec(), load_fixtures(RECORDS))
    requests: list[dict[str, Any]] = []
    async with open_poll(spec, ctx) as run:
        run.record, run.request = rows.append, requests.append
        async with http_kit.async_client(base_url=run.url, timeout=5) as client:
            first = (await client.get("/records", params={"limit": 5})).json()
            await client.get("/records", params={"cursor": first["next_cursor"]})
            assert (await client.get("/elsewhere")).status_code == 404
            bad = await client.get("/records", params={"cursor": "nonsense"})
            assert bad.status_code == 400 and "cursor" in bad.json()["error"]
    assert [r["event_id"] for r in rows] == [f"rec-{i:03d}" for i in range(1, 11)]
    assert {r["status"] for r in rows} == {200} and rows[5]["fault_tags"] == "page:2"
    assert [p["status"] for p in run.pages] == [200, 200, 400]
    # Each page request is a row of the requests table too, as a partner's call would be
    # (the 404 elsewhere asked for no page: the source's listing was not what it asked).
    said = [(r["partner"], r["method"], r["path"], r["status"], r["page"]) for r in requests]
    assert said == [("source", "GET", "/records", 200, 1), ("source", "GET", "/records", 200, 2),
                    ("source", "GET", "/records", 400, 0)]  # fmt: skip
    assert requests[2]["reason"] == "cursor: not one this source handed out"
    for row in requests:
        check_row("requests", row)  # every column one the journal knows


async def test_a_throttled_page_is_journaled_with_the_wait_it_asked_for() -> None:
    spec = PollSpec(fixtures="x", page_size=5)
    throttle = PollFaults(error_at_page={"page": 2, "status": 429, "retry_after_s": 1})
    requests: list[dict[str, Any]] = []
    ctx = OpenContext(ROOT, ROOT, ScenarioSpec(poll=throttle), load_fixtures(RECORDS))
    async with open_poll(spec, ctx) as run:
        run.request = requests.append
        async with http_kit.async_client(base_url=run.url, timeout=5) as client:
            first = (await client.get("/records")).json()
            throttled = await client.get("/records", params={"cursor": first["next_cursor"]})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    row = requests[1]
    assert (row["status"], row["page"], row["retry_after_s"], row["fault"]) == (
        429, 2, 1.0, "error")  # fmt: skip
    assert requests[0]["retry_after_s"] is None and requests[1]["at"] >= requests[0]["at"]


async def test_a_standing_source_serves_the_next_drills_records_and_faults_afresh() -> None:
    spec = PollSpec(fixtures="x", page_size=5)
    records = load_fixtures(RECORDS)
    repeat = ScenarioSpec(poll=PollFaults(repeat_at_boundary=True))
    rows: list[dict[str, Any]] = []
    async with open_poll(spec, OpenContext(ROOT, ROOT, repeat, records)) as run:
        run.record = rows.append
        url = run.url
        async with http_kit.async_client(base_url=run.url, timeout=5) as client:
            first = (await client.get("/records")).json()
            await client.get("/records", params={"cursor": first["next_cursor"]})
            # The next drill: three records, no fault, a first pass again.
            await run.begin_drill(OpenContext(ROOT, ROOT / "next", ScenarioSpec(), records[:3]))
            assert run.pages == [] and run.stats.attempts == 0 and run.record is None
            assert run.request is None
            run.record = rows.append
            again = (await client.get("/records")).json()
    assert run.url == url and run.run_dir == ROOT / "next"
    assert [r["id"] for r in again["records"]] == [json.loads(e.body)["id"] for e in records[:3]]
    assert again["next_cursor"] is None and run.pager.passes == 1 and not run.faults_told
    # The first drill's ten rows (one repeated at the boundary), then the next drill's three.
    assert len(rows) == 11 + 3 and [p["fault"] for p in run.pages] == [""]


def test_a_poll_pilot_stands_when_the_lab_fires_its_runs() -> None:
    pilot = load_pilot(PILOTS / "sync-fixed.toml")
    assert pilot.spec.poll is not None and cannot_stand(pilot) == ""
    spec = pilot.spec.model_copy(
        update={"poll": pilot.spec.poll.model_copy(update={"trigger": None})}
    )
    scheduled = pilot.model_copy(update={"spec": spec})
    assert "its own schedule" in cannot_stand(scheduled)


# ------------------------------------------------------------------ drills on real processes


def _drill(name: str | Path, scenario: str, tmp_path: Path, **changes: Any) -> Any:
    """A drill of a reference pilot (by name) or of a pilot file, its spec changed as given."""
    pilot = load_pilot(name if isinstance(name, Path) else PILOTS / f"{name}.toml")
    if changes:
        spec = pilot.spec.model_copy(update=changes)
        pilot = pilot.model_copy(update={"spec": spec})
    return asyncio.run(asyncio.wait_for(run_drill(pilot, scenario, reports=tmp_path), 120))


def _broken(result: Any) -> set[str]:
    return {r.name for r in result.results if not r.ok}


def _judged(result: Any, name: str) -> Any:
    return next(r for r in result.results if r.name == name)


def _page_rows(result: Any) -> Any:
    """The run's requests table, its page requests to the source only."""
    requests = load_run(result.run_dir).requests
    return requests[requests["page"].notna()]


def test_naive_sync_job_is_caught_duplicating_at_a_page_boundary(tmp_path: Path) -> None:
    assert _broken(_drill("sync-naive", "boundary-repeat", tmp_path)) == {"exactly_once"}


@pytest.mark.slow
def test_naive_sync_job_loses_the_rest_of_the_listing_at_a_429(tmp_path: Path) -> None:
    result = _drill("sync-naive", "source-throttle", tmp_path)
    assert {"exactly_once", "all_accounted", "final_state"} <= _broken(result)
    # Ending the pass at the 429 (a later run would resume) is a loss, never impoliteness.
    polite = _judged(result, "retry_after_honoured")
    assert polite.ok and polite.judged_nothing and polite.counts["page_requests"] == 2
    assert polite.summary.startswith("No page request came after the source's 1 answer")


def test_a_job_asking_a_throttled_page_again_at_once_is_caught(tmp_path: Path) -> None:
    # The fixed job with its Retry-After ignored: every record arrives once, so only the
    # source's page requests can tell it from the fixed job.
    result = _drill(ROOT / "benchmarks/sync/retry-after-ignored.toml", "source-throttle", tmp_path)
    assert _broken(result) == {"retry_after_honoured"}
    polite = _judged(result, "retry_after_honoured")
    first = polite.examples[0]
    assert first.startswith("source: page request GET /records (page 2) at "), first
    assert "page 2 was answered 429 at " in first and first.endswith("with Retry-After 1s")
    # Page 2 again at once; pages 3 and 4 too, unless a slow machine spaced them out.
    assert 1 <= polite.counts["page_requests_too_soon"] <= 3
    pages = _page_rows(result)
    assert list(pages["status"]) == [200, 429, 200, 200, 200]
    assert list(pages["page"]) == [1, 2, 2, 3, 4] and set(pages["partner"]) == {"source"}
    budget = _judged(result, "call_budget")
    assert budget.counts["calls"] == 13 and budget.counts["page_requests"] == 5


@pytest.mark.slow
def test_the_next_run_the_lab_fires_waits_out_the_sources_retry_after(tmp_path: Path) -> None:
    # Two runs back to back: the naive job ends run 1 at the 429, and run 2's first page
    # would come at once, where a real schedule's next run is minutes away. The lab waits
    # the rest of the Retry-After before it fires run 2, so nothing blames the job for it.
    pilot = load_pilot(PILOTS / "sync-naive.toml")
    assert pilot.spec.poll is not None
    poll = pilot.spec.poll.model_copy(update={"runs": 2})
    result = _drill("sync-naive", "source-throttle", tmp_path, poll=poll)
    polite = _judged(result, "retry_after_honoured")
    assert polite.ok and polite.judged >= 1, polite.examples
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert 0 < meta["poll"]["waited_before_run_s"]["2"] <= 1.0


def test_a_retry_after_on_a_5xx_page_is_no_wait_the_job_owes(tmp_path: Path) -> None:
    # Partners' waits are read on 429 and 503 only; a 500 that names a time is the
    # source's word, and a job that asks again at once is not impolite for it.
    pilot = load_pilot(ROOT / "benchmarks/sync/retry-after-ignored.toml")
    scenario = pilot.spec.scenarios["source-throttle"]
    assert scenario.poll.error_at_page is not None
    error = scenario.poll.error_at_page.model_copy(update={"status": 500})
    poll = scenario.poll.model_copy(update={"error_at_page": error})
    scenarios = {
        **pilot.spec.scenarios,
        "source-throttle": scenario.model_copy(update={"poll": poll}),
    }
    result = _drill(ROOT / "benchmarks/sync/retry-after-ignored.toml", "source-throttle",
                    tmp_path, scenarios=scenarios)  # fmt: skip
    polite = _judged(result, "retry_after_honoured")
    assert polite.ok and polite.counts["asked_to_wait"] == 0
    pages = _page_rows(result)
    assert 500 in set(pages["status"]) and pages["retry_after_s"].isna().all()


@pytest.mark.slow
def test_the_fixed_job_waits_as_the_source_asked_and_the_check_says_what_it_judged(
    tmp_path: Path,
) -> None:
    result = _drill("sync-fixed", "source-throttle", tmp_path)
    _checked_fixed(result)
    polite = _judged(result, "retry_after_honoured")
    assert polite.judged == 3 and polite.counts["page_requests_after_a_wait"] == 3
    assert "3 page requests after its 1 answer with Retry-After, none too soon" in polite.summary


@pytest.mark.slow
def test_a_job_that_waits_longer_than_asked_is_not_blamed(tmp_path: Path) -> None:
    pilot = load_pilot(PILOTS / "sync-fixed.toml")
    env = {**pilot.spec.workflow.env, "ON_RETRY_AFTER": "wait-twice"}
    workflow = pilot.spec.workflow.model_copy(update={"env": env})
    result = _drill("sync-fixed", "source-throttle", tmp_path, workflow=workflow)
    _checked_fixed(result)
    assert _judged(result, "retry_after_honoured").judged == 3
    # It did wait twice the second asked for (so the check judged a slower job, and held).
    pages = _page_rows(result)
    throttled = float(pages[pages["status"] == 429]["at"].iloc[0])
    assert float(pages[pages["at"] > throttled]["at"].min()) - throttled >= 2.0


@pytest.mark.slow
def test_naive_sync_job_misses_a_record_when_one_changes_mid_pagination(tmp_path: Path) -> None:
    # Page numbers under a listing that shifted: the record after the changed one is
    # skipped; on a standing stage (twice: the second meets what the first left) as fresh.
    standing, fresh = _standing_then_fresh("sync-naive", "record-changed", tmp_path)
    for result in [*standing, fresh]:
        assert {"exactly_once", "all_accounted", "final_state"} <= _broken(result)
        exactly = next(r for r in result.results if r.name == "exactly_once")
        assert "rec-005" in " ".join(exactly.examples)


@pytest.mark.slow
def test_fixed_sync_job_follows_a_record_changed_mid_pagination_standing_or_fresh(
    tmp_path: Path,
) -> None:
    standing, fresh = _standing_then_fresh("sync-fixed", "record-changed", tmp_path)
    for result in [*standing, fresh]:
        meta = _checked_fixed(result)
        # The lab changed rec-004 to v2: that version is expected too, and is the newest
        # (under this drill's salt on a standing stage).
        salt = f"-{meta['salt']}" if meta["salt"] else ""
        changed = f"rec-004{salt}"
        assert meta["expected_versions"] == {f"{changed}@v2": {"of": changed, "version": 2}}


def _standing_then_fresh(name: str, scenario: str, reports: Path) -> tuple[list[Any], Any]:
    """The scenario twice standing, then fresh (tests/stand_kit.py): the same invariants
    break (or hold) each time."""
    return stand_kit.standing_then_fresh(PILOTS / f"{name}.toml", scenario, reports)


def _checked_fixed(result: Any) -> dict[str, Any]:
    """What every scenario of the fixed job must show; its run.json."""
    assert _broken(result) == set()
    meta: dict[str, Any] = json.loads((result.run_dir / "run.json").read_text())
    assert meta["poll"]["outcomes"]["passes"] == 1 and meta["poll"]["faults"]
    assert meta["poll"]["triggers"][0]["status"] == 200
    return meta


@pytest.mark.slow
def test_fixed_sync_job_passes_a_page_boundary_repeat(tmp_path: Path) -> None:
    # (Its source-throttle: the Retry-After tests below.)
    _checked_fixed(_drill("sync-fixed", "boundary-repeat", tmp_path))


@pytest.mark.slow
def test_a_run_driven_by_the_workflows_own_schedule(tmp_path: Path) -> None:
    pilot = load_pilot(PILOTS / "sync-fixed.toml")
    poll = pilot.spec.poll
    assert poll is not None
    env = {**pilot.spec.workflow.env, "SCHEDULE_S": "0.5"}
    workflow = pilot.spec.workflow.model_copy(update={"env": env})
    result = _drill(
        "sync-fixed", "baseline", tmp_path,
        poll=poll.model_copy(update={"trigger": None, "schedule_timeout_s": 20}),
        workflow=workflow,
    )  # fmt: skip
    # Passes after the first are answered but not judged: the effects are the first pass's.
    assert not _broken(result) & {"exactly_once", "all_accounted", "final_state"}
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["poll"]["driven_by"] == "its own schedule" and meta["poll"]["passes"] >= 1
    # The passes after the drill's find nothing new, so the partners go quiet and the
    # drill settles (it used to wait out settle_timeout_s and say they never did).
    assert meta["settle"]["quiet"] and meta["settle"]["note"] == ""
    pages = meta["poll"]["outcomes"]["pages"]
    later = [p for p in pages if p["fault"] == "after the drill"]
    assert later and all(p["keys"] == [] for p in later)
    # Only the judged pass's page requests are rows of the requests table.
    assert len(_page_rows(result)) == len(pages) - len(later) > 0


@pytest.mark.slow
def test_a_run_fired_by_a_command_trigger(tmp_path: Path) -> None:
    pilot = load_pilot(PILOTS / "sync-fixed.toml")
    poll = pilot.spec.poll
    assert poll is not None
    # A cron line's one pass: run twice, in the repository, its links' URLs filled in.
    argv = ["python", "-m", "workflows.sync_job.once", "fixed", "{links.source.url}",
            "{links.crm.url}"]  # fmt: skip
    trigger = PollTrigger(command=argv, cwd="..", timeout_s=20)
    result = _drill(
        "sync-fixed", "boundary-repeat", tmp_path,
        poll=poll.model_copy(update={"trigger": trigger, "runs": 2}),
    )  # fmt: skip
    assert _broken(result) == set()
    meta = json.loads((result.run_dir / "run.json").read_text())
    fired = meta["poll"]["triggers"]
    assert [(t["run"], t["exit"], t["error"]) for t in fired] == [(1, 0, ""), (2, 0, "")]
    assert meta["poll"]["driven_by"].startswith("trigger command python -m workflows.sync_job")
    assert meta["poll"]["outcomes"]["passes"] == 2
    # 13 records and 3 repeated at page boundaries: the first pass printed its counts.
    assert '"sent": 16' in (result.run_dir / "trigger-1.log").read_text()


def test_a_command_trigger_past_its_time_is_stopped_and_its_folder_stays_in_the_tree(
    tmp_path: Path,
) -> None:
    async def fire(trigger: PollTrigger) -> dict[str, Any]:
        cwd = trigger_cwd(trigger, PILOTS)
        return await run_command(trigger, cwd, {"port": "1"}, tmp_path, 1)

    sleeper = PollTrigger(command=["python", "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    ran = asyncio.run(asyncio.wait_for(fire(sleeper), 20))
    assert ran["error"] == "timeout" and ran["exit"] is None and ran["took_s"] < 10
    said = PollTrigger(command=["python", "-c", "print('port {port}')"])
    assert asyncio.run(fire(said))["exit"] == 0
    assert (tmp_path / "trigger-1.log").read_text() == "port 1\n"
    with pytest.raises(ServiceError, match="outside the pilot's tree"):
        trigger_cwd(PollTrigger(command=["true"], cwd="/tmp"), PILOTS)
    with pytest.raises(ValueError, match="exactly one of http"):
        PollTrigger(http="/run", command=["true"])


def test_an_unknown_on_retry_after_is_one_line_and_exit_2() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "ON_RETRY_AFTER": "later"}
    argv = [sys.executable, "-m", "workflows.sync_job.once", "fixed", "http://127.0.0.1:9", "x"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "workflows.sync_job.once: ON_RETRY_AFTER: give one of wait, ignore, wait-twice, got 'later'"
    )
