"""`chaoslab baseline update`: the command; drills and figures are imported when it runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.cli_support import errors, fail, leaf, reports_dir

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from harness.drill import DrillResult
    from harness.inputs.pilot import Pilot

app = typer.Typer(
    help="Baseline figures per scenario, committed beside the pilot and held in CI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@dataclass
class _Measured:
    scenario: str
    seed: int
    results: list[DrillResult]
    figures: dict[str, float | None]


async def _measure(
    pilot: Pilot, scenarios: Sequence[str], runs: int, reports: Path
) -> list[_Measured]:
    from harness.drill import run_drill
    from harness.regression.baseline import figures_of, median_figures
    from harness.runtime.faultproxy import open_fault_proxy

    measured: list[_Measured] = []
    # One fault proxy for every drill: starting a server per drill costs more than a drill's setup.
    async with open_fault_proxy() as proxy:
        for name in scenarios:
            results = [
                await run_drill(pilot, name, reports=reports, fault_proxy=proxy)
                for _ in range(runs)
            ]
            figures = median_figures([figures_of(r.run_dir) for r in results])
            measured.append(_Measured(name, results[0].seed, results, figures))
    return measured


def update(
    pilot_path: Annotated[Path, typer.Argument(metavar="PILOT", help="pilot file (TOML)")],
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="only this scenario (repeatable); others are kept"),
    ] = None,
    runs: Annotated[
        int, typer.Option(min=1, max=20, help="drills per scenario; the median is stored")
    ] = 1,
    reports: Annotated[Path | None, typer.Option(help="reports folder for the runs")] = None,
) -> None:
    """Drill the scenarios and store their figures in <pilot>.baseline.json."""
    from harness.inputs.pilot import PilotError, load_pilot
    from harness.regression.baseline import (
        BaselineError,
        baseline_path,
        load_baseline,
        merge_baseline,
        read_baseline_file,
        write_baseline,
    )

    try:
        pilot = load_pilot(pilot_path)
        names = scenario or list(pilot.spec.scenarios)
        for name in names:
            pilot.scenario(name)
        path = baseline_path(pilot)
        existing = read_baseline_file(path) if path.exists() else None
        old = load_baseline(path) if existing is not None else {}
    except (PilotError, BaselineError) as exc:
        raise fail(str(exc)) from None
    folder = reports_dir(reports)
    try:
        measured = asyncio.run(_measure(pilot, names, runs, folder))
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was written", 130) from None
    except Exception as exc:
        cause = leaf(exc)
        if isinstance(cause, (OSError, ValueError, RuntimeError)):
            raise fail(str(cause)) from None
        raise

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = {
        m.scenario: {
            "figures": m.figures,
            "runs": len(m.results),
            "seed": m.seed,
            "updated": stamp,
        }
        for m in measured
    }
    try:
        write_baseline(path, merge_baseline(existing, pilot, entries))
    except OSError as exc:
        raise fail(f"{path}: cannot write ({exc.strerror or exc})") from None

    _print_figures(
        measured, old, Table(title=f"{pilot.name}: baseline {path}", title_justify="left", box=None)
    )


def _print_figures(
    measured: Sequence[_Measured], old: Mapping[str, Mapping[str, float | None]], table: Table
) -> None:
    """Each scenario's invariants and figures (old → new); say which did not do as expected."""
    from harness.regression.baseline import FIGURES, SHORT, figure_text

    table.add_column("scenario", no_wrap=True)
    table.add_column("invariants")
    for name in FIGURES:
        table.add_column(SHORT[name], justify="right", no_wrap=True)
    for m in measured:
        broken = sorted({x.name for r in m.results for x in r.results if not x.ok})
        expected = m.results[0].expect == "violation"
        if broken:
            verdict = Text("broke " + ", ".join(broken), style="yellow" if expected else "bold red")
        else:
            verdict = Text("held", style="bold red" if expected else "green")
        before = old.get(m.scenario, {})
        cells = []
        for name in FIGURES:
            now = figure_text(name, m.figures[name])
            was = before.get(name)
            cells.append(now if name not in before else f"{figure_text(name, was)} → {now}")
        table.add_row(m.scenario, verdict, *cells)
    console.print(table)
    mismatched = [
        m.scenario
        for m in measured
        if any(not r.ok for r in m.results) != (m.results[0].expect == "violation")
    ]
    if mismatched:
        errors.print(
            "chaoslab: note: stored anyway, but these scenarios did not do what they expect "
            f"(the suite will fail them): {', '.join(mismatched)}",
            soft_wrap=True,
        )


app.command("update")(update)


def register(root: typer.Typer) -> None:
    """Add the `baseline` group (`update`) to the `chaoslab` command."""
    root.add_typer(app, name="baseline")
