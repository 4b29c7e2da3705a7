"""The workflow's own dependencies, one module per kind (``postgres``, ``redis``).

Each module declares ``KIND``, a :class:`Kind`: its table's model (from
``harness.inputs.services``), how to start one as an async context manager,
the URL the workflow gets, and how to clean it between schedules. The
package finds its modules, so a new kind is one file here and its model.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from harness.services._kind import Kind, Running, ServiceStartError

__all__ = ["KINDS", "Kind", "Running", "ServiceStartError", "kind_of"]


def _find() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if isinstance(kind, Kind):
            found[kind.name] = kind
    return found


KINDS: dict[str, Kind] = _find()


def kind_of(spec: Any) -> Kind:
    """The kind serving a ``[services.NAME]`` table (its model says which)."""
    kind = KINDS.get(str(getattr(spec, "kind", "")))
    if kind is None or not isinstance(spec, kind.spec):
        raise LookupError(f"no service kind for {type(spec).__name__}")
    return kind
