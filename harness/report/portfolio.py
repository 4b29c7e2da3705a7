"""The portfolio: every reviewed pilot on one page, ordered by what to decide first.

    reports/<pilot>/pilot_review.json ─┬─► portfolio() ─► rows ─► notebooks/portfolio.py
    reports/<pilot>/verdicts.jsonl  ───┘     (plain data)             ─► reports/index.html

Pure functions over files already written by reviews; no socket, no kernel.
A summary or a history line that cannot be read becomes a one-line warning
naming the file (and line) and is left out, so one bad pilot never hides the
others. The order: pilots whose verdict asks for action this quarter come
first (RETIRE, then PROMOTE), those whose verdict changed since the previous
review before those whose did not, then REFACTOR and NEEDS MORE EVIDENCE.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.report.verdict import months, pct
from harness.report.verdict_log import LOG_NAME, VerdictRecord, finite, read_verdicts

__all__ = [
    "SUMMARY_NAME",
    "Portfolio",
    "PortfolioRow",
    "history_html",
    "money_line",
    "portfolio",
    "portfolio_row",
    "portfolio_sentence",
    "table_html",
    "when",
]

SUMMARY_NAME = "pilot_review.json"
REVIEW_HTML = "pilot_review.html"
# Lower comes first: retiring stops spending, promoting starts earning.
PRIORITY = {"RETIRE": 0, "PROMOTE": 1, "REFACTOR": 2, "NEEDS MORE EVIDENCE": 3}
# Reviews written before the rename said "NO VERDICT".
_RENAMED = {"NO VERDICT": "NEEDS MORE EVIDENCE"}
COLOURS = {
    "PROMOTE": "#c7e9c0",
    "REFACTOR": "#fdd49e",
    "RETIRE": "#fcbba1",
    "NEEDS MORE EVIDENCE": "#d9d9d9",
}


@dataclass(frozen=True)
class PortfolioRow:
    """One pilot's line in the portfolio: its latest verdict, its reasons and its money figures."""

    pilot: str
    decision: str
    reasons: list[str]  # the first three
    cost_per_txn: float | None  # per successful transaction; None when unbounded
    roi_12m: float | None
    payback_months: float | None  # None: never pays back
    attainment_lb: float | None
    reviewed_at: str
    link: str | None  # the pilot review, relative to reports/index.html
    history: list[VerdictRecord] = field(default_factory=list)  # oldest first

    @property
    def previous(self) -> str | None:
        """The verdict of the review before the newest one, if there was one."""
        return self.history[-2].decision if len(self.history) >= 2 else None

    @property
    def changed(self) -> bool:
        """The newest verdict differs from the one before it."""
        return self.previous is not None and self.previous != self.decision


@dataclass(frozen=True)
class Portfolio:
    """Every reviewed pilot's row, in display order, and one warning per pilot left out."""

    rows: list[PortfolioRow]
    warnings: list[str]


def portfolio_row(
    summary: dict[str, Any],
    folder_name: str,
    history: Sequence[VerdictRecord] = (),
    has_review_html: bool = True,
) -> PortfolioRow:
    """One pilot's row from its ``pilot_review.json`` and its verdict history."""
    econ = summary.get("economics") or {}
    metrics = (summary.get("verdict") or {}).get("metrics") or {}
    name = summary.get("pilot")
    return PortfolioRow(
        pilot=name if isinstance(name, str) and name else folder_name,
        decision=str(summary["decision"]),
        reasons=[str(r) for r in summary.get("reasons", [])][:3],
        cost_per_txn=finite(econ.get("cost_per_success")),
        roi_12m=finite(econ.get("roi_12m")),
        payback_months=finite(econ.get("payback_months")),
        attainment_lb=finite(metrics.get("attainment_lb")),
        reviewed_at=str(summary.get("reviewed_at", "")),
        link=f"{quote(folder_name)}/{REVIEW_HTML}" if has_review_html else None,
        history=list(history),
    )


def _sort_key(row: PortfolioRow) -> tuple[int, int, float, str]:
    roi = row.roi_12m if row.roi_12m is not None else -math.inf
    return (PRIORITY.get(row.decision, len(PRIORITY)), 0 if row.changed else 1, -roi, row.pilot)


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("decision"), str):
        raise ValueError(f"{path}: not a pilot review summary (no decision)")
    raw["decision"] = _RENAMED.get(raw["decision"], raw["decision"])
    if raw["decision"] not in PRIORITY:
        raise ValueError(f"{path}: decision: not a verdict, got {raw['decision']!r}")
    return raw


def portfolio(reports: Path) -> Portfolio:
    """Every pilot reviewed under ``reports``, in the order to decide them."""
    rows: list[PortfolioRow] = []
    warnings: list[str] = []
    for path in sorted(Path(reports).glob(f"*/{SUMMARY_NAME}")):
        folder = path.parent
        try:
            summary = _read_summary(path)
        except ValueError as exc:
            warnings.append(f"{exc}; pilot left out")
            continue
        history, skipped = read_verdicts(folder / LOG_NAME)
        warnings += skipped
        rows.append(portfolio_row(summary, folder.name, history, (folder / REVIEW_HTML).is_file()))
    return Portfolio(sorted(rows, key=_sort_key), warnings)


# ---------------------------------------------------------------- words and HTML for the page


def portfolio_sentence(p: Portfolio) -> str:
    """``4 pilots: 1 to retire, 1 to promote, 2 to refactor; 1 changed since the last review.``"""
    if not p.rows:
        return "No pilot has been reviewed yet: run `chaoslab review --all`."
    counts = {d: sum(r.decision == d for r in p.rows) for d in PRIORITY}
    words = {"RETIRE": "to retire", "PROMOTE": "to promote", "REFACTOR": "to refactor"}
    parts = [f"{counts[d]} {words[d]}" for d in words if counts[d]]
    if counts["NEEDS MORE EVIDENCE"]:
        parts.append(f"{counts['NEEDS MORE EVIDENCE']} needing more evidence")
    changed = [r.pilot for r in p.rows if r.changed]
    tail = f"; changed since the previous review: {', '.join(changed)}" if changed else ""
    noun = "pilot" if len(p.rows) == 1 else "pilots"
    return f"{len(p.rows)} {noun}: {', '.join(parts)}{tail}."


# The notebook theme right-aligns every cell (with a selector this one must outweigh);
# words read better from the left.
_T = ".jp-RenderedHTMLCommon table"
_CSS = (
    f"{_T}.portfolio th, {_T}.portfolio td, {_T}.history th, {_T}.history td "
    "{text-align:left; vertical-align:top; padding:0.3em 0.6em}"
    f" {_T}.portfolio td.pilot {{white-space:nowrap}}"
    f" {_T}.portfolio td.number, {_T}.history td.number {{text-align:right; white-space:nowrap}}"
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cost(x: float | None) -> str:
    return "unbounded" if x is None else f"${x:,.2f}"


def when(iso: str) -> str:
    """``2026-11-29T18:09:26+00:00`` → ``2026-11-29 18:09 UTC``; other text as it is."""
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M") + (" UTC" if at.tzinfo is not None else "")


def _pct(x: float | None) -> str:
    return "—" if x is None else _e(pct(x))


def _numbers(cost: float | None, roi: float | None, payback: float | None) -> list[str]:
    """Cost per transaction, 12-month ROI and payback as table cells."""
    never = months(math.inf if payback is None else payback)
    return [f'<td class="number">{x}</td>' for x in (_cost(cost), _pct(roi), _e(never))]


def _badge(decision: str) -> str:
    colour = COLOURS.get(decision, "#ffffff")
    return (
        f'<span class="verdict" data-verdict="{_e(decision)}" style="background:{colour};'
        f'padding:0.1em 0.5em;border-radius:0.3em;font-weight:bold">{_e(decision)}</span>'
    )


def table_html(p: Portfolio) -> str:
    """The decision table: one row per pilot, verdict coloured, reasons and money beside it."""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "pilot",
            "verdict",
            "why (top three reasons)",
            "cost / txn",
            "12-month ROI",
            "payback",
            "attainment, lower bound",
        )
    )
    body = []
    for r in p.rows:
        name = f'<a href="{_e(r.link)}">{_e(r.pilot)}</a>' if r.link else _e(r.pilot)
        was = f"<br><small>was {_e(r.previous)}</small>" if r.changed and r.previous else ""
        reasons = "".join(f"<li>{_e(x)}</li>" for x in r.reasons)
        cells = (
            f'<td class="pilot">{name}</td>',
            f"<td>{_badge(r.decision)}{was}</td>",
            f'<td><ol style="margin:0;padding-left:1.2em">{reasons}</ol></td>',
            *_numbers(r.cost_per_txn, r.roi_12m, r.payback_months),
            f'<td class="number">{_pct(r.attainment_lb)}</td>',
        )
        body.append(f'<tr data-pilot="{_e(r.pilot)}">{"".join(cells)}</tr>')
    return (
        f"<style>{_CSS}</style>"
        '<table class="portfolio" style="border-collapse:collapse;text-align:left">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def history_html(row: PortfolioRow) -> str:
    """The pilot's verdicts over past reviews, newest first: date, commit, verdict, money."""
    heading = f'<h3 class="pilot-history">{_e(row.pilot)}</h3>'
    if not row.history:
        return heading + (
            "<p><em>No verdict history yet: every `chaoslab review` from now on adds a row."
            "</em></p>"
        )
    lines = []
    for h in reversed(row.history):
        lines.append(
            f'<tr class="review" data-commit="{_e(h.commit)}"><td>{_e(when(h.reviewed_at))}</td>'
            f"<td><code>{_e(h.commit)}</code></td><td>{_badge(h.decision)}</td>"
            + "".join(_numbers(h.cost_per_txn, h.roi_12m, h.payback_months))
            + "</tr>"
        )
    return heading + (
        f'<table class="history" data-pilot="{_e(row.pilot)}" style="border-collapse:collapse">'
        "<thead><tr><th>reviewed</th><th>commit</th><th>verdict</th><th>cost / txn</th>"
        f"<th>12-month ROI</th><th>payback</th></tr></thead><tbody>{''.join(lines)}</tbody></table>"
    )


def money_line(row: PortfolioRow) -> str:
    """One pilot in one line, for the command's console output."""
    roi = "—" if row.roi_12m is None else pct(row.roi_12m)
    payback = months(math.inf if row.payback_months is None else row.payback_months)
    cost = _cost(row.cost_per_txn)
    return f"{row.decision:<10} {row.pilot}: ROI {roi}, payback {payback}, {cost} per txn"
