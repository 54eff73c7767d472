"""Password hashing on its own small, bounded thread pool, awaited without holding a thread.

Each argon2 hash takes ~64 MiB and a core for a fraction of a second. Sign-ins wait for the
pool in the event loop (no request thread is held), at most `queue` of them; beyond that, or
after `max_wait_ms` in the queue, the answer is an immediate 503 with Retry-After, so a burst
of sign-ins can never starve the app's other requests or its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imgdrop.core.errors import TooManyRequests

# argon2id, RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4): above OWASP's minimum
# (m=19 MiB, t=2, p=1).
HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
T = TypeVar("T")
HASHING_NICE = 10


class HashingBusy(TooManyRequests):
    """Every hashing slot is taken: try again shortly (503 with Retry-After)."""

    code = "busy"
    http_status = 503


BUSY = "The server is busy signing people in. Try again in a moment."


@functools.cache
def _dummy_hash() -> str:
    """Verified for unknown users so their answer takes as long as a wrong password."""
    return HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """An argon2id PHC string (call on the pool: it is slow on purpose)."""
    return HASHER.hash(password)


def verify_password(phc: str | None, password: str) -> bool:
    """True if `password` matches `phc`; None (an unknown user) costs the same and is False."""
    try:
        ok = HASHER.verify(phc or _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and phc is not None


class HashingPool:
    """`threads` hashing threads; at most `threads + queue` jobs admitted at once."""

    def __init__(self, threads: int, queue: int, max_wait_ms: int) -> None:
        self.capacity = threads + queue
        self.max_wait_s = max_wait_ms / 1000
        self._executor = ThreadPoolExecutor(
            threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        return self._admitted

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise HashingBusy(BUSY, 1)
            self._admitted += 1

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._admitted -= 1

    def reserve(self) -> Reservation:
        """Take a slot now (HashingBusy if none): check capacity before counting an attempt."""
        self._admit()
        return Reservation(self)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the pool; HashingBusy at once when full or after the wait bound."""
        return await self.reserve().run(fn, *args)

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        deadline = time.monotonic() + self.max_wait_s
        future = self._executor.submit(_unless_late, deadline, fn, *args)
        # Released when the job ends, not when the awaiting request goes away, so a client
        # that disconnects cannot free a slot whose hash still runs.
        future.add_done_callback(self._release)
        return future

    def close(self) -> None:
        """Stop the threads; queued jobs are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class Reservation:
    """One admitted slot of a HashingPool, used once by `run`."""

    def __init__(self, pool: HashingPool) -> None:
        self.pool = pool
        self.used = False

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` in this slot."""
        self.used = True
        try:
            future = self.pool._submit(fn, *args)
        except RuntimeError:  # the pool is shut down
            self.pool._release()
            raise HashingBusy(BUSY, 1) from None
        return await asyncio.wrap_future(future)

    def cancel(self) -> None:
        """Give the slot back unused."""
        if not self.used:
            self.used = True
            self.pool._release()


def _lower_priority() -> None:
    """Hashing threads (and the lane threads argon2 starts from them) yield the CPU to
    request handling: Linux gives each thread its own nice value, inherited by its children."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


def _unless_late(deadline: float, fn: Callable[..., T], *args: object) -> T:
    if time.monotonic() > deadline:
        raise HashingBusy(BUSY, 1)  # waited too long: the client gets 503, not a slow answer
    return fn(*args)
