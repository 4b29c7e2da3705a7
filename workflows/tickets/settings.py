"""ticket-router settings, from its own environment variables."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.service.config import ConfigError, env_float, env_int, env_str


@dataclass(frozen=True)
class RouterSettings:
    port: int
    github_secret: str = field(repr=False)
    helpdesk_url: str
    helpdesk_timeout_s: float
    tries: int

    @classmethod
    def from_env(cls) -> RouterSettings:
        url = env_str("HELPDESK_URL").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"HELPDESK_URL: must start with http:// or https://, got {url!r}")
        return cls(
            port=env_int("ROUTER_PORT", 0),
            github_secret=env_str("GITHUB_WEBHOOK_SECRET"),
            helpdesk_url=url,
            helpdesk_timeout_s=env_float("HELPDESK_TIMEOUT_S", 2.0, minimum=0.001),
            tries=env_int("HELPDESK_TRIES", 3, minimum=1),
        )
