"""The registry and the settings objects P1 builds the JSON API on."""

from __future__ import annotations

from harness.proxy.toxics import TOXIC_TYPES
from harness.proxy.toxics.base import Toxic


def test_registry_names_every_toxiproxy_2_12_type() -> None:
    assert set(TOXIC_TYPES) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "noop",
    }
    for name, cls in TOXIC_TYPES.items():
        assert issubclass(cls, Toxic) and cls.type_name == name
        assert cls.go_name.endswith("Toxic")
        assert all(t in ("int", "int64") for t in cls.fields.values())


def test_fields_are_in_go_json_order() -> None:
    assert list(TOXIC_TYPES["latency"].fields) == ["latency", "jitter"]
    assert list(TOXIC_TYPES["slicer"].fields) == ["average_size", "size_variation", "delay"]
    assert TOXIC_TYPES["noop"].fields == {}
    assert TOXIC_TYPES["reset_peer"].go_name == "ResetToxic"


def test_updates_merge_over_current_values() -> None:
    toxic = TOXIC_TYPES["latency"].from_attributes({"latency": 100, "jitter": 10})
    updated = toxic.with_attributes({"jitter": 3})
    assert updated.attributes() == {"latency": 100, "jitter": 3}
    assert toxic.attributes() == {"latency": 100, "jitter": 10}  # the original is untouched
    assert TOXIC_TYPES["bandwidth"].from_attributes({}).attributes() == {"rate": 0}
