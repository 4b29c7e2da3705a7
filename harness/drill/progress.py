"""Live progress of a drill, for the CLI's display: counts so far, never judgements."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.drill.collect import ledger_effects, ledger_file
from harness.inputs.expectations import effect_kind, qualify
from harness.replay.sender import Delivering, SendStats

if TYPE_CHECKING:
    from harness.drill.prepared import Prepared

INTERVAL_S = 0.25


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


def duplicated_so_far(p: Prepared) -> int:
    """Effects beyond the first of each kind and entity, for kinds expected exactly once."""
    partners = sorted(p.pilot.spec.partners)
    once = {
        effect_kind(*qualify(r.effect, partners))
        for r in p.pilot.spec.expectations
        if r.times == "once" and r.effect
    }
    seen: Counter[tuple[str, str]] = Counter()
    for name in partners:
        for row in ledger_effects(ledger_file(p.run_dir, name), p.run_id, 0.0, {}):
            if row["kind"] in once:
                seen[(str(row["kind"]), str(row["business_key"]))] += 1
    return sum(n - 1 for n in seen.values() if n > 1)


async def watch(sink: ProgressSink, p: Prepared, sender: Delivering, t0: float) -> None:
    """Report the drill's progress to `sink` every INTERVAL_S until cancelled."""
    while True:
        sink(
            Progress(
                scenario=p.scenario_name,
                elapsed_s=time.monotonic() - t0,
                planned=len(p.plan.deliveries),
                stats=sender.stats,
                phase="sending"
                if sender.stats.in_flight or not sender.stats.attempts
                else "settling",
                duplicated_effects=duplicated_so_far(p),
            )
        )
        await asyncio.sleep(INTERVAL_S)
