"""Partner declarations: validation with one-line errors, `file` with inline overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.partner import PartnerSpecError, resolve_partner

REPO = Path(__file__).resolve().parents[1]


def test_file_is_read_and_inline_keys_override() -> None:
    decl = {"file": "partners/logistics.toml", "idempotency": {"header": "X-Key", "ttl_s": 5}}
    resolved = resolve_partner("logistics", decl, REPO / "pilots")
    assert resolved["name"] == "logistics"
    assert resolved["idempotency"] == {"header": "X-Key", "ttl_s": 5}
    names = [r["name"] for r in resolved["routes"]]
    assert names == ["create shipment", "update shipment", "read shipment"]
    assert resolved["routes"][0]["entity"] == "shipment"  # taken from the effect


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        ({"routez": []}, "partners.p: routez: unknown key"),
        ({"routes": [{"path": "/x", "status": 99}]},
         "partners.p: routes[0].status: Input should be greater than or equal to 100"),
        ({"routes": [{"path": "x"}]}, "partners.p: routes[0]: path must start with '/', got 'x'"),
        ({"routes": [{"path": "/x", "path_regex": "/y"}]},
         "partners.p: routes[0]: give exactly one of path, path_regex, url_regex"),
        ({"routes": [{"path": "/x", "required": ["body..a"]}]},
         "partners.p: routes[0].required: body..a: empty key at position 5"),
        ({"routes": [{"path": "/x", "types": {"body.a": "int"}}]},
         "partners.p: routes[0].types: unknown type 'int' (expected array | boolean | integer "
         "| null | number | object | string)"),
        ({"routes": [{"path": "/x", "when": {"query.a": {"matches": "("}}}]},
         "partners.p: routes[0].when: query.a: matches: bad regex: missing ), unterminated "
         "subpattern at position 0"),
        ({"routes": [{"path": "/x", "body": {"a": "{body.}"}}]},
         "partners.p: routes[0]: body: placeholder {body.}: body.: empty key at position 5"),
        ({"routes": [{"path": "/x", "needs_entity": True}]},
         "partners.p: routes[0]: entity is required (or an effect to take it from)"),
        ({"routes": [{"path": "/x", "method": "FETCH"}]},
         "partners.p: routes[0].method: unknown method 'FETCH' (expected one of ANY, DELETE, "
         "GET, HEAD, OPTIONS, PATCH, POST, PUT)"),
        ({"faults": {"slow": [{"delay_ms": -1}]}},
         "partners.p: faults: slow[0].delay_ms: must be >= 0, got -1"),
        ({"idempotency": {"ttl_s": 0}},
         "partners.p: idempotency.ttl_s: Input should be greater than 0"),
        ({"routes": [{"path": "/x"}], "annotate": {"GET /x": {"key": "bad["}}},
         "partners.p: annotate.GET /x.key: bad[: unclosed ["),
        ({"file": "nope.toml"}, "cannot read: No such file or directory"),
    ],
)  # fmt: skip
def test_bad_declarations_fail_on_one_line(decl: dict[str, Any], message: str) -> None:
    with pytest.raises(PartnerSpecError) as caught:
        resolve_partner("p", decl, REPO / "pilots")
    assert str(caught.value).endswith(message) and "\n" not in str(caught.value)


def test_errors_in_a_declaration_file_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('[[routes]]\npath = "/x"\nstatus = "ok"\n')
    with pytest.raises(PartnerSpecError) as caught:
        resolve_partner("p", {"file": "p.toml"}, tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'p.toml'}: routes[0].status: Input should be a valid integer, "
        "unable to parse string as an integer"
    )
