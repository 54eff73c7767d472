"""Sign-in back-off: the pure policy both Users adapters apply inside one atomic step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`free` failures pass, then each one locks for twice as long, up to `max_lock_ms`.

    A counter whose last lock ended more than `keep_ms` ago starts again from zero.
    """

    free: int = 5
    max_lock_ms: int = 15 * 60 * 1000
    keep_ms: int = 24 * 3600 * 1000

    def lock_ms(self, failures: int) -> int:
        """How long the `failures`-th counted attempt locks the key."""
        if failures < self.free:
            return 0
        return int(min(1000 * 2 ** min(failures - self.free, 40), self.max_lock_ms))

    def next_state(self, failures: int, locked_until: int, now_ms: int) -> Admission:
        """Admit (counting one more attempt) unless locked; the state to store either way."""
        if locked_until > now_ms:
            return Admission(False, failures, locked_until)
        if failures and locked_until + self.keep_ms < now_ms:
            failures = 0  # forgotten: a stale counter no longer holds anyone back
        failures += 1
        return Admission(True, failures, now_ms + self.lock_ms(failures))


@dataclass(frozen=True)
class Admission:
    """The outcome of counting an attempt: admitted or not, and the key's stored state."""

    admitted: bool
    failures: int
    locked_until: int

    def wait_s(self, now_ms: int) -> int:
        """Whole seconds until the key unlocks (at least 1)."""
        return max(1, -(-(self.locked_until - now_ms) // 1000))
