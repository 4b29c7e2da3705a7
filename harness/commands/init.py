"""`chaoslab init [DIR]`: the command only; the layout is in harness.scaffold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness import __version__
from harness.cli_support import fail
from harness.scaffold import LAYOUT, ScaffoldError, init_layout
from harness.scaffold.gitignore import ensure_gitignore
from harness.scaffold.install_source import installed_origin, requirement


def init_command(
    folder: Annotated[
        Path, typer.Argument(metavar="[DIR]", help="the repository to set up (default: here)")
    ] = Path("."),
    template: Annotated[
        str,
        typer.Option(
            "--template",
            "-t",
            help="the example pilot: webhook (the default) or queue (a NATS queue consumer)",
        ),
    ] = "webhook",
) -> None:
    """Scaffold pilots/, fixtures/, reports/ and CI for drilling your workflow; never overwrites."""
    try:
        written = init_layout(folder, template)
    except (ScaffoldError, OSError) as exc:
        raise fail(str(exc)) from None
    for path in written:
        typer.echo(f"created {path}")
    try:
        ignore, lacking = ensure_gitignore(folder)
    except OSError as exc:  # the layout is written and usable; say what is missing
        ignore, lacking = None, []
        typer.echo(f"could not write {folder / '.gitignore'}: {exc.strerror}", err=True)
    if ignore is not None:
        typer.echo(f"created {ignore}")
    elif lacking:
        typer.echo(f"kept {folder / '.gitignore'}; you may add: {' '.join(lacking)}")
    wheel = requirement(installed_origin(), __version__)[1]
    if wheel.startswith("./"):
        typer.echo(
            f"next: commit the chaoslab wheel as {wheel[2:]} for CI "
            "(requirements-chaoslab.txt says how)"
        )
    pilot = folder / next(iter(LAYOUT))
    typer.echo(f"next: fill in the lines marked EDIT in {pilot}, then `chaoslab drill {pilot}`")


def register(root: typer.Typer) -> None:
    """Add `init` to the `chaoslab` command."""
    root.command("init")(init_command)
