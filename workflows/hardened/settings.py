"""The hardened workflow's settings: the common ones plus retry, breaker and worker knobs."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.service.config import Settings, env_float, env_int


@dataclass(frozen=True)
class HardenedSettings:
    base: Settings
    max_attempts: int
    max_throttled: int
    backoff_base_s: float
    backoff_cap_s: float
    breaker_threshold: int
    breaker_cooldown_s: float
    workers: int
    orphan_update_timeout_s: float

    @classmethod
    def from_env(cls) -> HardenedSettings:
        # Small defaults keep drills short; production values would be seconds to minutes.
        return cls(
            base=Settings.from_env(),
            max_attempts=env_int("MAX_ATTEMPTS", 8, minimum=1),
            max_throttled=env_int("MAX_THROTTLED", 32, minimum=0),
            backoff_base_s=env_float("BACKOFF_BASE_S", 0.05, minimum=0.0),
            backoff_cap_s=env_float("BACKOFF_CAP_S", 2.0, minimum=0.0),
            breaker_threshold=env_int("BREAKER_THRESHOLD", 5, minimum=1),
            breaker_cooldown_s=env_float("BREAKER_COOLDOWN_S", 1.0, minimum=0.0),
            workers=env_int("WORKERS", 4, minimum=1),
            orphan_update_timeout_s=env_float("ORPHAN_UPDATE_TIMEOUT_S", 10.0, minimum=0.0),
        )
