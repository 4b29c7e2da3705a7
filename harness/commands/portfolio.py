"""`chaoslab portfolio`: the command only (`chaoslab review --all` writes the page too).

The work is imported when a command runs (pandas, papermill and a kernel are heavy).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from harness.cli_support import errors, fail, reports_dir, shown

if TYPE_CHECKING:
    from harness.report.portfolio_page import PortfolioPage

_out = Console()


def print_page(page: PortfolioPage, console: Console = _out) -> None:
    """Each pilot's money line, the portfolio's warnings, and where the page is."""
    from harness.report.portfolio import money_line

    for row in page.book.rows:
        console.print(f"  {money_line(row)}", soft_wrap=True, markup=False)
    for warning in page.book.warnings:
        errors.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
    n = len(page.book.rows)
    console.print(
        f"portfolio: {shown(page.html)} ({n} pilot{'' if n == 1 else 's'}, {page.seconds:.1f} s)",
        soft_wrap=True,
        markup=False,
    )


def write_page(reports: Path) -> PortfolioPage:
    """Write reports/index.html from the reviews there; a failure is one line and exit 2."""
    from harness.report.portfolio_page import write_portfolio
    from harness.report.review import ReviewError, first_line

    try:
        return write_portfolio(reports)
    except (ReviewError, OSError, ValueError) as exc:
        raise fail(first_line(str(exc))) from None


def portfolio_command(
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
) -> None:
    """Rebuild reports/index.html, every pilot's verdict on one page, from existing reviews."""
    from harness.report.portfolio import SUMMARY_NAME

    folder = reports_dir(reports)
    # A mistyped --reports would otherwise get an empty page written into a new folder.
    if not any(folder.glob(f"*/{SUMMARY_NAME}")):
        raise fail(
            f"{folder}: no pilot reviews here (no */{SUMMARY_NAME}); "
            "run `chaoslab review PILOT` or `chaoslab review --all` first"
        )
    print_page(write_page(folder))


def register(root: typer.Typer) -> None:
    """Add `portfolio` to the `chaoslab` command."""
    root.command("portfolio")(portfolio_command)
