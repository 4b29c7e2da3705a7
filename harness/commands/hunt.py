"""`chaoslab hunt`: the command around ``harness.search.hunt``, with its progress display.

One module of ``harness.commands``; ``harness.cli`` registers it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.cli_support import fail, leaf, reports_dir
from harness.search.settings import (
    CORRECTNESS,
    DEFAULT_EVENTS,
    DEFAULT_MAX_FAULTS,
    DEFAULT_REPLAYS,
    DEFAULT_SHRINK_S,
    DEFAULT_WORKERS,
    FAMILIES,
    parse_duration,
)

if TYPE_CHECKING:
    from harness.search.hunt import HuntResult, HuntStatus

console = Console()
PLAIN_EVERY_S = 5.0  # a plain progress line at most this often when not on a terminal


class _View:
    """A live table; rich re-renders it on every refresh, so time left keeps ticking."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.status: HuntStatus | None = None

    def __rich__(self) -> Table:
        table = Table(title=self.title, title_justify="left", box=None)
        for column in ("phase", "tried", "failures", "smallest failing", "time left"):
            table.add_column(column, justify="right")
        s = self.status
        if s is None:
            table.add_row("starting", "", "", "", "")
            return table
        size = "-" if s.best_size is None else f"{s.best_size} faults"
        failures = Text(str(s.failures), style="red" if s.failures else "")
        table.add_row(s.phase, str(s.tried), failures, size, f"{s.time_left():5.1f}s")
        return table


def _plain_line(status: HuntStatus) -> str:
    size = "-" if status.best_size is None else str(status.best_size)
    return (
        f"hunt: {status.phase}, {status.tried} tried, {status.failures} failing, "
        f"smallest failing {size} faults, {status.time_left():.0f}s left"
    )


def hunt(
    pilot_path: Annotated[Path, typer.Argument(metavar="PILOT", help="pilot file (TOML)")],
    budget: Annotated[str, typer.Option(help="time to search, e.g. 60s or 2m")] = "60s",
    seed: Annotated[
        int | None, typer.Option(help="Hypothesis seed (default: random, printed)")
    ] = None,
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
    events: Annotated[
        int, typer.Option(min=1, help="how many captured events each drill sends")
    ] = DEFAULT_EVENTS,
    max_faults: Annotated[int, typer.Option(min=1, help="faults per schedule, at most")] = (
        DEFAULT_MAX_FAULTS
    ),
    shrink_budget: Annotated[
        str, typer.Option(help="extra time past the budget to finish shrinking a failure")
    ] = f"{DEFAULT_SHRINK_S:g}s",
    replays: Annotated[
        int, typer.Option(min=0, help="runs of the final counterexample to check it is stable")
    ] = DEFAULT_REPLAYS,
    faults: Annotated[
        str | None,
        typer.Option(
            help=f"fault families to draw from: {', '.join(FAMILIES)} "
            "(default: the pilot's [hunt] families, else all)"
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=8, help="standing stages running schedules side by side")
    ] = DEFAULT_WORKERS,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="start every service afresh for each schedule (slow)"),
    ] = False,
    slo: Annotated[
        bool, typer.Option("--slo", help="judge the SLO too (default: correctness only)")
    ] = False,
    max_schedules: Annotated[
        int | None, typer.Option(min=0, help="stop exploring after this many schedules")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no live progress")] = False,
) -> None:
    """Search fault schedules for the smallest one that breaks an invariant."""
    # Imported here: the hunt (Hypothesis, the drill engine) is heavy; other commands skip it.
    from harness.inputs.pilot import PilotError, load_pilot
    from harness.search.hunt import hunt as run_hunt

    try:
        budget_s = parse_duration(budget)
        shrink_s = parse_duration(shrink_budget, "--shrink-budget")
        pilot = load_pilot(pilot_path)
        families = _families(pilot.spec.hunt.families, faults)
    except (PilotError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    folder = reports_dir(reports)
    display, show = _progress(f"hunt {pilot.name}  budget {budget_s:g}s", quiet)
    try:
        with display:
            result = run_hunt(
                pilot,
                budget_s=budget_s,
                seed=seed,
                reports=folder,
                events=events,
                max_faults=max_faults,
                shrink_s=shrink_s,
                replays=replays,
                judged=(*CORRECTNESS, "slo") if slo else CORRECTNESS,
                families=families,
                on_update=show,
                workers=workers,
                standing=not fresh,
                max_schedules=max_schedules,
            )
    except KeyboardInterrupt:
        raise fail("interrupted; every drill process was stopped", 130) from None
    except (PilotError, OSError, ValueError, RuntimeError) as exc:
        raise fail(str(leaf(exc))) from None
    _print_result(result, pilot_path)
    raise typer.Exit(1 if result.found else 0)


def _families(declared: list[str], faults: str | None) -> list[str]:
    """The fault families to draw from: ``--faults`` when given, else the pilot's."""
    if faults is None:
        return declared
    families = [f.strip() for f in faults.split(",") if f.strip()]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown or not families:
        raise ValueError(f"--faults: expected some of {', '.join(FAMILIES)}, got {faults!r}")
    return families


def _progress(
    title: str, quiet: bool
) -> tuple[contextlib.AbstractContextManager[object], Callable[[HuntStatus], None]]:
    """The live table on a terminal, else a plain line now and then (nothing when quiet)."""
    live = not quiet and console.is_terminal
    view = _View(title)
    last_line = [0.0]

    def show(status: HuntStatus) -> None:
        view.status = status
        if live or quiet:
            return
        now = time.monotonic()
        if now - last_line[0] >= PLAIN_EVERY_S or status.phase in ("replaying", "done"):
            last_line[0] = now
            console.print(_plain_line(status), highlight=False)

    display: contextlib.AbstractContextManager[object] = (
        Live(view, console=console, transient=True, refresh_per_second=4)
        if live
        else contextlib.nullcontext()
    )
    return display, show


def _print_result(result: HuntResult, pilot_path: Path) -> None:
    """The hunt's story, and where its counterexample and log are."""
    for line in result.story:
        style = "bold red" if line.startswith("FLAKY") else None
        console.print(line, style=style, highlight=False, soft_wrap=True)
    if result.counterexample is not None:
        console.print(f"Saved {result.counterexample}", highlight=False, soft_wrap=True)
        console.print(
            f"Replay: chaoslab drill {pilot_path} --scenario-file {result.counterexample}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"Log: {result.hunt_dir / 'hunt.json'}", highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add `hunt` to the `chaoslab` command."""
    root.command("hunt")(hunt)
