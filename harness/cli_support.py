"""What every `chaoslab` command shares: one-line errors, exit codes, the reports folder."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one red line on stderr; the caller raises the returned Exit."""
    # soft_wrap: the error stays one line however narrow the terminal.
    errors.print(Text(f"chaoslab: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


def leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def reports_dir(reports: Path | None) -> Path:
    """--reports, else $CHAOSLAB_REPORTS, else ./reports."""
    return reports or Path(os.environ.get("CHAOSLAB_REPORTS", "reports"))
