"""One drill: a pilot's scenario run end to end, journaled and checked.

Order of life: partner simulator → link proxies → workflow → replay (with
toxics switched on and off) → settle → outcomes and ledger → invariants.
Everything started here is stopped here, on errors and Ctrl-C too: the
AsyncExitStack unwinds in reverse order of creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from harness import __version__
from harness.faultproxy import FaultProxy, open_fault_proxy
from harness.fixtures import CapturedRequest, load_fixtures
from harness.invariants import InvariantResult, check_all
from harness.journal import JournalWriter, list_runs, load_run, read_meta, recover, write_meta
from harness.pilot import Pilot, PilotError, ScenarioSpec
from harness.processes import Service, existing_service, free_port, run_service
from harness.schedule import Plan, plan_deliveries
from harness.sender import Sender, SendStats, expected_rows, trace_id_for
from harness.timeline import ToxicTimeline

# Which business effect each event type must cause exactly once. Updates have
# no effect of their own to count: the final-state invariant covers them.
EFFECT_FOR_EVENT = {"payment_intent.succeeded": "shipment.created"}

PROXY_PREFIX = "chaoslab-"

T = TypeVar("T")


class DrillError(RuntimeError):
    """The drill could not run (not: the workflow broke an invariant)."""


@dataclass
class DrillResult:
    run_id: str
    run_dir: Path
    pilot: str
    scenario: str
    seed: int
    results: list[InvariantResult]
    stats: SendStats
    duration_s: float
    expect: str = "pass"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


@dataclass
class Progress:
    """A snapshot for a live display; all counts so far."""

    scenario: str
    elapsed_s: float
    planned: int
    stats: SendStats
    phase: str
    duplicated_effects: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


ProgressSink = Callable[[Progress], None]


def new_run_id(pilot: str, scenario: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{pilot}-{scenario}-{secrets.token_hex(2)}"


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ledger_effects(
    ledger: Path, run_id: str, clock_origin: float, trace_to_event: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Partner ledger lines → effects rows, on the same clock as the attempts."""
    rows: list[dict[str, Any]] = []
    if not ledger.exists():
        return rows
    for line in ledger.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed simulator
        parent = str(entry.get("correlation_id") or "")
        parts = parent.split("-")
        trace = parts[1] if len(parts) == 4 else ""
        rows.append(
            {
                "run_id": run_id,
                "at": float(entry["at"]) - clock_origin,
                "kind": entry["kind"],
                "business_key": str(entry["business_key"]),
                "entity_version": entry.get("entity_version"),
                "idempotency_key": entry.get("idempotency_key") or "",
                "correlation_id": trace,
                "event_id": trace_to_event.get(trace, ""),
                "shipment_id": entry.get("shipment_id") or "",
            }
        )
    return rows


def recover_stale_runs(root: Path) -> list[Path]:
    """Finish the journals of drills that were killed; the next drill starts clean."""
    recovered: list[Path] = []
    for run_dir in list_runs(root):
        meta = read_meta(run_dir)
        if meta.get("status") != "running" or _pid_alive(meta.get("pid")):
            continue
        run_id = str(meta.get("run_id", run_dir.name))
        compacting = any(run_dir.glob("*.parquet"))
        if not meta.get("effects_journaled") and not compacting:
            # Effects are taken from the partner's ledger at the end of a drill;
            # a killed drill never got there, so take them now.
            trace_map = {trace_id_for(run_id, e): e for e in meta.get("event_ids", [])}
            rows = ledger_effects(
                run_dir / "ledger.jsonl",
                run_id,
                float(meta.get("clock_origin", meta.get("started_at", 0.0))),
                trace_map,
            )
            with JournalWriter(run_dir, run_id) as journal:
                for row in rows:
                    journal.effect(row)
        recover(run_dir)
        meta = read_meta(run_dir)
        meta["status"] = "killed"
        write_meta(run_dir, meta)
        recovered.append(run_dir)
    return recovered


async def _settle(client: httpx.AsyncClient, status_url: str, timeout_s: float) -> int:
    """Wait until the workflow has nothing pending; returns what is still pending."""
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
        # The workflow offers no completion event; poll at a bounded interval.
        await asyncio.sleep(0.1)
    return pending


async def _outcomes(client: httpx.AsyncClient, url: str, run_id: str) -> list[dict[str, Any]]:
    try:
        response = await client.get(url)
        response.raise_for_status()
        raw = response.json()
    except (httpx.HTTPError, ValueError):
        return []
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and "event_id" in item:
            rows.append(
                {
                    "run_id": run_id,
                    "event_id": str(item["event_id"]),
                    "outcome": str(item.get("outcome", "")),
                    "detail": str(item.get("detail", "") or ""),
                }
            )
    return rows


async def _arm_partner(partner_url: str, faults: Mapping[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.post(f"{partner_url}/_sim/faults", json=dict(faults))
    if response.status_code != 200:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text
        raise DrillError(f"partner faults rejected: {reason}")


async def _partner_requests(partner_url: str) -> int | None:
    """Every call the partner saw (throttled and failed ones too): the cost driver."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            return int((await client.get(f"{partner_url}/_sim/state")).json()["requests"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


def _secret(pilot: Pilot) -> tuple[str, bool]:
    """The signing secret from the environment, or a throwaway one for this run."""
    value = os.environ.get(pilot.spec.webhook.secret_env)
    if value:
        return value, False
    return "whsec_" + secrets.token_urlsafe(24), True


def _partner_faults(pilot: Pilot, scenario: ScenarioSpec) -> dict[str, Any]:
    merged = dict(pilot.spec.partner.faults)
    merged.update(scenario.partner)
    return merged


@contextlib.asynccontextmanager
async def _workflow(
    pilot: Pilot, env: Mapping[str, str], port: int, run_dir: Path
) -> AsyncIterator[Service]:
    spec = pilot.spec.workflow
    if spec.url is not None:
        async with existing_service("workflow", spec.url, spec.ready_path) as service:
            yield service
        return
    assert spec.command is not None
    async with run_service(
        "workflow",
        spec.command,
        url=f"http://127.0.0.1:{port}",
        ready_path=spec.ready_path,
        env={**spec.env, **env, "PORT": str(port)},
        cwd=pilot.resolve(spec.cwd),
        log_path=run_dir / "workflow.log",
        startup_timeout_s=spec.startup_timeout_s,
    ) as service:
        yield service


async def _poll_progress(
    sink: ProgressSink,
    partner_url: str,
    started: float,
    planned: int,
    scenario: str,
    sender: Sender,
    phase: list[str],
) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            duplicated = 0
            with contextlib.suppress(httpx.HTTPError, ValueError, AttributeError):
                state = (await client.get(f"{partner_url}/_sim/state")).json()
                duplicated = sum(
                    max(0, int(order["shipments"]) - 1) for order in state["orders"].values()
                )
            sink(
                Progress(
                    scenario=scenario,
                    elapsed_s=time.monotonic() - started,
                    planned=planned,
                    stats=sender.stats,
                    phase=phase[0],
                    duplicated_effects=duplicated,
                )
            )
            await asyncio.sleep(0.25)


async def run_drill(
    pilot: Pilot,
    scenario_name: str,
    *,
    scenario: ScenarioSpec | None = None,
    seed: int | None = None,
    reports: Path = Path("reports"),
    progress: ProgressSink | None = None,
    fault_proxy: FaultProxy | None = None,
) -> DrillResult:
    """Run one scenario of a pilot and return what the invariants found."""
    spec = pilot.spec
    scenario = scenario or pilot.scenario(scenario_name)
    seed = scenario.seed if seed is None else seed
    runs_root = reports / "runs"
    recover_stale_runs(runs_root)

    events: list[CapturedRequest] = load_fixtures(pilot.resolve(spec.webhook.fixtures))
    offsets = [e.captured_at.timestamp() for e in events]
    try:
        plan: Plan = plan_deliveries([e.event_id for e in events], scenario.delivery, seed, offsets)
    except ValueError as exc:
        raise PilotError(f"{pilot.path}: [scenarios.{scenario_name}] {exc}") from None
    replayed = sorted({d.event_index for d in plan.deliveries})
    run_events = [events[i] for i in replayed]

    run_id = new_run_id(pilot.name, scenario_name)
    run_dir = runs_root / run_id
    secret, ephemeral = _secret(pilot)
    started_at = time.time()
    meta: dict[str, Any] = {
        "pilot": {"name": pilot.name, "path": str(pilot.path)},
        "scenario": scenario_name,
        "scenario_spec": scenario.model_dump(mode="json"),
        "seed": seed,
        "status": "running",
        "pid": os.getpid(),
        "started_at": started_at,
        "versions": {"chaoslab": __version__, "python": sys.version.split()[0]},
        "secret": {"env": spec.webhook.secret_env, "ephemeral": ephemeral},
        "slo": spec.slo.model_dump(mode="json"),
        "plan": plan.as_dict(),
        "partner_faults": _partner_faults(pilot, scenario),
        "event_ids": sorted({e.event_id for e in run_events}),
    }

    with JournalWriter(run_dir, run_id) as journal:
        try:
            journal.write_meta(meta)
            for row in expected_rows(run_id, run_events, plan.never_delivered, EFFECT_FOR_EVENT):
                journal.expected(row)

            t_start = time.monotonic()
            phase = ["starting"]
            async with contextlib.AsyncExitStack() as stack:
                if fault_proxy is None:
                    proxy = await stack.enter_async_context(open_fault_proxy())
                else:
                    proxy = fault_proxy
                meta["fault_proxy"] = proxy.describe()
                await proxy.delete_stale(PROXY_PREFIX, lambda name: _owner_alive(runs_root, name))

                partner_port = free_port()
                partner = await stack.enter_async_context(
                    run_service(
                        "partner simulator",
                        [
                            sys.executable,
                            "-m",
                            "harness.partner",
                            "--port",
                            str(partner_port),
                            "--ledger",
                            str(run_dir / "ledger.jsonl"),
                        ],
                        url=f"http://127.0.0.1:{partner_port}",
                        ready_path="/_sim/health",
                        env={},
                        cwd=Path.cwd(),
                        log_path=run_dir / "partner.log",
                        startup_timeout_s=15.0,
                    )
                )

                workflow_port = free_port() if spec.workflow.url is None else 0
                workflow_url = spec.workflow.url or f"http://127.0.0.1:{workflow_port}"
                link_proxies: dict[str, str] = {}
                link_urls: dict[str, str] = {}
                for link_name, link in spec.links.items():
                    upstream = partner.url if link.to == "partner" else workflow_url
                    name = f"{PROXY_PREFIX}{run_id}.{link_name}"
                    listen = await proxy.create_proxy(name, upstream.removeprefix("http://"))
                    link_proxies[link_name] = name
                    link_urls[link_name] = f"http://{listen}"
                meta["links"] = {
                    n: {"proxy": link_proxies[n], "url": link_urls[n]} for n in link_proxies
                }

                workflow_env = {
                    "WEBHOOK_SECRET": secret,
                    "STATE_DIR": str(Path(tempfile.mkdtemp(prefix="state-", dir=run_dir))),
                }
                for link_name, link in spec.links.items():
                    if link.to == "partner" and link.env:
                        workflow_env[link.env] = link_urls[link_name]
                await stack.enter_async_context(
                    _workflow(pilot, workflow_env, workflow_port, run_dir)
                )

                target = next(
                    (link_urls[n] for n, link in spec.links.items() if link.to == "workflow"),
                    workflow_url,
                )
                timeline = ToxicTimeline(scenario.toxics, link_proxies, proxy)
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=target,
                        timeout=spec.webhook.timeout_s,
                        limits=httpx.Limits(
                            max_connections=scenario.delivery.concurrency,
                            max_keepalive_connections=scenario.delivery.concurrency,
                        ),
                    )
                )
                stale_age = (
                    scenario.delivery.stale_signature.age_s
                    if scenario.delivery.stale_signature
                    else 600.0
                )
                sender = Sender(
                    client=client,
                    path=spec.webhook.path,
                    events=events,
                    plan=plan,
                    secret=secret,
                    retry_schedule_s=spec.webhook.retry_schedule_s,
                    concurrency=scenario.delivery.concurrency,
                    run_id=run_id,
                    scenario=scenario_name,
                    record=journal.attempt,
                    hooks=timeline,
                    stale_age_s=stale_age,
                )
                phase[0] = "sending"
                t0 = time.monotonic()
                # Attempt times count from here; the ledger's unix times are mapped onto it.
                meta["clock_origin"] = time.time()
                # The partner's fault clock and request counter start now too, so
                # "from_s" and "from_request" mean the same as in the plan.
                await _arm_partner(partner.url, meta["partner_faults"])
                journal.write_meta(meta)
                timeline.start_clock(t0)
                async with asyncio.TaskGroup() as group:
                    clock = group.create_task(timeline.run_clock())
                    watcher = (
                        group.create_task(
                            _poll_progress(
                                progress,
                                partner.url,
                                t_start,
                                len(plan.deliveries),
                                scenario_name,
                                sender,
                                phase,
                            )
                        )
                        if progress is not None
                        else None
                    )
                    try:
                        await sender.run(t0)
                        clock.cancel()
                        # A switch the clock had begun must land before all goes off.
                        await asyncio.wait({clock})
                        await timeline.switch_all_off()
                        phase[0] = "settling"
                        async with httpx.AsyncClient(timeout=2.0) as admin:
                            pending = await _settle(
                                admin,
                                workflow_url + spec.workflow.status_path,
                                spec.workflow.settle_timeout_s,
                            )
                            outcomes = await _outcomes(
                                admin, workflow_url + spec.workflow.outcomes_path, run_id
                            )
                    finally:
                        clock.cancel()
                        if watcher is not None:
                            watcher.cancel()
                meta["toxics_applied"] = timeline.history()
                meta["pending_at_end"] = pending
                meta["partner_requests"] = await _partner_requests(partner.url)
                # Leave the link proxies before the partner stops, so a real server keeps nothing.
                for name in link_proxies.values():
                    await proxy.delete_proxy(name)

            for row in outcomes:
                journal.outcome(row)
            trace_map = {trace_id_for(run_id, e.event_id): e.event_id for e in run_events}
            rows = ledger_effects(run_dir / "ledger.jsonl", run_id, meta["clock_origin"], trace_map)
            for row in rows:
                journal.effect(row)
            # From here a recovery must not take the ledger again.
            meta["effects_journaled"] = True
            journal.write_meta(meta)
            journal.close()

            run = load_run(run_dir)
            results = check_all(
                {t: run.table(t) for t in ("attempts", "effects", "outcomes", "expected")}, spec.slo
            )
            duration = time.monotonic() - t_start
            meta.update(
                status="finished",
                finished_at=time.time(),
                duration_s=round(duration, 3),
                stats={
                    "attempts": sender.stats.attempts,
                    "delivered": sender.stats.delivered,
                    "failed": sender.stats.failed,
                    "redeliveries": sender.stats.redeliveries,
                    "gave_up": sender.stats.gave_up,
                    "by_error": dict(sender.stats.by_error),
                },
                invariants=[asdict(r) for r in results],
                ok=all(r.ok for r in results),
            )
            journal.write_meta(meta)
        except BaseException as exc:
            # Whatever stopped the drill, run.json says so; the journal so far is kept.
            interrupted = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            meta["status"] = "interrupted" if interrupted else "error"
            meta["error"] = f"{type(exc).__name__}: {exc}"[:500]
            journal.write_meta(meta)
            raise

    return DrillResult(
        run_id=run_id,
        run_dir=run_dir,
        pilot=pilot.name,
        scenario=scenario_name,
        seed=seed,
        results=results,
        stats=sender.stats,
        duration_s=duration,
        expect=scenario.expect,
    )


def _owner_alive(runs_root: Path, proxy_name: str) -> bool:
    """A link proxy belongs to a run; it is stale once that run's process is gone."""
    run_id = proxy_name.removeprefix(PROXY_PREFIX).rsplit(".", 1)[0]
    meta = read_meta(runs_root / run_id) if (runs_root / run_id).is_dir() else {}
    return meta.get("status") == "running" and _pid_alive(meta.get("pid"))


class DrillSession:
    """Drills one after another from synchronous code, sharing one fault proxy.

    For the hunt (Hypothesis calls its test body synchronously) and the pytest
    plugin. The fault proxy starts with the first drill, since starting a
    server costs more than a drill's own set-up. An interruption (Ctrl-C, a
    test timeout) lets the running drill unwind, stopping every process it
    started, before it goes on.
    """

    def __init__(self, reports: Path) -> None:
        self.reports = reports
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack = contextlib.AsyncExitStack()
        self._proxy: FaultProxy | None = None

    def __enter__(self) -> DrillSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        task = self._loop.create_task(coro)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    self._loop.run_until_complete(task)
            raise

    def run(self, pilot: Pilot, name: str, scenario: ScenarioSpec | None = None) -> DrillResult:
        if self._proxy is None:
            self._proxy = self._run(self._stack.enter_async_context(open_fault_proxy()))
        return self._run(
            run_drill(pilot, name, scenario=scenario, reports=self.reports, fault_proxy=self._proxy)
        )

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._run(self._stack.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._proxy = None
            self._loop.close()
            self._loop = None
