"""One drill: a pilot's scenario run end to end, journaled and checked.

Order of life: partners → link proxies → workflow → replay (with toxics
switched on and off) → settle → outcomes, ledgers and request journals →
diagnosis → invariants. Everything started here is stopped here, on errors
and Ctrl-C too: the AsyncExitStack unwinds in reverse order of creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.checks.result import InvariantResult
from harness.drill import observe, settling, workflow_log
from harness.drill.collect import ledger_effects, ledger_file, partner_requests, requests_file
from harness.drill.deadline import Deadline, drill_deadline
from harness.drill.errors import ContractMismatch, DrillError, DrillOverdue
from harness.drill.nemesis import Nemesis, workflow_nemesis
from harness.drill.prepared import Prepared, prepare
from harness.drill.progress import ProgressSink, watch
from harness.drill.recovery import recover_stale_runs
from harness.drill.stage import Stage, leave_links, start_stage
from harness.drill.standing import StandingStage, cannot_stand
from harness.inputs import placeholders
from harness.inputs.delivery_faults import sender_options
from harness.inputs.expectations import expected_rows, pilot_mistakes, unmatched
from harness.inputs.pilot import Pilot, PilotError, ScenarioSpec
from harness.journal import JournalWriter
from harness.places import inside
from harness.replay.sender import Delivering, Sender, SendStats, trace_id_for
from harness.replay.timeline import ToxicTimeline
from harness.runtime.faultproxy import FaultProxy, open_fault_proxy
from harness.runtime.http import client as http_client
from harness.sources import DeliveryContext, amends_expected, declared


@dataclass
class DrillResult:
    """What one drill found: the invariants' results,
    the sending figures and what the lab noticed on the way."""

    run_id: str
    run_dir: Path
    pilot: str
    scenario: str
    seed: int
    results: list[InvariantResult]
    stats: SendStats
    duration_s: float
    expect: str = "pass"
    unmatched_events: list[str] = field(default_factory=list)
    unexpected_calls: list[str] = field(default_factory=list)
    # The nemesis's restarts of the workflow, as run.json has them.
    workflow_restarts: list[dict[str, Any]] = field(default_factory=list)
    # Errors the workflow logged during the drill (harness.drill.workflow_log).
    workflow_errors: list[dict[str, Any]] = field(default_factory=list)
    # The pilot's own doubtful declarations, said before any judgement.
    pilot_warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return all(r.ok for r in self.results)

    @property
    def contract_only(self) -> bool:
        """Only a partner's rejections failed: the drill could not judge those events (exit 2)."""
        from harness.checks.registry import contract_only

        return contract_only(self.results)


async def _arm_partner(name: str, url: str, faults: dict[str, Any]) -> None:
    async with http_client(timeout=5.0) as client:
        response = await client.post(f"{url}/_sim/faults", json=faults)
    if response.status_code != 200:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text
        raise DrillError(f"partner {name}: faults rejected: {reason}")


async def _partner_request_counts(urls: dict[str, str]) -> dict[str, int | None]:
    """Every call each partner saw (throttled and failed ones too): the cost driver."""
    counts: dict[str, int | None] = {}
    async with http_client(timeout=2.0) as client:
        for name, url in urls.items():
            try:
                counts[name] = int((await client.get(f"{url}/_sim/state")).json()["requests"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                counts[name] = None
    return counts


async def _replay(
    p: Prepared, stage: Stage, journal: JournalWriter, progress: ProgressSink | None
) -> Delivering:
    spec, scenario = p.pilot.spec, p.scenario
    target = next(
        (stage.links.urls[n] for n, link in spec.links.items() if link.to == "workflow"),
        stage.workflow_url,
    )
    timeline = ToxicTimeline(scenario.toxics, stage.links.proxies, stage.proxy)
    # The workflow nemesis (restarts) wraps the toxics' hooks; it needs the in-flight
    # count of whatever delivers (sender or publisher), bound late because that takes the hooks.
    delivering: list[Delivering] = []
    nemesis = workflow_nemesis(
        scenario.workflow.restarts,
        stage.workflow,
        timeline,
        lambda: delivering[0].stats.in_flight if delivering else 0,
    )
    record = journal.attempt if nemesis is None else nemesis.recorder(journal.attempt)
    hooks = timeline if nemesis is None else nemesis
    if stage.source is not None:
        # A queue pilot: the lab publishes; the broker, not the lab, redelivers.
        # A poll pilot: the workflow pulls pages; the lab fires its runs, or waits them out.
        meta = p.meta[stage.source.meta_key]
        # A source the workflow sends requests to (a polled API) journals them as partners do.
        ctx = DeliveryContext(
            p.events,
            p.plan,
            p.run_id,
            p.scenario_name,
            record,
            hooks,
            target,
            meta,
            values=stage.values,
            request=journal.request,
        )
        deliverer = stage.source.deliverer(ctx)
        delivering.append(deliverer)
        return await _clocked(p, stage, journal, progress, timeline, nemesis, deliverer)
    limits = httpx.Limits(
        max_connections=scenario.delivery.concurrency,
        max_keepalive_connections=scenario.delivery.concurrency,
    )
    async with http_client(
        base_url=target, timeout=spec.webhook.timeout_s, limits=limits
    ) as client:
        sender = Sender(
            client=client,
            path=spec.webhook.path,
            events=p.events,
            plan=p.plan,
            secret=p.secret,
            retry_schedule_s=spec.webhook.retry_schedule_s,
            concurrency=scenario.delivery.concurrency,
            run_id=p.run_id,
            scenario=p.scenario_name,
            record=record,
            hooks=hooks,
            **sender_options(scenario.delivery),
        )
        delivering.append(sender)
        return await _clocked(p, stage, journal, progress, timeline, nemesis, sender)


async def _clocked(
    p: Prepared,
    stage: Stage,
    journal: JournalWriter,
    progress: ProgressSink | None,
    timeline: ToxicTimeline,
    nemesis: Nemesis | None,
    sender: Delivering,
) -> Delivering:
    """Send the plan with the toxics' and the nemesis's clocks running, then settle."""
    t0 = time.monotonic()
    # Attempt times count from here; the partners' unix times are mapped onto it.
    p.meta["clock_origin"] = time.time()
    # The partners' fault clocks and request counters start now too, so
    # "from_s" and "from_request" mean the same as in the plan.
    for name, url in stage.partner_urls.items():
        await _arm_partner(name, url, p.meta["partner_faults"][name])
    journal.write_meta(p.meta)
    timeline.start_clock(t0)
    if nemesis is not None:
        nemesis.start_clock(t0)
    async with asyncio.TaskGroup() as group:
        clock = group.create_task(timeline.run_clock())
        restarts = group.create_task(nemesis.run_clock()) if nemesis is not None else None
        watcher = (
            group.create_task(watch(progress, p, sender, t0)) if progress is not None else None
        )
        try:
            await sender.run(t0)
            if nemesis is not None and restarts is not None:
                await nemesis.after_sending()
                await restarts
            clock.cancel()
            # A switch the clock had begun must land before all goes off.
            await asyncio.wait({clock})
            await timeline.switch_all_off()
            await _settle(p, stage)
        finally:
            clock.cancel()
            if restarts is not None:
                restarts.cancel()
            if watcher is not None:
                watcher.cancel()
    p.meta["toxics_applied"] = timeline.history()
    if nemesis is not None:
        p.meta["workflow_restarts"] = nemesis.history()
    return sender


async def _settle(p: Prepared, stage: Stage) -> None:
    """Wait for the workflow's status (if it has one) and for quiet, whichever comes later."""
    spec = p.pilot.spec.workflow
    if spec.quiet_s is not None:
        quiet_s, why = spec.quiet_s, "[workflow] quiet_s"
    else:
        quiet_s, why = settling.default_quiet_s(
            spec.retry_schedule_s,
            p.meta["partner_faults"],
            [link.timeout_s for link in p.pilot.spec.links.values() if link.timeout_s],
        )
    urls = list(stage.partner_urls.values())
    async with http_client(timeout=2.0) as admin:

        async def last() -> float:
            return await observe.last_partner_call(admin, urls)

        async def status() -> int:
            if stage.source is not None:
                # The broker knows what the consumer has not finished, redeliveries included.
                return await stage.source.still_pending()
            return await observe.pending(admin, stage.workflow_url + spec.status_path)

        asks = spec.status_path or stage.source is not None
        settled = await settling.settle(
            status if asks else None, last, quiet_s, spec.settle_timeout_s
        )
    p.meta["settle"] = {**settled.as_meta(), "quiet_s_from": why}
    p.meta["pending_at_end"] = settled.pending if settled.quiet else -1


async def _collect(p: Prepared, stage: Stage, journal: JournalWriter) -> None:
    spec = p.pilot.spec.workflow
    if spec.outcomes is not None:
        file = None
        if spec.outcomes.file is not None:
            file = Path(placeholders.fill(spec.outcomes.file, stage.values))
        ours = set(p.meta["event_ids"])
        for row in await observe.read_outcomes(spec.outcomes, stage.workflow_url, file, p.run_id):
            if not stage.standing or row["event_id"] in ours:
                journal.outcome(row)
    if stage.source is not None:
        rows, counts = await stage.source.outcomes(p.run_id)
        for row in rows:
            journal.outcome(row)
        p.meta[stage.source.meta_key]["outcomes"] = counts
        served = getattr(stage.source, "expected_versions", None)
        if served is not None:
            p.meta["expected_versions"] = served()
    counts = await _partner_request_counts(stage.partner_urls)
    p.meta["partner_requests_by_partner"] = counts
    # The total is the cost driver the analysis reads; unknown if any partner's is.
    known = [n for n in counts.values() if n is not None]
    p.meta["partner_requests"] = sum(known) if len(known) == len(counts) else None
    await leave_links(stage)


def _overdue(p: Prepared, deadline: Deadline) -> DrillOverdue:
    p.meta.update(status="overdue", finished_at=time.time())
    p.meta["error"] = f"stopped at its deadline of {deadline.seconds:.0f} s ({deadline.explain()})"
    return DrillOverdue(
        f"{p.pilot.name}/{p.scenario_name}: stopped after {deadline.seconds:.0f} s, past what its "
        f"plan allows ({deadline.explain()}); what it recorded is in {p.run_dir}"
    )


def _journal_partner_files(p: Prepared, journal: JournalWriter) -> None:
    trace_map = {trace_id_for(p.run_id, e.event_id): e.event_id for e in p.run_events}
    origin = float(p.meta["clock_origin"])
    tied = untied = 0
    for name in p.pilot.spec.partners:
        for row in ledger_effects(ledger_file(p.run_dir, name), p.run_id, origin, trace_map):
            tied += bool(row["event_id"])
            untied += not row["event_id"]
            journal.effect(row)
        for row in partner_requests(requests_file(p.run_dir, name), p.run_id, origin):
            row["event_id"] = trace_map.get(str(row["correlation_id"]), "")
            journal.request(row)
    # The report says how effects were tied to events: forwarded traceparent, or key and time.
    p.meta["effects_tied"] = {"traceparent": tied, "key_and_time": untied}


def _diagnose(p: Prepared, tables: dict[str, Any]) -> str | None:
    from harness.drill.diagnose import contract_mismatch, webhook_refused

    return webhook_refused(tables["attempts"], p.pilot.spec.webhook.path) or contract_mismatch(
        tables["requests"], tables["effects"]
    )


def _workflow_log(p: Prepared) -> tuple[Path, int]:
    """Where the workflow's output of this drill is, and from which byte (a stage's is shared)."""
    standing = p.meta.get("standing")
    if isinstance(standing, dict) and standing.get("folder"):
        path = Path(str(standing["folder"])) / "workflow.log"
        return path, workflow_log.log_size(path)
    return p.run_dir / "workflow.log", 0


def _workflow_errors(p: Prepared, log: tuple[Path, int]) -> list[dict[str, Any]]:
    path, start = log
    name = path.name if start == 0 else f"{path.name} (from byte {start:,})"
    text = workflow_log.read_tail(path, start)
    return workflow_log.crashes(text, set(p.meta.get("event_ids", [])), name)


def _finish(
    p: Prepared,
    sender: Delivering,
    journal: JournalWriter,
    started: float,
    log: tuple[Path, int],
) -> list[InvariantResult]:
    # The checks and the diagnosis read pandas frames: they load here, at the end,
    # so a drill that stops earlier (a workflow that never starts) never pays for pandas.
    from harness.checks.registry import check_all, contract_only
    from harness.drill.diagnose import unexpected_calls
    from harness.drill.unheard import unheard_spans

    # The tables closing just compacted, not read from disk a second time.
    run = journal.read_back()
    tables = {t: run.table(t) for t in ("attempts", "effects", "outcomes", "expected", "requests")}
    diagnosis = _diagnose(p, tables)
    if diagnosis is not None:
        p.meta.update(status="unusable", diagnosis=diagnosis, finished_at=time.time())
        journal.write_meta(p.meta)
        raise ContractMismatch(diagnosis)
    p.meta["workflow_errors"] = _workflow_errors(p, log)
    results = check_all(
        tables,
        p.pilot.spec.slo,
        outcomes_known=p.meta["outcomes_known"],
        politeness=p.pilot.spec.politeness,
        fail_dead_lettered_applied=p.pilot.spec.checks.dead_lettered_applied == "fail",
        crashes=p.meta["workflow_errors"],
        unheard=unheard_spans(p.meta.get("toxics_applied", []), p.pilot.spec.links),
    )
    p.meta["unexpected_calls"] = unexpected_calls(tables["requests"])
    stats = sender.stats
    p.meta.update(
        status="finished",
        finished_at=time.time(),
        duration_s=round(time.monotonic() - started, 3),
        stats={
            "attempts": stats.attempts,
            "delivered": stats.delivered,
            "failed": stats.failed,
            "redeliveries": stats.redeliveries,
            "gave_up": stats.gave_up,
            "by_error": dict(stats.by_error),
        },
        invariants=[asdict(r) for r in results],
        ok=all(r.ok for r in results),
        # Only a partner's rejections failed: nothing else to blame (the CLI exits 2).
        contract_only=contract_only(results),
    )
    journal.write_meta(p.meta)
    return results


def _expectations(p: Prepared, pilot: Pilot) -> list[dict[str, Any]]:
    """The rows the journal expects of this drill; a pilot mistake in them stops it here."""
    rules = pilot.spec.expectations if p.rules is None else p.rules
    rows = expected_rows(
        p.run_id,
        p.run_events,
        p.plan.never_delivered,
        rules,
        sorted(pilot.spec.partners),
        p.scenario_name,
    )
    p.meta["unmatched_events"] = unmatched(rows)
    mistakes, warnings = pilot_mistakes(rows, rules)
    if mistakes:
        raise PilotError(f"{pilot.path}: {mistakes[0]}")
    p.meta["pilot_warnings"] = warnings
    return rows


@dataclass
class _Expected:
    """The drill's expected rows, journaled once: up front, or after the drive when the
    source changes records as it serves them (the expectation follows what it served)."""

    journal: JournalWriter
    rows: list[dict[str, Any]]
    written: bool = False

    def write(self, changed: dict[str, dict[str, Any]] | None = None) -> None:
        """Journal the rows; ``changed``: new event id → the event it changed and its version.

        A changed record's new version is expected once, and is what its entity
        must end on; its captured version becomes one it may cause, since a
        workflow that first read the record after the change never saw it."""
        if self.written:
            return
        self.written = True
        changes = {str(c["of"]): (new_id, c["version"]) for new_id, c in (changed or {}).items()}
        for row in self.rows:
            change = changes.get(str(row["event_id"]))
            if change is None:
                self.journal.expected(row)
                continue
            effect = row["expected_effect"] or row["allowed_effect"]
            note = f"changed at the source while served (v{change[1]}: {change[0]})"
            self.journal.expected(
                {**row, "expected_effect": "", "allowed_effect": effect, "note": note}
            )
            self.journal.expected(
                {**row, "event_id": change[0], "entity_version": change[1], "note": note}
            )


async def _drive(
    p: Prepared,
    journal: JournalWriter,
    progress: ProgressSink | None,
    fault_proxy: FaultProxy | None,
    standing: StandingStage | None,
) -> tuple[Delivering, tuple[Path, int]]:
    """Start the stage (or take the standing one), replay within the deadline, collect."""
    async with contextlib.AsyncExitStack() as stack:
        if standing is not None:
            stage = await standing.begin(p)
            log = _workflow_log(p)
        else:
            proxy = fault_proxy
            if proxy is None:
                proxy = await stack.enter_async_context(open_fault_proxy())
            stage = await start_stage(p, stack, proxy)
            log = _workflow_log(p)
        deadline = drill_deadline(p.plan, p.pilot.spec, p.scenario)
        p.meta["deadline_s"] = round(deadline.seconds, 1)
        limit = asyncio.timeout(deadline.seconds)
        try:
            async with limit:
                sender = await _replay(p, stage, journal, progress)
        except TimeoutError:
            if not limit.expired():
                raise
            await leave_links(stage)
            raise _overdue(p, deadline) from None
        await _collect(p, stage, journal)
        if standing is not None:
            standing.end(p)
    return sender, log


async def run_drill(
    pilot: Pilot,
    scenario_name: str,
    *,
    scenario: ScenarioSpec | None = None,
    seed: int | None = None,
    reports: Path = Path("reports"),
    progress: ProgressSink | None = None,
    fault_proxy: FaultProxy | None = None,
    standing: StandingStage | None = None,
    origin: str = "pilot",
    volume: int | None = None,
) -> DrillResult:
    """Run one scenario of a pilot and return what the invariants found.

    With ``standing``, the drill runs on services kept running across drills
    (partners reset, events salted) instead of starting its own. ``origin``
    says where the scenario came from: the pilot file, or a scenario file
    (a hunt's counterexample), which a review leaves out of a PM's evidence.
    ``volume``: send that many events, salted copies of the captures after them.
    """
    scenario = scenario or pilot.scenario(scenario_name)
    seed = scenario.seed if seed is None else seed
    runs_root = inside(reports, "runs")
    recover_stale_runs(runs_root)
    if standing is not None and (why := cannot_stand(pilot)):
        found = declared(pilot)
        table = f"[{found[0].table}]: " if found is not None else ""
        raise PilotError(f"{pilot.path}: {table}no standing stage: {why}")
    salt = standing.new_salt() if standing is not None else None
    p = prepare(pilot, scenario_name, scenario, seed, runs_root, salt, origin, volume)
    rows = _expectations(p, pilot)
    started = time.monotonic()
    with JournalWriter(p.run_dir, p.run_id) as journal:
        try:
            journal.write_meta(p.meta)
            expected = _Expected(journal, rows)
            if not amends_expected(pilot):
                expected.write()
            sender, log = await _drive(p, journal, progress, fault_proxy, standing)
            expected.write(p.meta.get("expected_versions"))
            _journal_partner_files(p, journal)
            # From here a recovery must not take the partner files again.
            p.meta["effects_journaled"] = True
            journal.write_meta(p.meta)
            journal.close()
            results = _finish(p, sender, journal, started, log)
        except ContractMismatch:
            raise
        except DrillOverdue:
            expected.write()
            # Everything is stopped: keep the partners' records of what happened so far.
            if "clock_origin" in p.meta:
                _journal_partner_files(p, journal)
            journal.write_meta(p.meta)
            raise
        except BaseException as exc:
            # Whatever stopped the drill, run.json says so; the journal so far is kept.
            interrupted = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            expected.write()
            p.meta["status"] = "interrupted" if interrupted else "error"
            p.meta["error"] = f"{type(exc).__name__}: {exc}"[:500]
            journal.write_meta(p.meta)
            raise
    return DrillResult(
        run_id=p.run_id,
        run_dir=p.run_dir,
        pilot=pilot.name,
        scenario=scenario_name,
        seed=seed,
        results=results,
        stats=sender.stats,
        duration_s=time.monotonic() - started,
        expect=scenario.expect,
        unmatched_events=list(p.meta["unmatched_events"]),
        unexpected_calls=list(p.meta.get("unexpected_calls", [])),
        workflow_restarts=list(p.meta.get("workflow_restarts", [])),
        workflow_errors=list(p.meta.get("workflow_errors", [])),
        pilot_warnings=list(p.meta.get("pilot_warnings", [])),
    )
