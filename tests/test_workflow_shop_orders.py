"""The Node-RED pilot's files agree with each other; no Node-RED process is started
(pytest --pilots drills the flow itself, scenario by scenario)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from stub_partner import REPO, regenerate_fixtures

from harness.inputs.fixtures import load_fixtures

FLOW_DIR = REPO / "workflows/shop-orders-nodered"
PILOT = REPO / "pilots/shop-orders.toml"


def _flow() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = json.loads((FLOW_DIR / "flows.json").read_text("utf-8"))
    return nodes


def _pilot() -> dict[str, Any]:
    return tomllib.loads(PILOT.read_text("utf-8"))


def test_the_flow_serves_the_pilots_webhook_and_readiness_paths() -> None:
    routes = {(n["method"], n["url"]) for n in _flow() if n["type"] == "http in"}
    pilot = _pilot()
    assert ("post", pilot["webhook"]["path"]) in routes
    assert ("get", pilot["workflow"]["ready_path"]) in routes


def test_the_flow_holds_no_address_or_secret_and_every_node_is_named() -> None:
    nodes = _flow()
    text = json.dumps(nodes)
    assert not re.search(r"https?://", text)
    assert not any("credentials" in n for n in nodes)
    env_read = {m for n in nodes for m in re.findall(r'env\.get\("(\w+)"\)', n.get("func", ""))}
    assert env_read <= set(_pilot()["workflow"]["env"])
    unnamed = [n["id"] for n in nodes if n["type"] not in ("tab",) and not n.get("name")]
    assert unnamed == []
    # Node-RED listens on every interface unless told; the drill's copy must not.
    settings = (FLOW_DIR / "settings.js").read_text("utf-8")
    assert re.search(r'^\s*uiHost:\s*"127\.0\.0\.1",', settings, re.M)


def test_node_red_is_pinned_exactly_and_locked() -> None:
    wanted = json.loads((FLOW_DIR / "package.json").read_text())["dependencies"]["node-red"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", wanted), wanted
    lock = json.loads((FLOW_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/node-red"]["version"] == wanted


def test_the_capture_holds_the_ugly_cases() -> None:
    records = load_fixtures(REPO / "fixtures/shop-orders/events.jsonl")
    ids = [r.event_id for r in records]
    assert len(ids) > len(set(ids))  # a redelivery with the same X-Shopify-Webhook-Id
    seen: set[str] = set()
    early = []
    for r in records:
        if r.event_type == "orders/create":
            seen.add(r.entity_id)
        elif r.entity_id not in seen:
            early.append(r.id)
    assert early  # an orders/updated before its order's create
    bodies = [json.loads(r.body) for r in records]
    orders = [b for b in bodies if "id" in b]
    assert any(b["customer"] is None for b in orders)
    assert any("shipping_address" not in b for b in orders)
    # An update naming no order: the flow refuses it by design, and the pilot says so.
    assert [r.id for r, b in zip(records, bodies, strict=True) if "id" not in b] == ["so-026"]


def test_the_committed_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    committed = (REPO / "fixtures/shop-orders/events.jsonl").read_bytes()
    assert regenerate_fixtures("shop-orders", tmp_path / "events.jsonl") == committed
