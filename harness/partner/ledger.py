"""The ledger: every side effect the partner applied, in the order applied.

Each entry is written to the ledger file the moment it is applied, one JSON
line, flushed, so a drill that kills the simulator still has every effect up to
the kill on disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any


class Ledger:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def append(
        self,
        *,
        kind: str,
        business_key: str,
        entity_version: int,
        idempotency_key: str,
        correlation_id: str,
        shipment_id: str,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "at": time.time(),
            "kind": kind,
            "business_key": business_key,
            "entity_version": entity_version,
            "idempotency_key": idempotency_key,
            "correlation_id": correlation_id,
            "shipment_id": shipment_id,
        }
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._file.flush()
        return entry

    def clear(self) -> None:
        """Forget every entry, on disk too, so file and memory keep telling the same story."""
        self.entries.clear()
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
