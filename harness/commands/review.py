"""`chaoslab review` (and `--all`, every pilot then the portfolio page), and printing a review.

The review itself is imported when it runs (pandas, papermill and a kernel are heavy).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from harness.cli_support import errors, fail, reports_dir, shown
from harness.commands.portfolio import print_page, write_page

if TYPE_CHECKING:
    from harness.report.review import ReviewResult


def review_command(
    pilot: Annotated[
        str | None, typer.Argument(metavar="[PILOT]", help="pilot name or pilot file")
    ] = None,
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
    runs: Annotated[
        int | None, typer.Option(help="only the N newest runs of the pilot (default: all)")
    ] = None,
    all_versions: Annotated[
        bool,
        typer.Option(
            "--all-versions",
            help="judge the runs of every version of the workflow, not only its code as it is now",
        ),
    ] = False,
    with_replays: Annotated[
        bool,
        typer.Option(
            "--with-replays", help="judge runs of scenario files (a hunt's counterexamples) too"
        ),
    ] = False,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="review every pilot (pilots/*.toml here and every pilot with runs), "
            "then write reports/index.html",
        ),
    ] = False,
) -> None:
    """Turn a pilot's drill runs into HTML reports and a promote / refactor / retire verdict."""
    if every:
        if pilot is not None or runs is not None:
            raise fail("--all reviews every pilot on all its runs: leave out PILOT and --runs")
        return review_all(reports_dir(reports))
    if pilot is None:
        raise fail("name a pilot or a pilot file, or pass --all")
    # pandas, papermill and the notebooks' kernel are heavy; other commands never need them.
    from harness.inputs.pilot import PilotError
    from harness.journal import JournalError
    from harness.report.review import ReviewError, first_line, run_review

    try:
        result = run_review(
            pilot, reports_dir(reports), runs, all_versions=all_versions, with_replays=with_replays
        )
    except (ReviewError, PilotError, JournalError, OSError, ValueError) as exc:
        raise fail(first_line(str(exc))) from None
    print_result(result)


# ---------------------------------------------------------------- printing the result

_out = Console()
_STYLE = {"PROMOTE": "bold green", "REFACTOR": "bold yellow", "RETIRE": "bold red"}


def print_result(result: ReviewResult, console: Console = _out) -> None:
    """The verdict, its main reasons, what would change it, the evidence and the pages."""
    console.print(
        Text.assemble((result.decision, _STYLE.get(result.decision, "bold")), f"  {result.pilot}")
    )
    for reason in result.reasons[:3]:
        console.print(f"  - {reason}", soft_wrap=True, markup=False)
    if result.changes:
        first = result.changes[0]
        joint = sum(c.startswith("PROMOTE if") for c in result.changes)
        if (
            first.startswith("PROMOTE if")
            and joint > 1
            and any(c.startswith("PROMOTE needs all") for c in result.changes)
        ):
            # Alone, the first of several joint conditions would read as sufficient.
            first += f" (one of {joint} changes PROMOTE needs together; see the report)"
        console.print(f"  {first}", soft_wrap=True, markup=False)
    # Runs of other versions, or replays, left out: say so where it is seen.
    style = "yellow" if "left out:" in result.evidence else "dim"
    console.print(f"  {result.evidence}", style=style, soft_wrap=True, markup=False)
    console.print(f"  report: {shown(result.html['pilot_review'])}", soft_wrap=True, markup=False)
    # A pilot's [review] notebooks may leave ours out: name only the pages that were made.
    for name, page in result.html.items():
        if name != "pilot_review":
            label = name.replace("_", " ")
            console.print(f"  {label}: {shown(page)}", soft_wrap=True, markup=False)


def review_all(reports: Path) -> None:
    """`chaoslab review --all`: review every pilot found, then write the portfolio page."""
    from harness.report.portfolio_page import review_all as review_each

    done = review_each(reports)
    if not done:
        raise fail(f"no pilots found: no pilots/*.toml here and no runs in {reports / 'runs'}")
    for item in done:
        if item.result is not None:
            print_result(item.result)
        elif item.skipped:
            _out.print(Text(f"{item.pilot}: not reviewed, {item.skipped}", style="dim"))
        else:
            errors.print(
                Text(f"review of {item.pilot} failed: {item.error}", style="bold red"),
                soft_wrap=True,
            )
    print_page(write_page(reports))
    failed = [item.pilot for item in done if item.error]
    if failed:
        raise fail(f"reviews failed: {', '.join(failed)} (the page shows their last review)")


def register(root: typer.Typer) -> None:
    """Add `review` to the `chaoslab` command."""
    root.command("review")(review_command)
