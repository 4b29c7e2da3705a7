"""What every toxic shares: the chunk, the stub a toxic runs on, and the Toxic base.

The data path of one link (one connection, one direction):

    source socket ─► reader ─► [hidden noop] ─► stub ─► stub ─► … ─► sink ─► destination socket
                                                  │       │
                                            toxic.pipe toxic.pipe   (one task per running stage)

A toxic is its settings plus one `pipe` coroutine that moves chunks from
`stub.read()` to `stub.write()` until the stub is interrupted or its input
ends. Everything that belongs to one connection (queues, counters, timers)
lives in the stub, so one toxic object serves every connection of a proxy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

# Links split what a socket read returned into pieces no larger than this
# before it enters a chain, matching the 32 KiB buffer of the Go server.
CHUNK_SIZE = 32 * 1024

# The clock of chunk stamps and toxic deadlines. Not loop.time(): uvloop's is
# cached per iteration at millisecond resolution, which would let a 100 ms
# latency come out at 99 ms.
now = time.monotonic


class Chunk:
    """Bytes from one socket read, stamped with the time (`now()`) they were read."""

    __slots__ = ("data", "stamp")

    def __init__(self, data: bytes, stamp: float) -> None:
        self.data = data
        self.stamp = stamp

    def __repr__(self) -> str:
        return f"Chunk({len(self.data)} B @ {self.stamp:.6f})"


class Outlet(Protocol):
    """Where a stage writes: the next stage's queue, or the link's sink."""

    def put(self, chunk: Chunk) -> None: ...

    def close(self) -> None: ...


class Interrupted(Exception):
    """Raised by `Stub.read` when the link wants the stage to stop for a rewire."""


class ChunkQueue:
    """An unbounded FIFO of chunks between two stages, with an end marker.

    Puts never block; the link bounds memory by pausing the source socket
    when its queues hold too many chunks (see `Link`).
    """

    __slots__ = ("_items", "_waiter", "closed", "on_change")

    def __init__(self, on_change: Callable[[int], None] | None = None) -> None:
        self._items: deque[Chunk] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        # Told +1/-1 as chunks enter and leave, so the link can apply backpressure.
        self.on_change = on_change

    def __len__(self) -> int:
        return len(self._items)

    def put(self, chunk: Chunk) -> None:
        """Append a chunk; dropped silently once the queue is closed."""
        if self.closed:
            return  # Nothing may follow the end of stream.
        self._items.append(chunk)
        if self.on_change is not None:
            self.on_change(1)
        self._wake()

    def close(self) -> None:
        """Mark the end of stream; what is held can still be popped."""
        self.closed = True
        self._wake()

    def pop(self) -> Chunk | None:
        """The next chunk, or None when empty (whether or not the queue is closed)."""
        if not self._items:
            return None
        chunk = self._items.popleft()
        if self.on_change is not None:
            self.on_change(-1)
        return chunk

    def drain_into(self, outlet: Outlet) -> None:
        """Move everything held, end marker included, to `outlet` in order."""
        while (chunk := self.pop()) is not None:
            outlet.put(chunk)
        if self.closed:
            outlet.close()

    def wake(self) -> None:
        """Wake a reader waiting on the queue, so it looks at the stub's interrupt flag."""
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, at_most: float | None = None) -> None:
        """Wait until something was put, the queue closed, `wake` was called, or `at_most` s."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiter = waiter
        handle = None if at_most is None else loop.call_later(at_most, _resolve, waiter)
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            if self._waiter is waiter:
                self._waiter = None


class Stub:
    """The per-connection end of one stage: its input, output and state.

    A toxic's `pipe` sees only this object. `read` raises `Interrupted` when
    the link asks the stage to stop; `sleep` returns False instead, so a toxic
    holding a chunk can forward it before returning.
    """

    def __init__(self, input: ChunkQueue, output: Outlet, state: Any = None) -> None:
        self.input = input
        self.output = output
        self.state = state
        self.interrupted = False
        self.closed = False
        self._sleeper: asyncio.Future[None] | None = None

    async def read(self) -> Chunk | None:
        """The next chunk, or None once the input has ended."""
        while True:
            if self.interrupted:
                raise Interrupted
            chunk = self.input.pop()
            if chunk is not None:
                return chunk
            if self.input.closed:
                return None
            await self.input.wait()

    def write(self, chunk: Chunk) -> None:
        """Hand a chunk to the next stage (or the sink)."""
        self.output.put(chunk)

    def close(self) -> None:
        """End this stage's output: everything after it sees end of stream."""
        if not self.closed:
            self.closed = True
            self.output.close()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; True if the full time passed, False if interrupted first."""
        if self.interrupted:
            return False
        if seconds <= 0:
            return True
        loop = asyncio.get_running_loop()
        deadline = now() + seconds
        while True:
            fut = loop.create_future()
            self._sleeper = fut
            handle = None if math.isinf(seconds) else loop.call_later(seconds, _resolve, fut)
            try:
                await fut
            finally:
                self._sleeper = None
                if handle is not None:
                    handle.cancel()
            if self.interrupted:
                return False
            # Timers of some loops fire up to a millisecond early; finish the wait.
            seconds = deadline - now()
            if seconds <= 0:
                return True

    async def sleep_uninterrupted(self, seconds: float) -> None:
        """Sleep the full time even if interrupted meanwhile."""
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def read_or_timeout(self, seconds: float) -> tuple[bool, Chunk | None]:
        """Wait up to `seconds` for input: (True, chunk-or-None-at-end) or (False, None).

        Raises `Interrupted` like `read`.
        """
        deadline = now() + seconds
        while True:
            if self.interrupted:
                raise Interrupted
            chunk = self.input.pop()
            if chunk is not None:
                return True, chunk
            if self.input.closed:
                return True, None
            remaining = deadline - now()
            if remaining <= 0:
                return False, None
            await self.input.wait(remaining)

    def interrupt(self) -> None:
        """Ask the running `pipe` to stop:
        wakes any `read` (which raises Interrupted) or `sleep`."""
        self.interrupted = True
        self.input.wake()
        if self._sleeper is not None and not self._sleeper.done():
            self._sleeper.set_result(None)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclasses.dataclass(frozen=True, slots=True)
class Toxic:
    """Settings of one configured toxic; subclasses are frozen dataclasses of ints.

    Updates build a new instance (`with_attributes`), and the link restarts the
    stage with it, so a running `pipe` never sees its settings change under it.
    """

    type_name: ClassVar[str] = ""
    go_name: ClassVar[str] = ""
    # Attribute name -> Go type, in the order the Go server writes them in JSON.
    fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def check(cls, attributes: dict[str, int]) -> str | None:
        """None, or a one-line message for values the real server would crash on."""
        return None

    @classmethod
    def from_attributes(cls, attributes: dict[str, int]) -> Toxic:
        """An instance from API attributes; missing ones are 0, unknown ones ignored."""
        return cls(**{name: int(attributes.get(name, 0)) for name in cls.fields})

    def with_attributes(self, attributes: dict[str, int]) -> Toxic:
        """A copy with `attributes` merged over the current values."""
        merged = {**self.attributes(), **{k: v for k, v in attributes.items() if k in self.fields}}
        return type(self).from_attributes(merged)

    def attributes(self) -> dict[str, int]:
        """The settings as the API shows them, in Go's field order."""
        return {name: int(getattr(self, name)) for name in self.fields}

    def passthrough(self) -> bool:
        """True when these settings forward every chunk untouched and at once.

        The link does not run such a stage at all: data skips it, which keeps
        the cost of, say, `latency=0` at zero.
        """
        return False

    def new_state(self) -> Any:
        """Per-connection state kept by the stub across restarts (None if stateless)."""
        return None

    def on_remove(self, stub: Stub) -> None:
        """Called on each open link when the toxic is removed (after interrupting it)."""

    async def pipe(self, stub: Stub) -> None:
        """Forward chunks until the input ends (then close) or the stub is interrupted."""
        while (chunk := await stub.read()) is not None:
            stub.write(chunk)
        stub.close()
