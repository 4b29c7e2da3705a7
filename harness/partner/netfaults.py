"""WireMock's named faults, done for real on the client's socket.

ASGI hides the socket from the app, so the server runs uvicorn's h11
protocol with one addition: every connection registers its transport under
the client address, which ASGI does hand the app (`scope["client"]`). A
fault response looks the transport up and breaks the connection the way the
fault's name says:

    EMPTY_RESPONSE            close without a byte (the client reads EOF)
    CONNECTION_RESET_BY_PEER  SO_LINGER 0 then abort: the kernel sends RST
    RANDOM_DATA_THEN_CLOSE    bytes that are not HTTP, then close
    MALFORMED_RESPONSE_CHUNK  a valid status line and chunked headers, a broken chunk, close

Served in-process (no socket, e.g. httpx.ASGITransport) there is nothing to
break: the fault is answered as a 502 with `X-Sim-Fault: <name>` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

Client = tuple[str, int]


class ConnectionRegistry:
    """The transport of each open client connection,
    so a fault can reset or hold the one a request came on."""

    def __init__(self) -> None:
        self._transports: dict[Client, asyncio.Transport] = {}

    def add(self, client: Client | None, transport: asyncio.Transport) -> None:
        if client is not None:
            self._transports[client] = transport

    def discard(self, client: Client | None) -> None:
        if client is not None:
            self._transports.pop(client, None)

    def get(self, client: Any) -> asyncio.Transport | None:
        return self._transports.get((client[0], client[1])) if client else None


def protocol_class(registry: ConnectionRegistry) -> type[H11Protocol]:
    """uvicorn's h11 protocol, registering each connection's transport in `registry`."""

    class RegisteringH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            registry.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            registry.discard(self.client)
            super().connection_lost(exc)

    return RegisteringH11Protocol


def _garbage(size: int) -> bytes:
    # Never starts like an HTTP status line, so no client mistakes it for one.
    return b"\x00" + random.randbytes(size - 1)


def break_connection(transport: asyncio.Transport, fault: str, status: int) -> None:
    """Break the connection the way a WireMock `fault` names:
    RST, garbage then close, or a bad chunk."""
    if fault == "CONNECTION_RESET_BY_PEER":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return
    if fault == "RANDOM_DATA_THEN_CLOSE":
        transport.write(_garbage(64))
    elif fault == "MALFORMED_RESPONSE_CHUNK":
        transport.write(
            f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"zz\r\n"
            + _garbage(16)
            + b"\r\n"
        )
    transport.close()


class FaultResponse(Response):
    """An ASGI response that breaks the connection instead of answering."""

    def __init__(self, fault: str, status: int, registry: ConnectionRegistry | None) -> None:
        super().__init__(status_code=502, headers={"X-Sim-Fault": fault})
        self.fault = fault
        self.answer_status = status
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = self.registry.get(scope.get("client")) if self.registry else None
        if transport is None:
            await super().__call__(scope, receive, send)
            return
        break_connection(transport, self.fault, self.answer_status)
        # Return only once the server saw the connection go, so it does not
        # try to answer "500: returned without a response" on a dead socket.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while (await receive())["type"] != "http.disconnect":
                    pass


# Longer than any sane client timeout: a caller still waiting by then has none.
HOLD_S = 30.0


class LostAnswerResponse(FaultResponse):
    """The call was handled; its answer never arrives.

    "timeout" keeps the connection open, silent, until the caller gives up and
    hangs up (or HOLD_S passes), then closes it; "reset" resets it at once. The
    caller cannot tell whether the work was done: an unknown outcome.
    """

    def __init__(
        self, how: str, registry: ConnectionRegistry | None, hold_s: float = HOLD_S
    ) -> None:
        fault = "CONNECTION_RESET_BY_PEER" if how == "reset" else "EMPTY_RESPONSE"
        super().__init__(fault, 502, registry)
        self.headers["X-Sim-Fault"] = "LOST_ANSWER"
        self.how = how
        self.hold_s = hold_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = self.registry.get(scope.get("client")) if self.registry else None
        if transport is not None and self.how == "timeout":
            # Wait for the caller to hang up; its disconnect is the event to wait on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hold_s):
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    return
        # Reset, held long enough, or served in-process: break it (or answer 502).
        await super().__call__(scope, receive, send)
