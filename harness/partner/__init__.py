"""Partner simulator: any HTTP API declared as data, with faults you can dial and a ledger.

Standalone on purpose (imports nothing else from `harness`), so it runs as its
own process: `python -m harness.partner --spec partner.json --port 0`.
The few names a caller needs are re-exported here.
"""

from typing import TYPE_CHECKING, Any

from .faults import FaultConfig, FaultConfigError, parse_faults
from .resolve import resolve_partner
from .selectors import MISSING, Selector, parse_selector
from .spec import IdempotencySpec, PartnerDecl, PartnerSpecError, ResolvedPartner, RouteSpec

if TYPE_CHECKING:
    from .app import create_app


def __getattr__(name: str) -> Any:
    # The server (starlette, uvicorn) loads only when asked for: a pilot file
    # that declares a partner needs its spec, not its server.
    if name == "create_app":
        from .app import create_app

        return create_app
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
