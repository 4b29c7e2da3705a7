"""Suite-wide ordering: the longest work starts first.

xdist hands out work in collection order, one test or one ``xdist_group`` at a
time, to whichever worker runs short (run with ``--no-loadscope-reorder``, else
it orders groups by their number of tests). A long drill or group handed out
last would run alone at the end while the other workers sit idle, so items are
sorted longest first: the list scheduling rule that keeps the tail short.

How long is what the last run measured (kept in pytest's cache, written by
the controller at the end); an item it did not see is guessed from its kind:
a pilot drill or a test marked slow takes seconds, the rest a fraction of one.
A group counts as the sum of its items, since one worker runs them all.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from typing import Any

import pytest

CACHE_KEY = "chaoslab/durations"
GUESS_SLOW_S = 5.0  # a test marked slow, or a pilot's scenario (a real drill)
GUESS_QUICK_S = 0.2
_measured: dict[str, float] = defaultdict(float)


def _group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", ""))


def _estimate(item: pytest.Item, known: dict[str, Any]) -> float:
    # xdist names a grouped item "<id>@<group>", perhaps only after this hook has run.
    group = _group(item)
    seen = known.get(item.nodeid, known.get(f"{item.nodeid}@{group}") if group else None)
    if isinstance(seen, int | float):
        return float(seen)
    slow = item.get_closest_marker("slow") is not None or not isinstance(item, pytest.Function)
    return GUESS_SLOW_S if slow else GUESS_QUICK_S


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    known = cache.get(CACHE_KEY, {}) if cache is not None else {}
    own = {id(item): _estimate(item, known) for item in items}
    totals: dict[str, float] = defaultdict(float)
    for item in items:
        if (group := _group(item)) is not None:
            totals[group] += own[id(item)]

    def weight(item: pytest.Item) -> float:
        group = _group(item)
        return totals[group] if group is not None else own[id(item)]

    # sort() is stable: equal weights keep their collection order (a group's items too).
    items.sort(key=lambda item: -weight(item))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Setup, call and teardown each report; under xdist they reach the controller too.
    _measured[report.nodeid] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    cache = getattr(config, "cache", None)
    if hasattr(config, "workerinput") or cache is None or not _measured:
        return  # a worker: the controller saw every report and writes them once
    known = cache.get(CACHE_KEY, {})
    cache.set(CACHE_KEY, {**known, **{k: round(v, 3) for k, v in _measured.items()}})


def pytest_unconfigure(config: pytest.Config) -> None:
    # pytest's unraisableexception plugin ends every process (each xdist worker
    # too) with five full gc.collect() passes, run after this hook, to surface
    # __del__ errors in the session's garbage: 0.1-1 s of CPU each on a worker's
    # heap, at the tail of the suite. Collecting here until a pass finds nothing
    # (what the five are for) and freezing the survivors leaves the same garbage
    # found, reported by the same plugin, and its passes nearly free.
    for _ in range(5):
        if gc.collect() == 0:
            break
    gc.freeze()
