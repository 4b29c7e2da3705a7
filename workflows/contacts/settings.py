"""contacts-sync settings, from its own environment variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workflows.service.config import ConfigError, env_float, env_int, env_str

from .verify import SignatureError, secret_key


@dataclass(frozen=True)
class ContactsSettings:
    port: int
    signing_secret: str = field(repr=False)  # a repr may end up in a log
    crm_base_url: str
    data_dir: Path
    crm_timeout_s: float
    max_attempts: int
    max_throttled: int
    backoff_base_s: float
    backoff_cap_s: float
    workers: int
    orphan_wait_s: float
    tolerance_s: float

    @classmethod
    def from_env(cls) -> ContactsSettings:
        url = env_str("CRM_BASE_URL").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"CRM_BASE_URL: must start with http:// or https://, got {url!r}")
        secret = env_str("IDP_SIGNING_SECRET")
        try:
            if not secret.startswith("whsec_"):
                raise SignatureError("no whsec_ prefix")
            secret_key(secret)
        except SignatureError:
            raise ConfigError(
                "IDP_SIGNING_SECRET: must look like whsec_<base64> (value not shown)"
            ) from None
        # Small defaults keep drills short; production values would be seconds to minutes.
        return cls(
            port=env_int("CONTACTS_PORT", 0),
            signing_secret=secret,
            crm_base_url=url,
            data_dir=Path(env_str("CONTACTS_DATA_DIR", ".")),
            crm_timeout_s=env_float("CRM_TIMEOUT_S", 2.0, minimum=0.001),
            max_attempts=env_int("CRM_MAX_ATTEMPTS", 8, minimum=1),
            max_throttled=env_int("CRM_MAX_THROTTLED", 30),
            backoff_base_s=env_float("CRM_BACKOFF_BASE_S", 0.1),
            backoff_cap_s=env_float("CRM_BACKOFF_CAP_S", 2.0),
            workers=env_int("CONTACTS_WORKERS", 4, minimum=1),
            orphan_wait_s=env_float("CONTACTS_ORPHAN_WAIT_S", 10.0),
            tolerance_s=env_float("IDP_TOLERANCE_S", 300.0),
        )
