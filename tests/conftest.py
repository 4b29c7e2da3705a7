"""Suite-wide ordering: the long items start first.

xdist hands tests out in collection order (after its groups), so a slow drill
collected last would run alone at the end while the other workers sit idle.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # sort() is stable: within each half, the collection order stays.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
