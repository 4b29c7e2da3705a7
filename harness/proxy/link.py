"""One connection in one direction: the chain of toxic stages between two sockets.

    client ─► [upstream link]   ─► upstream server
    client ◄─ [downstream link] ◄─ upstream server

A link reads its source socket, runs each chunk through its stages and writes
the result to its destination socket. Stage 0 is a hidden pass-through, so
every configured toxic has a stage before it, as in Toxiproxy.

Stages whose toxic would forward everything untouched (noop, latency 0, or a
toxicity draw that chose pass-through) get no task: the stage before writes
straight past them. When no stage runs at all the link is "direct": socket
reads are written to the destination with no chunk objects, queues or tasks,
which keeps the empty chain (and `latency=0`) nearly free.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.proxy.toxics.base import (
    CHUNK_SIZE,
    Chunk,
    ChunkQueue,
    Interrupted,
    Stub,
    Toxic,
    now,
)

log = logging.getLogger("harness.proxy")

# Backpressure: stop reading the source while this many chunks wait in a
# link's queues (the Go latency toxic buffers 1024), resume below the low mark.
QUEUE_HIGH = 1024
QUEUE_LOW = 256


@dataclass(eq=False)
class ToxicEntry:
    """One configured toxic of a proxy, shared by all its links in that stream."""

    name: str
    stream: str  # "upstream" or "downstream"
    toxicity: float
    toxic: Toxic


class Sink:
    """The last outlet of a chain: writes chunks to the destination socket."""

    __slots__ = ("closed", "link")

    def __init__(self, link: Link) -> None:
        self.link = link
        self.closed = False

    def put(self, chunk: Chunk) -> None:
        """Write the chunk to the destination, unless the stream already ended."""
        if not self.closed:
            self.link.send(chunk.data)

    def close(self) -> None:
        """The end of stream arrived: finish the link (closing the destination) once."""
        if not self.closed:
            self.closed = True
            self.link.finish()


class Stage:
    """A toxic's place in one link: its input queue, its stub and its task."""

    __slots__ = ("entry", "held", "queue", "stub", "task")

    def __init__(self, entry: ToxicEntry | None, queue: ChunkQueue, stub: Stub) -> None:
        self.entry = entry  # None for the hidden head stage
        self.queue = queue
        self.stub = stub
        self.task: asyncio.Task[None] | None = None
        # Stopped for a rewire: keep taking input into our queue, so nothing
        # written meanwhile can overtake what the queue already holds.
        self.held = False

    def inlet(self, after: ChunkQueue | Sink) -> ChunkQueue | Sink:
        """Where the previous stage should write: our queue if we run, else past us."""
        return self.queue if self.task is not None or self.held else after


class Link:
    """One direction of one proxied connection.

    `source` and `dest` are asyncio transports. The owner calls `feed` with
    each read from the source, `source_ended` at EOF, and `dest_paused` /
    `dest_resumed` as the destination's write buffer fills and empties.
    `on_finish` runs once, when the chain has delivered its end of stream.
    """

    def __init__(
        self,
        direction: str,
        source: asyncio.Transport,
        dest: asyncio.Transport,
        chain: list[ToxicEntry],
        on_finish: Callable[[Link], None],
    ) -> None:
        self.direction = direction
        self.source = source
        self.dest = dest
        self.received = 0  # bytes read from the source
        self.sent = 0  # bytes handed to the destination
        self.finished = False
        self._on_finish = on_finish
        self._loop = asyncio.get_running_loop()
        self._sink = Sink(self)
        self._queued = 0
        self._pause_reasons = 0  # bit 1: queues full, bit 2: destination full
        self._ended = False
        self._outlet: ChunkQueue | Sink = self._sink
        # While direct, bytes read since this mark were all written straight through.
        self._direct_mark = 0
        self._direct = True
        self.stages: list[Stage] = [self._new_stage(None)]
        for entry in chain:
            self.stages.append(self._new_stage(entry))
        self._rewire()
        # Launch from the tail so each stage that skips drains into a settled outlet.
        for stage in reversed(self.stages[1:]):
            self._launch(stage)

    # -- data path -------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read from the source socket."""
        self.received += len(data)
        if self._direct:
            self.dest.write(data)
            return
        if self._ended:
            return
        outlet = self._outlet
        stamp = now()
        if len(data) <= CHUNK_SIZE:
            outlet.put(Chunk(data, stamp))
        else:
            view = memoryview(data)
            for start in range(0, len(data), CHUNK_SIZE):
                outlet.put(Chunk(bytes(view[start : start + CHUNK_SIZE]), stamp))

    def source_ended(self) -> None:
        """The source hit EOF or was closed: pass the end of stream down the chain."""
        if self._ended:
            return
        self._ended = True
        self._outlet.close()

    def send(self, data: bytes) -> None:
        """Write to the destination and count the bytes, unless it is already closing."""
        if not self.dest.is_closing():
            self.sent += len(data)
            self.dest.write(data)

    def finish(self) -> None:
        """The end of stream reached the sink: close the destination and stop stages."""
        if self.finished:
            return
        self._leave_direct()
        self.finished = True
        self._ended = True
        self._sink.closed = True
        for stage in self.stages:
            stage.stub.interrupt()
            if stage.task is not None:
                stage.task.cancel()
        if not self.dest.is_closing():
            self.dest.close()
        self._on_finish(self)

    def abort(self) -> None:
        """Tear the link down without delivering what is still queued."""
        self.finish()

    def tasks(self) -> list[asyncio.Task[None]]:
        """The stage tasks not yet done (after `finish` they are only winding down)."""
        return [s.task for s in self.stages if s.task is not None and not s.task.done()]

    def dest_paused(self) -> None:
        """The destination's write buffer is full: stop reading the source until it drains."""
        self._pause(2)

    def dest_resumed(self) -> None:
        """The destination drained: read the source again unless something else still holds it."""
        self._resume(2)

    def _pause(self, reason: int) -> None:
        if not self._pause_reasons and not self.source.is_closing():
            self.source.pause_reading()
        self._pause_reasons |= reason

    def _resume(self, reason: int) -> None:
        if not self._pause_reasons & reason:
            return
        self._pause_reasons &= ~reason
        if not self._pause_reasons and not self.source.is_closing():
            self.source.resume_reading()

    def _count(self, delta: int) -> None:
        self._queued += delta
        if delta > 0:
            if self._queued >= QUEUE_HIGH:
                self._pause(1)
        elif self._queued <= QUEUE_LOW:
            self._resume(1)

    # -- chain changes ---------------------------------------------------------------

    async def add(self, entry: ToxicEntry) -> None:
        """A toxic appended to the chain: start it and restart the stage before it."""
        if self.finished:
            return
        last = self.stages[-1]
        stage = self._new_stage(entry)
        self.stages.append(stage)
        if not await self._stop(last):
            # The previous stage already ended this stream; the new one has nothing to do.
            stage.stub.closed = True
            return
        stage.held = True
        self._rewire()
        self._launch(stage)
        self._launch(last)

    async def update(self, entry: ToxicEntry) -> None:
        """The toxic was changed: restart its stage with the new settings (state kept)."""
        stage = self._find(entry.name)
        if stage is None or self.finished:
            return
        stage.entry = entry
        if await self._stop(stage):
            self._launch(stage)

    async def remove(self, entry: ToxicEntry) -> None:
        """The toxic was deleted: flush its stage into the next and restart the one before."""
        stage = self._find(entry.name)
        if stage is None or self.finished:
            return
        if not await self._stop(stage):
            self._drop(stage)
            return
        entry.toxic.on_remove(stage.stub)
        if stage.stub.closed:
            # The toxic ended the stream on removal (timeout); nothing more flows here.
            self._drop(stage)
            return
        previous = self.stages[self.stages.index(stage) - 1]
        restart_previous = await self._stop(previous)
        stage.queue.drain_into(stage.stub.output)
        self._drop(stage)
        if restart_previous:
            self._launch(previous)

    def _drop(self, stage: Stage) -> None:
        self.stages.remove(stage)
        self._rewire()

    def _find(self, name: str) -> Stage | None:
        for stage in self.stages[1:]:
            if stage.entry is not None and stage.entry.name == name:
                return stage
        return None

    def _new_stage(self, entry: ToxicEntry | None) -> Stage:
        queue = ChunkQueue(self._count)
        state = entry.toxic.new_state() if entry is not None else None
        return Stage(entry, queue, Stub(queue, self._sink, state))

    async def _stop(self, stage: Stage) -> bool:
        """Interrupt the stage and wait for it; False if the stage has ended its stream.

        The stopped stage is held: its queue keeps collecting input until `_launch`.
        """
        if stage.stub.closed:
            return False
        if stage.entry is None:
            return True  # The hidden head never runs as a task.
        stage.held = True
        task = stage.task
        if task is not None:
            stage.stub.interrupt()
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
            stage.task = None
        return not stage.stub.closed

    def _launch(self, stage: Stage) -> None:
        """Start (or restart) a stage, drawing its toxicity afresh."""
        entry = stage.entry
        if entry is None or stage.stub.closed or self.finished:
            return
        stub = stage.stub
        stub.interrupted = False
        stage.held = False
        # Toxicity is decided per link each time the stage starts, like Go's
        # rand.Float32() < toxicity: 1 always applies, 0 never does.
        toxic: Toxic | None = entry.toxic if random.random() < entry.toxicity else None
        if toxic is None or toxic.passthrough():
            # Pass-through: skip the stage. Anything it was holding moves on.
            stage.queue.drain_into(stub.output)
            if stage.queue.closed:
                stub.closed = True
        else:
            stage.task = self._loop.create_task(self._run(stage, toxic))
        self._rewire()

    async def _run(self, stage: Stage, toxic: Toxic) -> None:
        try:
            await toxic.pipe(stage.stub)
        except Interrupted:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("toxic %s failed on a %s link", toxic.type_name, self.direction)
            self.finish()

    def _rewire(self) -> None:
        """Point every stage, and the reader, at the next stage that actually runs."""
        if self.finished:
            return
        after: ChunkQueue | Sink = self._sink
        for stage in reversed(self.stages):
            stage.stub.output = after
            after = stage.inlet(after)
        self._outlet = after
        direct = after is self._sink
        if direct and not self._direct:
            self._direct = True
            self._direct_mark = self.received
        elif not direct:
            self._leave_direct()

    def _leave_direct(self) -> None:
        if self._direct:
            self._direct = False
            self.sent += self.received - self._direct_mark
