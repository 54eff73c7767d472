"""uvicorn's h11 protocol with what uvicorn lacks: a header-read deadline and a hard connection cap.

uvicorn's only connection timer is keep-alive, cancelled by the first byte a client sends, so a
client sending a request line and headers one byte at a time (slowloris) holds its connection
for ever, and a connection that sends nothing is never timed out at all (uvicorn issue #157; the
`--timeout-request-start` pull request #1685 was closed unmerged). Here every request's line and
headers must be complete within `header_timeout_s` of the connection opening, or of the first
byte of the next request on a kept-alive connection; then the server answers 408 and closes.
A connection over `max_connections` is answered 503 and closed at once, before it holds any
request state (uvicorn's own `limit_concurrency` only answers once a request has arrived).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState


def raw_json_response(status: str, code: str, message: str, extra: str = "") -> bytes:
    """A complete HTTP/1.1 response that closes the connection (no request cycle needed)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\ncache-control: no-store\r\n{extra}"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


HEADERS_TOO_SLOW = raw_json_response(
    "408 Request Timeout",
    "request_timeout",
    "The request headers arrived too slowly, so the server closed the connection.",
)
TOO_MANY_CONNECTIONS = raw_json_response(
    "503 Service Unavailable",
    "too_many_connections",
    "The server has too many open connections right now. Try again in a moment.",
    "retry-after: 5\r\n",
)


class GuardedH11Protocol(H11Protocol):
    """H11Protocol plus a request-header deadline and a connection cap (class attributes)."""

    header_timeout_s: float = 10.0
    max_connections: int = 500

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse past the cap; otherwise start the first request's header deadline."""
        if len(self.server_state.connections) >= self.max_connections:
            self._refused = True
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._cancel_header_timer()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed h11, then (dis)arm the deadline for where the request now stands."""
        if self._refused:
            return
        if self._header_timer is None and self._between_requests():
            self._arm_header_timer()  # the first byte of a kept-alive connection's next request
        super().data_received(data)
        self._sync_header_timer()

    def on_response_complete(self) -> None:
        """A pipelined next request may already be buffered: its headers are timed too."""
        super().on_response_complete()
        self._sync_header_timer()

    def _between_requests(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE)

    def _client_owes_bytes(self) -> bool:
        """True while the server waits on the client with no request being answered."""
        if self._between_requests():
            # Before the first request, or with part of the next one buffered.
            return self.cycle is None or bool(self.conn.trailing_data[0])
        # Answered already, but the rest of an unread body is still coming (and discarded).
        return bool(self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY)

    def _sync_header_timer(self) -> None:
        if not self._client_owes_bytes():
            self._cancel_header_timer()
        elif self._header_timer is None:
            self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._client_owes_bytes():
            return
        if self._between_requests():
            self.transport.write(HEADERS_TOO_SLOW)
        self.transport.close()


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A GuardedH11Protocol class with these limits, for `uvicorn.run(http=...)`."""
    return type(
        "ConfiguredH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": float(header_timeout_s), "max_connections": max_connections},
    )
