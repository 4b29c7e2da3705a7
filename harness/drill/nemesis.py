"""The workflow nemesis: kill the workflow process (SIGKILL) mid-drill and start it again.

In the manner of Jepsen's nemesis, a scenario's ``workflow = { restarts = [...] }``
says when. A restart ``after_delivery = N`` is bound to the plan: once the
delivery at position N has been answered (no attempt in flight), before the
delivery after it goes out, so a hunt replays it the same way every time. One
``at_s = T`` happens at T seconds into the replay, whatever is in flight.

Nothing is flushed or closed: what the workflow kept only in memory (a dedupe
cache, a queue of acknowledged events, unwritten state) is lost; its state
folder, environment and port stay, and the drill goes on once it answers its
ready path again. A timed restart still due when sending ends happens then,
so every restart a scenario names happens. Each is recorded (when, pids
before and after) for run.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.inputs.pilot import Restart
from harness.runtime.processes import Service, ServiceError, kill_and_restart

# SIGKILL the process, start it again, wait until ready: (pid before, pid after).
RestartFn = Callable[[], Awaitable[tuple[int, int]]]
Record = Callable[[dict[str, Any]], None]


class DeliveryHooks(Protocol):
    """What the sender calls before each delivery, so a nemesis can act between them."""

    async def before_dispatch(self, position: int) -> None: ...


@dataclass
class _Done:
    restart: Restart
    killed_at: float
    ready_at: float
    pid_before: int
    pid_after: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "after_delivery": self.restart.after_delivery,
            "at_s": self.restart.at_s,
            "killed_at": round(self.killed_at, 4),
            "ready_at": round(self.ready_at, 4),
            "down_s": round(self.ready_at - self.killed_at, 4),
            "pid_before": self.pid_before,
            "pid_after": self.pid_after,
        }


class Nemesis:
    """Delivery hooks that restart the workflow where the scenario says, then defer to ``inner``."""

    def __init__(
        self,
        restarts: Sequence[Restart],
        restart: RestartFn,
        in_flight: Callable[[], int],
        inner: DeliveryHooks,
    ) -> None:
        self._by_position = sorted(
            (r for r in restarts if r.after_delivery is not None),
            key=lambda r: r.after_delivery or 0,
        )
        self._by_time = sorted(
            (r for r in restarts if r.at_s is not None), key=lambda r: r.at_s or 0.0
        )
        self._restart = restart
        self._in_flight = in_flight
        self._inner = inner
        self._lock = asyncio.Lock()  # one restart at a time
        # Deliveries pass one at a time while a position-bound restart is due, so
        # none slips past it to a workflow that is about to be killed.
        self._gate = asyncio.Lock()
        self._ended = asyncio.Event()
        self._hurry = asyncio.Event()
        self._done: list[_Done] = []
        self._t0 = time.monotonic()

    def start_clock(self, t0: float) -> None:
        """Count the timed restarts from `t0` (time.monotonic), the moment the replay started."""
        self._t0 = t0

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def attempt_ended(self) -> None:
        """Called whenever a delivery attempt ends: a wait for quiet looks again."""
        self._ended.set()

    async def _quiet(self) -> None:
        while self._in_flight() > 0:
            self._ended.clear()
            await self._ended.wait()

    async def _do(self, restart: Restart) -> None:
        async with self._lock:
            killed_at = self._now()
            before, after = await self._restart()
            self._done.append(_Done(restart, killed_at, self._now(), before, after))

    async def before_dispatch(self, position: int) -> None:
        """Run the restarts due before this delivery,
        each once no attempt is in flight, then let it go."""
        async with self._gate:
            while self._by_position and (self._by_position[0].after_delivery or 0) < position:
                restart = self._by_position.pop(0)
                await self._quiet()
                await self._do(restart)
        # A restart in progress (a timed one) holds new deliveries until the workflow is back.
        async with self._lock:
            pass
        await self._inner.before_dispatch(position)

    async def run_clock(self) -> None:
        """Drive the timed restarts; it ends by itself once ``after_sending`` was called."""
        for restart in self._by_time:
            wait = (restart.at_s or 0.0) - self._now()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), wait)
            await self._do(restart)

    async def after_sending(self) -> None:
        """What is still due happens now: restarts after the last delivery, and timed ones."""
        self._hurry.set()
        while self._by_position:
            restart = self._by_position.pop(0)
            await self._quiet()
            await self._do(restart)

    def recorder(self, record: Record) -> Record:
        """``record`` (the journal's attempt writer), also telling this nemesis an attempt ended."""

        def wrapped(row: dict[str, Any]) -> None:
            record(row)
            self.attempt_ended()

        return wrapped

    def history(self) -> list[dict[str, Any]]:
        """The restarts done so far, as run.json records them."""
        return [d.as_dict() for d in self._done]


def workflow_nemesis(
    restarts: Sequence[Restart],
    workflow: Service | None,
    inner: DeliveryHooks,
    in_flight: Callable[[], int],
) -> Nemesis | None:
    """The nemesis a scenario asks for, or None when it asks for no restart."""
    if not restarts:
        return None
    if workflow is None:
        # The pilot check refuses restarts for a workflow reached by url; a caller
        # that got here without one (a stage that did not start it) is told so.
        raise ServiceError("workflow: not started by this drill, so it cannot be restarted")
    service = workflow

    async def restart() -> tuple[int, int]:
        return await kill_and_restart(service)

    return Nemesis(restarts, restart, in_flight, inner)
