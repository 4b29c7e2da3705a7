from pathlib import Path

import pytest

from harness.pilot import PilotError, load_pilot

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
[pilot]
name = "t"
[workflow]
command = ["python", "-m", "x"]
[webhook]
fixtures = "events.jsonl"
[links.partner]
to = "partner"
env = "PARTNER_URL"
[scenarios.baseline]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "events.jsonl").write_text("")
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_reference_pilots_load() -> None:
    hardened = load_pilot(REPO / "pilots/order-sync.toml")
    naive = load_pilot(REPO / "pilots/order-sync-naive.toml")
    assert hardened.name == "order-sync"
    assert naive.name == "order-sync-naive"
    assert naive.spec.workflow.command == ["python", "-m", "workflows.naive"]
    # extends keeps the base's scenarios and economics
    assert set(naive.spec.scenarios) == set(hardened.spec.scenarios)
    assert naive.spec.economics == hardened.spec.economics


def test_minimal_pilot_has_defaults(tmp_path: Path) -> None:
    pilot = load_pilot(write(tmp_path, MINIMAL))
    assert pilot.spec.slo.success_rate == 0.99
    assert pilot.scenario("baseline").delivery.concurrency == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[scenarios.burst]\ndelivery = { rate = "fast" }\n',
            "p.toml: [scenarios.burst] delivery.rate: Input should be a valid number, "
            'unable to parse string as a number, got "fast"',
        ),
        ("[slo]\np95_latncy_ms = 3\n", "p.toml: [slo] p95_latncy_ms: unknown key (misspelt?)"),
        (
            '[[scenarios.x.toxics]]\nlink = "nope"\ntype = "latency"\n',
            "scenario 'x' uses link 'nope', which is not defined (links: partner)",
        ),
        (
            "[scenarios.y]\ndelivery = { reorder = { window = 1 } }\n",
            "p.toml: [scenarios.y] delivery.reorder.window: Input should be greater than or "
            "equal to 2, got 1",
        ),
        (
            '[[scenarios.z.toxics]]\nlink = "partner"\ntype = "latency"\nfrom_s = 3\nuntil_s = 1\n',
            "p.toml: [scenarios.z] toxics[0]: until_s (1.0) must be after from_s (3.0)",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(PilotError) as info:
        load_pilot(write(tmp_path, MINIMAL + extra))
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_invalid_toml_and_missing_fixture(tmp_path: Path) -> None:
    with pytest.raises(PilotError, match=r"p.toml: invalid TOML: .*line 1"):
        load_pilot(write(tmp_path, "name = = 3"))
    path = write(tmp_path, MINIMAL.replace("events.jsonl", "missing.jsonl"))
    with pytest.raises(PilotError, match=r"\[webhook\] fixtures: no such file"):
        load_pilot(path)


def test_workflow_needs_command_or_url(tmp_path: Path) -> None:
    text = MINIMAL.replace('command = ["python", "-m", "x"]', 'command = ["x"]\nurl = "http://h"')
    with pytest.raises(PilotError, match=r"\[workflow\]: give exactly one of command"):
        load_pilot(write(tmp_path, text))


def test_unknown_scenario_lists_known(tmp_path: Path) -> None:
    pilot = load_pilot(write(tmp_path, MINIMAL))
    with pytest.raises(PilotError, match=r"no scenario 'nope' \(scenarios: baseline\)"):
        pilot.scenario("nope")
