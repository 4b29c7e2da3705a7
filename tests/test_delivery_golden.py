"""Delivery faults as users see them do not move: same plans, same hunt draws for a seed."""

from __future__ import annotations

import json

from tests.delivery_golden import GOLDEN, snapshot, summary


def test_plans_and_hunt_draws_match_the_recorded_ones() -> None:
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = summary(snapshot())
    assert set(now) == set(recorded), (
        "the pilots changed: rewrite with python -m tests.delivery_golden"
    )
    for pilot, found in recorded.items():
        assert now[pilot]["plans"] == found["plans"], f"{pilot}: a scenario's plan changed"
        for seed, drawn in found["hunt"].items():
            assert now[pilot]["hunt"][seed] == drawn, f"{pilot}: the hunt's draws for seed {seed}"
