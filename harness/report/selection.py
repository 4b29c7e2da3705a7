"""Which runs a review judges: the workflow as it is now, drilled on the pilot's own scenarios.

Every run records the version of the workflow it drilled (``workflow_version``
in run.json, see ``harness.inputs.provenance``) and where its scenario came
from (``origin``). A review of a workflow that was fixed must not average in
the runs of the broken one, and a hunt's counterexample replayed with
``drill --scenario-file`` is a regression case for engineers, not a scenario
of the pilot a PM's verdict should weigh. So by default a review keeps the
runs of the workflow's current version from the pilot's own scenarios, and
says what it left out; ``--all-versions`` and ``--with-replays`` take the rest
back in. Pure: it reads run metadata handed to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunChoice", "choose_runs", "version_of"]

REPLAY = "scenario-file"


def version_of(meta: Mapping[str, Any]) -> str:
    """The workflow version a run recorded ("" for runs made before runs recorded one)."""
    block = meta.get("workflow_version")
    found = block.get("id") if isinstance(block, Mapping) else None
    return str(found) if found and found != "unknown" else ""


def _short(version: str) -> str:
    kind, _, rest = version.partition(":")
    return f"{kind}:{rest[:8]}{'+changes' if '+' in rest else ''}" if rest else version


@dataclass(frozen=True)
class RunChoice:
    """The runs a review judges, and a sentence on what it judged and left out."""

    run_dirs: list[Path]
    version: str  # the workflow version judged; "" when the runs record none
    note: str
    other_versions: dict[str, int] = field(default_factory=dict)  # version -> runs left out
    replays: int = 0  # replayed scenario files left out
    problem: str = ""  # why no run could be judged, when none is


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def choose_runs(
    runs: Sequence[tuple[Path, Mapping[str, Any]]],
    current: str,
    *,
    all_versions: bool = False,
    with_replays: bool = False,
    current_note: str = "",
) -> RunChoice:
    """Pick from ``runs`` (newest first, with their run.json) those of version ``current``.

    ``current`` is the version of the workflow's code now ("" when it could
    not be read: ``current_note`` says why, and the newest run's version is
    judged instead).
    """
    replays = [r for r in runs if r[1].get("origin") == REPLAY]
    pool = list(runs) if with_replays else [r for r in runs if r[1].get("origin") != REPLAY]
    recorded = [version_of(meta) for _, meta in pool]
    left: list[str] = []
    if replays and not with_replays:
        left.append(f"{_plural(len(replays), 'replayed scenario file')} (--with-replays)")
    if all_versions or not any(recorded):
        kept = pool
        versions = Counter(v for v in recorded if v)
        chosen, others = (next(iter(versions)) if len(versions) == 1 else ""), {}
        if len(versions) > 1:
            what = f"{_plural(len(kept), 'run')} of {len(versions)} workflow versions mixed"
        elif versions:
            what = f"{_plural(len(kept), 'run')} of workflow version {_short(chosen)}"
        else:
            what = f"{_plural(len(kept), 'run')}, which record no workflow version"
    else:
        chosen = current if current else next(v for v in recorded if v)
        kept = [r for r, v in zip(pool, recorded, strict=True) if v == chosen]
        others = dict(Counter(v or "none recorded" for v in recorded if v != chosen))
        what = f"{_plural(len(kept), 'run')} of workflow version {_short(chosen)}" + (
            " (its code as it is now)" if current else f" (the newest run's: {current_note})"
        )
        if others:
            n = sum(others.values())
            left.append(
                f"{_plural(n, 'run')} of {_plural(len(others), 'other version')} (--all-versions)"
            )
    note = f"Judged: {what}" + (f"; left out: {'; '.join(left)}." if left else ".")
    problem = ""
    if not kept:
        problem = f"no runs of the workflow as its code is now ({_short(chosen)}); " + (
            "; ".join(left) or "no runs at all"
        )
    return RunChoice(
        run_dirs=[p for p, _ in kept],
        version=chosen,
        note=note,
        other_versions=others,
        replays=0 if with_replays else len(replays),
        problem=problem,
    )
