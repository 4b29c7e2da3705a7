"""Blame audit: a composed entity key under a standing-stage hunt.

ticket-router's workflow keys each ticket `gh-<repository name>-<issue
number>`, a key no single field of the event holds. Salting used to suffix
only the fixture's `entity_id`, which the workflow never reads, so on
standing stages every ticket landed under a key the drill did not expect and
the hunt said the workflow "breaks an invariant with no fault injected".
The pilot now names the key's fields (`key = "gh-{body.repository.name}-…"`);
without them the hunt cannot salt the key and must not stand.

Each hunt here runs only its no-fault check (``max_schedules=0``): two drills
of the empty schedule on one standing stage and one on fresh services.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pilot_tree import pilot_tree

from harness.inputs.pilot import load_pilot
from harness.search.hunt import HuntResult, hunt, verdict_key

TEMPLATE = 'key = "gh-{body.repository.name}-{body.issue.number}"'

# The same workflow with one defect: it handles every delivery twice, so every
# issue opens two tickets, with or without faults.
DOUBLED = """
import sys

from workflows.service.serve import run
from workflows.tickets.app import create_app
from workflows.tickets.settings import RouterSettings


def doubled(settings):
    app = create_app(settings)

    async def asgi(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/github/webhook":
            return await app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        async def again():
            return {"type": "http.request", "body": body, "more_body": False}

        async def unheard(message):
            return None

        await app(scope, again, unheard)
        await app(scope, again, send)

    return asgi


sys.exit(run("tickets", RouterSettings.from_env, doubled))
"""


def ticket_pilot(tmp_path: Path, *, template: bool, defective: bool = False) -> Path:
    pilots = pilot_tree(tmp_path)
    text = (pilots / "ticket-router.toml").read_text()
    # The reference pilot names the key's fields; without them it is the fixture's entity_id.
    assert text.count(TEMPLATE) == 3
    if not template:
        text = text.replace(f"{TEMPLATE}\n", "")
    if defective:
        (tmp_path / "doubled_tickets.py").write_text(DOUBLED)
        old = 'command = ["python", "-m", "workflows.tickets"]'
        assert old in text
        text = text.replace(old, 'command = ["python", "-m", "doubled_tickets"]')
    path = pilots / "composed.toml"
    path.write_text(text.replace('name = "ticket-router"', 'name = "composed"'))
    return path


def no_fault_hunt(pilot: Path, reports: Path) -> HuntResult:
    return hunt(load_pilot(pilot), seed=1, reports=reports, workers=1, replays=1, max_schedules=0)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_declared_composed_key_is_salted_and_the_correct_workflow_is_not_blamed(
    tmp_path: Path,
) -> None:
    found = no_fault_hunt(ticket_pilot(tmp_path, template=True), tmp_path / "reports")
    assert not found.found, found.story
    assert found.standing and not found.standing_fallback, found.story
    checks = [t for t in found.tried if t.phase == "check"]
    assert len(checks) == 2 and all(t.ok for t in checks), checks
    assert not any("no fault injected" in line for line in found.story)
    # The standing drills sent salted keys, and the partner saw them composed.
    run = tmp_path / "reports/hunts" / found.hunt_id / "runs" / checks[1].run_id
    salt = json.loads((run / "run.json").read_text())["salt"]
    keys = {
        json.loads(line)["key"] for line in (run / "ledger-helpdesk.jsonl").read_text().splitlines()
    }
    assert keys and all(k.startswith("gh-") and salt in k for k in keys), keys


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_an_undeclared_composed_key_sends_the_hunt_to_fresh_stages_and_says_why(
    tmp_path: Path,
) -> None:
    found = no_fault_hunt(ticket_pilot(tmp_path, template=False), tmp_path / "reports")
    assert not found.found, found.story
    assert not found.standing
    assert "appears nowhere in the event" in found.standing_fallback
    assert "'gh-widgets-" in found.standing_fallback
    assert any(line.startswith("Standing stages were left") for line in found.story)
    saved = json.loads((found.hunt_dir / "hunt.json").read_text())
    assert saved["standing_fallback"] == found.standing_fallback


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_workflow_that_breaks_with_no_fault_is_still_blamed_on_fresh_evidence(
    tmp_path: Path,
) -> None:
    pilot = ticket_pilot(tmp_path, template=True, defective=True)
    found = no_fault_hunt(pilot, tmp_path / "reports")
    assert found.found and found.schedule == (), found.story
    assert found.result is not None and found.result is found.no_fault
    assert "exactly_once" in [r.name for r in found.result.results if not r.ok]
    meta = json.loads((found.result.run_dir / "run.json").read_text())
    assert meta["salt"] is None and "standing" not in meta  # a fresh drill
    claim = next(line for line in found.story if "no fault injected" in line)
    assert found.result.run_id in claim
    # Replayed on fresh services too, to the same violation.
    first = list(verdict_key(found.result.results, found.judged))
    assert [r.broken for r in found.replays] == [first]
