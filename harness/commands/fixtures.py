"""``chaoslab fixtures``: import HAR captures and check fixture files.

Exit codes: 0 fine, 2 bad input (every problem printed as one line, never a
traceback).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from harness.inputs.fixtures import FixtureError, check_fixtures, dump_fixtures, dumps_fixtures
from harness.inputs.fixtures import load_fixtures as _load
from harness.inputs.har import HarError, HarImport, import_har

app = typer.Typer(
    help="Captured webhook requests: import HAR exports, check JSONL fixture files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BAD_INPUT = 2


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command("import")
def import_command(
    har_path: Annotated[Path, typer.Argument(help="HAR 1.2 file exported by a browser or proxy")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="JSONL file to write (default: standard output)"),
    ] = None,
    pilot: Annotated[
        Path | None,
        typer.Option(
            "--pilot",
            help="Pilot file whose [[expectations]] rules say where entity ids and versions are",
        ),
    ] = None,
) -> None:
    """Convert the HAR's requests with a body into fixtures (JSONL)."""
    try:
        result = import_har(har_path)
        if pilot is not None:
            result = _keyed_by_pilot(result, har_path, pilot)
        if not result.records:
            # Written out, this would be a fixtures file every drill rejects.
            raise HarError(f"{har_path}: no request with a body to import")
        if out is None:
            sys.stdout.write(dumps_fixtures(result.records))
        else:
            dump_fixtures(result.records, out)
    except (HarError, FixtureError) as exc:
        _err(str(exc))
        raise typer.Exit(BAD_INPUT) from None
    except OSError as exc:
        _err(f"--out {out}: cannot write: {_why_not_written(out, exc)}")
        raise typer.Exit(BAD_INPUT) from None
    for note in result.notes:
        _err(f"note: {note}")
    schemes = Counter(r.signing for r in result.records)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(schemes.items())) or "none"
    target = str(out) if out is not None else "standard output"
    _err(f"{har_path}: imported {len(result.records)} requests ({summary}) to {target}")


def _keyed_by_pilot(result: HarImport, har_path: Path, pilot_path: Path) -> HarImport:
    # Pilot files pull in pydantic and the partner declarations: load them only when asked.
    from harness.inputs.har_pilot import key_by_rules
    from harness.inputs.pilot import PilotError, load_pilot

    try:
        # The pilot's own fixtures may be the file this import is about to write.
        spec = load_pilot(pilot_path, require_fixtures=False).spec
    except PilotError as exc:
        raise HarError(str(exc)) from None
    return key_by_rules(
        result, str(har_path), str(pilot_path), spec.expectations, sorted(spec.partners)
    )


def _why_not_written(out: Path | None, exc: OSError) -> str:
    # mkdir on a path through a file reports "File exists"; name the file instead.
    if out is not None:
        for folder in out.parents:
            if folder.exists() and not folder.is_dir():
                return f"{folder} is a file, not a folder"
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc.strerror or exc)


@app.command("check")
def check_command(
    path: Annotated[Path, typer.Argument(help="JSONL fixture file")],
) -> None:
    """Print every problem as file:line: field: problem; exit 2 if there is any."""
    problems = check_fixtures(path)
    if problems:
        for problem in problems:
            typer.echo(problem)
        _err(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        raise typer.Exit(BAD_INPUT)
    records = _load(path)
    events = {r.event_id for r in records}
    entities = {r.entity_id for r in records if r.entity_id}
    schemes = ", ".join(sorted({r.signing for r in records})) or "none"
    typer.echo(
        f"{path}: ok, {len(records)} requests, {len(events)} events, "
        f"{len(entities)} entities, signing: {schemes}"
    )


def main() -> None:
    """`python -m harness.commands.fixtures`: the `fixtures` group on its own."""
    app()


def register(root: typer.Typer) -> None:
    """Add the `fixtures` group (`import`, `check`) to the `chaoslab` command."""
    root.add_typer(app, name="fixtures", help="Check and import captured payloads.")


if __name__ == "__main__":
    main()
