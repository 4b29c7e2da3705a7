"""A scenario drilled twice on one standing stage, then once on fresh services.

The second standing drill meets what the first left (redeliveries, a
reconnected consumer, a job's state, an inbox); the fresh one is the truth a
stage must not change. Shared by the queue and poll source tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from harness.drill import DrillSession
from harness.inputs.pilot import load_pilot


def broken(result: Any, among: Collection[str] | None = None) -> list[str]:
    """The invariants a drill broke (only those ``among``, when given), sorted."""
    return sorted(r.name for r in result.results if not r.ok and (among is None or r.name in among))


def standing_then_fresh(
    pilot_file: Path,
    scenario: str,
    reports: Path,
    compared: Callable[[Any], list[str]] = broken,
) -> tuple[list[Any], Any]:
    """Two standing drills and a fresh one; each standing drill settled and broke
    what the fresh one broke (``compared`` says which invariants count)."""
    pilot = load_pilot(pilot_file)
    with DrillSession(reports, standing=1) as session:
        standing = [session.run(pilot, scenario) for _ in range(2)]
        fresh = session.run_fresh(pilot, scenario)
        assert session.stage_restarts == 0
    for number, result in enumerate(standing, 1):
        meta = json.loads((result.run_dir / "run.json").read_text())
        assert meta["standing"]["drill"] == number and meta["pending_at_end"] == 0
        assert compared(result) == compared(fresh), (result.run_dir, fresh.run_dir)
    assert "standing" not in json.loads((fresh.run_dir / "run.json").read_text())
    return standing, fresh
