"""Settings from environment variables; a bad value stops the service with one line naming it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


def _get(name: str, default: str | None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{name}: required environment variable is not set")
        return default
    return value


def env_str(name: str, default: str | None = None) -> str:
    return _get(name, default)


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = _get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be >= {minimum:g}, got {raw!r}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be >= {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    port: int
    partner_url: str
    webhook_secret: str = field(repr=False)  # a repr may end up in a log
    state_dir: Path
    partner_timeout_s: float

    @classmethod
    def from_env(cls) -> Settings:
        url = env_str("PARTNER_URL").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"PARTNER_URL: must start with http:// or https://, got {url!r}")
        secret = env_str("WEBHOOK_SECRET")
        return cls(
            port=env_int("PORT", 0, minimum=0),
            partner_url=url,
            webhook_secret=secret,
            state_dir=Path(env_str("STATE_DIR", ".")),
            partner_timeout_s=env_float("PARTNER_TIMEOUT_S", 2.0, minimum=0.001),
        )
