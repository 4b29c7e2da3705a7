"""Replay throughput: deliveries per second through the embedded fault proxy.

Three loops post the same signed payloads to a trivial HTTP target (its own
process, answers 200 at once), with the same concurrency, in the same run:

  bare-direct   httpx.AsyncClient straight to the target
  bare-proxied  httpx.AsyncClient through the embedded proxy
  sender        chaoslab's Sender (plan, signing, traceparent, journal rows)
                through the embedded proxy

Targets (issue 3): sender >= 2,000 deliveries/s and >= 0.8 of the bare loop
through the same proxy.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import DeliverySpec
from harness.journal import JournalWriter
from harness.plan.schedule import plan_deliveries
from harness.proxy.proxy import run as run_loop
from harness.replay.sender import Sender
from harness.runtime.faultproxy import open_fault_proxy
from harness.runtime.processes import free_port

DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "6000"))
# httpcore's pool costs grow with its connection count: here a bare loop did
# 1,618/s with 1 connection, 1,780/s with 4 and 781/s with 16. Four is the
# drill's default too.
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
ROUNDS = 3

# A target that does nothing but answer: the benchmark measures the sender side.
TARGET = r"""
import asyncio, sys

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def event(n: int) -> CapturedRequest:
    body = (
        b'{"id":"evt_%06d","object":"event","type":"payment_intent.succeeded",'
        b'"data":{"object":{"id":"pi_%06d","amount":1999,"currency":"usd"}}}' % (n, n)
    )
    return CapturedRequest(
        id=f"fx_{n}",
        captured_at=datetime(2026, 1, 1, tzinfo=UTC),
        method="POST",
        path="/webhooks",
        headers={"Content-Type": "application/json"},
        body=body,
        signing="stripe",
        event_id=f"evt_{n:06d}",
        event_type="payment_intent.succeeded",
        entity_id=f"ord_{n:06d}",
        entity_version=1,
    )


async def bare_loop(url: str, events: list[CapturedRequest]) -> float:
    queue = iter(events)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:

        async def worker() -> None:
            for e in queue:
                response = await client.post("/webhooks", content=e.body, headers=e.headers)
                assert response.status_code == 200

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(worker())
        return len(events) / (time.perf_counter() - start)


async def sender_loop(url: str, events: list[CapturedRequest], folder: Path) -> float:
    plan = plan_deliveries([e.event_id for e in events], DeliverySpec(), seed=1)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    with JournalWriter(folder, folder.name) as journal:
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            sender = Sender(
                client=client,
                path="/webhooks",
                events=events,
                plan=plan,
                secret="whsec_bench",
                retry_schedule_s=[],
                concurrency=CONCURRENCY,
                run_id=folder.name,
                scenario="bench",
                record=journal.attempt,
            )
            start = time.perf_counter()
            stats = await sender.run()
            rate = len(events) / (time.perf_counter() - start)
    assert stats.delivered == len(events), stats
    return rate


def start_target(port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", TARGET, str(port)], stdout=subprocess.PIPE, text=True
    )


async def main() -> int:
    port = free_port()
    target = start_target(port)
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        events = [event(n) for n in range(DELIVERIES)]
        async with open_fault_proxy() as proxy:
            listen = await proxy.create_proxy("bench-webhook", f"127.0.0.1:{port}")
            direct, proxied = f"http://127.0.0.1:{port}", f"http://{listen}"
            results: dict[str, list[float]] = {"bare-direct": [], "bare-proxied": [], "sender": []}
            with tempfile.TemporaryDirectory() as tmp:
                # Interleave the loops so machine noise hits them alike.
                for round_no in range(ROUNDS):
                    results["bare-direct"].append(await bare_loop(direct, events))
                    results["bare-proxied"].append(await bare_loop(proxied, events))
                    folder = Path(tmp) / f"run{round_no}"
                    results["sender"].append(await sender_loop(proxied, events, folder))
    finally:
        target.terminate()
        target.wait(5)

    best = {name: max(rates) for name, rates in results.items()}
    print(f"replay: {DELIVERIES} deliveries x {ROUNDS} rounds, concurrency {CONCURRENCY}")
    print(f"{'loop':<14}{'best/s':>10}{'all rounds':>28}")
    for name, rates in results.items():
        print(f"{name:<14}{best[name]:>10.0f}{'  '.join(f'{r:.0f}' for r in rates):>28}")
    vs_proxied = best["sender"] / best["bare-proxied"]
    vs_direct = best["sender"] / best["bare-direct"]
    print(f"sender / bare-proxied = {vs_proxied:.2f}  (target >= 0.80)")
    print(f"sender / bare-direct  = {vs_direct:.2f}")
    print(f"sender deliveries/s   = {best['sender']:.0f}  (target >= 2000)")
    return 0


if __name__ == "__main__":
    sys.exit(run_loop(main()))
