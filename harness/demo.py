"""`make demo`: every reference pilot drilled, scenario by scenario, reviewed, then the portfolio.

Each scenario says what it expects: the naive order-sync workflow should
break invariants (duplicated effects, lost updates) where the hardened one
holds them under the same scenarios and seeds, and the other pilots drill
workflows of other shapes against partners declared by WireMock mappings and
an OpenAPI document. The demo exits non-zero when a drill does not come out
as its scenario expects, or a review fails.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.commands.drill import result_view
from harness.drill import DrillResult, run_drill
from harness.inputs.pilot import load_pilot

REPO = Path(__file__).resolve().parent.parent
# Every scenario of each pilot: one pass is the evidence a review needs for a
# verdict (min_txns in the pilot files).
PILOTS = sorted(str(p.relative_to(REPO)) for p in (REPO / "pilots").glob("*.toml"))


async def _run(console: Console, reports: Path) -> list[DrillResult]:
    results = []
    for pilot_path in PILOTS:
        pilot = load_pilot(REPO / pilot_path)
        for name in pilot.spec.scenarios:
            console.print(f"[dim]drilling {pilot.name} :: {name} …[/dim]")
            result = await run_drill(pilot, name, reports=reports)
            console.print(result_view(result))
            results.append(result)
    return results


def _as_expected(result: DrillResult) -> bool:
    return result.ok == (result.expect == "pass")


def main() -> int:
    console = Console()
    reports = REPO / "reports"
    started = time.monotonic()
    results = asyncio.run(_run(console, reports))
    table = Table(title="drills", box=None, title_justify="left")
    for column in ("pilot", "scenario", "expects", "result"):
        table.add_column(column)
    for r in results:
        broken = [x.name for x in r.results if not x.ok]
        shown = "holds" if r.ok else "broken: " + ", ".join(broken)
        style = "green" if _as_expected(r) else "bold red"
        table.add_row(r.pilot, r.scenario, r.expect, Text(shown, style=style))
    console.print(table)
    story = all(_as_expected(r) for r in results)
    console.print(
        "Every drill came out as its scenario expects."
        if story
        else "[bold red]Some drills did not come out as expected; see the runs above."
    )
    verdicts: dict[str, str] = {}
    reviewed = _review(console, reports, results, verdicts)
    paged = _portfolio(console, reports)
    _closing_note(console, results, verdicts)
    console.print(f"[dim]demo took {time.monotonic() - started:.0f} s[/dim]")
    return 0 if story and reviewed and paged else 1


def _portfolio(console: Console, reports: Path) -> bool:
    """reports/index.html: every pilot's verdict and its history on one page."""
    from harness.commands.portfolio import print_page
    from harness.report.portfolio_page import write_portfolio
    from harness.report.review import ReviewError

    console.print("[dim]writing the portfolio page …[/dim]")
    try:
        print_page(write_portfolio(reports), console)
    except (ReviewError, OSError, ValueError) as exc:
        console.print(Text(f"portfolio page failed: {exc}", style="bold red"), soft_wrap=True)
        return False
    return True


def _closing_note(console: Console, results: list[DrillResult], verdicts: dict[str, str]) -> None:
    """Each pilot's verdict beside the wall time its drills took."""
    table = Table(title="verdicts", box=None, title_justify="left")
    for column in ("pilot", "verdict", "drills", "drill wall time"):
        table.add_column(column)
    for pilot in dict.fromkeys(r.pilot for r in results):
        mine = [r for r in results if r.pilot == pilot]
        wall = f"{sum(r.duration_s for r in mine):.0f} s"
        table.add_row(pilot, verdicts.get(pilot, "no verdict"), str(len(mine)), wall)
    console.print(table)


def _review(
    console: Console, reports: Path, results: list[DrillResult], verdicts: dict[str, str]
) -> bool:
    """The review of every pilot, each on exactly the runs this demo made; each
    decision goes into ``verdicts``.

    A failed review is reported and the next pilot is still reviewed: one
    broken notebook run must not hide the other pilots' verdicts.
    """
    from harness.commands.review import print_result
    from harness.inputs.pilot import PilotError
    from harness.journal import JournalError
    from harness.report.review import ReviewError, run_review

    failed: list[str] = []
    for pilot_path in PILOTS:
        pilot = load_pilot(REPO / pilot_path)
        mine = [r.run_dir for r in results if r.pilot == pilot.name]
        if not mine:
            # No runs means no evidence; reviewing the folder would read other runs.
            console.print(Text(f"review of {pilot.name} skipped: no runs", style="bold red"))
            failed.append(pilot.name)
            continue
        console.print(f"[dim]reviewing {pilot.name} ({len(mine)} runs) …[/dim]")
        try:
            review = run_review(REPO / pilot_path, reports, run_dirs=mine)
            print_result(review, console)
            verdicts[pilot.name] = review.decision
        except (ReviewError, PilotError, JournalError, OSError, ValueError) as exc:
            console.print(
                Text(f"review of {pilot.name} failed: {exc}", style="bold red"), soft_wrap=True
            )
            failed.append(pilot.name)
    if failed:
        console.print(Text(f"reviews failed: {', '.join(failed)}", style="bold red"))
    return not failed


if __name__ == "__main__":
    sys.exit(main())
