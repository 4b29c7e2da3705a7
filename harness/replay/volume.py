"""A drill at a chosen volume: the captures, then salted copies of them.

A flawless record of 155 transactions cannot lift the attainment bound to a
99 % target; 268 can. A pilot rarely has that many captures, so ``drill
--volume N`` sends N events per scenario: the captured events the scenario
chooses, then copies of them with every id salted (as on the hunt's
standing stages, so each copy is a new transaction with its own entity), each
copy later than the last by the capture's own span. Within a copy the events
keep their order and spacing, so per-entity ordering is what was captured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from harness.inputs.expectations import ExpectationRule
from harness.inputs.fixtures import CapturedRequest
from harness.replay.salt import salt_events

__all__ = ["MAX_VOLUME", "scaled"]

MAX_VOLUME = 100_000  # events per scenario: a bound on memory and on the drill's length


def scaled(
    chosen: Sequence[CapturedRequest],
    volume: int,
    salt: str,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
) -> list[CapturedRequest]:
    """``volume`` events: ``chosen`` first, then salted, time-shifted copies of it."""
    if not 1 <= volume <= MAX_VOLUME:
        raise ValueError(f"--volume: between 1 and {MAX_VOLUME:,}, got {volume:,}")
    if not chosen:
        raise ValueError("--volume: the scenario sends no event to copy")
    times = [e.captured_at for e in chosen]
    # A copy starts one average gap after the previous one ends.
    gap = (max(times) - min(times)) / max(len(chosen) - 1, 1)
    span = max(times) - min(times) + max(gap, timedelta(milliseconds=1))
    out = list(chosen[:volume])
    for k in range(1, math.ceil(volume / len(chosen))):
        copies = salt_events(chosen, f"{salt}{k}", rules, partners)
        out += [replace(e, captured_at=e.captured_at + k * span) for e in copies]
    return out[:volume]
