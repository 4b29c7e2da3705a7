"""A workflow nobody wrote for chaoslab, drilled through its pilot file alone.

``workflows/outside`` forwards no traceparent, has no status or outcomes
endpoint, and reads LISTEN_PORT/HOOK_KEY/UPSTREAM_BASE/DATA_DIR. The drill
settles by quiescence, ties effects to events by entity key and time, and
says that dead letters are unknown; a duplicated booking is still caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.drill import DrillResult, run_drill
from harness.inputs.pilot import load_pilot
from harness.journal import load_run

DATA = Path(__file__).resolve().parent / "data" / "outside"


def result(drill: DrillResult, name: str) -> tuple[bool, str]:
    found = next(r for r in drill.results if r.name == name)
    return found.ok, found.summary


@pytest.mark.slow
async def test_duplicated_booking_caught_and_dedupe_variant_passes(tmp_path: Path) -> None:
    buggy = await run_drill(load_pilot(DATA / "outside.toml"), "duplicates", reports=tmp_path)
    ok, summary = result(buggy, "exactly_once")
    assert not ok and "duplicated" in summary, summary
    once = next(r for r in buggy.results if r.name == "exactly_once")
    assert once.counts["duplicated"] >= 1

    fixed = await run_drill(
        load_pilot(DATA / "outside-dedupe.toml"), "duplicates", reports=tmp_path
    )
    assert fixed.ok, [r.summary for r in fixed.results if not r.ok]

    for drill in (buggy, fixed):
        run = load_run(drill.run_dir)
        # No traceparent came back: every effect was tied by key and time.
        assert run.meta["effects_tied"]["traceparent"] == 0
        assert run.meta["effects_tied"]["key_and_time"] == len(run.effects) > 0
        assert run.meta["settled_by"] == "quiescence" and run.meta["pending_at_end"] == 0
        # No outcomes source: accounting says dead letters are unknown.
        accounted = next(r for r in drill.results if r.name == "all_accounted")
        assert "dead letters are unknown" in accounted.summary
        # The one invoice.voided event matches no rule: listed, not ignored.
        voided = set(run.expected.loc[run.expected["event_type"] == "invoice.voided", "event_id"])
        assert voided and voided <= set(drill.unmatched_events)
        # Every call the workflow made is one the pilot declares.
        assert drill.unexpected_calls == [] and run.meta["unexpected_calls"] == []


# Fails to bind once, the way a workflow does when another process took the
# port between the drill choosing it and the workflow binding it; then runs.
FLAKY_BIND = """
import os, pathlib, runpy, sys
marker = pathlib.Path(os.environ["DATA_DIR"]) / "tried"
if not marker.exists():
    marker.write_text("once")
    print("OSError: [Errno 98] address already in use", file=sys.stderr)
    sys.exit(1)
runpy.run_module("workflows.outside", run_name="__main__")
"""


async def test_a_port_taken_before_the_workflow_binds_it_is_chosen_again(tmp_path: Path) -> None:
    pilot = load_pilot(DATA / "outside.toml")
    spec = pilot.spec.workflow.model_copy(update={"command": ["python", "-c", FLAKY_BIND]})
    pilot = pilot.model_copy(update={"spec": pilot.spec.model_copy(update={"workflow": spec})})
    scenario = pilot.scenario("duplicates")
    short = scenario.model_copy(
        update={"delivery": scenario.delivery.model_copy(update={"limit": 4})}
    )
    drill = await run_drill(pilot, "duplicates", scenario=short, reports=tmp_path)
    assert drill.stats.delivered > 0
    log = (drill.run_dir / "workflow.log").read_text()
    assert "address already in use" in log
