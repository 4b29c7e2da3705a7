"""The hardened queue consumer's store on a real PostgreSQL, behind a link that swallows bytes.

A step must end at its deadline, not when psycopg gives up cancelling the
query over the same held link (5 s to cancel and 5 s to wait: 10.75 s in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from harness.inputs.services import PostgresSpec
from harness.services import KINDS, postgres
from workflows.queue_orders.store import QUERY_TIMEOUT_S, Call, Event, Store, StoreError

pytestmark = pytest.mark.skipif(
    postgres.bin_dir(None) is None, reason="no PostgreSQL binaries on this machine"
)


class HeldLink:
    """A TCP link to ``upstream`` that, once held, forwards nothing and answers nothing."""

    def __init__(self, upstream: str) -> None:
        self.host, port = upstream.rsplit(":", 1)
        self.port = int(port)
        self.held = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.held.is_set():
                    await asyncio.Event().wait()  # swallowed: held until cancelled
                writer.write(data)
                await writer.drain()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        up_writer = None
        # Cancelled when the link closes: each side then sees its connection end.
        with contextlib.suppress(OSError, asyncio.CancelledError):
            try:
                if self.held.is_set():
                    await asyncio.Event().wait()  # accepted, never answered
                up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._pipe(reader, up_writer))
                    group.create_task(self._pipe(up_reader, writer))
            finally:
                if up_writer is not None:
                    up_writer.close()
                writer.close()

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        try:
            yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            for handler in self._handlers:
                handler.cancel()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=5)


def _event(n: int) -> tuple[Event, Call]:
    return Event(f"e{n}", f"o{n}", 1, False), Call("POST", "/v1/things", {"n": n}, f"e{n}")


async def test_a_step_on_a_held_database_link_ends_at_its_deadline(tmp_path: Path) -> None:
    async with KINDS["postgres"].start("db", PostgresSpec(kind="postgres"), tmp_path) as db:
        link = HeldLink(db.address)
        async with link.open() as address:
            store = Store(db.url(address))
            first = await store.take(*_event(1))
            assert first is not None and first.key == "e1"  # taken on through the link

            link.held.set()
            started = time.monotonic()
            with pytest.raises(StoreError):
                await store.take(*_event(2))
            took = time.monotonic() - started
            # Generous: the deadline is 0.75 s; psycopg's own cancelling took 10.75 s.
            assert took < QUERY_TIMEOUT_S + 2.5, took

            link.held.clear()
            again = await store.take(*_event(3))  # a new connection, once the link lets go
            assert again is not None and again.key == "e3"
        async with await psycopg.AsyncConnection.connect(db.direct) as connection:
            rows = await (await connection.execute("SELECT event_id FROM inbox")).fetchall()
        # The held step never committed: no row of e2, and e1's and e3's are there.
        assert sorted(r[0] for r in rows) == ["e1", "e3"]
