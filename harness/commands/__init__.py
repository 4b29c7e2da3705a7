"""The `chaoslab` commands: one module a command, assembled by ``harness.cli``.

Each module holds its command's options, output and exit codes, and a
``register(root)`` that adds it to the `chaoslab` app; the work itself is
imported from its stage, mostly when the command runs (pandas, papermill and
a kernel are heavy, and other commands never need them). Adding a command is
adding a module and its name here, in the order `chaoslab --help` lists it.
"""

from __future__ import annotations

from importlib import import_module

import typer

__all__ = ["COMMANDS", "register_all"]

COMMANDS = (
    "fixtures",
    "proxy",
    "drill",
    "init",
    "review",
    "portfolio",
    "hunt",
    "baseline",
    "history",
    "partner",
)


def register_all(root: typer.Typer) -> None:
    """Add every command of ``COMMANDS`` to ``root``, in order."""
    for name in COMMANDS:
        import_module(f"{__name__}.{name}").register(root)
