"""What every event source kind offers a drill: the ``SourceRun`` protocol and its contexts.

A kind's ``open`` gets an ``OpenContext`` and yields a ``SourceRun``; the drill
asks it for a deliverer (what replays or drives the events), how much is
still pending, and what run.json and the outcomes table keep of it. A kind
whose run a standing stage may keep open across drills (harness.drill.standing)
yields a ``StandingRun``: it can be emptied for the next drill, and says
whether the workflow still consumes from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import ScenarioSpec
from harness.plan.schedule import Plan
from harness.replay.sender import Delivering, DeliveryHooks
from harness.runtime.processes import ServiceError


def declared_program(declared: str, base: Path) -> str:
    """A broker program the pilot names (``[queue] server``): a path, relative to the
    pilot's folder, or a name on PATH; ServiceError naming the key when it is neither."""
    path = Path(declared) if Path(declared).is_absolute() else base / declared
    if os.sep in declared or path.exists():
        return str(path)
    found = shutil.which(declared)
    if found is None:
        raise ServiceError(f"server: {declared!r} not found (looked in {base} and on PATH)")
    return found


@dataclass(frozen=True)
class OpenContext:
    """What a kind may read when it opens for a drill."""

    base: Path  # the pilot's folder (relative paths in its table)
    run_dir: Path
    scenario: ScenarioSpec
    events: Sequence[CapturedRequest]


@dataclass(frozen=True)
class DeliveryContext:
    """What a kind's deliverer is given: the plan, where rows go, the workflow's address."""

    events: Sequence[CapturedRequest]
    plan: Plan
    run_id: str
    scenario: str
    record: Callable[[dict[str, Any]], None]
    hooks: DeliveryHooks
    workflow_url: str
    meta: dict[str, Any]  # the source's part of run.json, which the deliverer may add to
    # The drill's placeholder values ({links.NAME.url}, {port} ...), for what a kind runs.
    values: Mapping[str, str] = field(default_factory=dict)
    # Where a kind the workflow sends requests to (a polled source) journals each one,
    # as partners do theirs; None when nothing is journaled.
    request: Callable[[dict[str, Any]], None] | None = None


class SourceRun(Protocol):
    """A source opened for one drill."""

    link_to: str  # the ``[links.X] to`` value that reaches it ("queue", "source")
    meta_key: str  # its part of run.json ("broker", "poll")

    @property
    def upstream(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def deliverer(self, ctx: DeliveryContext) -> Delivering: ...

    async def still_pending(self) -> int: ...

    async def outcomes(self, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]: ...


class StandingRun(SourceRun, Protocol):
    """A source a standing stage keeps open from drill to drill."""

    async def begin_drill(self, ctx: OpenContext) -> None:
        """Ready for the drill ``ctx`` describes: nothing an earlier drill sent is left in
        the source, and what the run remembers (published, finished) is this drill's alone."""
        ...

    async def consuming(self) -> bool:
        """Whether the workflow is bound to the source and asking for work (so a drill's
        events reach it); a stage whose workflow stopped consuming is replaced."""
        ...
