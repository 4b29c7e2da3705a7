"""The commands are one module each in harness.commands, and `chaoslab` registers every one."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

import harness.commands
from harness.cli import app
from harness.commands import COMMANDS


def test_every_command_module_is_registered_and_every_registered_name_is_a_module() -> None:
    folder = Path(harness.commands.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(COMMANDS)


def test_chaoslab_offers_each_command_under_its_module_name() -> None:
    offered = getattr(get_command(app), "commands", {})
    assert set(offered) == set(COMMANDS)
