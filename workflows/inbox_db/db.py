"""The workflow's tables and the few statements it runs (psycopg 3, one connection a job)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

# A query on a link that swallows bytes must not hang the workflow for good.
QUERY_TIMEOUT_S = 3.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    event_id text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id text PRIMARY KEY REFERENCES inbox (event_id),
    body jsonb NOT NULL,
    trace text NOT NULL DEFAULT '',
    sent_at timestamptz,
    failure text
);
"""


@asynccontextmanager
async def transaction(url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A fresh connection in a transaction: committed by the caller, rolled back otherwise."""
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=2)
    try:
        yield connection
    finally:
        # Closing without a commit rolls back whatever is open.
        await connection.close()


async def create_schema(url: str) -> None:
    async with transaction(url) as connection:
        async with asyncio.timeout(QUERY_TIMEOUT_S):
            await connection.execute(SCHEMA)
            await connection.commit()


async def claim(connection: psycopg.AsyncConnection[Any], event_id: str) -> bool:
    """Insert the inbox row; False when the event is already there (a redelivery)."""
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        cursor = await connection.execute(
            "INSERT INTO inbox (event_id) VALUES (%s) ON CONFLICT DO NOTHING", [event_id]
        )
    return cursor.rowcount == 1


async def enqueue(
    connection: psycopg.AsyncConnection[Any], event_id: str, body: dict[str, Any], trace: str
) -> None:
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        await connection.execute(
            "INSERT INTO outbox (event_id, body, trace) VALUES (%s, %s, %s)",
            [event_id, json.dumps(body), trace],
        )


async def commit(connection: psycopg.AsyncConnection[Any]) -> None:
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        await connection.commit()


async def unsent(connection: psycopg.AsyncConnection[Any]) -> list[tuple[str, Any, str]]:
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        cursor = await connection.execute(
            "SELECT event_id, body, trace FROM outbox WHERE sent_at IS NULL ORDER BY event_id"
        )
        return list(await cursor.fetchall())


async def mark_sent(
    connection: psycopg.AsyncConnection[Any], event_id: str, failure: str | None
) -> None:
    async with asyncio.timeout(QUERY_TIMEOUT_S):
        await connection.execute(
            "UPDATE outbox SET sent_at = now(), failure = %s WHERE event_id = %s",
            [failure, event_id],
        )
        await connection.commit()


async def count(url: str, table: str, where: str = "TRUE") -> int:
    async with transaction(url) as connection:
        async with asyncio.timeout(QUERY_TIMEOUT_S):
            cursor = await connection.execute(f"SELECT count(*) FROM {table} WHERE {where}")
            row = await cursor.fetchone()
    return int(row[0]) if row else 0
