"""Many drills from synchronous code, sharing one event loop and one fault proxy.

With ``standing=K`` the session keeps K standing stages (harness.drill.standing)
and runs each drill on one of them instead of starting services per drill;
``run_batch`` runs a list of drills side by side, one per stage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.drill import run as drill_run
from harness.drill.run import ContractMismatch, DrillResult
from harness.drill.standing import StandingStage, cannot_stand
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.journal import read_meta
from harness.runtime.faultproxy import FaultProxy, open_fault_proxy
from harness.runtime.scratch import scratch_dir
from harness.sources.rabbitmq_server import rabbitmq_server

T = TypeVar("T")


class DrillSession:
    """Drills one after another from synchronous code, sharing one fault proxy.

    For the hunt (Hypothesis calls its test body synchronously) and the pytest
    plugin. The fault proxy starts with the first drill, since starting a
    server costs more than a drill's own set-up. An interruption (Ctrl-C, a
    test timeout) lets the running drill unwind, stopping every process it
    started, before it goes on.
    """

    def __init__(self, reports: Path, *, standing: int = 0) -> None:
        self.reports = reports
        self.standing = standing  # how many standing stages; 0: every drill starts its own
        # How many drills a batch runs side by side: one per stage, or, once
        # stages are left with ``side_by_side``, that many fresh drills at once.
        self.workers = standing
        self.stage_restarts = 0  # stages replaced because their workflow died or hung
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack = contextlib.AsyncExitStack()
        self._proxy: FaultProxy | None = None
        self._stages: dict[int, StandingStage] = {}
        self._opened = 0
        self._node_url: str | None = None  # the session's RabbitMQ node, once one is needed
        # id of a pilot → (that pilot, its copy on the session's node): a stage is kept per copy.
        self._on_node: dict[int, tuple[Pilot, Pilot]] = {}

    def __enter__(self) -> DrillSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        task = self._loop.create_task(coro)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    self._loop.run_until_complete(task)
            raise

    def run(self, pilot: Pilot, name: str, scenario: ScenarioSpec | None = None) -> DrillResult:
        """One drill, on standing stage 0 when the session has any, else on services of its own."""
        return self._run(self._drill(0, pilot, name, scenario))

    def run_fresh(
        self, pilot: Pilot, name: str, scenario: ScenarioSpec | None = None
    ) -> DrillResult:
        """One drill on services of its own, whatever the session's stages: the reference
        a standing stage's answer is checked against."""

        async def drill() -> DrillResult:
            proxy = await self._fault_proxy()
            shared = await self._on_shared_node(pilot)
            if shared is not pilot:
                await self._leave_node()
            return await drill_run.run_drill(
                shared,
                name,
                scenario=scenario,
                reports=self.reports,
                fault_proxy=proxy,
            )

        return self._run(drill())

    def stop_standing(self, *, side_by_side: bool = False) -> None:
        """From now on every drill starts its own services; the stages are closed.

        ``side_by_side``: batches keep running as many drills at once as there
        were stages (each on services of its own) instead of one at a time.
        """
        self.standing = 0
        if not side_by_side:
            self.workers = 0
        if self._loop is not None:
            self._run(self._close_stages())

    def run_batch(
        self,
        pilot: Pilot,
        jobs: Sequence[tuple[str, ScenarioSpec]],
        *,
        failed: Callable[[DrillResult], bool],
        more: Callable[[], bool],
    ) -> dict[int, DrillResult]:
        """Run ``jobs`` in order, side by side on the stages, until one fails.

        A worker takes the next job while ``more()`` says so and no job before
        it has ``failed``; the jobs before the first failure all finish, so the
        first failure in list order is the one a sequential run would find.
        """
        return self._run(self._batch(pilot, jobs, failed, more))

    async def _batch(
        self,
        pilot: Pilot,
        jobs: Sequence[tuple[str, ScenarioSpec]],
        failed: Callable[[DrillResult], bool],
        more: Callable[[], bool],
    ) -> dict[int, DrillResult]:
        results: dict[int, DrillResult] = {}
        cut = [len(jobs)]  # no job at or after this index is taken
        taken = iter(range(len(jobs)))

        async def worker(slot: int) -> None:
            for index in taken:
                if index >= cut[0] or not more():
                    return
                name, scenario = jobs[index]
                result = await self._drill(slot, pilot, name, scenario)
                results[index] = result
                if failed(result):
                    cut[0] = min(cut[0], index)

        try:
            async with asyncio.TaskGroup() as group:
                for slot in range(max(1, self.standing or self.workers)):
                    group.create_task(worker(slot))
        except BaseExceptionGroup as errors:
            # One drill's own error, as a single drill would raise it.
            first: BaseException = errors
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        return results

    async def _fault_proxy(self) -> FaultProxy:
        if self._proxy is None:
            self._proxy = await self._stack.enter_async_context(open_fault_proxy())
        return self._proxy

    async def _on_shared_node(self, pilot: Pilot) -> Pilot:
        """A RabbitMQ pilot that asks for a node of its own gets the session's instead.

        A node takes seconds of Erlang start-up, most of a short drill. Drills
        one after another can share one: each fresh drill still deletes and
        declares its queues afresh (the url mode of the queue source), and a
        standing stage declares them once and purges them between its drills.
        Side by side they would share queue names, so then each starts its own.
        The same pilot gets the same copy every time, so its stage is kept.
        """
        queue = pilot.spec.queue
        if queue is None or queue.broker != "rabbitmq" or queue.url is not None:
            return pilot
        if self.workers > 1:
            return pilot
        known = self._on_node.get(id(pilot))
        if known is not None and known[0] is pilot:
            return known[1]
        if self._node_url is None:
            folder = self._stack.enter_context(scratch_dir("rabbitmq-session"))
            node = await self._stack.enter_async_context(
                rabbitmq_server(queue, pilot.path.parent, folder)
            )
            self._node_url = node.url
        shared = queue.model_copy(update={"url": self._node_url})
        copy = pilot.model_copy(update={"spec": pilot.spec.model_copy(update={"queue": shared})})
        self._on_node[id(pilot)] = (pilot, copy)
        return copy

    async def _leave_node(self) -> None:
        """Close the stages on the session's node: a fresh drill there declares their queues
        afresh, which would take them from under their workflow's consumer."""
        for slot, stage in list(self._stages.items()):
            queue = stage.pilot.spec.queue
            if queue is not None and queue.url is not None and queue.url == self._node_url:
                del self._stages[slot]
                await stage.close()

    async def _drill(
        self, slot: int, pilot: Pilot, name: str, scenario: ScenarioSpec | None
    ) -> DrillResult:
        proxy = await self._fault_proxy()
        pilot = await self._on_shared_node(pilot)
        if not self.standing or cannot_stand(pilot):
            try:
                return await drill_run.run_drill(
                    pilot, name, scenario=scenario, reports=self.reports, fault_proxy=proxy
                )
            except ContractMismatch:
                raise
            except Exception:
                if self.workers <= 1:
                    raise
                # Drills started together pick free ports at the same moment, and one
                # may lose a port to another before binding it (seen with brokers):
                # once more, alone in its start; a real fault of the pilot fails again.
                return await drill_run.run_drill(
                    pilot, name, scenario=scenario, reports=self.reports, fault_proxy=proxy
                )
        stage = await self._stage(slot, pilot)
        try:
            result = await drill_run.run_drill(
                pilot, name, scenario=scenario, reports=self.reports, standing=stage
            )
        except ContractMismatch:
            raise
        except Exception:
            # The stage, not the schedule, may be what broke: once more on a fresh one.
            stage = await self._replace(slot, pilot)
            return await drill_run.run_drill(
                pilot, name, scenario=scenario, reports=self.reports, standing=stage
            )
        if read_meta(result.run_dir).get("pending_at_end") == -1 or not await stage.healthy():
            # A workflow that died or hung may have done so in an earlier drill;
            # only what a fresh stage shows counts.
            stage = await self._replace(slot, pilot)
            result = await drill_run.run_drill(
                pilot, name, scenario=scenario, reports=self.reports, standing=stage
            )
        return result

    async def _stage(self, slot: int, pilot: Pilot) -> StandingStage:
        stage = self._stages.get(slot)
        if stage is None or stage.pilot is not pilot:
            if stage is not None:
                await stage.close()
            self._opened += 1
            stage = StandingStage(
                pilot, self.reports / "stages", await self._fault_proxy(), f"stage-{self._opened}"
            )
            await stage.open()
            self._stages[slot] = stage
        return stage

    async def _replace(self, slot: int, pilot: Pilot) -> StandingStage:
        old = self._stages.pop(slot, None)
        if old is not None:
            self.stage_restarts += 1
            await old.close()
        return await self._stage(slot, pilot)

    async def _close_stages(self) -> None:
        stages, self._stages = list(self._stages.values()), {}
        for stage in stages:
            await stage.close()

    def close(self) -> None:
        """Close the standing stages, the fault proxy and the event loop; safe to call twice."""
        if self._loop is None:
            return
        try:
            try:
                self._run(self._close_stages())
            finally:
                self._run(self._stack.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._proxy = None
            self._node_url = None
            self._on_node = {}
            self._loop.close()
            self._loop = None
