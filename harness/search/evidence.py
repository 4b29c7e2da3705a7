"""What a hunt's failing run shows about its faults, measured from the run's own records.

A fault is what the hunt asked for; what the workflow saw can differ. A
``timeout`` toxic drops every answer on its way back, but whether the
workflow then waits (a held answer) or sees the connection close at once
depends on whether the connection ends after the answer: the partner's
journal says so for every call (``closes``: a ``Connection: close`` from
either side, HTTP/1.0, a broken connection). A restart kills the workflow;
what it kept only in memory is gone, which the run shows as events it had
answered before the kill and no longer reports, or applies again.

Everything here reads files; the sentences are ``harness.search.story``'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drill.collect import requests_file
from harness.journal import JournalError, load_run

# A partner journal of one short drill is small; reading stops here regardless.
MAX_LINES = 100_000


@dataclass(frozen=True)
class WindowAnswers:
    """Partner answers given while a toxic was on, and how many ended their connection."""

    answered: int
    closed: int


@dataclass(frozen=True)
class RestartLoss:
    """What a run shows the workflow forgot when it was killed."""

    forgotten: tuple[str, ...]  # answered before the kill, no outcome reported after it
    landed: int  # of those, how many had their effect applied
    again: tuple[str, ...]  # applied before the kill and again after it


def window_answers(
    run_dir: Path, meta: Mapping[str, Any], link: str, partner: str, kind: str
) -> WindowAnswers | None:
    """Answers ``partner`` gave while a ``kind`` toxic was on ``link``; None when unknown."""
    windows = [
        (float(w.get("from_s") or 0.0), math.inf if w.get("until_s") is None else w["until_s"])
        for w in meta.get("toxics_applied") or []
        if isinstance(w, Mapping) and w.get("link") == link and w.get("type") == kind
    ]
    path = requests_file(run_dir, partner)
    origin = meta.get("clock_origin")
    if not windows or not path.is_file() or not isinstance(origin, int | float):
        return None
    answered = closed = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for count, line in enumerate(lines):
            if count >= MAX_LINES:
                break
            try:
                entry = json.loads(line)
                done = float(entry["at"]) - origin + float(entry.get("duration_ms") or 0) / 1000
            except (ValueError, KeyError, TypeError):
                continue
            if any(lo <= done <= hi for lo, hi in windows):
                answered += 1
                closed += bool(entry.get("closes"))
    return WindowAnswers(answered, closed)


def restart_loss(run_dir: Path) -> RestartLoss | None:
    """What the run shows the workflow lost at its first restart; None when it cannot tell."""
    try:
        run = load_run(run_dir)
    except (JournalError, OSError, ValueError):
        return None
    restarts = run.meta.get("workflow_restarts") or []
    if not restarts or not isinstance(restarts[0], Mapping):
        return None
    killed = float(restarts[0].get("killed_at") or 0.0)
    attempts, effects = run.attempts, run.effects
    ok = attempts["status"].fillna(0).between(200, 299)
    answered = attempts[(attempts["finished_at"] <= killed) & ok]
    before = [str(e) for e in dict.fromkeys(answered["event_id"])]
    reported = set(run.outcomes["event_id"]) if run.meta.get("outcomes_known") else None
    forgotten = tuple(e for e in before if reported is not None and e not in reported)
    applied = set(effects["event_id"])
    tied = effects[effects["event_id"] != ""]
    pairs = [
        (str(event), str(kind), at <= killed)
        for event, kind, at in zip(tied["event_id"], tied["kind"], tied["at"], strict=True)
    ]
    early = {(event, kind) for event, kind, before in pairs if before}
    late = {(event, kind) for event, kind, before in pairs if not before}
    again = tuple(sorted({event for event, _ in early & late}))
    return RestartLoss(forgotten, sum(e in applied for e in forgotten), again)


def examples(ids: Sequence[str], limit: int = 2) -> str:
    """The first `limit` ids, with an ellipsis when there are more."""
    shown = ", ".join(ids[:limit])
    return shown + (", …" if len(ids) > limit else "")
