"""Every data-plane scenario again, on uvloop (which the server prefers when installed).

uvloop differs from asyncio where the proxy is sensitive: it may deliver
bytes before `pause_reading` in `connection_made` takes effect, its clock is
cached per iteration, and its transports are not asyncio.Transport instances.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest
import test_link
import test_toxic_bandwidth
import test_toxic_latency
import test_toxic_limit_data
import test_toxic_reset_peer
import test_toxic_slicer
import test_toxic_slow_close
import test_toxic_timeout

uvloop = pytest.importorskip("uvloop")

pytestmark = pytest.mark.timeout(60)

MODULES = (
    test_link,
    test_toxic_bandwidth,
    test_toxic_latency,
    test_toxic_limit_data,
    test_toxic_reset_peer,
    test_toxic_slicer,
    test_toxic_slow_close,
    test_toxic_timeout,
)

SCENARIOS: dict[str, Callable[[], Awaitable[None]]] = {
    f"{module.__name__}::{name}": fn
    for module in MODULES
    for name, fn in vars(module).items()
    if name.startswith("test_") and inspect.iscoroutinefunction(fn)
}


def test_every_async_scenario_is_covered() -> None:
    assert len(SCENARIOS) >= 30


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_on_uvloop(name: str) -> None:
    async def scenario() -> None:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        await asyncio.wait_for(SCENARIOS[name](), 50)

    uvloop.run(scenario())
