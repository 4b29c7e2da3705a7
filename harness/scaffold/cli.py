"""`chaoslab init [DIR]`: the command only; the layout is in harness.scaffold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli_support import fail
from harness.scaffold import LAYOUT, ScaffoldError, init_layout


def init_command(
    folder: Annotated[
        Path, typer.Argument(metavar="[DIR]", help="the repository to set up (default: here)")
    ] = Path("."),
) -> None:
    """Scaffold pilots/, fixtures/, reports/ and CI for drilling your workflow; never overwrites."""
    try:
        written = init_layout(folder)
    except (ScaffoldError, OSError) as exc:
        raise fail(str(exc)) from None
    for path in written:
        typer.echo(f"created {path}")
    pilot = folder / next(iter(LAYOUT))
    typer.echo(
        f"next: fill in the lines marked EDIT in {pilot}, then `chaoslab drill {pilot}`"
    )
