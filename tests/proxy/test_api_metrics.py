"""/metrics rendering: Toxiproxy's series semantics without double counting."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.proxy.metrics import Metrics


@dataclass
class FakeProxy:
    name: str
    listen: str
    upstream: str = "127.0.0.1:9"
    received_bytes: dict[str, int] = field(default_factory=lambda: {"upstream": 0, "downstream": 0})
    sent_bytes: dict[str, int] = field(default_factory=lambda: {"upstream": 0, "downstream": 0})


def series(text: str, name: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name) :]] = int(value)
    return out


def test_counters_follow_label_changes_and_survive_deletion() -> None:
    metrics = Metrics(proxy_metrics=True, runtime_metrics=False)
    p = FakeProxy("db", "127.0.0.1:1000")
    p.received_bytes["upstream"] = 10
    text = metrics.render([p])
    received = series(text, "toxiproxy_proxy_received_bytes_total")
    key = '{direction="upstream",listener="127.0.0.1:1000",proxy="db",upstream="127.0.0.1:9"}'
    assert received == {key: 10}
    assert "# HELP toxiproxy_proxy_received_bytes_total \n" in text
    # No traffic in a direction: no series, as with a CounterVec never touched.
    assert "toxiproxy_proxy_sent_bytes_total{" not in text

    # The listen address changes: earlier bytes stay under the old label.
    metrics.fold(p)
    p.listen = "127.0.0.1:2000"
    p.received_bytes["upstream"] += 5
    received = series(metrics.render([p]), "toxiproxy_proxy_received_bytes_total")
    assert received[key] == 10
    assert received[key.replace("1000", "2000")] == 5

    # Deleted: its series stay, and late link completions still count once.
    metrics.retire(p)
    p.received_bytes["upstream"] += 1
    received = series(metrics.render([]), "toxiproxy_proxy_received_bytes_total")
    assert received[key.replace("1000", "2000")] == 6
    assert series(metrics.render([]), "toxiproxy_proxy_received_bytes_total") == received


def test_families_are_sorted_and_runtime_metrics_are_opt_in() -> None:
    text = Metrics(proxy_metrics=False, runtime_metrics=True).render([])
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert names == sorted(names)
    assert "process_cpu_seconds_total" in names and "python_info" in names
    assert "promhttp_metric_handler_errors_total" in names
    text = Metrics(proxy_metrics=True, runtime_metrics=False).render([])
    assert "process_" not in text
    assert 'promhttp_metric_handler_errors_total{cause="encoding"} 0' in text
