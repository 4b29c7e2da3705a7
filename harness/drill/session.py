"""Many drills from synchronous code, sharing one event loop and one fault proxy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from harness.drill import run as drill_run
from harness.drill.run import DrillResult
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.runtime.faultproxy import FaultProxy, open_fault_proxy

T = TypeVar("T")


class DrillSession:
    """Drills one after another from synchronous code, sharing one fault proxy.

    For the hunt (Hypothesis calls its test body synchronously) and the pytest
    plugin. The fault proxy starts with the first drill, since starting a
    server costs more than a drill's own set-up. An interruption (Ctrl-C, a
    test timeout) lets the running drill unwind, stopping every process it
    started, before it goes on.
    """

    def __init__(self, reports: Path) -> None:
        self.reports = reports
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack = contextlib.AsyncExitStack()
        self._proxy: FaultProxy | None = None

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
        if self._proxy is None:
            self._proxy = self._run(self._stack.enter_async_context(open_fault_proxy()))
        return self._run(
            drill_run.run_drill(
                pilot, name, scenario=scenario, reports=self.reports, fault_proxy=self._proxy
            )
        )

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._run(self._stack.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._proxy = None
            self._loop.close()
            self._loop = None
