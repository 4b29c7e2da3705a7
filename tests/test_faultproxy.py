"""How the harness obtains a Toxiproxy server, and the facade it drives it with.

Integration tests use the real embedded server; the unit tests at the end
use respx for the calls the facade makes with httpx.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import http_kit
import httpx
import pytest
import respx

from harness.runtime.faultproxy import (
    CALL_TIMEOUT_S,
    STOP_TIMEOUT_S,
    FaultProxy,
    FaultProxyError,
    open_fault_proxy,
    probe_server,
)

ROOT = Path(__file__).resolve().parents[1]


def pid_gone(pid: int, timeout: float = 15.0) -> bool:
    """True once `pid` no longer exists (or is a zombie nobody reaps), within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def echo(address: str, payload: bytes = b"ping") -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload) and (chunk := sock.recv(4096)):
            got += chunk
        return got


@pytest.fixture
async def echo_upstream() -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def embedded() -> AsyncIterator[FaultProxy]:
    async with open_fault_proxy(env={}, use_path=False) as fp:
        yield fp


# ------------------------------------------------------------ the embedded server


async def test_embedded_server_is_started_and_stopped(echo_upstream: str) -> None:
    async with open_fault_proxy(env={}, use_path=False) as fp:
        assert fp.source == "embedded"
        assert fp.describe()["version"] == "2.12.0"
        pid = fp.server_pid
        assert pid is not None and not pid_gone(pid, timeout=0)
        listen = await fp.create_proxy("chaoslab-test.link", echo_upstream)
        assert listen.startswith("127.0.0.1:")
        assert await asyncio.to_thread(echo, listen) == b"ping"
        url = fp.url
    assert await asyncio.to_thread(pid_gone, pid)
    with pytest.raises(httpx.ConnectError):
        async with http_kit.async_client(timeout=2) as http:
            await http.get(url + "/version")


async def test_toxic_lifecycle_through_the_facade(embedded: FaultProxy, echo_upstream: str) -> None:
    fp = embedded
    await fp.create_proxy("p", echo_upstream)
    toxic = await fp.add_toxic(
        "p", name="slow", type="latency", stream="upstream", attributes={"latency": 10}
    )
    assert (toxic.name, toxic.stream, toxic.attributes) == (
        "slow",
        "upstream",
        {"latency": 10, "jitter": 0},
    )
    updated = await fp.update_toxic("p", "slow", attributes={"jitter": 3}, toxicity=0.5)
    assert updated.attributes == {"latency": 10, "jitter": 3} and updated.toxicity == 0.5
    assert [t.name for t in await fp.toxics("p")] == ["slow"]
    assert fp.created_toxics == [("p", "slow")]
    await fp.remove_toxic("p", "slow")
    assert await fp.toxics("p") == [] and fp.created_toxics == []
    info = await fp.set_enabled("p", False)
    assert info.enabled is False
    await fp.reset()  # scoped reset re-enables our proxies
    assert (await fp.get_proxy("p")).enabled is True
    await fp.delete_proxy("p")
    assert fp.created_proxies == [] and await fp.proxies() == {}


async def test_server_errors_become_clear_facade_errors(embedded: FaultProxy) -> None:
    fp = embedded
    listen = await fp.create_proxy("one", "127.0.0.1:1")
    with pytest.raises(FaultProxyError, match="proxy already exists"):
        await fp.create_proxy("one", "127.0.0.1:1")
    with pytest.raises(FaultProxyError, match=f"HTTP 500: listen tcp {listen}: bind: address"):
        await fp.create_proxy("two", "127.0.0.1:1", listen=listen)
    with pytest.raises(FaultProxyError, match="invalid toxic type"):
        await fp.add_toxic("one", type="nonsense")
    with pytest.raises(FaultProxyError, match="update toxic x on one: HTTP 404: toxic not found"):
        await fp.update_toxic("one", "x", toxicity=0.1)
    with pytest.raises(FaultProxyError, match="proxy not found"):
        await fp.remove_toxic("nope", "x")
    with pytest.raises(FaultProxyError, match="no '/'"):
        await fp.create_proxy("a/b", "x:1")
    assert fp.created_proxies == ["one"]


async def test_cleanup_on_exception_stops_the_subprocess() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="drill failed"):
        async with open_fault_proxy(env={}, use_path=False) as fp:
            assert fp.server_pid is not None
            pids.append(fp.server_pid)
            await fp.create_proxy("p", "127.0.0.1:1")
            raise RuntimeError("drill failed")
    assert pids
    assert await asyncio.to_thread(pid_gone, pids[0])


async def test_cancellation_stops_the_subprocess() -> None:
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def drill() -> None:
        async with open_fault_proxy(env={}, use_path=False) as fp:
            assert fp.server_pid is not None
            started.set_result(fp.server_pid)
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(drill())
    pid = await asyncio.wait_for(started, timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(pid_gone, pid)


_HARNESS_SCRIPT = textwrap.dedent(
    """
    import asyncio, signal, sys
    from harness.runtime.faultproxy import open_fault_proxy

    # A child inherits ignored and blocked signals: whatever a pytest worker's
    # earlier tests left behind must not decide whether Ctrl-C reaches us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    async def main():
        async with open_fault_proxy(env={}, use_path=False) as fp:
            await fp.create_proxy("p", "127.0.0.1:1")
            print(fp.server_pid, flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_orphan_when_the_harness_is_interrupted_or_killed(sig: signal.Signals) -> None:
    harness = subprocess.Popen(
        [sys.executable, "-c", _HARNESS_SCRIPT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()  # bounded by the facade's own startup timeout
        assert line.strip().isdigit(), harness.stderr.read() if harness.stderr else line
        server_pid = int(line)
        harness.send_signal(sig)
        try:
            # Long enough for the cleanup's own call timeout and the server's stop.
            harness.wait(timeout=CALL_TIMEOUT_S + 2 * STOP_TIMEOUT_S + 10)
        except subprocess.TimeoutExpired:
            status = Path(f"/proc/{harness.pid}/status").read_text()
            signals = [line for line in status.splitlines() if line.startswith("Sig")]
            raise AssertionError(f"the harness did not exit: {signals}") from None
        assert pid_gone(server_pid), f"server {server_pid} outlived the harness ({sig.name})"
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for stream in (harness.stdout, harness.stderr):
            if stream is not None:
                stream.close()


# ------------------------------------------------------------ TOXIPROXY_URL and PATH


async def test_toxiproxy_url_is_used_and_only_own_objects_are_removed(
    embedded: FaultProxy,
) -> None:
    shared = embedded  # stands in for a server someone else runs
    await shared.create_proxy("theirs", "127.0.0.1:1")
    await shared.add_toxic("theirs", name="their_toxic", type="latency")
    async with open_fault_proxy(env={"TOXIPROXY_URL": shared.url}) as fp:
        assert fp.source == "env" and fp.server_pid is None and fp.url == shared.url
        await fp.create_proxy("mine", "127.0.0.1:1")
        await fp.add_toxic("mine", type="timeout")
        await fp.add_toxic("theirs", name="my_toxic", type="bandwidth", attributes={"rate": 1})
        names = {t.name for t in await fp.toxics("theirs")}
        assert names == {"their_toxic", "my_toxic"}
    # The server was not stopped, and only what the inner facade made is gone.
    proxies = await shared.proxies()
    assert list(proxies) == ["theirs"]
    assert [t.name for t in proxies["theirs"].toxics] == ["their_toxic"]


async def test_toxiproxy_url_without_a_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FaultProxyError) as caught:
        async with open_fault_proxy(env={"TOXIPROXY_URL": f"http://127.0.0.1:{port}"}):
            pass
    assert str(caught.value) == f"TOXIPROXY_URL=http://127.0.0.1:{port}: connection refused"
    with pytest.raises(FaultProxyError, match="plain http"):
        async with open_fault_proxy(env={"TOXIPROXY_URL": "https://example.invalid"}):
            pass


@pytest.fixture
async def not_toxiproxy() -> AsyncIterator[dict[str, tuple[int, str, str]]]:
    """A loopback HTTP server whose answer to any path the test sets (status, type, body)."""
    answer: dict[str, tuple[int, str, str]] = {"reply": (404, "text/html", "<html>404</html>")}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        status, kind, body = answer["reply"]
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        answer["port"] = (server.sockets[0].getsockname()[1], "", "")
        yield answer


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ((404, "text/html", "<html>\n<h1>Not Found</h1>\n</html>"), "GET /version answered 404"),
        (
            (200, "text/html; charset=utf-8", "<!doctype html>\n<p>hello</p>"),
            "GET /version answered 200 with text/html, not a version",
        ),
        (
            (200, "application/json", '{"status": "ok"}'),
            "GET /version answered 200 with application/json, not a version",
        ),
    ],
)
async def test_toxiproxy_url_at_another_server_says_so_in_one_line(
    not_toxiproxy: dict[str, tuple[int, str, str]], reply: tuple[int, str, str], says: str
) -> None:
    not_toxiproxy["reply"] = reply
    url = f"http://127.0.0.1:{not_toxiproxy['port'][0]}"
    with pytest.raises(FaultProxyError) as caught:
        async with open_fault_proxy(env={"TOXIPROXY_URL": url}):
            pass
    assert str(caught.value) == f"TOXIPROXY_URL={url}: not a Toxiproxy server ({says})"


@pytest.mark.parametrize("body", ['{"version": "2.12.0"}', "2.1.4\n"])
async def test_probe_accepts_both_version_formats(
    not_toxiproxy: dict[str, tuple[int, str, str]], body: str
) -> None:
    not_toxiproxy["reply"] = (200, "text/plain", body)
    version = await probe_server(f"http://127.0.0.1:{not_toxiproxy['port'][0]}")
    assert version == body.strip().removeprefix('{"version": "').removesuffix('"}')


# ------------------------------------------------------------ scratch folders


def test_a_killed_harness_leaves_its_folder_to_the_next_one(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    root = tmp_path / f"chaoslab-{os.getuid()}"
    harness = subprocess.Popen(
        [sys.executable, "-c", _HARNESS_SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    try:
        assert harness.stdout is not None
        server_pid = int(harness.stdout.readline())
        left = list(root.glob("faultproxy-*"))
        assert len(left) == 1 and left[0].name.startswith(f"faultproxy-{harness.pid}.")
        harness.kill()
        harness.wait(timeout=30)
        assert pid_gone(server_pid)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        if harness.stdout is not None:
            harness.stdout.close()
    assert left[0].exists()  # SIGKILL runs no cleanup...
    alive = root / f"faultproxy-{os.getpid()}.0-keep"  # ...and a live owner's folder stays
    alive.mkdir()
    next_one = (
        "from harness.runtime.scratch import scratch_dir\nwith scratch_dir('faultproxy'): pass"
    )
    subprocess.run([sys.executable, "-c", next_one], cwd=ROOT, env=env, check=True, timeout=60)
    assert sorted(p.name for p in root.iterdir()) == [alive.name]


def test_a_recycled_pid_does_not_keep_a_folder(tmp_path: Path) -> None:
    from harness.runtime.scratch import remove_stale

    ours = tmp_path / f"faultproxy-{os.getpid()}.1-abc"  # our pid, another start time
    ours.mkdir()
    assert remove_stale("faultproxy", tmp_path) == [ours]
    assert not ours.exists()


async def test_toxiproxy_server_on_path_is_preferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in binary that takes toxiproxy-server's Go-style flags.
    fake = tmp_path / "toxiproxy-server"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness.proxy "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    async with open_fault_proxy(env={}) as fp:
        assert fp.source == "path" and fp.server == str(fake)
        pid = fp.server_pid
        await fp.create_proxy("p", "127.0.0.1:1")
    assert pid is not None and await asyncio.to_thread(pid_gone, pid)


async def test_delete_stale_only_touches_dead_owners(embedded: FaultProxy) -> None:
    for name in ("chaoslab-dead.a", "chaoslab-live.a", "other"):
        await embedded.create_proxy(name, "127.0.0.1:1")
    deleted = await embedded.delete_stale("chaoslab-", lambda name: "live" in name)
    assert deleted == ["chaoslab-dead.a"]
    assert sorted(await embedded.proxies()) == ["chaoslab-live.a", "other"]


# ------------------------------------------------------------ unit tests (respx)


@respx.mock
async def test_update_toxic_posts_merged_fields_only() -> None:
    route = respx.post("http://toxi.test:8474/proxies/a%20b/toxics/lat").mock(
        return_value=httpx.Response(
            200,
            json={
                "attributes": {"latency": 5, "jitter": 1},
                "name": "lat",
                "type": "latency",
                "stream": "downstream",
                "toxicity": 0.5,
            },
        )
    )
    fp = FaultProxy("http://toxi.test:8474")
    try:
        info = await fp.update_toxic("a b", "lat", toxicity=0.5)
    finally:
        await fp.aclose()
    assert route.called
    assert route.calls.last.request.content == b'{"toxicity":0.5}'
    assert info.toxicity == 0.5 and info.attributes == {"latency": 5, "jitter": 1}


@respx.mock
async def test_update_toxic_maps_server_errors() -> None:
    respx.post("http://toxi.test:8474/proxies/p/toxics/t").mock(
        return_value=httpx.Response(
            400,
            text='{"error":"bad request body: EOF","status":400}\n',
            headers={"content-type": "text/plain; charset=utf-8"},
        )
    )
    fp = FaultProxy("toxi.test:8474")
    try:
        with pytest.raises(FaultProxyError, match="HTTP 400: bad request body: EOF"):
            await fp.update_toxic("p", "t", attributes={"latency": 1})
    finally:
        await fp.aclose()


def test_describe_names_the_server() -> None:
    fp = FaultProxy("http://[::1]:9000", "env", server="x")
    assert fp.describe() == {
        "url": "http://[::1]:9000",
        "source": "env",
        "server": "x",
        "version": "",
    }
    asyncio.run(fp.aclose())
