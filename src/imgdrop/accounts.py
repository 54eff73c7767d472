"""Accounts: sign-up, sign-in with per-account throttling, sessions and bearer tokens."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import threading
import uuid
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imgdrop.core.errors import Conflict, InvalidRequest, NotFound, TooManyRequests, Unauthorized
from imgdrop.core.records import Session, User
from imgdrop.ports import Users

# argon2id, RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4): above OWASP's minimum
# (m=19 MiB, t=2, p=1).
HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
FREE_FAILURES = 5  # wrong passwords allowed before back-off starts
MAX_LOCK_S = 15 * 60
BAD_CREDENTIALS = "wrong username or password"
# Each hash holds 64 MiB: a burst of sign-ins would otherwise take GBs at once. More hashes than
# cores at a time only queue for the CPU anyway.
_HASHING = threading.BoundedSemaphore(os.cpu_count() or 1)


@functools.cache
def _dummy_hash() -> str:
    """Verified for unknown users so their answer takes as long as a wrong password."""
    with _HASHING:
        return HASHER.hash(secrets.token_hex(16))


def hash_token(token: str) -> str:
    """Tokens are stored only as SHA-256 hashes: a leaked database holds no usable session."""
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Sign-up, sign-in, sessions. `clock` returns epoch milliseconds."""

    def __init__(self, users: Users, clock: Callable[[], int], session_days: int) -> None:
        self.users = users
        self.clock = clock
        self.session_ms = session_days * 86_400_000

    def signup(self, username: str, password: str) -> User:
        """Create an account; raises InvalidRequest or Conflict."""
        if not USERNAME_RE.match(username or ""):
            raise InvalidRequest("username must be 3-32 characters: letters, digits, . _ -")
        if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
            raise InvalidRequest(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
        user = User(
            userId=uuid.uuid4().hex[:16],
            username=username,
            passwordHash=_hash(password),
            createdAt=self.clock(),
        )
        try:
            self.users.create_user(user)
        except Conflict:
            raise Conflict(f"the username {username!r} is taken") from None
        return user

    def login(self, username: str, password: str) -> tuple[str, Session]:
        """Check credentials (throttled per account); returns a new (token, session)."""
        key = (username or "").lower()
        now = self.clock()
        failures, locked_until = self.users.get_login_failures(key)
        if locked_until > now:
            wait_s = -(-(locked_until - now) // 1000)
            raise TooManyRequests(f"too many failed sign-ins; try again in {wait_s} s", wait_s)
        user = self._verify(username, password)
        if user is None:
            failures += 1
            lock_s = (
                0 if failures < FREE_FAILURES else min(2 ** (failures - FREE_FAILURES), MAX_LOCK_S)
            )
            self.users.set_login_failures(key, failures, now + lock_s * 1000)
            raise Unauthorized(BAD_CREDENTIALS)
        if failures:
            self.users.set_login_failures(key, 0, 0)
        return self.new_session(user.userId)

    def _verify(self, username: str, password: str) -> User | None:
        try:
            user = self.users.get_user_by_name(username or "")
        except NotFound:
            _safe_verify(_dummy_hash(), password)
            return None
        return user if _safe_verify(user.passwordHash, password) else None

    def new_session(self, user_id: str) -> tuple[str, Session]:
        """A fresh random token (a new session id at every sign-in) and its stored record."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(
            tokenHash=hash_token(token),
            userId=user_id,
            csrfToken=secrets.token_urlsafe(24),
            createdAt=now,
            expiresAt=now + self.session_ms,
        )
        self.users.put_session(session)
        return token, session

    def authenticate(self, token: str) -> Session:
        """The live session for `token`; raises Unauthorized."""
        if not token:
            raise Unauthorized("sign in first")
        try:
            session = self.users.get_session(hash_token(token))
        except NotFound:
            raise Unauthorized("your session has ended; sign in again") from None
        if session.expiresAt <= self.clock():
            self.users.delete_session(session.tokenHash)
            raise Unauthorized("your session has ended; sign in again")
        return session

    def logout(self, token: str) -> None:
        """Invalidate the session on the server."""
        if token:
            self.users.delete_session(hash_token(token))


def _hash(password: str) -> str:
    with _HASHING:
        return HASHER.hash(password)


def _safe_verify(phc: str, password: str) -> bool:
    try:
        with _HASHING:
            return HASHER.verify(phc, password or "")
    except (VerificationError, InvalidHashError):
        return False
