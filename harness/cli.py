"""The `chaoslab` command: one Typer app, assembled from ``harness.commands``.

Each command is a module of ``harness.commands``; this module adds the
version flag, one-line usage errors and the exit codes every command shares.

Exit codes: 0 every invariant held, 1 an invariant failed, 2 bad input or the
drill could not run, 130 interrupted (after cleaning up); SIGTERM and SIGHUP
are handled like Ctrl-C and exit 143 and 129.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

# Typer bundles its own click; its exceptions are caught to report them in one line.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from harness import __version__, termination
from harness.cli_support import errors, interrupted_exit
from harness.commands import register_all

app = typer.Typer(
    name="chaoslab",
    help="Chaos drills for workflow automations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"chaoslab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Chaos drills for workflow automations."""


register_all(app)


def _usage_error(exc: UsageError) -> int:
    """A wrong option or value, in one line (click's own report is a boxed paragraph)."""
    command = exc.ctx.command_path if exc.ctx is not None else "chaoslab"
    message = " ".join(exc.format_message().split()).rstrip(".")
    errors.print(f"{command}: {message}; see '{command} --help'", soft_wrap=True, markup=False)
    return exc.exit_code


def run(argv: list[str] | None = None) -> int:
    """Run one command (``argv`` after `chaoslab`, else the process's) and return its exit code.

    In-process, as tests of bad input use it; `main` adds the signal handling
    and the exit.
    """
    try:
        outcome = app(args=argv, standalone_mode=False, prog_name="chaoslab")
    except NoArgsIsHelpError as exc:
        typer.echo(exc.format_message())
        outcome = 2
    except UsageError as exc:
        outcome = _usage_error(exc)
    except ClickException as exc:
        errors.print(f"chaoslab: {exc.format_message()}", soft_wrap=True, markup=False)
        outcome = exc.exit_code
    except typer.Abort:
        errors.print("chaoslab: aborted")
        outcome = 1
    except KeyboardInterrupt:
        outcome = 130
    code = outcome if isinstance(outcome, int) else 0
    if code == 130 or termination.received() is not None:
        code = interrupted_exit()
    return code


def _forget_caught_interrupt() -> None:
    """Clear CPython's note of an unhandled Ctrl-C, which a caught one may have left.

    A KeyboardInterrupt that leaves code run by a string ``exec`` (dataclasses,
    fastjsonschema and other code generators compile theirs that way) makes
    CPython note an unhandled Ctrl-C, even if it is caught afterwards, as
    ``run`` catches it. Under ``python -m harness.cli`` that note outlives the
    exit code: the interpreter ends by killing itself with SIGINT (-2), not
    with 143 or 130. Each string ``exec`` clears the note as it starts, and
    this one raises nothing; everything before it returned, so nothing was left
    unhandled. (The `chaoslab` script exits another way and never saw this.)
    """
    exec("pass", {})


def main() -> None:
    """The `chaoslab` entry point: SIGTERM and SIGHUP handled like Ctrl-C, then exit."""
    termination.install()
    code = run()
    _forget_caught_interrupt()
    sys.exit(code)


if __name__ == "__main__":
    main()
