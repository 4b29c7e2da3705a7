"""Partner simulator: any HTTP API declared as data, with faults you can dial and a ledger.

Standalone on purpose (imports nothing else from `harness`), so it runs as its
own process: `python -m harness.partner --spec partner.json --port 0`.
The few names a caller needs are re-exported here.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .faults import FaultConfig, FaultConfigError, parse_faults
    from .resolve import resolve_partner
    from .selectors import MISSING, Selector, parse_selector
    from .spec import IdempotencySpec, PartnerDecl, PartnerSpecError, ResolvedPartner, RouteSpec

# Each name loads its module on first use: the simulator process needs neither
# the importers (YAML, OpenAPI) nor, for a pilot file, the server (starlette).
_HOME = {
    "create_app": "app",
    "FaultConfig": "faults",
    "FaultConfigError": "faults",
    "parse_faults": "faults",
    "resolve_partner": "resolve",
    "MISSING": "selectors",
    "Selector": "selectors",
    "parse_selector": "selectors",
    "IdempotencySpec": "spec",
    "PartnerDecl": "spec",
    "PartnerSpecError": "spec",
    "ResolvedPartner": "spec",
    "RouteSpec": "spec",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MISSING",
    "FaultConfig",
    "FaultConfigError",
    "IdempotencySpec",
    "PartnerDecl",
    "PartnerSpecError",
    "ResolvedPartner",
    "RouteSpec",
    "Selector",
    "create_app",
    "parse_faults",
    "parse_selector",
    "resolve_partner",
]
