"""`chaoslab review`: the command only; the review itself is imported when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli_support import fail, reports_dir


def review_command(
    pilot: Annotated[str, typer.Argument(metavar="PILOT", help="pilot name or pilot file")],
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
    runs: Annotated[
        int | None, typer.Option(help="only the N newest runs of the pilot (default: all)")
    ] = None,
) -> None:
    """Turn a pilot's drill runs into HTML reports and a promote / refactor / retire verdict."""
    # pandas, papermill and the notebooks' kernel are heavy; other commands never need them.
    from harness.inputs.pilot import PilotError
    from harness.journal import JournalError
    from harness.report.review import ReviewError, first_line, print_result, run_review

    try:
        result = run_review(pilot, reports_dir(reports), runs)
    except (ReviewError, PilotError, JournalError, OSError, ValueError) as exc:
        raise fail(first_line(str(exc))) from None
    print_result(result)
