"""A drill before anything starts: the events it sends, its plan, its run folder and run.json.

Pure but for reading the captures: `prepare` decides everything a drill will
do (salted and scaled events, the delivery plan, the metadata that goes to
run.json), so the stage that runs it and the hunt's standing stages share it.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.inputs.expectations import ExpectationRule
from harness.inputs.fixtures import CapturedRequest, load_fixtures
from harness.inputs.pilot import DeliverySpec, Pilot, PilotError, ScenarioSpec
from harness.inputs.provenance import judged_against, workflow_version
from harness.places import inside
from harness.plan.schedule import Plan, plan_deliveries
from harness.replay.salt import Salting, apply_salting, new_salt, plan_salting, salted_rules
from harness.replay.signing import generate_secret
from harness.replay.volume import scaled


def new_run_id(pilot: str, scenario: str) -> str:
    """A run id that sorts by start time: `<UTC stamp>-<pilot>-<scenario>-<4 hex>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{pilot}-{scenario}-{secrets.token_hex(2)}"


@dataclass
class Prepared:
    """Everything decided before anything starts: plan, events, ids, secret."""

    pilot: Pilot
    scenario_name: str
    scenario: ScenarioSpec
    seed: int
    events: list[CapturedRequest]
    plan: Plan
    run_events: list[CapturedRequest]
    run_id: str
    run_dir: Path
    secret: str = field(repr=False)
    meta: dict[str, Any]
    # The pilot's expectation rules as this drill reads them (salted ``when`` values on
    # a standing stage); None: as the pilot file has them.
    rules: list[ExpectationRule] | None = None


def _secret(pilot: Pilot, events: list[CapturedRequest]) -> tuple[str, bool]:
    """The signing secret from the environment, or a throwaway one in the scheme's form."""
    value = os.environ.get(pilot.spec.webhook.secret_env)
    if value:
        return value, False
    return generate_secret(events[0].signing if events else "none"), True


# The capture last read, by path and modification time: a hunt's standing stages
# read it once for hundreds of drills.
_CAPTURES: dict[tuple[Path, int], list[CapturedRequest]] = {}


def _captured(path: Path) -> list[CapturedRequest]:
    """The capture at ``path``, read again only when the file changed (records are frozen)."""
    key = (path.resolve(), path.stat().st_mtime_ns)
    if key not in _CAPTURES:
        _CAPTURES.clear()
        _CAPTURES[key] = load_fixtures(path)
    return _CAPTURES[key]


def _at_volume(
    pilot: Pilot,
    scenario: ScenarioSpec,
    events: list[CapturedRequest],
    volume: int,
    salt: str,
) -> tuple[list[CapturedRequest], DeliverySpec]:
    """The scenario's events scaled to ``volume`` (replay.volume), all of them sent."""
    asked = scenario.delivery
    chosen = list(range(len(events))) if asked.events is None else list(asked.events)
    chosen = chosen[: asked.limit] if asked.limit else chosen
    spec = pilot.spec
    try:
        scaled_events = scaled(
            [events[i] for i in chosen if i < len(events)], volume, salt,
            spec.expectations, sorted(spec.partners),
        )  # fmt: skip
    except ValueError as exc:
        raise PilotError(str(exc)) from None
    return scaled_events, scenario.delivery.model_copy(update={"events": None, "limit": None})


def prepare(
    pilot: Pilot,
    scenario_name: str,
    scenario: ScenarioSpec,
    seed: int,
    runs_root: Path,
    salt: str | None = None,
    origin: str = "pilot",
    volume: int | None = None,
) -> Prepared:
    """Decide a drill before anything starts: its events, plan, run id, secret and run.json.

    `salt` (a standing stage) gives the events fresh ids; `volume` scales the scenario's events to
    that many, all sent. Raises PilotError, naming the scenario, when the delivery cannot be
    planned.
    """
    spec = pilot.spec
    salting: Salting | None = None
    if salt is None:
        events = load_fixtures(pilot.resolve(spec.webhook.fixtures))
    else:
        # On a standing workflow: fresh ids, so earlier drills' state cannot
        # answer for this one. Drills there come by the hundred: the capture
        # is read once, and only the events sent are salted.
        captured = _captured(pilot.resolve(spec.webhook.fixtures))
        rules, partners, only = spec.expectations, sorted(spec.partners), scenario.delivery.events
        salting = plan_salting(captured, salt, rules, partners, only)
        events = apply_salting(captured, salting, rules, partners, only)
    delivery = scenario.delivery
    if volume is not None:
        events, delivery = _at_volume(pilot, scenario, events, volume, salt or new_salt())
    offsets = [e.captured_at.timestamp() for e in events]
    try:
        plan = plan_deliveries([e.event_id for e in events], delivery, seed, offsets)
    except ValueError as exc:
        raise PilotError(f"{pilot.path}: [scenarios.{scenario_name}] {exc}") from None
    run_events = [events[i] for i in sorted({d.event_index for d in plan.deliveries})]
    run_id = new_run_id(pilot.name, scenario_name)
    secret, ephemeral = _secret(pilot, events)
    meta: dict[str, Any] = {
        "pilot": {"name": pilot.name, "path": str(pilot.path)},
        "scenario": scenario_name,
        "scenario_spec": scenario.model_dump(mode="json"),
        "seed": seed,
        "status": "running",
        "pid": os.getpid(),
        "started_at": time.time(),
        "versions": {"chaoslab": __version__, "python": sys.version.split()[0]},
        "secret": {"env": spec.webhook.secret_env, "ephemeral": ephemeral},
        "slo": spec.slo.model_dump(mode="json"),
        "plan": plan.as_dict(),
        "partner_faults": pilot.spec.partner_faults(scenario),
        "event_ids": sorted({e.event_id for e in run_events}),
        # A queue's outcomes are read from its broker: no endpoint needed.
        "outcomes_known": spec.workflow.outcomes is not None or spec.queue is not None,
        "settled_by": "status and quiescence" if spec.workflow.status_path else "quiescence",
        "salt": salt,
        # What was judged: the workflow's code, and the declarations it was held to.
        "origin": origin,
        "volume": volume,
        "workflow_version": workflow_version(pilot.workflow_source()).as_dict(),
        "declarations": judged_against(
            pilot.path, pilot.partners, pilot.resolve(spec.webhook.fixtures)
        ),
    }
    if salting is not None:
        # Numbers carry no "-s…" suffix: the stage tells its drills' keys apart by these.
        meta["salted_numbers"] = sorted(salting.numbers_given())
    return Prepared(
        pilot, scenario_name, scenario, seed, events, plan, run_events,
        run_id, inside(runs_root, run_id), secret, meta,
        salted_rules(spec.expectations, salting) if salting is not None else None,
    )  # fmt: skip
