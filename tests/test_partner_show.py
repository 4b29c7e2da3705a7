"""`chaoslab partner show PILOT`: what each declared route checks and causes, before a drill."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
PARTNERS = REPO / "tests" / "data" / "partners"

PILOT = """\
[pilot]
name = "show"
[workflow]
command = ["true"]
[webhook]
fixtures = "events.jsonl"
path = "/hook"
[partners.desk]
openapi = "tickets-allof.yaml"
[partners.loose]
routes = [{ method = "POST", path = "/things", status = 201 }]
[links.webhook]
to = "workflow"
[scenarios.baseline]
"""


def show(pilot: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
         ) -> tuple[int, str, str]:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["chaoslab", "partner", "show", str(pilot)])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_every_route_with_its_checks_and_effects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tickets-allof.yaml").write_bytes((PARTNERS / "tickets-allof.yaml").read_bytes())
    pilot = tmp_path / "show.toml"
    pilot.write_text(PILOT)
    code, out, err = show(pilot, capsys, monkeypatch)
    assert (code, err) == (0, "")
    lines = [line.strip() for line in out.splitlines()]
    assert "createTicket: POST /tickets -> 201" in lines
    assert "updateTicket: PATCH /tickets/{ticketId} -> 200" in lines
    # allOf merged: the shared fields and the operation's own, with enums, formats, lengths.
    for field, what in [
        ("body.title", "string, at most 80, required"),
        ("body.state", 'string, one of "new" "open" "pending" "closed", required'),
        ("body.priority", "integer or null, format int32, min 1, max 5"),
        ("body.requester_email", "string, format email, required"),
        ("body.due_at", "string, format date-time"),
        ("body.assignee", "string, format uuid"),
    ]:
        assert any(line.split()[:1] == [field] and line.endswith(what) for line in lines), field
    assert "hands out a fresh id at answer id (/tickets)" in lines
    assert "path.ticketId: an id handed out by /tickets, else 404" in lines
    # A route that checks nothing says so, instead of looking like the others.
    loose = lines.index("POST /things -> 201")
    assert lines[loose + 1] == "checks:  none: any request is accepted"


def test_a_pilot_that_does_not_load_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pilot = tmp_path / "show.toml"
    pilot.write_text(PILOT)  # its OpenAPI document is missing
    code, out, err = show(pilot, capsys, monkeypatch)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "tickets-allof.yaml: cannot read: No such file or directory" in err
