"""A throwaway copy of pilots/ that behaves like the real one (tests share it)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pilot_tree(dest: Path) -> Path:
    """pilots/*.toml, baselines and partner declarations copied, the rest they point at linked.

    Partner declarations are copies, not a link: a pilot reads declarations
    only inside its own tree, symlinks resolved (harness.inputs.tree).
    """
    (dest / "pilots").mkdir(parents=True)
    for item in (REPO / "pilots").iterdir():
        if item.suffix in {".toml", ".json"}:
            shutil.copy(item, dest / "pilots" / item.name)
    shutil.copytree(REPO / "pilots" / "partners", dest / "pilots" / "partners")
    for name in ("fixtures", "workflows"):
        (dest / name).symlink_to(REPO / name, target_is_directory=True)
    return dest / "pilots"


def naive_logistics_pilot(folder: Path, name: str, logistics: str, tail: str) -> Path:
    """A pilot of the naive order-sync workflow against ``logistics`` (a partner TOML).

    ``tail`` is the rest of the file: the expectation's key, the SLO, the scenarios.
    """
    (folder / "logistics.toml").write_text(logistics)
    head = f"""
[pilot]
name = "{name}"
[workflow]
command = ["{sys.executable}", "-m", "workflows.naive"]
cwd = "{REPO}"
status_path = "/admin/status"
outcomes = {{ http = "/admin/outcomes" }}
[workflow.env]
PORT = "{{port}}"
PARTNER_URL = "{{links.partner.url}}"
WEBHOOK_SECRET = "{{secret}}"
STATE_DIR = "{{state_dir}}"
[webhook]
fixtures = "{REPO / "fixtures/order-sync/events.jsonl"}"
path = "/webhooks/payments"
retry_schedule_s = [0.1]
[partners.logistics]
file = "logistics.toml"
[links.partner]
to = "logistics"
[[expectations]]
when = {{ event_type = "payment_intent.succeeded" }}
effect = "shipment.created"
"""
    path = folder / f"{name}.toml"
    path.write_text(head + tail)
    return path
