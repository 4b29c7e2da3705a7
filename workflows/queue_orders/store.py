"""The hardened consumer's inbox and outbox, in PostgreSQL (psycopg 3, one connection).

    inbox   one row per event taken on, and what became of it
    outbox  the partner call an event makes, committed with its inbox row,
            sent afterwards under the event id as Idempotency-Key
    orders  the version last applied per order

Each step is one short transaction, bounded by ``QUERY_TIMEOUT_S`` with the
connection included; any failure (a reset link, a hung one, a server gone)
drops the connection, which the next step opens again, and is raised as a
``StoreError`` for the consumer to turn into a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# Under the pilots' ack_wait_s (1 s): a message waiting on a hung database is
# given back by the consumer's nak, not taken back by the broker's timer as well.
QUERY_TIMEOUT_S = 0.75
# After the socket is closed at the deadline, the time the step gets to notice it.
CLOSE_GRACE_S = 0.05

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    event_id text PRIMARY KEY,
    order_id text NOT NULL,
    version integer NOT NULL,
    outcome text NOT NULL,  -- pending, processed, superseded, failed
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id text PRIMARY KEY REFERENCES inbox (event_id),
    method text NOT NULL,
    path text NOT NULL,
    body jsonb NOT NULL,
    idempotency_key text NOT NULL,
    sent_at timestamptz,
    failure text
);
CREATE TABLE IF NOT EXISTS orders (order_id text PRIMARY KEY, version integer NOT NULL);
"""


class StoreError(Exception):
    """The database could not be reached or did not answer in time (the step did not commit)."""


@dataclass(frozen=True)
class Call:
    """One outbox row: the partner call an event makes."""

    method: str
    path: str
    body: dict[str, Any]
    key: str  # Idempotency-Key: the event id


@dataclass(frozen=True)
class Event:
    """What the store needs of an event: its id, its order and version, whether an update."""

    id: str
    order_id: str
    version: int
    update: bool


class Store:
    """The three tables behind one connection, one transaction at a time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: psycopg.AsyncConnection[Any] | None = None
        # Handlers run side by side (RabbitMQ prefetch): their transactions take turns.
        self._turn = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # The turn is taken outside the step's deadline: a handler waiting in line has
        # not started, and must not drop the connection another handler is using.
        # Each step holding it is bounded, so the wait is too.
        async with self._turn:
            try:
                async with self._deadline():
                    if self._connection is None:
                        self._connection = await psycopg.AsyncConnection.connect(self._url)
                        await self._connection.execute(SCHEMA)
                        await self._connection.commit()
                    yield self._connection
                    await self._connection.commit()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                raise StoreError(type(exc).__name__) from exc
            except BaseException:
                await self._drop()  # an open transaction must not be left for the next step
                raise

    @contextlib.asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        """QUERY_TIMEOUT_S for one step; when it runs out, the connection's socket is closed.

        Cancelling a query psycopg has sent makes it ask the server to cancel it and
        wait for the query to end, up to 5 s each, over the same host and port: a link
        that swallows bytes holds both, and the step would take 10.75 s. A socket closed
        first leaves psycopg nothing to cancel, and the step ends at its deadline.
        """
        closer = asyncio.get_running_loop().call_later(QUERY_TIMEOUT_S, self._close_socket)
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_S + CLOSE_GRACE_S):
                yield
        finally:
            closer.cancel()

    def _close_socket(self) -> None:
        if self._connection is not None:
            self._connection.pgconn.finish()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # A link that swallows bytes must not hold the close either.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(QUERY_TIMEOUT_S):
                    await connection.close()

    async def take(self, event: Event, call: Call) -> Call | None:
        """The call to send for this event, or None when there is nothing to send.

        Nothing: the event is done already (a redelivery, a duplicate publish),
        or it is an update older than its order's applied version (recorded as
        superseded). A new event's inbox and outbox rows commit together; an
        event taken on before and not yet sent gives back its stored row.
        """
        async with self._transaction() as db:
            found = await db.execute(
                "SELECT i.outcome, o.method, o.path, o.body, o.idempotency_key "
                "FROM inbox i LEFT JOIN outbox o USING (event_id) WHERE i.event_id = %s",
                [event.id],
            )
            row = await found.fetchone()
            if row is not None and row[0] in ("processed", "superseded"):
                return None
            if event.update and await self._applied(db, event.order_id) >= event.version:
                await db.execute(
                    "INSERT INTO inbox (event_id, order_id, version, outcome) "
                    "VALUES (%s, %s, %s, 'superseded') "
                    "ON CONFLICT (event_id) DO UPDATE SET outcome = 'superseded'",
                    [event.id, event.order_id, event.version],
                )
                return None
            if row is not None and row[1] is not None:
                return Call(row[1], row[2], row[3], row[4])
            await db.execute(
                "INSERT INTO inbox (event_id, order_id, version, outcome) "
                "VALUES (%s, %s, %s, 'pending')",
                [event.id, event.order_id, event.version],
            )
            await db.execute(
                "INSERT INTO outbox (event_id, method, path, body, idempotency_key) "
                "VALUES (%s, %s, %s, %s, %s)",
                [event.id, call.method, call.path, Jsonb(call.body), call.key],
            )
            return call

    @staticmethod
    async def _applied(db: psycopg.AsyncConnection[Any], order_id: str) -> int:
        found = await db.execute("SELECT version FROM orders WHERE order_id = %s", [order_id])
        row = await found.fetchone()
        return -1 if row is None else int(row[0])

    async def sent(self, event: Event) -> None:
        """The partner took the call: the row is sent and the order's version applied, at once."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE outbox SET sent_at = now(), failure = NULL WHERE event_id = %s", [event.id]
            )
            await db.execute(
                "UPDATE inbox SET outcome = 'processed' WHERE event_id = %s", [event.id]
            )
            await db.execute(
                "INSERT INTO orders (order_id, version) VALUES (%s, %s) ON CONFLICT (order_id) "
                "DO UPDATE SET version = GREATEST(orders.version, excluded.version)",
                [event.order_id, event.version],
            )

    async def failed(self, event_id: str, why: str) -> None:
        """The event is given up (dead-lettered): its unsent row says why.

        Not final: the same event published again is sent again, as it would be anew.
        """
        async with self._transaction() as db:
            await db.execute(
                "UPDATE outbox SET failure = %s WHERE event_id = %s AND sent_at IS NULL",
                [why[:200], event_id],
            )
            await db.execute(
                "UPDATE inbox SET outcome = 'failed' WHERE event_id = %s AND outcome = 'pending'",
                [event_id],
            )

    async def close(self) -> None:
        async with self._turn:
            await self._drop()
