"""Every request body bounded before it is read: a pure-ASGI middleware over `receive()`.

Size: a declared Content-Length over the limit is refused before the app runs; a chunked body
is counted as it streams and the read stops at the limit, so no more than one network chunk
past it is ever held. Time: the longest pause between two pieces of a body, and the slowest
average rate once a grace period has passed (so a body trickled one byte per pause cannot hold
a connection for days). Refusals are 413 / 408 JSON with `Connection: close`, whatever the
route made of the error raised into it. (Starlette's RequestBodyLimitMiddleware, behind
FastAPI's `max_body_size`, bounds size too, but answers a declared oversize body in plain text
and keeps the connection open to drain it; it has no notion of time.)
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SLOW_BODY = "The request body arrived too slowly, so the server stopped waiting for it."


class BodyRefused(HTTPException):
    """Raised into the app from `receive()` when the body breaks a limit."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.code = code

    def messages(self) -> list[Message]:
        """This refusal as the ASGI messages of a complete JSON response."""
        error = {"error": {"code": self.code, "message": self.detail}}
        body = json.dumps(error).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The rest of the body is never read: closing is the only way to stop it.
            (b"connection", b"close"),
        ]
        return [
            {"type": "http.response.start", "status": self.status_code, "headers": headers},
            {"type": "http.response.body", "body": body, "more_body": False},
        ]


def too_large(limit: int) -> BodyRefused:
    """413 naming the limit."""
    return BodyRefused(
        413, "too_large", f"The request body is too large; the limit is {limit} bytes."
    )


def too_slow() -> BodyRefused:
    """408."""
    return BodyRefused(408, "request_timeout", SLOW_BODY)


@dataclass(frozen=True)
class BodyRules:
    """How large and how slow a body may be."""

    max_bytes: int | None  # None: the route bounds its own body (the blob store's form)
    idle_timeout_s: float
    min_rate: float  # bytes per second, averaged over the time spent waiting for the body


class BodyClock:
    """One request's `receive()`, counting the body's bytes and the seconds spent waiting."""

    def __init__(self, receive: Receive, rules: BodyRules) -> None:
        self._receive = receive
        self.rules = rules
        self.received = 0
        self.waited = 0.0
        self.body_done = False
        self.refusal: BodyRefused | None = None

    def allowance_s(self) -> float:
        """Seconds the next piece may take: the idle limit, or less if the average lags."""
        # The first idle_timeout_s of waiting are a grace period; after that the body must
        # average min_rate: `received` bytes buy received / min_rate more seconds.
        rules = self.rules
        by_rate = rules.idle_timeout_s + self.received / rules.min_rate - self.waited
        return min(rules.idle_timeout_s, by_rate)

    async def receive(self) -> Message:
        """The next message; raises BodyRefused when the body is too large or too late."""
        if self.refusal is not None:
            return {"type": "http.disconnect"}
        if self.body_done:
            return await self._receive()  # waiting for a disconnect is not a body read
        message = await self._timed_receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.body_done = not message.get("more_body", False)
            limit = self.rules.max_bytes
            if limit is not None and self.received > limit:
                raise self._refuse(too_large(limit))
        return message

    async def _timed_receive(self) -> Message:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            allowance = self.allowance_s()
            if allowance <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self._receive(), allowance)
        except TimeoutError:
            raise self._refuse(too_slow()) from None
        finally:
            self.waited += loop.time() - started

    def _refuse(self, refusal: BodyRefused) -> BodyRefused:
        self.refusal = refusal
        return refusal


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number (h11 has already refused a malformed one)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimits:
    """Refuses bodies over `max_bytes` or too slow.

    Under `form_prefix` (the local blob store's upload form, which streams the file to disk
    against the form's own signed size) the size is the route's business; time still counts.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        idle_timeout_s: float,
        min_rate: float,
        form_prefix: str = "/_blobs/",
        form_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.rules = BodyRules(max_bytes, idle_timeout_s, min_rate)
        self.form_rules = BodyRules(form_max_bytes, idle_timeout_s, min_rate)
        self.form_prefix = form_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        form = scope["path"].startswith(self.form_prefix)
        rules = self.form_rules if form else self.rules
        length = declared_length(scope)
        if length is not None and rules.max_bytes is not None and length > rules.max_bytes:
            for message in too_large(rules.max_bytes).messages():
                await send(message)
            return
        await self._run_guarded(scope, BodyClock(receive, rules), send)

    async def _run_guarded(self, scope: Scope, clock: BodyClock, send: Send) -> None:
        started = answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal started, answered
            if answered:
                return
            if clock.refusal is not None and not started:
                # Whatever the route made of the refusal (a 400 "malformed form" …), the
                # client is told the truth and the connection closes.
                answered = True
                for reply in clock.refusal.messages():
                    await send(reply)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, clock.receive, guarded_send)
        except Exception:
            if clock.refusal is None or started or answered:
                raise
        if clock.refusal is not None and not started and not answered:
            for reply in clock.refusal.messages():
                await send(reply)
