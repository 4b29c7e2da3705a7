"""`chaoslab init --template queue`: a queue consumer's pilot and sample messages that load."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.inputs.expectations import expected_rows
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import load_pilot
from harness.scaffold import LAYOUT, init_layout


def chaoslab(
    *args: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chaoslab", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_init_queue_writes_a_queue_pilot_in_the_same_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team"
    code, out, _ = chaoslab(
        "init", str(team), "--template", "queue", capsys=capsys, monkeypatch=monkeypatch
    )
    assert code == 0, out
    for rel in LAYOUT:
        assert (team / rel).is_file(), rel
    pilot = load_pilot(team / "pilots" / "example.toml")
    queue = pilot.spec.queue
    assert queue is not None and queue.broker == "nats" and queue.url is None
    assert queue.dlq_stream and queue.dlq_subject
    assert pilot.spec.links["broker"].to == "queue"
    assert "{links.broker.url}" in pilot.spec.workflow.env.values()
    cut = pilot.spec.scenarios["consumer-cut"]
    assert [(t.link, t.type, t.stream) for t in cut.toxics] == [("broker", "timeout", "upstream")]
    # The poison sample is what the dead_letter rule names; the others make records.
    events = load_fixtures(team / "fixtures" / "example" / "events.jsonl")
    rows = expected_rows("r", events, frozenset(), pilot.spec.expectations, ["api"])
    dead = [r["fixture_id"] for r in rows if r["dead_letter"]]
    assert dead == ["qx-004"]
    assert all(r["expected_effect"] == "api:record.created" for r in rows if not r["dead_letter"])


def test_the_queue_pilots_commented_scenario_loads_too(tmp_path: Path) -> None:
    init_layout(tmp_path, "queue")
    text = (tmp_path / "pilots" / "example.toml").read_text()
    uncommented = re.sub(
        r"^# (\[scenarios\.|description|delivery|partner)", r"\1", text, flags=re.M
    )
    (tmp_path / "pilots" / "more.toml").write_text(uncommented)
    more = load_pilot(tmp_path / "pilots" / "more.toml")
    assert list(more.spec.scenarios) == ["duplicates", "consumer-cut", "partner-throttle"]


def test_the_default_template_is_still_the_webhook_one(tmp_path: Path) -> None:
    init_layout(tmp_path)
    pilot = load_pilot(tmp_path / "pilots" / "example.toml")
    assert pilot.spec.queue is None and pilot.spec.webhook is not None


def test_an_unknown_template_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team"
    code, _, err = chaoslab(
        "init", str(team), "--template", "kafka", capsys=capsys, monkeypatch=monkeypatch
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "chaoslab: --template: 'kafka' is not a template (templates: webhook, queue)"
    ]
    assert not team.exists()
