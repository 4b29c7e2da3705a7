"""The reorder family: windows shuffled by the seed, and a bound swap of neighbours."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.inputs.delivery_faults.reorder import Reorder
from tests.family_helpers import EVENT_IDS, plan


def test_a_swap_exchanges_a_delivery_with_the_next_one() -> None:
    found = plan(faults=[{"position": 4, "fault": "swap"}])
    ids = [d.event_id for d in found.deliveries]
    assert ids[3:7] == ["evt_3", "evt_5", "evt_4", "evt_6"]
    assert [d.position for d in found.deliveries if d.tags == ("reordered",)] == [4, 5]


def test_a_swap_at_the_last_position_has_nothing_to_swap_with() -> None:
    found = plan(faults=[{"position": len(EVENT_IDS) - 1, "fault": "swap"}])
    assert [d.event_id for d in found.deliveries] == EVENT_IDS


def test_windows_keep_their_events_and_the_seed_decides_the_order() -> None:
    ids = {
        seed: [d.event_id for d in plan(seed, reorder={"window": 4}).deliveries] for seed in (1, 2)
    }
    for order in ids.values():
        for start in range(0, len(EVENT_IDS), 4):
            assert sorted(order[start : start + 4]) == sorted(EVENT_IDS[start : start + 4])
    assert ids[1] != ids[2]


def test_a_window_of_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="window"):
        Reorder.model_validate({"window": 1})
