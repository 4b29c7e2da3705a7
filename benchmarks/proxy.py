"""How much the embedded fault proxy costs, measured against a direct connection.

    .venv/bin/python benchmarks/proxy.py [--round-trips N] [--bulk-mib N] [--loop LOOP]

A loopback echo/sink server runs in one process, the measuring client in
another (plain blocking sockets, so it adds as little as possible), and the
proxy in this process's event loop, the way the harness embeds it. Each
client run measures, through one address:

- 64-byte ping-pong: median and p99 round trip over a few thousand exchanges;
- bulk: 1 GiB client -> server (upload) and server -> client (download).

Rows: direct, then through the proxy with no toxic and with `latency=0`
toxics on both streams. Bounded: every socket has a timeout and the whole
run stops after --budget seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import multiprocessing as mp
import os
import socket
import statistics
import struct
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.proxy.proxy import Proxy

PING_SIZE = 64
BLOCK = 1 << 20  # bulk I/O in 1 MiB writes and reads
SOCKET_TIMEOUT_S = 30.0

# First byte a client sends tells the server what the connection is for.
MODE_ECHO, MODE_SINK, MODE_SOURCE = b"E", b"S", b"R"


# -- server process ---------------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        part = sock.recv(size - len(buf))
        if not part:
            raise ConnectionError("peer closed early")
        buf += part
    return bytes(buf)


def _serve_one(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(SOCKET_TIMEOUT_S)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = _recv_exact(conn, 1)
        if mode == MODE_ECHO:
            buf = bytearray(PING_SIZE)
            view = memoryview(buf)
            while True:
                got = 0
                while got < PING_SIZE:
                    n = conn.recv_into(view[got:])
                    if n == 0:
                        return
                    got += n
                conn.sendall(buf)
        elif mode == MODE_SINK:
            (total,) = struct.unpack("!Q", _recv_exact(conn, 8))
            buf = bytearray(BLOCK)
            got = 0
            while got < total:
                n = conn.recv_into(buf)
                if n == 0:
                    raise ConnectionError("sink: peer closed early")
                got += n
            conn.sendall(b"k")
        elif mode == MODE_SOURCE:
            (total,) = struct.unpack("!Q", _recv_exact(conn, 8))
            block = bytes(BLOCK)
            sent = 0
            while sent < total:
                part = min(BLOCK, total - sent)
                conn.sendall(block if part == BLOCK else block[:part])
                sent += part
            _recv_exact(conn, 1)


def server_main(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


# -- client process ---------------------------------------------------------------------


@dataclass
class Figures:
    rtt_median_us: float
    rtt_p99_us: float
    upload_gbps: float
    download_gbps: float


def _connect(port: int, mode: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(mode)
    return sock


def _ping_pong(port: int, round_trips: int) -> list[float]:
    with _connect(port, MODE_ECHO) as sock:
        payload = b"p" * PING_SIZE
        buf = bytearray(PING_SIZE)
        view = memoryview(buf)
        samples: list[float] = []
        for i in range(round_trips + 100):
            start = time.perf_counter_ns()
            sock.sendall(payload)
            got = 0
            while got < PING_SIZE:
                n = sock.recv_into(view[got:])
                if n == 0:
                    raise ConnectionError("echo closed early")
                got += n
            if i >= 100:  # the first exchanges warm caches and the proxy's code paths
                samples.append((time.perf_counter_ns() - start) / 1000.0)
        return samples


def _upload(port: int, total: int) -> float:
    with _connect(port, MODE_SINK) as sock:
        sock.sendall(struct.pack("!Q", total))
        block = bytes(BLOCK)
        start = time.perf_counter()
        sent = 0
        while sent < total:
            part = min(BLOCK, total - sent)
            sock.sendall(block if part == BLOCK else block[:part])
            sent += part
        _recv_exact(sock, 1)  # the sink has counted every byte
        return total * 8 / (time.perf_counter() - start) / 1e9


def _download(port: int, total: int) -> float:
    with _connect(port, MODE_SOURCE) as sock:
        start = time.perf_counter()
        sock.sendall(struct.pack("!Q", total))
        buf = bytearray(BLOCK)
        got = 0
        while got < total:
            n = sock.recv_into(buf)
            if n == 0:
                raise ConnectionError("source closed early")
            got += n
        elapsed = time.perf_counter() - start
        sock.sendall(b"k")
        return total * 8 / elapsed / 1e9


def client_main(jobs: Connection) -> None:
    """Serve jobs: ("ping", port, n) -> samples in µs; ("up"|"down", port, bytes) -> Gbit/s."""
    while (job := jobs.recv()) is not None:
        kind, port, amount = job
        try:
            if kind == "ping":
                jobs.send(_ping_pong(port, amount))
            elif kind == "up":
                jobs.send(_upload(port, amount))
            else:
                jobs.send(_download(port, amount))
        except OSError as err:
            jobs.send(f"{type(err).__name__}: {err}")


# -- orchestration ----------------------------------------------------------------------


async def _ask(jobs: Connection, kind: str, port: int, amount: int) -> object:
    jobs.send((kind, port, amount))
    # The proxies live in this loop, so wait for the client without blocking it.
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(jobs.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(jobs.fileno())
        # uvloop leaves a watched descriptor non-blocking; recv() needs it blocking.
        os.set_blocking(jobs.fileno(), True)
    result = jobs.recv()
    if isinstance(result, str):
        raise SystemExit(f"benchmarks/proxy.py: client failed on {kind} via :{port}: {result}")
    return result


async def run(args: argparse.Namespace, server_port: int, jobs: Connection) -> None:
    total = args.bulk_mib * (1 << 20)
    upstream = f"127.0.0.1:{server_port}"
    async with (
        Proxy("bench-plain", "127.0.0.1:0", upstream) as plain,
        Proxy("bench-latency0", "127.0.0.1:0", upstream) as zero,
    ):
        for stream in ("upstream", "downstream"):
            await zero.add_toxic(f"zero_{stream}", "latency", stream, 1.0, {"latency": 0})
        paths = {
            "direct": server_port,
            "proxy, no toxic": int(plain.listen.rsplit(":", 1)[1]),
            "proxy, latency=0 x2": int(zero.listen.rsplit(":", 1)[1]),
        }
        # Ping-pong in interleaved rounds, so drifts in machine load hit every
        # path alike instead of whichever ran during the noisy second.
        samples: dict[str, list[float]] = {name: [] for name in paths}
        rounds = 5
        for _ in range(rounds):
            for name, port in paths.items():
                got = await _ask(jobs, "ping", port, max(10, args.round_trips // rounds))
                assert isinstance(got, list)
                samples[name].extend(got)
        rows: list[tuple[str, Figures]] = []
        for name, port in paths.items():
            up = await _ask(jobs, "up", port, total)
            down = await _ask(jobs, "down", port, total)
            assert isinstance(up, float) and isinstance(down, float)
            ordered = sorted(samples[name])
            rows.append(
                (
                    name,
                    Figures(
                        rtt_median_us=statistics.median(ordered),
                        rtt_p99_us=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                        upload_gbps=up,
                        download_gbps=down,
                    ),
                )
            )
    _print(rows, args)


def _print(rows: list[tuple[str, Figures]], args: argparse.Namespace) -> None:
    base = rows[0][1]
    print(
        f"loop={args.loop}  ping-pong={args.round_trips} x {PING_SIZE} B  "
        f"bulk={args.bulk_mib} MiB each way"
    )
    header = (
        f"{'path':<22}{'rtt p50 µs':>11}{'+p50 µs':>9}{'rtt p99 µs':>11}{'+p99 µs':>9}"
        f"{'up Gbit/s':>11}{'ratio':>7}{'down Gbit/s':>13}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, f in rows:
        print(
            f"{name:<22}{f.rtt_median_us:>11.1f}{f.rtt_median_us - base.rtt_median_us:>9.1f}"
            f"{f.rtt_p99_us:>11.1f}{f.rtt_p99_us - base.rtt_p99_us:>9.1f}"
            f"{f.upload_gbps:>11.2f}{f.upload_gbps / base.upload_gbps:>7.2f}"
            f"{f.download_gbps:>13.2f}{f.download_gbps / base.download_gbps:>7.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--round-trips", type=int, default=3000)
    parser.add_argument("--bulk-mib", type=int, default=1024)
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop for the proxy; auto = uvloop when installed, as the server does",
    )
    parser.add_argument("--budget", type=float, default=110.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    if args.round_trips < 10 or args.bulk_mib < 1:
        parser.error("--round-trips must be >= 10 and --bulk-mib >= 1")

    listener = socket.create_server(("127.0.0.1", 0))
    server_port = listener.getsockname()[1]
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=server_main, args=(listener,), daemon=True)
    client = ctx.Process(target=client_main, args=(theirs,), daemon=True)
    server.start()
    client.start()
    listener.close()
    try:
        coro = asyncio.wait_for(run(args, server_port, ours), args.budget)
        if args.loop == "auto":
            args.loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        if args.loop == "uvloop":
            try:
                import uvloop
            except ImportError:
                coro.close()
                parser.error("--loop uvloop needs the uvloop package")
            uvloop.run(coro)
        else:
            asyncio.run(coro)
    except TimeoutError:
        print(f"benchmarks/proxy.py: gave up after {args.budget:.0f} s", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(OSError):
            ours.send(None)
        client.join(5)
        for proc in (client, server):
            if proc.is_alive():
                proc.terminate()
            proc.join(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
