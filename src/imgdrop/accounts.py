"""Accounts: sign-up, throttled sign-in, sessions with idle timeout, account changes.

Every attempt is counted before its slow hash (so parallel guesses cannot share a count),
per account for anonymous clients and per device for clients with a known-device token;
anonymous attempts are also limited per client address. Hashing runs on a bounded pool that
the async routes await, so waiting for it never holds one of the server's request threads.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from anyio import to_thread

from imgdrop.core.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from imgdrop.core.records import Session, User
from imgdrop.core.throttle import Backoff
from imgdrop.devices import AddressLimits, DeviceTokens
from imgdrop.hashing import HashingPool, hash_password, verify_password
from imgdrop.passwords import PasswordRules
from imgdrop.ports import Users
from imgdrop.settings import Settings

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
BAD_CREDENTIALS = "Wrong username or password."
WRONG_PASSWORD = "That is not your current password."
SESSION_ENDED = "Your session has ended. Sign in again."
MAX_TOKEN_CHARS = 200
TOUCH_EVERY_MS = 60_000  # lastSeenAt is written at most once a minute per session
PURGE_EVERY_MS = 10 * 60_000


def hash_token(token: str) -> str:
    """Tokens are stored only as SHA-256 hashes: a leaked database holds no usable session."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SignIn(NamedTuple):
    """A successful sign-in: the session's token and record, and a known-device token."""

    token: str
    session: Session
    device_token: str


class Attempt(NamedTuple):
    """A counted attempt: its throttling key and the count it got."""

    key: str
    failures: int


@dataclass(frozen=True)
class AccountPolicy:
    """Session lifetimes, back-off and password rules, from settings."""

    session_ms: int
    idle_ms: int
    backoff: Backoff
    rules: PasswordRules

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountPolicy:
        """The policy the settings describe."""
        return cls(
            session_ms=settings.session_days * 86_400_000,
            idle_ms=settings.session_idle_minutes * 60_000,
            backoff=Backoff(
                free=settings.signin_free_failures,
                max_lock_ms=settings.signin_max_lock_s * 1000,
                keep_ms=settings.signin_forget_s * 1000,
            ),
            rules=PasswordRules(
                settings.password_min_chars,
                settings.password_max_chars,
                settings.password_min_score,
            ),
        )


class Accounts:
    """Sign-up, sign-in, sessions and account changes. `clock` returns epoch milliseconds."""

    def __init__(
        self,
        users: Users,
        clock: Callable[[], int],
        settings: Settings,
        device_key: bytes | Callable[[], bytes],
    ) -> None:
        self.users = users
        self.clock = clock
        self.policy = AccountPolicy.from_settings(settings)
        self.pool = HashingPool(settings.hash_threads, settings.hash_queue, settings.hash_wait_ms)
        self.devices = DeviceTokens(device_key, settings.device_token_days * 86_400)
        self.signin_limits = AddressLimits(settings.signin_address_limit, "sign-ins")
        self.signup_limits = AddressLimits(settings.signup_address_limit, "sign-ups")
        self._purged_at = 0
        self._purge_lock = threading.Lock()

    def close(self) -> None:
        """Stop the hashing threads."""
        self.pool.close()

    async def signup(self, username: str, password: str, address: str) -> User:
        """Create an account; raises InvalidRequest (weak password), Conflict or 429/503."""
        if not USERNAME_RE.match(username or ""):
            raise InvalidRequest(
                "Choose a username of 3-32 characters: letters, digits, dots, dashes or _."
            )
        if len(password or "") > self.policy.rules.max_chars:
            self.policy.rules.check(password, username)  # the readable refusal, bounded first
        slot = self.pool.reserve()  # a full pool answers 503 before anything is counted
        try:
            self.signup_limits.hit(address)
            if await to_thread.run_sync(self._name_taken, username):
                raise Conflict(f"The username {username!r} is taken.")
        except BaseException:
            slot.cancel()
            raise
        phc = await slot.run(self._checked_hash, password, username)
        user = User(uuid.uuid4().hex[:16], username, phc, self.clock())
        try:
            await to_thread.run_sync(self.users.create_user, user)
        except Conflict:
            raise Conflict(f"The username {username!r} is taken.") from None
        return user

    def _name_taken(self, username: str) -> bool:
        try:
            self.users.get_user_by_name(username)
        except NotFound:
            return False
        return True

    def _checked_hash(self, password: str, username: str) -> str:
        """On the pool: zxcvbn is CPU work too, so it runs beside the hash it guards."""
        self.policy.rules.check(password, username)
        return hash_password(password)

    async def login(
        self, username: str, password: str, address: str, device_token: str | None = None
    ) -> SignIn:
        """Check credentials, throttled; returns a new session and a known-device token."""
        slot = self.pool.reserve()
        try:
            user, attempt = await to_thread.run_sync(
                self._admit_login, (username or "")[:64], address, device_token
            )
        except BaseException:
            slot.cancel()
            raise
        ok = await slot.run(verify_password, user.passwordHash if user else None, password)
        return await to_thread.run_sync(self._finish_login, ok, user, attempt)

    def _admit_login(
        self, username: str, address: str, device_token: str | None
    ) -> tuple[User | None, Attempt]:
        """Count the attempt (device or account + address) before the hash; 429 if locked."""
        try:
            user: User | None = self.users.get_user_by_name(username)
        except NotFound:
            user = None
        device = self.devices.device_of(device_token, user.userId) if user else None
        if device:
            key = f"device:{device}"
        else:
            self.signin_limits.hit(address)
            key = username.lower()
        now = self.clock()
        admission = self.users.begin_attempt(key, now, self.policy.backoff)
        if not admission.admitted:
            wait_s = admission.wait_s(now)
            raise TooManyRequests(
                f"There were too many failed sign-ins. Try again in {wait_s} s.", wait_s
            )
        return user, Attempt(key, admission.failures)

    def _settle(self, ok: bool, attempt: Attempt) -> None:
        """Success forgets the count; a failure's lock runs from its verdict, not its start."""
        if ok:
            self.users.clear_attempts(attempt.key)
            return
        lock_ms = self.policy.backoff.lock_ms(attempt.failures)
        if lock_ms:
            self.users.extend_lock(attempt.key, self.clock() + lock_ms)

    def _finish_login(self, ok: bool, user: User | None, attempt: Attempt) -> SignIn:
        self._settle(ok and user is not None, attempt)
        if not ok or user is None:
            raise Unauthorized(BAD_CREDENTIALS)
        token, session = self.new_session(user.userId)
        self.purge_now_and_then()
        return SignIn(token, session, self.devices.issue(user.userId))

    def new_session(self, user_id: str) -> tuple[str, Session]:
        """A fresh random token (a new session id at every sign-in) and its stored record."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(
            tokenHash=hash_token(token),
            userId=user_id,
            csrfToken=secrets.token_urlsafe(24),
            createdAt=now,
            expiresAt=now + self.policy.session_ms,
            lastSeenAt=now,
        )
        self.users.put_session(session)
        return token, session

    def authenticate(self, token: str) -> Session:
        """The live session for `token` (absolute and idle expiry); raises Unauthorized."""
        if not token:
            raise Unauthorized("Sign in first.")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized(SESSION_ENDED)
        try:
            session = self.users.get_session(hash_token(token))
        except NotFound:
            raise Unauthorized(SESSION_ENDED) from None
        now = self.clock()
        if session.expiresAt <= now or session.last_active + self.policy.idle_ms <= now:
            self.users.delete_session(session.tokenHash)
            raise Unauthorized(SESSION_ENDED)
        if now - session.last_active >= TOUCH_EVERY_MS:
            self.users.touch_session(session.tokenHash, now, self.policy.idle_ms)
            session.lastSeenAt = now
        return session

    def logout(self, token: str) -> None:
        """Invalidate the session on the server."""
        if token:
            self.users.delete_session(hash_token(token))

    def signout_all(self, user_id: str) -> int:
        """End every session and API token of the user; returns how many."""
        return self.users.delete_user_sessions(user_id)

    async def change_password(self, session: Session, current: str, new: str) -> int:
        """Needs the current password; ends every other session; returns how many ended."""
        user = await self.confirm_password(session, current)
        phc = await self.pool.run(self._checked_hash, new, user.username)
        await to_thread.run_sync(self.users.set_password_hash, user.userId, phc)
        return await to_thread.run_sync(
            self.users.delete_user_sessions, user.userId, session.tokenHash
        )

    async def delete_account(
        self, session: Session, password: str, erase_data: Callable[[str], Any]
    ) -> None:
        """Needs the password: ends every session, erases the user's data, then the account."""
        user = await self.confirm_password(session, password)
        await to_thread.run_sync(self.users.delete_user_sessions, user.userId)
        await to_thread.run_sync(erase_data, user.userId)
        await to_thread.run_sync(self.users.delete_user, user.userId)

    async def confirm_password(self, session: Session, password: str) -> User:
        """The signed-in user if `password` is theirs (throttled like sign-in); else 403."""
        slot = self.pool.reserve()
        try:
            user, attempt = await to_thread.run_sync(self._admit_confirm, session.userId)
        except BaseException:
            slot.cancel()
            raise
        ok = await slot.run(verify_password, user.passwordHash, password)
        await to_thread.run_sync(self._settle, ok, attempt)
        if not ok:
            raise Forbidden(WRONG_PASSWORD)
        return user

    def _admit_confirm(self, user_id: str) -> tuple[User, Attempt]:
        try:
            user = self.users.get_user(user_id)
        except NotFound:
            raise Unauthorized(SESSION_ENDED) from None
        key = f"confirm:{user_id}"  # a stolen session cannot guess the password fast either
        now = self.clock()
        admission = self.users.begin_attempt(key, now, self.policy.backoff)
        if not admission.admitted:
            wait_s = admission.wait_s(now)
            raise TooManyRequests(
                f"There were too many wrong passwords. Try again in {wait_s} s.", wait_s
            )
        return user, Attempt(key, admission.failures)

    def purge_now_and_then(self) -> int:
        """Delete ended sessions and stale throttling rows, at most every ten minutes."""
        now = self.clock()
        if now - self._purged_at < PURGE_EVERY_MS or not self._purge_lock.acquire(False):
            return 0
        try:
            self._purged_at = now
            return self.users.purge_expired(now, self.policy.idle_ms, self.policy.backoff.keep_ms)
        finally:
            self._purge_lock.release()
