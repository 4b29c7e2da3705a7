"""`chaoslab review`: the command only; the review itself is imported when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from harness.cli_support import fail, reports_dir, shown

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
        from harness.commands.portfolio import review_all

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


def register(root: typer.Typer) -> None:
    """Add `review` to the `chaoslab` command."""
    root.command("review")(review_command)
