"""`chaoslab portfolio` and `chaoslab review --all`: the portfolio page, reports/index.html.

    reports/<pilot>/pilot_review.json + verdicts.jsonl
        ─► notebooks/portfolio.py (papermill, like the pilot review) ─► reports/index.html

``write_portfolio`` only rebuilds the page from reviews already made (seconds);
``review_all`` first reviews every pilot it can find, one failure not stopping
the others. The data behind the page is ``harness.report.portfolio``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.inputs.pilot import PilotError, load_pilot
from harness.journal import JournalError, list_runs, pilot_name, read_meta
from harness.report.errors import ReviewError
from harness.report.execute import (
    CELL_TIMEOUT_S,
    STAGING,
    execute_notebook,
    kernels_in,
    render_html,
    swap_in,
)
from harness.report.portfolio import Portfolio, portfolio
from harness.report.review import ReviewResult, run_review
from harness.report.selection import review_inputs, select_runs
from harness.runtime.scratch import scratch_dir

__all__ = [
    "INDEX_NAME",
    "PortfolioPage",
    "Reviewed",
    "pilots_to_review",
    "review_all",
    "write_portfolio",
]

INDEX_NAME = "index.html"
NOTEBOOK = "portfolio"


@dataclass(frozen=True)
class PortfolioPage:
    """The portfolio page written, the executed notebook behind it, and the seconds it took."""

    html: Path
    notebook: Path
    seconds: float
    book: Portfolio


@dataclass(frozen=True)
class Reviewed:
    """One pilot of ``review --all``: its result, or why it was not reviewed."""

    pilot: str
    result: ReviewResult | None = None
    error: str = ""  # a review that failed
    skipped: str = ""  # nothing to review (no runs)


def write_portfolio(reports: Path, timeout: int = CELL_TIMEOUT_S) -> PortfolioPage:
    """Execute the portfolio notebook over ``reports`` and render ``reports/index.html``."""
    reports = Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Made beside the page and swapped in, as a review is: the previous page stays
    # whole if this one fails, and the kernel's key stays in the scratch.
    with scratch_dir(STAGING, root=reports) as staging, kernels_in(staging):
        made = execute_notebook(NOTEBOOK, {"reports": str(reports.resolve())}, staging, timeout)
        render_html(made, staging / INDEX_NAME)
        index, executed = swap_in([staging / INDEX_NAME, made], reports)
    return PortfolioPage(index, executed, time.perf_counter() - started, portfolio(reports))


def _run_pilots(reports: Path) -> list[str]:
    names: set[str] = set()
    for run_dir in list_runs(reports / "runs"):
        try:
            name = pilot_name(read_meta(run_dir))
        except JournalError:
            continue
        if name:
            names.add(name)
    return sorted(names)


def pilots_to_review(reports: Path, folder: Path = Path("pilots")) -> list[tuple[str, Path | None]]:
    """(name, pilot file) for pilots/*.toml here, then every other pilot with runs.

    A pilot file that does not load is still listed (its review reports the error).
    """
    found: list[tuple[str, Path | None]] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            found.append((load_pilot(path).spec.name, path))
        except PilotError:
            found.append((path.stem, path))
    named = {name for name, _ in found}
    found += [(name, None) for name in _run_pilots(reports) if name not in named]
    return found


def review_all(
    reports: Path,
    pilots: Sequence[tuple[str, Path | None]] | None = None,
    *,
    timeout: int = CELL_TIMEOUT_S,
) -> list[Reviewed]:
    """Review every pilot found; one that fails is reported and the next one still runs."""
    done: list[Reviewed] = []
    for name, path in pilots if pilots is not None else pilots_to_review(reports):
        try:
            if not select_runs(name, reports):
                done.append(Reviewed(name, skipped=f"no finished runs in {reports / 'runs'}"))
                continue
            if path is None:
                try:
                    path = review_inputs(name, reports).pilot_file
                except ReviewError as exc:
                    # Runs whose pilot file is gone (a deleted scratch pilot): not asked for.
                    done.append(Reviewed(name, skipped=str(exc)))
                    continue
            result = run_review(path if path is not None else name, reports, timeout=timeout)
            done.append(Reviewed(name, result=result))
        except (ReviewError, PilotError, JournalError, OSError, ValueError) as exc:
            done.append(Reviewed(name, error=str(exc).splitlines()[0] if str(exc) else repr(exc)))
    return done
