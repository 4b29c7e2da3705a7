"""`/metrics` in Prometheus text format, with Toxiproxy's metric names.

Proxy counters (`-proxy-metrics`) keep Toxiproxy's semantics: a series per
(direction, listener, proxy, upstream) that only moves when a link finishes,
and that outlives the proxy. The data plane keeps plain running totals per
proxy object; this module folds their growth into labelled series, reading
the labels at fold time. Folding happens at every scrape and whenever a
proxy is about to change address or go away (the collection's `on_retire`).

Runtime metrics (`-runtime-metrics`) cannot be Go's `go_*` families; the
process collector's `process_*` names are reproduced, plus `python_info`.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field
from typing import Protocol

NAMESPACE = "toxiproxy_proxy"
RECEIVED = f"{NAMESPACE}_received_bytes_total"
SENT = f"{NAMESPACE}_sent_bytes_total"
DIRECTIONS = ("upstream", "downstream")


class CountingProxy(Protocol):
    """What the metrics read from a proxy: its labels and its live byte counters per direction."""

    name: str
    listen: str
    upstream: str
    received_bytes: dict[str, int]
    sent_bytes: dict[str, int]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(slots=True)
class _Seen:
    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))


@dataclass(slots=True)
class _Retired:
    name: str
    listen: str
    upstream: str
    received_bytes: dict[str, int]
    sent_bytes: dict[str, int]


LabelKey = tuple[str, str, str, str]  # direction, listener, proxy, upstream


class Metrics:
    """Toxiproxy's Prometheus counters,
    kept per label set so a moved or deleted proxy still counts."""

    def __init__(self, proxy_metrics: bool, runtime_metrics: bool) -> None:
        self.proxy_metrics = proxy_metrics
        self.runtime_metrics = runtime_metrics
        self._seen: dict[int, tuple[CountingProxy, _Seen]] = {}
        self._retired: list[CountingProxy] = []
        self.received: dict[LabelKey, int] = {}
        self.sent: dict[LabelKey, int] = {}
        self._start_time = time.time()

    @property
    def enabled(self) -> bool:
        """Whether /metrics is routed at all (-proxy-metrics or -runtime-metrics was given)."""
        return self.proxy_metrics or self.runtime_metrics

    def fold(self, proxy: CountingProxy) -> None:
        """Move the proxy's counter growth since the last fold into its current series."""
        if not self.proxy_metrics:
            return
        _, seen = self._seen.setdefault(id(proxy), (proxy, _Seen()))
        for direction in DIRECTIONS:
            key = (direction, proxy.listen, proxy.name, proxy.upstream)
            for totals, last, series in (
                (proxy.received_bytes, seen.received, self.received),
                (proxy.sent_bytes, seen.sent, self.sent),
            ):
                now = int(totals.get(direction, 0))
                if now != last[direction]:
                    series[key] = series.get(key, 0) + now - last[direction]
                    last[direction] = now

    def retire(self, proxy: CountingProxy) -> None:
        """Fold now, and keep folding later: links may finish after the proxy stopped.

        Only a snapshot of the labels and the (live) counter dicts is kept,
        not the proxy object.
        """
        if not self.proxy_metrics:
            return
        self.fold(proxy)
        _, seen = self._seen.pop(id(proxy), (proxy, _Seen()))
        snapshot = _Retired(
            proxy.name, proxy.listen, proxy.upstream, proxy.received_bytes, proxy.sent_bytes
        )
        self._seen[id(snapshot)] = (snapshot, seen)
        self._retired.append(snapshot)

    def render(self, live: list[CountingProxy]) -> str:
        """The /metrics page in Prometheus text format,
        after folding in the `live` proxies' counters."""
        for proxy in [*self._retired, *live]:
            self.fold(proxy)
        families: list[tuple[str, list[str]]] = [
            (
                "promhttp_metric_handler_errors_total",
                [
                    "# HELP promhttp_metric_handler_errors_total Total number of internal errors "
                    "encountered by the promhttp metric handler.",
                    "# TYPE promhttp_metric_handler_errors_total counter",
                    'promhttp_metric_handler_errors_total{cause="encoding"} 0',
                    'promhttp_metric_handler_errors_total{cause="gathering"} 0',
                ],
            )
        ]
        if self.proxy_metrics:
            for name, series in ((RECEIVED, self.received), (SENT, self.sent)):
                if series:
                    families.append((name, self._counter_family(name, series)))
        if self.runtime_metrics:
            families.extend(self._runtime_families())
        families.sort(key=lambda item: item[0])
        return "".join(line + "\n" for _, lines in families for line in lines)

    @staticmethod
    def _counter_family(name: str, series: dict[LabelKey, int]) -> list[str]:
        # Toxiproxy registers these without help text; the exposition keeps the empty HELP.
        lines = [f"# HELP {name} ", f"# TYPE {name} counter"]
        for key in sorted(series):
            direction, listener, proxy, upstream = (_escape_label(v) for v in key)
            lines.append(
                f'{name}{{direction="{direction}",listener="{listener}",proxy="{proxy}",'
                f'upstream="{upstream}"}} {series[key]}'
            )
        return lines

    def _runtime_families(self) -> list[tuple[str, list[str]]]:
        out: list[tuple[str, list[str]]] = []

        def gauge(name: str, help_text: str, value: float, kind: str = "gauge") -> None:
            out.append(
                (name, [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value!r}"])
            )

        usage = resource.getrusage(resource.RUSAGE_SELF)
        gauge(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            usage.ru_utime + usage.ru_stime,
            "counter",
        )
        try:
            gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                len(os.listdir("/proc/self/fd")),
            )
        except OSError:
            pass
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        gauge("process_max_fds", "Maximum number of open file descriptors.", soft)
        try:
            with open("/proc/self/statm") as fh:
                pages = [int(x) for x in fh.read().split()[:2]]
            page = os.sysconf("SC_PAGE_SIZE")
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", pages[0] * page)
            gauge(
                "process_resident_memory_bytes", "Resident memory size in bytes.", pages[1] * page
            )
        except (OSError, ValueError, IndexError):
            pass
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            self._start_time,
        )
        impl = platform.python_implementation()
        major, minor, patch = platform.python_version_tuple()
        out.append(
            (
                "python_info",
                [
                    "# HELP python_info Python platform information",
                    "# TYPE python_info gauge",
                    f'python_info{{implementation="{impl}",major="{major}",minor="{minor}",'
                    f'patchlevel="{patch}",version="{platform.python_version()}"}} 1',
                ],
            )
        )
        return out
