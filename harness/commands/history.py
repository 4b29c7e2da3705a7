"""``chaoslab history``: import a pilot's production executions beside its drills.

Exit codes: 0 imported (or already imported), 2 bad input: a bad row is one
line, ``FILE:ROW: what is wrong``, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness.cli_support import errors, fail, reports_dir, shown
from harness.wording import pct

if TYPE_CHECKING:
    from harness.history.store import ImportResult

app = typer.Typer(
    help="Production history: import a pilot's execution export for its review.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("import")
def import_command(
    pilot_file: Annotated[Path, typer.Argument(metavar="PILOT_FILE", help="pilot file (TOML)")],
    export: Annotated[
        Path, typer.Argument(metavar="EXPORT_FILE", help="the export its [history] table reads")
    ],
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="import the good rows, list each bad one")
    ] = False,
) -> None:
    """Import a production export (CSV, JSONL, Parquet or n8n executions) for `chaoslab review`."""
    # pandas and pyarrow are heavy; other commands never need them.
    from harness.history import HistoryError
    from harness.history.store import import_history
    from harness.inputs.pilot import PilotError, load_pilot
    from harness.journal import JournalError

    def skipped(line: str) -> None:
        errors.print(f"skipped {line}", soft_wrap=True, markup=False, highlight=False)

    try:
        pilot = load_pilot(pilot_file)
        spec = pilot.spec.history
        if spec is None:
            raise HistoryError(
                f"{pilot_file}: no [history] table; declare the export's format "
                '(e.g. [history] format = "n8n", see docs/declaring.md)'
            )
        result = import_history(
            pilot.name,
            pilot.path,
            spec,
            export,
            reports_dir(reports),
            skip_bad=skip_bad,
            on_skip=skipped,
        )
    except (HistoryError, PilotError, JournalError, OSError) as exc:
        raise fail(str(exc)) from None
    _report(pilot.name, export, result)


def _report(pilot: str, export: Path, r: ImportResult) -> None:
    from datetime import UTC, datetime

    where = shown(r.run_dir)
    if r.already:
        typer.echo(
            f"{shown(export)} is already imported for {pilot} as {where} "
            "(same sha256 and mapping); nothing changed"
        )
        return

    def day(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")

    rate = pct(r.succeeded / r.transactions) if r.transactions else "no"
    typer.echo(
        f"imported {r.executions:,} production executions of {pilot} from {shown(export)}: "
        f"{r.transactions:,} transactions ended ({rate} succeeded), {r.in_flight:,} in flight"
    )
    typer.echo(f"  {day(r.first)} .. {day(r.last)} UTC, {(r.last - r.first) / 86400:.1f} days")
    if r.not_production:
        typer.echo(
            f"  {r.not_production:,} rows left out as not production (test runs, other workflows)"
        )
    if r.skipped:
        n = len(r.skipped)
        typer.echo(f"  {n:,} bad row{'' if n == 1 else 's'} skipped (listed above)")
    for old in r.replaced:
        typer.echo(f"  replaces {shown(old)} (same file, earlier mapping)")
    typer.echo(f"  -> {where}")


def register(root: typer.Typer) -> None:
    """Add the `history` group (`import`) to the `chaoslab` command."""
    root.add_typer(app, name="history")
