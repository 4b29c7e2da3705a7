"""Baselines: the figures a pilot's scenarios reached, kept in git and held in CI.

``chaoslab baseline update PILOT`` drills the scenarios and writes, beside the
pilot file, ``<pilot>.baseline.json``: per scenario the retries and partner
calls per transaction, the p95 end-to-end latency and the dead letters. The
pytest plugin (``pytest --pilots pilots/``) drills the same scenarios again and
fails an item when a figure rose by more than the tolerance the pilot's
``[baseline]`` table allows (see ``harness.inputs.pilot.BASELINE_FIGURES``).

Every figure is "lower is better"; an improvement never fails, it is a hint
to run ``baseline update`` and commit the new file.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.latency import nearest_rank
from harness.inputs.pilot import BASELINE_FIGURES, BaselineSpec, Pilot
from harness.inputs.tree import pilot_tree
from harness.journal import load_run
from harness.partner.confined import FileRefused, confine, read_text
from harness.report.analysis import events_table, failure_rates, retry_amplification, run_set

__all__ = [
    "FIGURES",
    "BaselineError",
    "FigureCheck",
    "baseline_path",
    "compare",
    "figures_of",
    "format_checks",
    "load_baseline",
    "merge_baseline",
    "write_baseline",
]

FORMAT = 1
FIGURES: tuple[str, ...] = tuple(BASELINE_FIGURES)
SHORT = {
    "retries_per_txn": "retries/txn",
    "partner_calls_per_txn": "calls/txn",
    "p95_latency_ms": "p95 ms",
    "dead_letters": "dead letters",
}
UNITS = {
    "retries_per_txn": "",
    "partner_calls_per_txn": "",
    "p95_latency_ms": " ms",
    "dead_letters": "",
}
# Digits kept in the file: enough to see a change, few enough to diff calmly.
DIGITS = {"retries_per_txn": 3, "partner_calls_per_txn": 3, "p95_latency_ms": 1, "dead_letters": 0}


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line naming it."""


# ---------------------------------------------------------------- figures


def _rounded(figure: str, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    digits = DIGITS[figure]
    # Counts stay whole numbers in the file (0, not 0.0).
    return float(round(value, digits)) if digits else round(value)


def figures_of(run_dir: Path | str) -> dict[str, float | None]:
    """A run's baseline figures, read back from its journal.

    ``retries_per_txn`` counts the provider's redeliveries (attempts the
    sender tagged ``retry`` because the workflow did not answer 2xx in time),
    not deliveries the scenario duplicated on purpose. ``partner_calls_per_txn``
    counts every call the partner saw, throttled and failed ones included.
    ``p95_latency_ms`` is over transactions that ended well, as the slo
    invariant measures it. None: the run has no value (e.g. nothing ended well).
    """
    rs = run_set([load_run(run_dir)])
    events = events_table(rs)
    transactions = len(events)
    amp = retry_amplification(rs, events)
    calls = float(amp["partner_calls_per_txn"].iloc[0]) if len(amp) else math.nan
    tags = rs.attempts["fault_tags"].astype(object).where(rs.attempts["fault_tags"].notna(), "")
    retries = sum("retry" in str(t).split(",") for t in tags)
    well = events[events["ended_well"].astype(bool)]["latency_ms"].dropna()
    p95 = nearest_rank(well.to_numpy(dtype=float), 0.95)
    dead = failure_rates(events, by=None)["dead_lettered"].sum() if transactions else 0
    raw = {
        "retries_per_txn": retries / transactions if transactions else math.nan,
        "partner_calls_per_txn": calls,
        "p95_latency_ms": p95,
        "dead_letters": float(dead),
    }
    return {name: _rounded(name, raw[name]) for name in FIGURES}


def median_figures(runs: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Per figure, the median over runs that have a value (noise in, one number out)."""
    out: dict[str, float | None] = {}
    for name in FIGURES:
        values = [v for r in runs if (v := r.get(name)) is not None]
        out[name] = _rounded(name, statistics.median(values)) if values else None
    return out


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class FigureCheck:
    figure: str
    old: float | None
    new: float | None
    relative: float
    absolute: float

    @property
    def allowed(self) -> float:
        """How far the figure may rise above the baseline."""
        base = abs(self.old) if self.old is not None else 0.0
        return max(self.relative * base, self.absolute)

    @property
    def regressed(self) -> bool:
        if self.old is None:
            return False  # nothing to hold it to
        if self.new is None:
            return True  # it had a value and now has none: nothing ended well
        # A hair of slack so a value equal to the limit, after rounding, passes.
        return self.new - self.old > self.allowed + 1e-9

    @property
    def status(self) -> str:
        if self.old is None:
            return "new"
        if self.regressed:
            return "REGRESSED"
        if self.new is not None and self.new < self.old:
            return "better"
        return "ok"

    def tolerance_text(self) -> str:
        unit = UNITS[self.figure]
        parts = []
        if self.relative:
            parts.append(f"{self.relative:.0%}")
        if self.absolute or not parts:
            parts.append(f"{figure_text(self.figure, self.absolute)}{unit}")
        joined = " or ".join(parts)
        return f"+{figure_text(self.figure, self.allowed)}{unit} ({joined})"


def compare(
    old: Mapping[str, float | None], new: Mapping[str, float | None], spec: BaselineSpec
) -> list[FigureCheck]:
    """Every figure of the baseline against the new run, with the pilot's tolerances."""
    checks = []
    for name in FIGURES:
        relative, absolute = spec.tolerance(name)
        checks.append(FigureCheck(name, old.get(name), new.get(name), relative, absolute))
    return checks


def figure_text(figure: str, value: float | None) -> str:
    if value is None:
        return "-"
    if DIGITS[figure] == 0 or figure == "p95_latency_ms":
        return f"{value:,.0f}"
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def format_checks(checks: Sequence[FigureCheck]) -> str:
    """A small plain-text table: figure, baseline, now, tolerance, status."""
    header = ("figure", "baseline", "now", "tolerance", "")
    rows = [
        (
            c.figure,
            figure_text(c.figure, c.old) + (UNITS[c.figure] if c.old is not None else ""),
            figure_text(c.figure, c.new) + (UNITS[c.figure] if c.new is not None else ""),
            c.tolerance_text(),
            c.status,
        )
        for c in checks
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {1, 2}

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


# ---------------------------------------------------------------- the file


def baseline_path(pilot: Pilot) -> Path:
    """Where a pilot's baseline lives: [baseline] file, else beside the pilot file.

    `chaoslab baseline update` writes it, so a declared file must stay in the
    pilot's tree (harness.inputs.tree), as every file a pilot names does.
    """
    if pilot.spec.baseline.file is None:
        return pilot.path.with_name(f"{pilot.path.stem}.baseline.json")
    path = pilot.resolve(pilot.spec.baseline.file)
    try:
        return confine(path, pilot_tree(pilot.path))
    except FileRefused as exc:
        raise BaselineError(f"{pilot.path}: [baseline] file: {path}: {exc}") from None


def read_baseline_file(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(read_text(path))
    except FileRefused as exc:
        raise BaselineError(f"{path}: {exc}") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), dict):
        raise BaselineError(f'{path}: not a baseline file (no "scenarios" object)')
    return raw


def load_baseline(path: Path | str) -> dict[str, dict[str, float | None]]:
    """Scenario → figures from a baseline file; every problem is one line naming it."""
    path = Path(path)
    raw = read_baseline_file(path)
    out: dict[str, dict[str, float | None]] = {}
    for scenario, entry in raw["scenarios"].items():
        figures = entry.get("figures") if isinstance(entry, dict) else None
        if not isinstance(figures, dict):
            raise BaselineError(f"{path}: scenarios.{scenario}: no figures object")
        kept: dict[str, float | None] = {}
        for name, value in figures.items():
            if name not in BASELINE_FIGURES:
                known = ", ".join(FIGURES)
                raise BaselineError(
                    f"{path}: scenarios.{scenario}.figures.{name}: unknown figure (known: {known})"
                )
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise BaselineError(
                    f"{path}: scenarios.{scenario}.figures.{name}: must be a number or null, "
                    f"got {json.dumps(value)}"
                )
            kept[name] = None if value is None else float(value)
        out[str(scenario)] = kept
    return out


def merge_baseline(
    existing: Mapping[str, Any] | None, pilot: Pilot, entries: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The file's content with these scenarios replaced and the others kept."""
    scenarios = dict(existing.get("scenarios", {})) if existing else {}
    scenarios.update(entries)
    return {
        "format": FORMAT,
        "pilot": pilot.name,
        "note": "written by `chaoslab baseline update`; tolerances are in the pilot's [baseline]",
        "scenarios": scenarios,
    }


def write_baseline(path: Path, content: Mapping[str, Any]) -> None:
    """Pretty, with sorted keys, so a re-run changes only the lines whose figures moved."""
    text = json.dumps(content, indent=2, sort_keys=True, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
