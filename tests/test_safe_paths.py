"""Files are read only where a pilot's tree allows, and written only inside the reports folder.

The command-level cases (one line, exit 2, nothing written outside the
reports folder) are in tests/bad_inputs/; these pin the pieces they rest on:
the bounded reader, the pilot's tree, the name rule and `inside`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.inputs.pilot import PilotError, load_pilot
from harness.inputs.tree import pilot_tree
from harness.journal import JournalWriter
from harness.partner import confined
from harness.partner.resolve import resolve_partner
from harness.partner.spec import PartnerSpecError
from harness.partner.wiremock import load as load_wiremock
from harness.places import UnsafeName, check_name, inside
from tests.pilot_tree import pilot_tree as copy_of_pilots

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the bounded reader


def test_a_regular_file_inside_the_root_is_read(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("x = 1\n")
    assert confined.read_text(tmp_path / "a.toml", tmp_path) == "x = 1\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    answer: list[BaseException] = []
    # A daemon thread: were the open to block, the test fails instead of hanging.
    reader = threading.Thread(
        target=lambda: answer.extend(_raised(lambda: confined.read_bytes(fifo, tmp_path))),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert [str(e) for e in answer] == ["not a regular file"]


def _raised(read: object) -> list[BaseException]:
    try:
        read()  # type: ignore[operator]
    except confined.FileRefused as exc:
        return [exc]
    return []


@pytest.mark.parametrize("special", ["/dev/zero", "/proc/self", "/dev/null"])
def test_devices_and_folders_are_not_regular_files(special: str) -> None:
    with pytest.raises(confined.FileRefused, match="not a regular file"):
        confined.read_bytes(Path(special))


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2049)
    with pytest.raises(confined.FileRefused, match=r"larger than 2048 bytes \(2,049 bytes\)"):
        confined.read_bytes(big, tmp_path, limit=2048)
    big.write_bytes(b" " * 2048)
    assert len(confined.read_bytes(big, tmp_path, limit=2048)) == 2048


def test_a_path_or_symlink_leading_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s3cret\n")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    for path in (root / "../secret.txt", root / "link.txt", Path("/proc/self/environ")):
        with pytest.raises(confined.FileRefused, match=f"outside {root}"):
            confined.read_bytes(path, root)


# ---------------------------------------------------------------- WireMock bodies


def _mapping(folder: Path, body_file: str) -> Path:
    (folder / "mappings").mkdir(parents=True)
    (folder / "__files").mkdir()
    (folder / "mappings" / "get.json").write_text(
        '{"request": {"method": "GET", "url": "/x"},'
        f' "response": {{"status": 200, "bodyFileName": "{body_file}"}}}}'
    )
    return folder


def test_a_body_file_under_files_is_served(tmp_path: Path) -> None:
    folder = _mapping(tmp_path / "wm", "nested/answer.json")
    (folder / "__files" / "nested").mkdir()
    (folder / "__files" / "nested" / "answer.json").write_text('{"ok": true}')
    (route,) = load_wiremock(folder)
    assert route.body_text == '{"ok": true}'


@pytest.mark.parametrize(
    ("body_file", "why"),
    [
        ("/proc/self/environ", "outside"),
        ("../../../../etc/passwd", "outside"),
        ("../mappings/get.json", "outside"),
        ("link.txt", "outside"),  # a symlink in __files/ to a file beside it
        ("sub", "not a regular file"),
    ],
)
def test_a_body_file_elsewhere_is_refused_naming_file_and_key(
    tmp_path: Path, body_file: str, why: str
) -> None:
    folder = _mapping(tmp_path / "wm", body_file)
    (folder / "secret.txt").write_text("CHAOSLAB_WEBHOOK_SECRET=whsec_x\n")
    (folder / "__files" / "link.txt").symlink_to(folder / "secret.txt")
    (folder / "__files" / "sub").mkdir()
    with pytest.raises(PartnerSpecError) as raised:
        load_wiremock(folder)
    message = str(raised.value)
    assert message.startswith(f"{folder / 'mappings' / 'get.json'}: response.bodyFileName: ")
    assert why in message and "\n" not in message and "whsec_x" not in message


# ---------------------------------------------------------------- the pilot's tree


def test_the_tree_is_the_pilots_folder_or_its_git_working_tree(tmp_path: Path) -> None:
    (tmp_path / "team" / "pilots").mkdir(parents=True)
    assert pilot_tree(tmp_path / "team" / "pilots" / "p.toml") == tmp_path / "team" / "pilots"
    (tmp_path / "team" / ".git").mkdir()
    assert pilot_tree(tmp_path / "team" / "pilots" / "p.toml") == tmp_path / "team"
    # This repository: the zoo extends pilots/order-sync.toml from benchmarks/zoo/.
    assert pilot_tree(REPO / "benchmarks/zoo/key-per-attempt.toml") == REPO
    assert load_pilot(REPO / "benchmarks/zoo/key-per-attempt.toml").partners["logistics"]


def test_extends_inside_the_tree_loads_and_outside_it_is_refused(tmp_path: Path) -> None:
    pilots = copy_of_pilots(tmp_path)
    (pilots / "p.toml").write_text('extends = "order-sync.toml"\n[pilot]\nname = "p"\n')
    assert load_pilot(pilots / "p.toml").spec.scenarios
    (pilots / "p.toml").write_text(f'extends = "{REPO / "pilots/order-sync.toml"}"\n')
    with pytest.raises(PilotError, match=f"extends: .* is outside the pilot's tree {pilots}"):
        load_pilot(pilots / "p.toml")


def test_a_partners_files_stay_inside_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tmp_path / "elsewhere.toml").write_text('[[routes]]\nmethod = "GET"\npath = "/x"\n')
    (tree / "link.toml").symlink_to(tmp_path / "elsewhere.toml")
    for decl, key in (
        ({"file": "../elsewhere.toml"}, "file"),
        ({"file": "link.toml"}, "file"),
        ({"wiremock": "../"}, "wiremock"),
        ({"openapi": "/etc/hosts"}, "openapi"),
    ):
        with pytest.raises(PartnerSpecError, match=f"partners.p: {key}: .*: outside {tree}"):
            resolve_partner("p", decl, tree)
    (tree / "fifo.toml").unlink(missing_ok=True)
    os.mkfifo(tree / "fifo.toml")
    with pytest.raises(PartnerSpecError, match=r"fifo\.toml: not a regular file"):
        resolve_partner("p", {"file": "fifo.toml"}, tree)


# ---------------------------------------------------------------- names and the reports folder


@pytest.mark.parametrize("name", ["order-sync", "v1.2_beta", "A", "x" * 100])
def test_safe_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".hidden", "x/../../escaped", "a{b}", "a\0b", "a b", "é", "x" * 101]
)
def test_unsafe_names_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(UnsafeName) as raised:
        check_name(name)
    assert "\n" not in str(raised.value) and repr(name) in str(raised.value)


def test_inside_builds_paths_under_reports_and_refuses_the_rest(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    assert inside(reports, "runs", "r1") == reports / "runs" / "r1"
    for parts in (("..",), ("runs", "../../x"), ("a/b",), ("",)):
        with pytest.raises(UnsafeName, match="not a safe name"):
            inside(reports, *parts)
    reports.mkdir()
    (reports / "history").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafeName, match="resolves outside the reports folder"):
        inside(reports, "history", "p")


@pytest.mark.slow
def test_review_all_goes_past_a_pilot_with_an_unsafe_recorded_name_and_writes_the_page(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An old run of a pilot named with a brace (it broke papermill, then the whole
    # page), beside a pilot reviewed before: the page still lists the latter.
    reports = tmp_path / "reports"
    with JournalWriter(reports / "runs" / "r0", "r0") as journal:
        pilot = {"name": "bad{name}", "path": str(tmp_path / "p.toml")}
        journal.write_meta({"pilot": pilot, "scenario": "baseline", "status": "finished"})
    (reports / "alpha").mkdir()
    (reports / "alpha" / "pilot_review.json").write_text(
        json.dumps(
            {
                "pilot": "alpha",
                "decision": "PROMOTE",
                "reasons": ["alpha holds"],
                "economics": {"cost_per_success": 0.25, "roi_12m": 2.0, "payback_months": 6.0},
                "verdict": {"metrics": {"attainment_lb": 0.99}},
                "reviewed_at": "2026-11-29T18:09:26+00:00",
            }
        )
    )
    monkeypatch.chdir(tmp_path)  # no pilots/ here: only pilots with runs are reviewed
    # The page's kernel keeps its connection file in a folder of its own, not in $HOME.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    monkeypatch.setattr(sys, "argv", ["chaoslab", "review", "--all", "--reports", str(reports)])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    assert "bad{name}: not reviewed, pilot name: not a safe name" in " ".join(out.split())
    assert "Traceback" not in out + err
    assert "alpha" in (reports / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
