"""The hardened queue consumer's store on a real PostgreSQL, behind a fault proxy's held link.

A step must end at its deadline, not when psycopg gives up cancelling the
query over the same held link (5 s to cancel and 5 s to wait: 10.75 s in all).
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from harness.inputs.services import PostgresSpec
from harness.runtime.faultproxy import open_fault_proxy
from harness.services import KINDS, postgres
from workflows.queue_orders.store import QUERY_TIMEOUT_S, Call, Event, Store, StoreError

pytestmark = pytest.mark.skipif(
    postgres.bin_dir(None) is None, reason="no PostgreSQL binaries on this machine"
)


def _event(n: int) -> tuple[Event, Call]:
    return Event(f"e{n}", f"o{n}", 1, False), Call("POST", "/v1/things", {"n": n}, f"e{n}")


async def test_a_step_on_a_held_database_link_ends_at_its_deadline(tmp_path: Path) -> None:
    async with (
        KINDS["postgres"].start("db", PostgresSpec(kind="postgres"), tmp_path) as db,
        open_fault_proxy() as proxy,
    ):
        address = await proxy.create_proxy("chaoslab-test.db", db.address)
        store = Store(db.url(address))
        first = await store.take(*_event(1))
        assert first is not None and first.key == "e1"  # taken on through the link

        # Nothing the workflow sends gets through, on this connection or a new one
        # (psycopg's cancel request included), and nothing is closed.
        await proxy.add_toxic(
            "chaoslab-test.db", name="held", type="timeout", stream="upstream",
            attributes={"timeout": 0},
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(StoreError):
            await store.take(*_event(2))
        took = time.monotonic() - started
        # Generous: the deadline is 0.75 s; psycopg's own cancelling took 10.75 s.
        assert took < QUERY_TIMEOUT_S + 2.5, took

        await proxy.remove_toxic("chaoslab-test.db", "held")
        again = await store.take(*_event(3))  # a new connection, once the link lets go
        assert again is not None and again.key == "e3"
        async with await psycopg.AsyncConnection.connect(db.direct) as connection:
            rows = await (await connection.execute("SELECT event_id FROM inbox")).fetchall()
    # The held step never committed: no row of e2, and e1's and e3's are there.
    assert sorted(r[0] for r in rows) == ["e1", "e3"]
