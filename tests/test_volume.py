"""drill --volume N: the captures, then salted copies, so a small capture can be judged."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from pathlib import Path

import pytest

from harness.drill import run_drill
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import PilotError, load_pilot
from harness.replay.volume import MAX_VOLUME, scaled
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parent.parent
PILOT = REPO / "pilots" / "order-sync.toml"


def test_copies_are_new_transactions_later_in_time_in_the_captured_order() -> None:
    pilot = load_pilot(PILOT)
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))[:3]
    rules, partners = pilot.spec.expectations, sorted(pilot.spec.partners)
    events = scaled(captured, 8, "v", rules, partners)
    assert len(events) == 8 and events[:3] == captured
    assert len({e.event_id for e in events}) == 8
    times = [e.captured_at for e in events]
    assert times == sorted(times)  # each copy after the one before it
    # Within a copy the captured spacing is kept, so per-entity order is as captured.
    gaps = [b.captured_at - a.captured_at for a, b in pairwise(captured)]
    assert [b.captured_at - a.captured_at for a, b in pairwise(events[3:6])] == gaps
    assert scaled(captured, 2, "v", rules, partners) == captured[:2]
    with pytest.raises(ValueError, match=f"--volume: between 1 and {MAX_VOLUME:,}"):
        scaled(captured, MAX_VOLUME + 1, "v", rules, partners)


@pytest.mark.slow
def test_a_drill_at_volume_sends_that_many_and_judges_them_all(tmp_path: Path) -> None:
    # A pilot extends only inside its tree: a copy of pilots/ beside the code.
    pilot_file = pilot_tree(tmp_path) / "pilot.toml"
    pilot_file.write_text(
        'extends = "order-sync.toml"\n[pilot]\nname = "at-volume"\n'
        "[scenarios.few]\ndelivery = { events = [0, 1, 2], rate = 40 }\n"
    )
    result = asyncio.run(
        run_drill(load_pilot(pilot_file), "few", reports=tmp_path / "r", volume=12)
    )
    assert result.ok, [r.summary for r in result.results if not r.ok]
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["volume"] == 12 and len(meta["event_ids"]) == 12
    exactly_once = next(r for r in result.results if r.name == "exactly_once")
    assert exactly_once.counts["expected"] >= 6  # copies are expected to cause effects too
    with pytest.raises(PilotError, match="--volume: between 1"):
        asyncio.run(run_drill(load_pilot(pilot_file), "few", reports=tmp_path / "r", volume=0))
