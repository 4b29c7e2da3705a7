"""The plumbing both variants share: a consumer on the lab's broker, and /healthz.

The handlers see a ``Delivery`` (body, headers, which delivery it is, and
ack / retry / dead-letter), so only the broker adapter differs: NATS JetStream
here (a pull consumer bound to the lab's durable), RabbitMQ in ``rabbit``.

The consumer loop runs for the app's lifetime (started and cancelled by the
Starlette lifespan, so nothing outlives the process's shutdown). The connection
reconnects forever: a cut link is a pause, not the end of the workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows.queue_orders.settings import QueueSettings

log = logging.getLogger("workflows.queue_orders")


class Delivery(Protocol):
    """One delivery of a message, whatever the broker."""

    @property
    def data(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any]: ...
    @property
    def num_delivered(self) -> int: ...  # 1 on the first delivery
    async def ack(self) -> None: ...
    async def retry(self, delay_s: float) -> None: ...  # give it back, to come again
    async def dead_letter(self, why: str) -> None: ...  # to the DLQ, never again
    async def in_progress(self) -> None: ...  # still at work on it: do not redeliver yet


Handler = Callable[[Delivery], Awaitable[None]]


@dataclass
class NatsDelivery:
    """A JetStream message: nak to retry, publish to the DLQ subject and term to give up."""

    msg: Msg
    nc: Client
    dlq_subject: str

    @property
    def data(self) -> bytes:
        return self.msg.data

    @property
    def headers(self) -> Mapping[str, Any]:
        return self.msg.headers or {}

    @property
    def num_delivered(self) -> int:
        return int(self.msg.metadata.num_delivered)

    async def ack(self) -> None:
        await self.msg.ack()

    async def retry(self, delay_s: float) -> None:
        await self.msg.nak(delay=delay_s)

    async def in_progress(self) -> None:
        # Resets the consumer's ack_wait for this message.
        await self.msg.in_progress()

    async def dead_letter(self, why: str) -> None:
        headers = {**self.headers, "Dead-Letter-Reason": why[:200]}
        await self.nc.jetstream().publish(self.dlq_subject, self.msg.data, headers=headers)
        await self.msg.term()


# How long one pull waits for a message: bounds how fast a stopping loop notices.
FETCH_WAIT_S = 1.0
# A Retry-After beyond this (or "inf", "nan") is no time to wait in place.
MAX_WAIT_S = 3600.0


class Partner:
    """The logistics partner's two calls, forwarding the message's traceparent."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def call(
        self, method: str, path: str, body: dict[str, Any], msg: Delivery, key: str = ""
    ) -> int | None:
        """The partner's status, or None when no answer came (timeout, reset)."""
        status, _ = await self.answer(method, path, body, msg, key)
        return status

    async def answer(
        self, method: str, path: str, body: dict[str, Any], msg: Delivery, key: str = ""
    ) -> tuple[int | None, float]:
        """The partner's status (None when no answer came) and the wait its Retry-After asks."""
        headers = {}
        trace = str(msg.headers.get("traceparent", ""))
        if trace:
            headers["traceparent"] = trace
        if key:
            headers["Idempotency-Key"] = key
        try:
            response = await self._client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError:
            return None, 0.0
        return response.status_code, retry_after_s(response.headers.get("Retry-After", ""))


def retry_after_s(value: str) -> float:
    """Seconds a Retry-After header asks for; 0 when absent or not a number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        return 0.0  # an HTTP date is not sent by the partners we call; treat as no wait
    return seconds if 0 < seconds < MAX_WAIT_S else 0.0


async def _consume(nc: Client, settings: QueueSettings, handle: Handler) -> None:
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable=settings.durable, stream=settings.stream)
    while True:
        try:
            messages = await sub.fetch(1, timeout=FETCH_WAIT_S)
        except (NatsTimeout, nats.errors.ConnectionReconnectingError):
            continue  # nothing came (or the link is down): ask again
        except Exception as exc:  # a broken pull must not end the workflow; it says why
            log.warning("fetch failed: %s", exc)
            await asyncio.sleep(0.1)  # a pause before asking a broken connection again
            continue
        for msg in messages:
            try:
                await handle(NatsDelivery(msg, nc, settings.dlq_subject))
            except Exception as exc:  # e.g. an ack on a cut link: the broker redelivers
                log.warning("handling a message failed: %s", exc)


def create_app(settings: QueueSettings, make_handler: Callable[[Partner], Handler]) -> Starlette:
    """The consumer as a service: /healthz answers once bound to the broker."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _errors(exc: Exception) -> None:
        log.warning("broker connection: %s", exc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.broker_url.startswith("amqp://"):
            from workflows.queue_orders.rabbit import consuming  # only a RabbitMQ consumer needs it

            async with _partner(settings) as partner, consuming(settings, make_handler(partner)):
                yield
            return
        nc = await nats.connect(
            settings.broker_url,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            error_cb=_errors,
        )
        try:
            async with _partner(settings) as partner:
                handle = make_handler(partner)
                loop = asyncio.create_task(_consume(nc, settings, handle))
                try:
                    yield
                finally:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)


@asynccontextmanager
async def _partner(settings: QueueSettings) -> AsyncIterator[Partner]:
    async with httpx.AsyncClient(
        base_url=settings.partner_url, timeout=settings.partner_timeout_s
    ) as client:
        yield Partner(client)
