"""The partner simulator as its own process on loopback: named socket faults, slow
answers, files that survive SIGKILL, and one-line errors from the command line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import http_kit
import httpx
import pytest
from process_kit import Service, partner

REPO = Path(__file__).resolve().parents[1]
FAULTS = ["EMPTY_RESPONSE", "CONNECTION_RESET_BY_PEER", "RANDOM_DATA_THEN_CLOSE",
          "MALFORMED_RESPONSE_CHUNK"]  # fmt: skip
DECL = {
    "routes": [
        *({"method": "GET", "path": f"/fault/{name}", "fault": name, "body": {"x": 1}}
          for name in FAULTS),
        {"method": "POST", "path": "/v1/items", "effect": "item.created", "key": "body.sku",
         "status": 201, "body": {"id": "{id}"}},
    ]
}  # fmt: skip


# The module's partner process is started once per xdist worker: one worker runs them all.
pytestmark = pytest.mark.xdist_group("partner-process")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("partner-process")


@pytest.fixture(scope="module")
def sim(workdir: Path) -> Iterator[Service]:
    with partner(
        DECL,
        name="shop",
        ledger=workdir / "ledger.jsonl",
        requests=workdir / "requests.jsonl",
        cwd=REPO,
    ) as svc:
        yield svc


@pytest.fixture
def api(sim: Service) -> Iterator[httpx.Client]:
    with http_kit.client(base_url=sim.url, timeout=5) as client:
        assert client.post("/_sim/faults", json={}).status_code == 200
        assert client.post("/_sim/reset").status_code == 200
        yield client


def raw_exchange(url: str, path: str) -> tuple[bytes, str]:
    """Send one request on a bare socket; return what came back and how it ended."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            return data, "reset"
    return data, "closed"


def test_empty_response_closes_without_a_byte(api: httpx.Client, sim: Service) -> None:
    assert raw_exchange(sim.url, "/fault/EMPTY_RESPONSE") == (b"", "closed")
    line = api.get("/_sim/requests").json()[-1]
    assert line["status"] is None and line["reason"] == "fault EMPTY_RESPONSE"


def test_connection_reset_by_peer_sends_rst(sim: Service) -> None:
    data, ending = raw_exchange(sim.url, "/fault/CONNECTION_RESET_BY_PEER")
    assert (data, ending) == (b"", "reset")


def test_random_data_then_close(sim: Service) -> None:
    data, ending = raw_exchange(sim.url, "/fault/RANDOM_DATA_THEN_CLOSE")
    assert ending == "closed" and len(data) == 64 and not data.startswith(b"HTTP/")


def test_malformed_chunk_breaks_an_http_client(api: httpx.Client, sim: Service) -> None:
    data, ending = raw_exchange(sim.url, "/fault/MALFORMED_RESPONSE_CHUNK")
    assert data.startswith(b"HTTP/1.1 200 ") and b"chunked" in data and ending == "closed"
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/fault/MALFORMED_RESPONSE_CHUNK")


def test_server_still_answers_after_faults(api: httpx.Client, sim: Service) -> None:
    for name in FAULTS:
        raw_exchange(sim.url, f"/fault/{name}")
    assert api.post("/v1/items", json={"sku": "s1"}).status_code == 201


def test_slow_answer_applies_its_effect_first(api: httpx.Client, sim: Service) -> None:
    assert api.post("/_sim/faults", json={"slow": [{"delay_ms": 2000, "requests": [1]}]}).is_success
    with http_kit.client(base_url=sim.url, timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post("/v1/items", json={"sku": "s1"})
    # The client gave up, yet the effect exists: a blind retry would duplicate it.
    assert [e["effect"] for e in api.get("/_sim/ledger").json()] == ["item.created"]


def test_ledger_and_journal_survive_sigkill(tmp_path: Path) -> None:
    ledger, requests = tmp_path / "ledger.jsonl", tmp_path / "requests.jsonl"
    with partner(DECL, ledger=ledger, requests=requests, cwd=REPO) as svc:
        with http_kit.client(base_url=svc.url, timeout=5) as client:
            assert client.post("/v1/items", json={"sku": "s9"}).status_code == 201
            assert client.get("/nowhere").status_code == 404
        svc.process.send_signal(signal.SIGKILL)
        svc.process.wait(timeout=5)
    (effect,) = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert effect["key"] == "s9" and effect["partner"] == "partner"
    lines = [json.loads(x) for x in requests.read_text().splitlines()]
    assert [(x["path"], x["status"]) for x in lines] == [("/v1/items", 201), ("/nowhere", 404)]


def test_toml_declaration_file_is_served(tmp_path: Path) -> None:
    with partner(REPO / "pilots/partners/logistics.toml", name="logistics", cwd=REPO) as svc:
        with http_kit.client(base_url=svc.url, timeout=5) as client:
            body = {"order_id": "o1", "address": "x", "version": 1}
            assert client.post("/v1/shipments", json=body).status_code == 201
            assert client.get("/_sim/health").json()["partner"] == "logistics"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.partner", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bad_faults_flag_exits_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"routes": []}))
    done = run_cli("--spec", str(spec), "--faults", '{"slow": [{"delay_ms": -1}]}')
    assert done.returncode == 2
    assert done.stderr.strip() == "partner: --faults: slow[0].delay_ms: must be >= 0, got -1"


def test_bad_spec_exits_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"routes": [{"method": "POST", "path": "/x", "effect": "a.b"}]}))
    done = run_cli("--spec", str(spec))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"partner: {spec}: routes[0]: key is required when effect is set"
    )
