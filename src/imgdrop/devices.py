"""Known-device tokens (OWASP "device cookie") and per-address rate limits for sign-in.

After a successful sign-in the client gets `v1.<userId>.<expires s>.<nonce>.<HMAC>`. A later
sign-in that presents a valid one for the same account is throttled per device only, so an
attacker's anonymous guesses can lock out anonymous clients but never the owner's devices.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imgdrop.core.errors import TooManyRequests

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter

TOKEN_RE = re.compile(r"v1\.([0-9a-f]{1,64})\.([0-9]{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})")
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class DeviceTokens:
    """Signs and checks device tokens with a server-side key, or a function that fetches it
    at first use (the AWS web app reads it from Secrets Manager only when someone signs in)."""

    key: bytes | Callable[[], bytes]
    lifetime_s: int

    def _sign(self, user_id: str, expires: int, nonce: str) -> str:
        key = self.key() if callable(self.key) else self.key
        message = f"v1.{user_id}.{expires}.{nonce}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def issue(self, user_id: str) -> str:
        """A fresh token for `user_id` (a new nonce at every successful sign-in)."""
        expires = int(time.time()) + self.lifetime_s
        nonce = secrets.token_hex(16)
        return f"v1.{user_id}.{expires}.{nonce}.{self._sign(user_id, expires, nonce)}"

    def device_of(self, token: str | None, user_id: str) -> str | None:
        """The token's nonce if it is genuine, unexpired and for `user_id`; else None."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        match = TOKEN_RE.fullmatch(token)
        if match is None:  # also every non-ASCII token
            return None
        owner, expires, nonce, sig = match.groups()
        if owner != user_id or int(expires) < time.time():
            return None
        good = self._sign(owner, int(expires), nonce)
        return nonce if hmac.compare_digest(good.encode(), sig.encode()) else None


class AddressLimits:
    """Moving-window limits per client address, in this process's memory (`limits`).

    `limits` loads at the first hit, not at start-up: importing it costs a Lambda cold start
    ~60 ms, and only sign-ups and sign-ins count (the rates were checked by the settings).
    """

    def __init__(self, rates: str, what: str) -> None:
        self.rates = rates
        self.what = what
        self._limiter: tuple[list[RateLimitItem], MovingWindowRateLimiter] | None = None
        self._lock = threading.Lock()

    def _limits(self) -> tuple[list[RateLimitItem], MovingWindowRateLimiter]:
        """The parsed rates and the limiter, made once under a lock (first hits may race)."""
        with self._lock:
            if self._limiter is None:
                from limits import parse_many
                from limits.storage import MemoryStorage
                from limits.strategies import MovingWindowRateLimiter

                limiter = MovingWindowRateLimiter(MemoryStorage())
                self._limiter = (parse_many(self.rates), limiter)
            return self._limiter

    def hit(self, address: str) -> None:
        """Count one request from `address`; TooManyRequests (429) once a window is full."""
        items, limiter = self._limits()
        for item in items:
            if not limiter.hit(item, self.what, address):
                reset = limiter.get_window_stats(item, self.what, address).reset_time
                wait_s = max(1, int(reset - time.time()) + 1)
                raise TooManyRequests(
                    f"Too many {self.what} from your network. Try again in {wait_s} s.", wait_s
                )
