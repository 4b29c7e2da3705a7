"""Switch a scenario's toxics on and off at the right moments.

A toxic window is bound either to the clock (seconds into the run) or to
delivery positions (on before the first of them is dispatched, off before the
one after the last). Position-bound windows make a run independent of timing,
which the hunt needs for schedules that replay the same way every time.
Whatever is still on when sending ends is switched off, so the workflow can
recover while the harness waits for it to settle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.inputs.pilot import ToxicWindow


class ToxicControl(Protocol):
    """The part of the fault proxy a timeline needs; FaultProxy is one, a test may pass its own."""

    async def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: str,
        toxicity: float,
        attributes: Mapping[str, int],
    ) -> object: ...

    async def remove_toxic(self, proxy: str, name: str) -> object: ...


@dataclass
class _Active:
    index: int
    window: ToxicWindow
    proxy: str
    name: str
    added_at: float
    removed_at: float | None = None


class ToxicTimeline:
    """Switches a scenario's toxic windows on and off on the links,
    by delivery position or by the clock.

    One event loop owns it; its lock keeps the two drivers from switching the same window at once.
    """

    def __init__(
        self, windows: Sequence[ToxicWindow], proxies: Mapping[str, str], control: ToxicControl
    ) -> None:
        self._windows = list(windows)
        self._proxies = dict(proxies)  # link name -> proxy name on the fault proxy
        self._control = control
        self._active: dict[int, _Active] = {}
        self._history: list[_Active] = []
        self._lock = asyncio.Lock()
        self._t0 = time.monotonic()

    def start_clock(self, t0: float) -> None:
        """Count clock-bound windows from `t0` (time.monotonic), the moment the replay started."""
        self._t0 = t0

    def _now(self) -> float:
        return time.monotonic() - self._t0

    async def _switch_on(self, index: int) -> None:
        async with self._lock:
            if index in self._active:
                return
            window = self._windows[index]
            proxy = self._proxies[window.link]
            name = f"chaoslab_{index}_{window.type}_{window.stream}"
            await self._control.add_toxic(
                proxy,
                name=name,
                type=window.type,
                stream=window.stream,
                toxicity=window.toxicity,
                attributes=window.attributes,
            )
            entry = _Active(index, window, proxy, name, added_at=self._now())
            self._active[index] = entry
            self._history.append(entry)

    async def _switch_off(self, index: int) -> None:
        async with self._lock:
            entry = self._active.pop(index, None)
            if entry is None:
                return
            await self._control.remove_toxic(entry.proxy, entry.name)
            entry.removed_at = self._now()

    async def before_dispatch(self, position: int) -> None:
        """Called by the sender before it dispatches the delivery at this position."""
        for index, window in enumerate(self._windows):
            if window.from_delivery is None and window.until_delivery is None:
                continue
            first = window.from_delivery or 0
            last = window.until_delivery
            if last is not None and position > last:
                await self._switch_off(index)
            elif position >= first and (last is None or position <= last):
                await self._switch_on(index)

    async def run_clock(self) -> None:
        """Drive the clock-bound windows; cancel it when sending ends."""
        events: list[tuple[float, int, bool]] = []
        for index, window in enumerate(self._windows):
            if window.from_delivery is not None or window.until_delivery is not None:
                continue
            events.append((window.from_s or 0.0, index, True))
            if window.until_s is not None:
                events.append((window.until_s, index, False))
        # Off before on at the same instant, so back-to-back windows never overlap.
        for at, index, on in sorted(events, key=lambda e: (e[0], e[2])):
            wait = at - self._now()
            if wait > 0:
                await asyncio.sleep(wait)
            if on:
                await self._switch_on(index)
            else:
                await self._switch_off(index)

    async def switch_all_off(self) -> None:
        """Remove every toxic still on, so the links are clean for settling and the next drill."""
        for index in list(self._active):
            await self._switch_off(index)

    def history(self) -> list[dict[str, Any]]:
        """What was on, where and when: saved in run.json and shaded in notebooks."""
        return [
            {
                "link": e.window.link,
                "proxy": e.proxy,
                "toxic": e.name,
                "type": e.window.type,
                "stream": e.window.stream,
                "toxicity": e.window.toxicity,
                "attributes": dict(e.window.attributes),
                "from_s": round(e.added_at, 4),
                "until_s": None if e.removed_at is None else round(e.removed_at, 4),
            }
            for e in self._history
        ]
