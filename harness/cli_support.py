"""What every `chaoslab` command shares: one-line errors, exit codes, the reports folder."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from harness import termination

errors = Console(stderr=True)

INTERRUPTED = 130  # Ctrl-C; SIGTERM and SIGHUP become 143 and 129 (harness.termination)

# Whether an interruption was already explained, so `main` adds no second line.
_interrupt_reported = False


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one red line on stderr; the caller raises the returned Exit.

    An interruption (code 130) names the signal behind it and exits with that
    signal's code, so SIGTERM reads and ends like the Ctrl-C it is treated as.
    """
    global _interrupt_reported
    if code == INTERRUPTED:
        _interrupt_reported = True
        code = termination.exit_code(INTERRUPTED)
        sig = termination.received()
        message += f" ({sig.name})" if sig is not None else ""
    # soft_wrap: the error stays one line however narrow the terminal.
    errors.print(Text(f"chaoslab: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


def interrupted_exit() -> int:
    """The exit code of an interruption, explaining it on stderr unless a command did."""
    if not _interrupt_reported:
        fail("interrupted", INTERRUPTED)
    return termination.exit_code(INTERRUPTED)


def leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def reports_dir(reports: Path | None) -> Path:
    """--reports, else $CHAOSLAB_REPORTS, else ./reports; exits 2 if it cannot be a folder."""
    if reports is not None:
        path, named = reports, f"--reports {reports}"
    else:
        path = Path(os.environ.get("CHAOSLAB_REPORTS", "reports"))
        named = f"CHAOSLAB_REPORTS={path}" if "CHAOSLAB_REPORTS" in os.environ else str(path)
    # The first part of the path that exists must be a folder, or nothing can be made under it.
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        blocked = "" if existing == path else f" ({existing} is a file)"
        raise fail(f"{named}: not a folder{blocked}")
    return path


def shown(path: Path) -> str:
    """A path relative to the working folder when it is inside it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
