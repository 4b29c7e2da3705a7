from pathlib import Path

import pytest

from harness.inputs.pilot import BASELINE_FIGURES, PilotError, load_pilot, load_scenario_file

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
[pilot]
name = "t"
[workflow]
command = ["python", "-m", "x"]
[webhook]
fixtures = "events.jsonl"
[[partners.api.routes]]
method = "POST"
path = "/items"
effect = "item.created"
key = "body.id"
[links.partner]
to = "api"
env = "PARTNER_URL"
[[expectations]]
effect = "api:item.created"
[scenarios.baseline]
"""


# One valid captured request: load_pilot refuses a fixtures file without any.
ONE_EVENT = (
    '{"id": "f-1", "captured_at": "2026-11-02T09:00:00Z", "method": "POST", '
    '"path": "/webhooks/payments", "headers": {}, "body": "{}", "signing": "none", '
    '"event_id": "evt_1", "event_type": "t", "entity_id": "", "entity_version": 0}\n'
)


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "events.jsonl").write_text(ONE_EVENT)
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
            '[scenarios.p]\npartner = { rate_limit = "fast" }\n',
            "p.toml: [scenarios.p]: partner rate_limit: must be an object, got str",
        ),
        (
            '[[scenarios.t.toxics]]\nlink = "partner"\ntype = "latencyy"\n',
            "p.toml: [scenarios.t] toxics[0]: type: unknown toxic 'latencyy'",
        ),
        (
            '[[scenarios.t.toxics]]\nlink = "partner"\ntype = "latency"\n'
            "attributes = { latncy = 5 }\n",
            "p.toml: [scenarios.t] toxics[0]: attributes.latncy: not an attribute of latency "
            "(latency, jitter)",
        ),
        (
            '[[scenarios.t.toxics]]\nlink = "partner"\ntype = "slicer"\n',
            "p.toml: [scenarios.t] toxics[0]: attributes: ",
        ),
        (
            '[links.other]\nto = "nobody"\n',
            "p.toml: [links.other] to: 'nobody' is neither 'workflow' nor a declared partner "
            "(partners: api)",
        ),
        (
            '[[expectations]]\neffect = "crm:x"\n',
            "p.toml: [[expectations]] #2 effect: 'crm:x' names no declared partner (partners: api)",
        ),
        (
            '[[expectations]]\neffect = "api:item.deleted"\n',
            "p.toml: [[expectations]] #2 effect: partner 'api' has no route causing "
            "'item.deleted' (effects: item.created)",
        ),
        (
            '[[expectations]]\neffect = "api:item.created"\ntimes = "twice"\n',
            "p.toml: [[expectations]] #2 times: Input should be 'once' or 'any'",
        ),
        (
            '[workflow.env]\nAPI = "{links.partner.url}"\nX = "{prot}"\n',
            "p.toml: [workflow.env] X: unknown placeholder {prot}",
        ),
        (
            '[workflow.env]\nAPI = "{links.nope.url}"\n',
            "p.toml: [workflow.env] API: {links.nope.url} names no link (links: partner)",
        ),
        (
            '[[partners.api.routes]]\nmethod = "GET"\npath = "/x"\nstatuss = 200\n',
            "p.toml: [partners.api] routes[1].statuss: unknown key (misspelt?)",
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


def test_an_empty_fixtures_file_fails_on_load(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    (tmp_path / "events.jsonl").write_text("\n")
    with pytest.raises(PilotError) as info:
        load_pilot(path)
    assert str(info.value) == (
        f"{path}: [webhook] fixtures: {tmp_path / 'events.jsonl'}: no requests"
    )
    # An import that is about to write the fixtures may load the pilot anyway.
    assert load_pilot(path, require_fixtures=False).name == "t"


def test_a_broken_fixtures_line_fails_on_load(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    (tmp_path / "events.jsonl").write_text(ONE_EVENT + "{not json\n")
    with pytest.raises(PilotError, match=r"\[webhook\] fixtures: .*events\.jsonl:2: json: not"):
        load_pilot(path)


def test_a_workflow_cwd_that_is_not_a_folder_fails_on_load(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for cwd in ("nowhere", "afile"):
        text = MINIMAL.replace("[webhook]", f'cwd = "{cwd}"\n[webhook]')
        path = write(tmp_path, text)
        with pytest.raises(PilotError) as info:
            load_pilot(path)
        assert str(info.value) == f"{path}: [workflow] cwd: no such folder {tmp_path / cwd}"


def test_workflow_needs_command_or_url(tmp_path: Path) -> None:
    text = MINIMAL.replace('command = ["python", "-m", "x"]', 'command = ["x"]\nurl = "http://h"')
    with pytest.raises(PilotError, match=r"\[workflow\]: give exactly one of command"):
        load_pilot(write(tmp_path, text))


def test_unknown_scenario_lists_known(tmp_path: Path) -> None:
    pilot = load_pilot(write(tmp_path, MINIMAL))
    with pytest.raises(PilotError, match=r"no scenario 'nope' \(scenarios: baseline\)"):
        pilot.scenario("nope")


def test_pilot_expect_is_the_default_of_every_scenario(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "t"', 'name = "t"\nexpect = "violation"')
    text += '[scenarios.own]\nexpect = "pass"\n[scenarios.other]\nseed = 4\n'
    pilot = load_pilot(write(tmp_path, text))
    assert pilot.spec.expect == "violation"
    assert pilot.scenario("baseline").expect == "violation"
    assert pilot.scenario("other").expect == "violation"
    assert pilot.scenario("own").expect == "pass"


def test_scenarios_expect_pass_without_a_pilot_default(tmp_path: Path) -> None:
    text = MINIMAL + '[scenarios.bad]\nexpect = "violation"\n'
    pilot = load_pilot(write(tmp_path, text))
    assert pilot.spec.expect == "pass"
    assert pilot.scenario("baseline").expect == "pass"
    assert pilot.scenario("bad").expect == "violation"


def test_naive_reference_expects_violations_through_extends() -> None:
    naive = load_pilot(REPO / "pilots/order-sync-naive.toml")
    hardened = load_pilot(REPO / "pilots/order-sync.toml")
    assert {s.expect for s in naive.spec.scenarios.values()} == {"violation"}
    assert {s.expect for s in hardened.spec.scenarios.values()} == {"pass"}


def test_pilot_expect_applies_to_a_scenario_file(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "t"', 'name = "t"\nexpect = "violation"')
    pilot = load_pilot(write(tmp_path, text))
    extra = tmp_path / "found.toml"
    extra.write_text('[scenarios.found]\nseed = 9\n[scenarios.kept]\nexpect = "pass"\n')
    found = load_scenario_file(extra, pilot)
    assert found["found"].expect == "violation"
    assert found["kept"].expect == "pass"


def test_bad_pilot_expect_is_one_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "t"', 'name = "t"\nexpect = "maybe"')
    with pytest.raises(PilotError) as info:
        load_pilot(write(tmp_path, text))
    assert str(info.value) == (
        f"{tmp_path / 'p.toml'}: [pilot] expect: Input should be 'pass' or 'violation', "
        'got "maybe"'
    )


def test_baseline_tolerances_default_and_override(tmp_path: Path) -> None:
    pilot = load_pilot(write(tmp_path, MINIMAL))
    assert pilot.spec.baseline.file is None
    for figure, default in BASELINE_FIGURES.items():
        assert pilot.spec.baseline.tolerance(figure) == default
    text = MINIMAL + (
        '[baseline]\nfile = "b.json"\np95_latency_ms = { relative = 2.5 }\n'
        "dead_letters = { absolute = 1 }\n"
    )
    spec = load_pilot(write(tmp_path, text)).spec.baseline
    assert spec.file == "b.json"
    # A part left out keeps the figure's default, not zero.
    assert spec.tolerance("p95_latency_ms") == (2.5, BASELINE_FIGURES["p95_latency_ms"][1])
    assert spec.tolerance("dead_letters") == (BASELINE_FIGURES["dead_letters"][0], 1.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[baseline]\np95_latncy_ms = { relative = 1 }\n",
            "[baseline] p95_latncy_ms: unknown key (misspelt?)",
        ),
        (
            "[baseline]\ndead_letters = { absolute = -1 }\n",
            "[baseline] dead_letters.absolute: Input should be greater than or equal to 0, got -1",
        ),
        (
            "[baseline]\nretries_per_txn = { relatve = 1 }\n",
            "[baseline] retries_per_txn.relatve: unknown key (misspelt?)",
        ),
    ],
)
def test_bad_baseline_table_is_one_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(PilotError) as info:
        load_pilot(write(tmp_path, MINIMAL + extra))
    assert str(info.value) == f"{tmp_path / 'p.toml'}: {message}"


def test_an_outcomes_file_may_use_placeholders_and_is_checked(tmp_path: Path) -> None:
    good = MINIMAL.replace(
        "[webhook]", 'outcomes = { file = "{state_dir}/outcomes.jsonl" }\n[webhook]'
    )
    assert load_pilot(write(tmp_path, good)).spec.workflow.outcomes is not None
    with pytest.raises(PilotError, match=r"\[workflow\] outcomes.file: unknown placeholder"):
        load_pilot(write(tmp_path, good.replace("{state_dir}", "{state_dr}")))
