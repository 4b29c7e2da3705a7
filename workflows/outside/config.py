"""Settings from LISTEN_PORT, HOOK_KEY, UPSTREAM_BASE, DATA_DIR, DEDUPE, UPSTREAM_TIMEOUT_S."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    port: int
    hook_key: str = field(repr=False)
    upstream_base: str
    data_dir: Path
    dedupe: bool
    upstream_timeout_s: float

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        missing = [n for n in ("LISTEN_PORT", "HOOK_KEY", "UPSTREAM_BASE") if not env.get(n)]
        if missing:
            raise ConfigError(f"{missing[0]}: required environment variable is not set")
        raw_port = env["LISTEN_PORT"]
        try:
            port = int(raw_port)
        except ValueError:
            raise ConfigError(f"LISTEN_PORT: must be an integer, got {raw_port!r}") from None
        dedupe = env.get("DEDUPE", "0")
        if dedupe not in ("0", "1"):
            raise ConfigError(f"DEDUPE: must be 0 or 1, got {dedupe!r}")
        raw_timeout = env.get("UPSTREAM_TIMEOUT_S", "5")
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ConfigError(f"UPSTREAM_TIMEOUT_S: not a number: {raw_timeout!r}") from None
        return cls(
            port=port,
            hook_key=env["HOOK_KEY"],
            upstream_base=env["UPSTREAM_BASE"].rstrip("/"),
            data_dir=Path(env.get("DATA_DIR") or "."),
            dedupe=dedupe == "1",
            upstream_timeout_s=timeout,
        )
