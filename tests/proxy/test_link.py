"""The proxy and its links: forwarding, lifecycle, and live toxic changes on open connections."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import pytest
from linkkit import Client, connect, port_of, proxied, tcp_server, until

from harness.proxy.proxy import Proxy

pytestmark = pytest.mark.timeout(30)


async def test_forwards_both_ways_and_counts_bytes() -> None:
    async with proxied() as proxy:
        async with connect(proxy) as client:
            for _ in range(3):
                assert await client.round_trip(b"hello") < 0.5
        await until(lambda: not proxy.connections)
        assert proxy.received_bytes == {"upstream": 15, "downstream": 15}
        assert proxy.sent_bytes == {"upstream": 15, "downstream": 15}


async def test_listen_address_is_reported_in_go_format() -> None:
    cases = {"127.0.0.1:0": "127.0.0.1:", "localhost:0": "127.0.0.1:", ":0": "[::]:"}
    if socket.has_ipv6:
        cases["[::1]:0"] = "[::1]:"
    for listen, prefix in cases.items():
        proxy = Proxy("p", listen, "127.0.0.1:1")
        await proxy.start()
        try:
            assert proxy.enabled
            assert proxy.listen.startswith(prefix), (listen, proxy.listen)
            assert port_of(proxy.listen) > 0
        finally:
            await proxy.stop()
        assert not proxy.enabled


async def test_bind_failure_raises_a_go_like_message_and_stays_stopped() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proxy = Proxy("p", f"127.0.0.1:{port}", "127.0.0.1:1")
        with pytest.raises(OSError) as caught:
            await proxy.start()
    assert str(caught.value) == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert not proxy.enabled
    with pytest.raises(OSError, match="missing port in address"):
        await Proxy("p", "127.0.0.1", "127.0.0.1:1").start()


async def test_dial_failure_gives_connect_then_eof() -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        dead = f"127.0.0.1:{gone.getsockname()[1]}"
    async with Proxy("p", "127.0.0.1:0", dead) as proxy, connect(proxy) as client:
        assert await client.read_to_eof() == b""


async def test_stop_closes_listener_and_every_connection_then_restarts_on_same_port() -> None:
    async with proxied() as proxy:
        async with connect(proxy) as a, connect(proxy) as b:
            await a.round_trip()
            await b.round_trip()
            await proxy.stop()
            assert not proxy.enabled
            for client in (a, b):
                try:
                    assert await client.read_to_eof() == b""
                except ConnectionResetError:
                    pass  # also a close; which one depends on what the kernel still held
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port_of(proxy.listen))
        await proxy.start()
        async with connect(proxy) as again:
            await again.round_trip()


async def reply_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.read()
    writer.write(b"reply to " + request)
    await writer.drain()


async def test_no_half_close_a_client_shutdown_gets_an_empty_reply() -> None:
    async with tcp_server(reply_after_eof) as upstream:
        # Direct, the half-closed request gets its reply ...
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(upstream))
        direct = Client(reader, writer)
        await direct.send(b"req")
        writer.write_eof()
        assert await direct.read_to_eof() == b"reply to req"
        direct.close()
        # ... through the proxy the whole connection closes, as with Toxiproxy.
        async with Proxy("p", "127.0.0.1:0", upstream) as proxy, connect(proxy) as client:
            await client.send(b"req")
            client.writer.write_eof()
            assert await client.read_to_eof() == b""


async def test_live_add_update_remove_act_on_an_open_connection() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        # Bounds leave a loaded 2-core CI machine a few hundred ms of slack.
        assert await client.round_trip() < 0.2
        await proxy.add_toxic("slow", "latency", "downstream", 1.0, {"latency": 800, "jitter": 0})
        assert 0.79 <= await client.round_trip() < 2.0
        await proxy.update_toxic("slow", {"latency": 300}, None)
        assert 0.29 <= await client.round_trip() < 0.75
        await proxy.remove_toxic("slow")
        assert await client.round_trip() < 0.25
        assert proxy.toxic_names() == []


async def test_removing_latency_mid_delay_forwards_the_held_chunk() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("slow", "latency", "downstream", 1.0, {"latency": 2000, "jitter": 0})
        loop = asyncio.get_running_loop()
        start = loop.time()
        await client.send(b"held")
        await until(lambda: bool(proxy.connections))
        down = proxy.connections[0].links["downstream"]
        await until(lambda: down.received >= 4)  # the echo is now inside the latency stage
        await proxy.remove_toxic("slow")
        assert await client.read_exact(4) == b"held"
        assert loop.time() - start < 1.0


async def test_chained_latencies_add_up() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("down", "latency", "downstream", 1.0, {"latency": 100})
        await proxy.add_toxic("up", "latency", "upstream", 1.0, {"latency": 50})
        assert 0.15 <= await client.round_trip() < 0.4
        await proxy.add_toxic("down2", "latency", "downstream", 1.0, {"latency": 60})
        assert 0.21 <= await client.round_trip() < 0.5


async def test_toxicity_is_drawn_per_connection_and_holds_for_its_lifetime() -> None:
    async with proxied() as proxy:
        # A latency far above what 40 connections opened at once cost a loaded
        # CI machine, so a slow first trip means the toxic and nothing else.
        await proxy.add_toxic("half", "latency", "downstream", 0.5, {"latency": 1500})

        async def two_round_trips() -> tuple[bool, bool]:
            async with connect(proxy) as client:
                first = await client.round_trip()
                second = await client.round_trip()
            return first >= 1.2, second >= 1.2

        results = await asyncio.gather(*(two_round_trips() for _ in range(40)))
    assert all(first == second for first, second in results), results
    delayed = sum(first for first, _ in results)
    # P(all 40 alike) = 2**-39: both kinds must show up.
    assert 0 < delayed < 40, delayed


async def test_toxicity_is_drawn_again_when_the_stage_restarts() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("never", "latency", "downstream", 0.0, {"latency": 600})
        assert await client.round_trip() < 0.4
        await proxy.update_toxic("never", None, 1.0)
        assert await client.round_trip() >= 0.59


async def test_removing_a_timeout_toxic_closes_connections_even_if_skipped() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        # Toxicity 0: the toxic never runs on this link, data flows normally ...
        await proxy.add_toxic("t", "timeout", "upstream", 0.0, {"timeout": 0})
        assert await client.round_trip() < 1.0
        # ... yet removing it closes the connection (Toxiproxy PR #168).
        await proxy.remove_toxic("t")
        assert await client.read_to_eof() == b""
        await until(lambda: not proxy.connections)


async def test_noop_toxic_passes_data() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("n", "noop", "upstream", 1.0, {})
        assert await client.round_trip(b"through noop") < 1.0


async def test_data_stays_whole_and_ordered_while_toxics_change_under_a_transfer() -> None:
    payload = bytes(range(256)) * (4 * 4096)  # 4 MiB
    async with proxied() as proxy, connect(proxy) as client:
        received = bytearray()

        async def read_all() -> None:
            while len(received) < len(payload):
                received.extend(await client.read_some())

        async def churn() -> None:
            # Latency keeps chunks queued inside the chain, so every rewire has
            # data in flight that later data must not overtake.
            for i in range(30):
                # Spread the changes over the whole transfer.
                target = i * len(payload) // 32
                await until(lambda: len(received) >= target)  # noqa: B023 - awaited at once
                await proxy.add_toxic(f"l{i}", "latency", "downstream", 0.7, {"latency": 3})
                await proxy.add_toxic(f"s{i}", "slicer", "upstream", 1.0, {"average_size": 9000})
                await proxy.update_toxic(f"l{i}", {"latency": i % 4}, 1.0)
                await proxy.add_toxic(f"z{i}", "latency", "downstream", 1.0, {"latency": 2})
                await proxy.remove_toxic(f"s{i}")
                await proxy.remove_toxic(f"z{i}")
                if i % 2:
                    await proxy.remove_toxic(f"l{i}")

        async def write_all() -> None:
            for start in range(0, len(payload), 100_000):
                await client.send(payload[start : start + 100_000])

        await asyncio.wait_for(asyncio.gather(read_all(), churn(), write_all()), 20)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


async def test_a_stalled_chain_pauses_the_source_instead_of_buffering_without_bound() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("stall", "bandwidth", "upstream", 1.0, {"rate": 0})
        client.writer.write(bytes(64 << 20))  # more than the chain may hold
        await until(lambda: bool(proxy.connections))
        up = proxy.connections[0].links["upstream"]
        await until(lambda: not up.source.is_reading())
        assert 1 << 20 < up.received <= (1024 * 32 + 1024) << 10
        client.writer.transport.abort()


async def test_stop_leaves_no_stage_task_behind() -> None:
    def stage_tasks() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if "Link._run" in repr(t.get_coro())]

    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("stall", "bandwidth", "downstream", 1.0, {"rate": 0})
        await proxy.add_toxic("lat", "latency", "upstream", 1.0, {"latency": 5000})
        await client.send(b"stuck")
        await until(lambda: bool(proxy.connections))
        assert len(stage_tasks()) == 2
        await proxy.stop()
        assert stage_tasks() == []
        assert proxy.connections == []
