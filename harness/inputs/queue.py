"""``[queue]``: events reach the workflow through a message broker the lab owns.

The table's model lives here (inputs is the leaf every stage reads);
``harness.sources`` starts the broker, publishes the plan and reads the
outcomes back. The broker is NATS with JetStream (the lab creates the stream
and the workflow's durable consumer from this declaration, so the consumer's
redelivery settings, ``ack_wait_s`` and ``max_deliver``, are part of the pilot)
or RabbitMQ over AMQP 0.9.1 (``broker = "rabbitmq"``: the lab declares
``queue`` as a quorum queue whose delivery limit is ``max_deliver`` and whose
dead letters go to ``dlq_queue``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from harness.inputs.bounds import PositiveSeconds

# JetStream names: no spaces, dots, wildcards or path separators.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Subjects: dot-separated tokens, no wildcards (the lab publishes to exactly this one).
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def _stream_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"must be letters, digits, _ or - (at most 64), got {value!r}")
    return value


def _subject(value: str) -> str:
    if len(value) > 200 or not _SUBJECT.match(value):
        raise ValueError(f"must be dot-separated words without wildcards, got {value!r}")
    return value


# A running RabbitMQ node: credentials and a vhost are optional, a port is not.
_AMQP_URL = re.compile(r"^amqp://([^\s:@/]+:[^\s@/]*@)?[^\s/:@]+:\d{1,5}(/[^\s/]*)?$")

RABBITMQ_STARTUP_TIMEOUT_S = 30.0
StreamName = Annotated[str, AfterValidator(_stream_name)]
Subject = Annotated[str, AfterValidator(_subject)]


class QueueSpec(BaseModel):
    """How the captured events reach the workflow as messages, and how it consumes them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fixtures: str  # relative to the pilot file, as [webhook] fixtures
    broker: Literal["nats", "rabbitmq"] = "nats"  # one module of harness.sources per broker
    # A broker already running (nats://host:port, amqp://[user:pass@]host:port[/vhost]);
    # none: the lab starts one per drill.
    url: str | None = None
    # The nats-server (rabbitmq-server) program when the lab starts one; none: found by the kind.
    server: str | None = None
    port: int | None = Field(None, ge=1, le=65535)  # the started server's client port
    # Unset: 10 s for nats-server, 30 s for a RabbitMQ node (Erlang boots in 8-10 s on a
    # small idle machine, more on a busy one).
    startup_timeout_s: PositiveSeconds = 10.0
    stream: StreamName = "EVENTS"
    subject: Subject = "events.captured"
    durable: StreamName = "workflow"  # the consumer the workflow binds to
    # Redelivery of an unacknowledged message: after ack_wait_s, at most max_deliver deliveries.
    ack_wait_s: PositiveSeconds = 2.0
    max_deliver: int = Field(4, ge=1, le=100)
    # Where the workflow dead-letters what it gives up on (a stream the lab creates).
    dlq_stream: StreamName = "EVENTS_DLQ"
    dlq_subject: Subject = "events.dead"
    # RabbitMQ only: the queue the workflow consumes and the one its dead letters go to.
    queue: StreamName = "events"
    dlq_queue: StreamName = "events-dead"

    @model_validator(mode="before")
    @classmethod
    def _node_boot_time(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("broker") == "rabbitmq":
            return {"startup_timeout_s": RABBITMQ_STARTUP_TIMEOUT_S, **data}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> QueueSpec:
        if self.url is not None:
            if self.broker == "rabbitmq" and not _AMQP_URL.match(self.url):
                raise ValueError(
                    f"url: must be amqp://[user:password@]host:port[/vhost], got {self.url!r}"
                )
            if self.broker == "nats" and not re.match(r"^nats://[^\s/:]+:\d{1,5}$", self.url):
                raise ValueError(f"url: must be nats://host:port, got {self.url!r}")
            if self.port is not None or self.server is not None:
                raise ValueError("url names a running server: leave out port and server")
        if self.stream == self.dlq_stream:
            raise ValueError("dlq_stream must differ from stream")
        if self.subject == self.dlq_subject:
            raise ValueError("dlq_subject must differ from subject")
        if self.queue == self.dlq_queue:
            raise ValueError("dlq_queue must differ from queue")
        return self
