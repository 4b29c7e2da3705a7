"""The consumer's settings, from environment variables (one line naming a bad one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.service.config import ConfigError, env_float, env_int, env_str


@dataclass(frozen=True)
class QueueSettings:
    port: int
    broker_url: str
    stream: str
    durable: str
    dlq_subject: str
    max_deliver: int
    queue: str  # RabbitMQ: the queue to consume (its DLQ is the queue's dead-letter exchange)
    partner_url: str
    partner_timeout_s: float
    database_url: str = field(default="", repr=False)  # it may hold a password

    @classmethod
    def from_env(cls, *, database: bool = False) -> QueueSettings:
        """The settings; ``database``: DATABASE_URL is required (the hardened consumer's)."""
        broker = env_str("BROKER_URL")
        if not broker.startswith(("nats://", "amqp://")):
            raise ConfigError(f"BROKER_URL: must start with nats:// or amqp://, got {broker!r}")
        nats = broker.startswith("nats://")
        partner = env_str("PARTNER_URL").rstrip("/")
        if not partner.startswith(("http://", "https://")):
            raise ConfigError(f"PARTNER_URL: must start with http:// or https://, got {partner!r}")
        database_url = env_str("DATABASE_URL") if database else ""
        if database and not database_url.startswith(("postgresql://", "postgres://")):
            # Never the value: it may hold a password.
            raise ConfigError("DATABASE_URL: must start with postgresql://")
        return cls(
            port=env_int("PORT", 0),
            broker_url=broker,
            stream=env_str("STREAM") if nats else "",
            durable=env_str("DURABLE") if nats else "",
            dlq_subject=env_str("DLQ_SUBJECT", ""),
            max_deliver=env_int("MAX_DELIVER", 4, minimum=1),
            queue="" if nats else env_str("QUEUE"),
            partner_url=partner,
            partner_timeout_s=env_float("PARTNER_TIMEOUT_S", 2.0, minimum=0.001),
            database_url=database_url,
        )

    @property
    def dlq(self) -> bool:
        """Whether there is a DLQ to give a message up to (RabbitMQ: the queue's own)."""
        return bool(self.dlq_subject) or self.broker_url.startswith("amqp://")
