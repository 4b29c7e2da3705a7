"""Partner simulator: a shipments API with rate limits, 5xx bursts, slow answers and a ledger.

Standalone on purpose (imports nothing else from `harness`), so it runs as its
own process: `python -m harness.partner --port 0 --ledger effects.jsonl`.
"""

from .app import create_app
from .faults import FaultConfig, FaultConfigError, parse_faults

__all__ = ["FaultConfig", "FaultConfigError", "create_app", "parse_faults"]
