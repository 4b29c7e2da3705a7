"""Pilot review: a pilot's drill runs become two HTML reports and a verdict.

    reports/runs/<run-id>/ ──► notebooks/drill_analysis.py ──┐  jupytext (in memory)
      (the pilot's runs)   └─► notebooks/pilot_review.py  ───┤  papermill, kernel "python3"
                                                             ▼  nbconvert: no code, no prompts
                       reports/<pilot>/drill_analysis.html, pilot_review.html (+ .ipynb, .json)

``run_review`` is the orchestrator; each job has its module:

- which runs and which pilot: ``selection`` (``review_inputs``, ``select_runs``);
- the sentences under the figures: ``captions``; money and its sentences: ``money``;
- executing and rendering the notebooks, staged and swapped in: ``execute``;
- printing the result: the command, ``harness.commands.review``.

The notebooks hold no business logic and import this module as ``rv``: the
names they use are re-exported here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.places import inside
from harness.report.captions import (
    errors_sentence,
    evidence_sentence,
    invariants_sentence,
    latency_sentence,
    reliability_sentence,
    retry_sentence,
    sensitivity_sentence,
    verdict_html,
)
from harness.report.errors import ReviewError, first_line
from harness.report.execute import (
    CELL_TIMEOUT_S,
    CONTENT_SECURITY_POLICY,
    KERNEL,
    NOTEBOOKS,
    STAGING,
    execute_notebook,
    kernels_in,
    notebooks_of,
    render_html,
    shared_kernel,
    swap_in,
)
from harness.report.money import (
    cash_flow,
    cost_breakdown,
    cost_sentence,
    roi_cell,
    roi_grid_note,
    roi_sentence,
)
from harness.report.selection import ReviewInputs, is_pilot_file, review_inputs, select_runs
from harness.report.verdict import pct
from harness.report.verdict_log import record_verdict
from harness.runtime.scratch import scratch_dir

if TYPE_CHECKING:
    from harness.report.kernel import SharedKernel

__all__ = [
    "CELL_TIMEOUT_S",
    "CONTENT_SECURITY_POLICY",
    "KERNEL",
    "NOTEBOOKS",
    "STAGING",
    "ReviewError",
    "ReviewInputs",
    "ReviewResult",
    "cash_flow",
    "cost_breakdown",
    "cost_sentence",
    "errors_sentence",
    "evidence_sentence",
    "execute_notebook",
    "first_line",
    "invariants_sentence",
    "kernels_in",
    "latency_sentence",
    "notebooks_of",
    "pct",
    "reliability_sentence",
    "render_html",
    "retry_sentence",
    "review_inputs",
    "roi_cell",
    "roi_grid_note",
    "roi_sentence",
    "run_review",
    "save_summary",
    "select_runs",
    "sensitivity_sentence",
    "swap_in",
    "verdict_html",
]


@dataclass(frozen=True)
class ReviewResult:
    """What a review made: the verdict, its reasons, and where the pages and summary are."""

    pilot: str
    decision: str
    reasons: list[str]
    changes: list[str]  # what would change the verdict
    evidence: str
    html: dict[str, Path]
    notebooks: dict[str, Path]
    seconds: dict[str, float]
    summary_path: Path


def run_review(
    pilot: str | Path,
    reports: Path = Path("reports"),
    runs: int | None = None,
    run_dirs: Sequence[Path] | None = None,
    *,
    timeout: int = CELL_TIMEOUT_S,
    all_versions: bool = False,
    with_replays: bool = False,
) -> ReviewResult:
    """Execute both notebooks on the pilot's runs and render them to HTML.

    Writes ``reports/<pilot>/{drill_analysis,pilot_review}.html``, the
    executed notebooks beside them (kept on failure for diagnosis) and
    ``pilot_review.json`` with the summary the verdict came from.
    """
    reports = Path(reports)
    inputs = review_inputs(
        pilot=str(pilot) if not is_pilot_file(pilot) else "",
        reports=reports,
        run_dirs=list(run_dirs or []),
        pilot_file=str(pilot) if is_pilot_file(pilot) else "",
        runs=runs,
        all_versions=all_versions,
        with_replays=with_replays,
    )
    out_dir = inside(reports, inputs.pilot)
    summary_path = out_dir / "pilot_review.json"
    params: dict[str, Any] = {
        "pilot": inputs.pilot,
        "run_dirs": [str(d.resolve()) for d in inputs.run_dirs],
        "pilot_file": str(inputs.pilot_file or ""),
        # Where production imports of the pilot are found (reports/history/<pilot>).
        "reports": str(reports.resolve()),
        "evidence_note": inputs.evidence_note,
    }
    # Everything is made in a scratch folder beside the review's files and
    # swapped in at the end: a review that fails or is stopped leaves the
    # previous one whole, and its scratch (kernel connection files included)
    # is removed on the way out, or by the next review if it was killed.
    # Our notebooks share one kernel, reset between them; a pilot's own notebook
    # runs in a kernel of its own, so nothing it does reaches the verdict.
    with (
        scratch_dir(STAGING, root=out_dir) as staging,
        kernels_in(staging),
        shared_kernel() as ours,
    ):
        staged_summary = staging / summary_path.name
        seconds = _run_notebooks(inputs.pilot_file, params, staging, out_dir, timeout, ours)
        if not staged_summary.is_file():
            raise ReviewError(f"{summary_path}: the review wrote no verdict")
        made = [staging / f"{n}{ext}" for n in seconds for ext in (".html", ".ipynb")]
        swapped = swap_in([*made, staged_summary], out_dir)
    html = {p.stem: p for p in swapped if p.suffix == ".html"}
    notebooks = {p.stem: p for p in swapped if p.suffix == ".ipynb"}
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReviewError(f"{summary_path}: the review wrote no verdict ({exc})") from None
    record_verdict(summary, inputs.pilot_file, out_dir)  # the portfolio's verdict history
    return ReviewResult(
        pilot=inputs.pilot,
        decision=str(summary["decision"]),
        reasons=[str(r) for r in summary["reasons"]],
        changes=[str(c) for c in summary["what_would_change"]],
        evidence=evidence_sentence(summary, inputs),
        html=html,
        notebooks=notebooks,
        seconds=seconds,
        summary_path=summary_path,
    )


def _run_notebooks(
    pilot_file: Path | None,
    params: dict[str, Any],
    staging: Path,
    out_dir: Path,
    timeout: int,
    ours: SharedKernel,
) -> dict[str, float]:
    """Execute and render each notebook of the review in ``staging``; seconds each took."""
    seconds: dict[str, float] = {}
    staged_summary = staging / "pilot_review.json"
    for name, source in notebooks_of(pilot_file):
        # interactive=False: the what-if sliders are for JupyterLab, not for the HTML.
        extra = (
            {"summary_path": str(staged_summary.resolve()), "interactive": False}
            if name == "pilot_review"
            else {}
        )
        started = time.perf_counter()
        executed = execute_notebook(
            name, {**params, **extra}, staging, timeout, source=source,
            keep_failed=out_dir / f"{name}.failed.ipynb",
            kernel=ours if source is None else None,
        )  # fmt: skip
        render_html(executed, staging / f"{name}.html")
        seconds[name] = time.perf_counter() - started
    return seconds


def save_summary(summary: Mapping[str, Any], path: str | Path) -> None:
    """The pilot summary as strict JSON (infinite payback becomes null)."""

    def finite(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, Mapping):
            return {str(k): finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    body = {**finite(summary), "reviewed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    Path(path).write_text(json.dumps(body, indent=2, default=str) + "\n")
