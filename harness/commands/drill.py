"""`chaoslab drill PILOT`: run a pilot's scenarios against the workflow and check the invariants.

Exit codes: 0 every invariant held, 1 an invariant failed, 2 bad input, the
drill could not run, or a partner's rejections are the only finding; 130
interrupted (after cleaning up).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.cli_support import fail, leaf, reports_dir

if TYPE_CHECKING:
    from harness.drill import DrillResult, Progress
    from harness.inputs.pilot import Pilot, ScenarioSpec

console = Console()


# Errors a person can act on: printed as one line, exit code 2, no traceback.
# Anything else is a bug in chaoslab and keeps its traceback.
_USER_ERRORS = (
    ("harness.inputs.pilot", "PilotError"),
    ("harness.inputs.fixtures", "FixtureError"),
    ("harness.replay.signing", "SigningError"),
    ("harness.journal", "JournalError"),
    ("harness.drill.errors", "DrillError"),
    ("harness.runtime.processes", "ServiceError"),
    ("harness.runtime.faultproxy", "FaultProxyError"),
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """The error classes above whose modules are loaded (an error of one not loaded can't be)."""
    found: list[type[BaseException]] = [OSError]
    for module, name in _USER_ERRORS:
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def _progress_view(snapshot: Progress | None, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=True, box=None)
    for column in ("phase", "elapsed", "attempts", "in flight", "2xx", "failed", "redelivered"):
        table.add_column(column, justify="right")
    table.add_column("duplicated effects", justify="right")
    if snapshot is None:
        table.add_row("starting", "", "", "", "", "", "", "")
        return table
    s = snapshot.stats
    dup = Text(str(snapshot.duplicated_effects), style="red" if snapshot.duplicated_effects else "")
    table.add_row(
        snapshot.phase,
        f"{snapshot.elapsed_s:5.1f}s",
        f"{s.attempts}/{snapshot.planned}",
        str(s.in_flight),
        str(s.delivered),
        str(s.failed),
        str(s.redeliveries),
        dup,
    )
    return table


def result_line(result: DrillResult) -> Text:
    """One line: the verdict, which drill, and what broke (all `--quiet` prints)."""
    verdict = Text("PASS" if result.ok else "FAIL", style="bold green" if result.ok else "bold red")
    broke = ", ".join(r.name for r in result.results if not r.ok)
    return Text.assemble(
        verdict,
        f"  {result.pilot} :: {result.scenario}  seed {result.seed}  "
        f"{result.duration_s:.1f}s  run {result.run_id}",
        f"  broke {broke}" if broke else "",
    )


def result_view(result: DrillResult) -> Group:
    """The verdict line, a table of every invariant, and what the run could not judge."""
    head = result_line(result)
    table = Table(box=None, show_header=True)
    table.add_column("invariant")
    table.add_column("holds")
    table.add_column("what happened")
    for r in result.results:
        if not r.ok:
            mark = Text("NO", style="bold red")
        elif r.judged_nothing:
            # Held only because there was nothing to judge: not a pass to rely on.
            mark = Text("n/a", style="yellow")
        else:
            mark = Text("yes", style="green")
        detail = r.summary
        if not r.ok and r.examples:
            detail += "  e.g. " + ", ".join(r.examples[:3])
        table.add_row(r.name, mark, detail)
    return Group(head, table, *_notes(result))


def _notes(result: DrillResult) -> list[Text]:
    """What the run could not judge: events no rule covers, calls no route declares."""
    notes = [Text(f"pilot: {warning}", style="yellow") for warning in result.pilot_warnings]
    if result.unmatched_events:
        n = len(result.unmatched_events)
        shown = ", ".join(result.unmatched_events[:3])
        notes.append(
            Text(
                f"{n} event{'s' if n != 1 else ''} matched no [[expectations]] rule, so nothing "
                f"was expected of {'them' if n != 1 else 'it'}: {shown}{', …' if n > 3 else ''}",
                style="yellow",
            )
        )
    if result.unexpected_calls:
        n = len(result.unexpected_calls)
        kinds = sorted(set(result.unexpected_calls))
        shown = "; ".join(kinds[:3]) + ("; …" if len(kinds) > 3 else "")
        notes.append(
            Text(
                f"{n} partner call{'s' if n != 1 else ''} matched no declared route "
                f"(answered 404): {shown}",
                style="yellow",
            )
        )
    return notes + _findings(result)


def _findings(result: DrillResult) -> list[Text]:
    """What the nemesis did, and unknown outcomes: shown even when every invariant holds."""
    notes = []
    for restart in result.workflow_restarts:
        moment = (
            f"after delivery {restart['after_delivery']}"
            if restart.get("after_delivery") is not None
            else f"at {restart.get('at_s')}s"
        )
        notes.append(
            Text(
                f"workflow killed {moment} ({restart['killed_at']:.2f}s into the run, pid "
                f"{restart['pid_before']}) and back {restart['down_s']:.2f}s later "
                f"(pid {restart['pid_after']})",
                style="cyan",
            )
        )
    for r in result.results:
        # What the workflow reported for events it did not complete, in its own words.
        reported = [x for x in r.examples if x.startswith(("dead-lettered ", "superseded "))]
        if r.name == "exactly_once" and r.ok and reported:
            shown = "; ".join(reported[:3])
            notes.append(Text(f"reported by the workflow: {shown}", style="cyan"))
        if r.name == "dead_lettered_applied" and r.counts.get("applied"):
            shown = ", ".join(r.examples[:3])
            notes.append(Text(f"dead-lettered but applied: {shown}", style="yellow"))
    if result.workflow_errors:
        n = len(result.workflow_errors)
        first = result.workflow_errors[0]
        about = f" handling {first['event_id']}" if first.get("event_id") else ""
        notes.append(
            Text(
                f"the workflow logged {n} error{'s' if n != 1 else ''}, e.g.{about}: "
                f"{first['line']} ({first['where']})",
                style="yellow",
            )
        )
    if result.contract_only:
        notes.append(
            Text(
                "only a partner's rejections failed: the drill cannot judge those events "
                "until the workflow and the declared API agree (exit 2)",
                style="yellow",
            )
        )
    return notes


def _scenarios(
    pilot: Pilot, names: list[str] | None, scenario_file: Path | None
) -> list[tuple[str, ScenarioSpec]]:
    from harness.inputs.pilot import load_scenario_file

    if scenario_file is not None:
        return list(load_scenario_file(scenario_file, pilot).items())
    chosen = names or list(pilot.spec.scenarios)
    return [(name, pilot.scenario(name)) for name in chosen]


async def _drill_all(
    pilot: Pilot,
    scenarios: list[tuple[str, ScenarioSpec]],
    seed: int | None,
    reports: Path,
    live: bool,
    origin: str = "pilot",
    volume: int | None = None,
    quiet: bool = False,
) -> list[DrillResult]:
    from harness.drill import run_drill

    results: list[DrillResult] = []
    for name, spec in scenarios:
        title = f"{pilot.name} :: {name}"
        if live:
            with Live(_progress_view(None, title), console=console, transient=True) as view:

                def show(snapshot: Progress, view: Live = view, title: str = title) -> None:
                    view.update(_progress_view(snapshot, title))

                result = await run_drill(
                    pilot, name, scenario=spec, seed=seed, reports=reports, progress=show,
                    origin=origin, volume=volume,
                )  # fmt: skip
        else:
            result = await run_drill(
                pilot, name, scenario=spec, seed=seed, reports=reports, origin=origin,
                volume=volume,
            )  # fmt: skip
        console.print(result_line(result) if quiet else result_view(result), soft_wrap=quiet)
        results.append(result)
    return results


def drill(
    pilot_path: Annotated[Path, typer.Argument(metavar="PILOT", help="pilot file (TOML)")],
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help="scenario name (repeatable)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="override every scenario's seed")] = None,
    scenario_file: Annotated[
        Path | None, typer.Option(help="run the scenarios of this file (e.g. a hunt's)")
    ] = None,
    reports: Annotated[Path | None, typer.Option(help="reports folder")] = None,
    quiet: Annotated[
        bool, typer.Option(help="no live progress, and one line per scenario (its verdict)")
    ] = False,
    volume: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help="events per scenario: the captures, then salted copies of them",
        ),
    ] = None,
) -> None:
    """Run a pilot's scenarios against the workflow and check the invariants."""
    from harness.inputs.pilot import load_pilot

    try:
        pilot = load_pilot(pilot_path)
        chosen = _scenarios(pilot, scenario, scenario_file)
    except _user_errors() as exc:
        raise fail(str(exc)) from None
    live = not quiet and console.is_terminal
    try:
        origin = "pilot" if scenario_file is None else "scenario-file"
        results = asyncio.run(
            _drill_all(pilot, chosen, seed, reports_dir(reports), live, origin, volume, quiet)
        )
    except KeyboardInterrupt:
        raise fail("interrupted; everything the drill started was stopped", 130) from None
    except Exception as exc:
        cause = leaf(exc)
        if isinstance(cause, _user_errors()):
            raise fail(str(cause)) from None
        raise
    if len(results) > 1 and not quiet:
        summary = Table(title="summary", box=None, title_justify="left")
        summary.add_column("scenario")
        summary.add_column("result")
        summary.add_column("failed invariants")
        for r in results:
            failed = ", ".join(x.name for x in r.results if not x.ok)
            mark = Text("pass", style="green") if r.ok else Text("FAIL", style="bold red")
            summary.add_row(r.scenario, mark, failed or "-")
        console.print(summary)
    raise typer.Exit(drill_exit_code(results))


def drill_exit_code(results: list[DrillResult]) -> int:
    """0 when every invariant holds; 2 when a partner's rejections are the only finding; else 1."""
    if all(r.ok for r in results):
        return 0
    if all(r.ok or r.contract_only for r in results):
        return 2
    return 1


def register(root: typer.Typer) -> None:
    """Add `drill` to the `chaoslab` command."""
    root.command("drill")(drill)
