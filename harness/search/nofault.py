"""Before a hunt: does the workflow hold with no fault, and do standing stages agree?

Standing stages are fast because each drill replays salted events on a
workflow that keeps running (``harness.drill.standing``). That is only sound
when salting gives the workflow nothing it remembers and the drill the keys
the workflow will use. Two things can break it, and both would make a
correct workflow look broken with no fault injected:

- an entity key the event does not carry (the workflow composes it from
  fields the pilot did not name): salting cannot make it the key the drill
  expects (``harness.replay.salt.unsalted_keys``);
- state the workflow keeps under something salting does not reach: it only
  shows from the second drill on a stage.

So the hunt first runs the empty schedule twice on one standing stage and
once on fresh services. The fresh drill is the truth. If it fails, the
workflow breaks with no fault, a claim now backed by a fresh drill. If it
holds and a standing run did not, the stages are not trusted: the hunt runs
every schedule on fresh services and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.drill import DrillResult, DrillSession
from harness.drill.standing import cannot_stand
from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import Pilot
from harness.replay.salt import unsalted_keys
from harness.search.space import FaultSpace
from harness.search.story import verdict_key
from harness.search.translate import scenario_for

# Drills of the empty schedule on one standing stage: the second one meets
# whatever the first left in the workflow.
STANDING_RUNS = 2


@dataclass
class NoFault:
    """What the empty schedule did, fresh and standing, and why stages were dropped."""

    fresh: DrillResult
    standing: list[DrillResult] = field(default_factory=list)
    fallback: str = ""  # why the hunt runs on fresh services; "" when stages are trusted


def source_reason(pilot: Pilot) -> str:
    """Why this pilot's event source cannot stand between drills, or ''."""
    return cannot_stand(pilot)


def unsalted_reason(pilot: Pilot, space: FaultSpace, captured: Sequence[CapturedRequest]) -> str:
    """Why salting cannot be trusted for this event set, or ''."""
    events = [captured[i] for i in space.events]
    missing = unsalted_keys(events, pilot.spec.expectations, sorted(pilot.spec.partners))
    if not missing:
        return ""
    event, key = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return (
        f"the entity key {key!r} of event {event.event_id}{more} appears nowhere in the event, "
        "so the workflow must compose it from other fields and salting cannot follow it "
        '(name them in the expectation\'s key, e.g. key = "{body.repo}#{body.number}")'
    )


def check_no_fault(
    session: DrillSession,
    pilot: Pilot,
    space: FaultSpace,
    captured: Sequence[CapturedRequest],
    judged: Sequence[str],
    name: str,
) -> NoFault:
    """Run the empty schedule fresh (and, on standing stages, twice standing) and compare."""
    empty = scenario_for(space, ())
    fallback = ""
    if session.standing:
        fallback = source_reason(pilot)
        if fallback:
            # Nothing about the workflow is in doubt here, only what a stage can
            # hold: fresh drills are sound, and run as many at once as stages would.
            session.stop_standing(side_by_side=True)
        else:
            fallback = unsalted_reason(pilot, space, captured)
            if fallback:
                session.stop_standing()
    standing = [
        session.run(pilot, f"{name}-standing-{i + 1}", empty)
        for i in range(STANDING_RUNS if session.standing else 0)
    ]
    fresh = session.run_fresh(pilot, name, empty)
    out = NoFault(fresh, standing, fallback)
    if verdict_key(fresh.results, judged):
        return out  # a real failure with no fault: the standing runs do not matter
    disagreeing = [r for r in standing if verdict_key(r.results, judged)]
    if disagreeing and not out.fallback:
        first = disagreeing[0]
        broke = ", ".join(verdict_key(first.results, judged))
        out.fallback = (
            f"with no fault injected, a standing stage broke {broke} (run {first.run_id}) "
            f"while a fresh drill held (run {fresh.run_id}): the workflow keeps something "
            "salting does not reach, so a standing stage would blame it for an earlier "
            "drill's leftovers"
        )
        session.stop_standing()
    return out
