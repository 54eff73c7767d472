"""SqliteUsers: accounts, sessions and sign-in throttling state in SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple

from imgdrop.adapters.local.database import Database
from imgdrop.core.errors import Conflict, NotFound
from imgdrop.core.records import Session, User
from imgdrop.core.throttle import Admission, Backoff

USER_COLUMNS = "userId, username, passwordHash, createdAt"
SESSION_COLUMNS = "tokenHash, userId, csrfToken, createdAt, expiresAt, kind, lastSeenAt"


class SqliteUsers:
    """The Users port on SQLite tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._migrate()

    def _migrate(self) -> None:
        """Databases made before the idle timeout lack sessions.lastSeenAt: add it."""
        conn = self.db.conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        if "lastSeenAt" not in columns:
            try:
                conn.execute(
                    "ALTER TABLE sessions ADD COLUMN lastSeenAt INTEGER NOT NULL DEFAULT 0"
                )
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    def create_user(self, user: User) -> None:
        """Insert; Conflict if the name is taken (case-insensitive)."""
        try:
            with self.db.tx() as conn:
                conn.execute(
                    f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?)", astuple(user)
                )
        except sqlite3.IntegrityError:
            raise Conflict("username taken") from None

    def _one_user(self, where: str, value: str) -> User:
        row = (
            self.db.conn()
            .execute(f"SELECT {USER_COLUMNS} FROM users WHERE {where} = ?", (value,))
            .fetchone()
        )
        if row is None:
            raise NotFound("no such user")
        return User(*row)

    def get_user_by_name(self, username: str) -> User:
        """By name, case-insensitively."""
        return self._one_user("username", username)

    def get_user(self, user_id: str) -> User:
        """By userId."""
        return self._one_user("userId", user_id)

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the hash; NotFound for an unknown user."""
        with self.db.tx() as conn:
            changed = conn.execute(
                "UPDATE users SET passwordHash = ? WHERE userId = ?", (password_hash, user_id)
            ).rowcount
        if not changed:
            raise NotFound("no such user")

    def delete_user(self, user_id: str) -> None:
        """The account and its sessions, in one transaction."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE userId = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE userId = ?", (user_id,))

    def put_session(self, session: Session) -> None:
        """Store by token hash."""
        with self.db.tx() as conn:
            conn.execute(
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                astuple(session),
            )

    def get_session(self, token_hash: str) -> Session:
        """By token hash."""
        row = (
            self.db.conn()
            .execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE tokenHash = ?", (token_hash,))
            .fetchone()
        )
        if row is None:
            raise NotFound("no such session")
        return Session(*row)

    def touch_session(self, token_hash: str, now_ms: int, idle_ms: int) -> None:
        """Set lastSeenAt (purge_expired applies the idle timeout here, so idle_ms is unused)."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE sessions SET lastSeenAt = ? WHERE tokenHash = ?", (now_ms, token_hash)
            )

    def delete_session(self, token_hash: str) -> None:
        """Invalidate."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE tokenHash = ?", (token_hash,))

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        """Every session of the user but `keep`."""
        with self.db.tx() as conn:
            return conn.execute(
                "DELETE FROM sessions WHERE userId = ? AND tokenHash != ?", (user_id, keep or "")
            ).rowcount

    def begin_attempt(self, key: str, now_ms: int, backoff: Backoff) -> Admission:
        """Read-modify-write under BEGIN IMMEDIATE: parallel attempts are counted one by one."""
        key = key.lower()
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT failures, lockedUntil FROM login_failures WHERE username = ?", (key,)
            ).fetchone()
            failures, locked_until = (0, 0) if row is None else (int(row[0]), int(row[1]))
            admission = backoff.next_state(failures, locked_until, now_ms)
            if admission.admitted:
                conn.execute(
                    "INSERT INTO login_failures VALUES (?, ?, ?) ON CONFLICT(username) "
                    "DO UPDATE SET failures = excluded.failures, "
                    "lockedUntil = excluded.lockedUntil",
                    (key, admission.failures, admission.locked_until),
                )
        return admission

    def extend_lock(self, key: str, until_ms: int) -> None:
        """Only ever later: a parallel longer lock is kept."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE login_failures SET lockedUntil = MAX(lockedUntil, ?) WHERE username = ?",
                (until_ms, key.lower()),
            )

    def clear_attempts(self, key: str) -> None:
        """Forget the key."""
        self.set_login_failures(key, 0, 0)

    def get_login_failures(self, username: str) -> tuple[int, int]:
        """(failures, lockedUntil ms)."""
        row = (
            self.db.conn()
            .execute(
                "SELECT failures, lockedUntil FROM login_failures WHERE username = ?",
                (username.lower(),),
            )
            .fetchone()
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def set_login_failures(self, username: str, failures: int, locked_until_ms: int) -> None:
        """Record (or clear) throttling state."""
        key = username.lower()
        with self.db.tx() as conn:
            if failures == 0:
                conn.execute("DELETE FROM login_failures WHERE username = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO login_failures VALUES (?, ?, ?) ON CONFLICT(username) "
                    "DO UPDATE SET failures = excluded.failures, "
                    "lockedUntil = excluded.lockedUntil",
                    (key, failures, locked_until_ms),
                )

    def purge_expired(self, now_ms: int, idle_ms: int, keep_ms: int) -> int:
        """Ended sessions and forgotten throttling rows; returns how many rows went."""
        with self.db.tx() as conn:
            sessions = conn.execute(
                "DELETE FROM sessions WHERE expiresAt <= ? OR MAX(lastSeenAt, createdAt) <= ?",
                (now_ms, now_ms - idle_ms),
            ).rowcount
            throttles = conn.execute(
                "DELETE FROM login_failures WHERE lockedUntil <= ?", (now_ms - keep_ms,)
            ).rowcount
        return int(sessions) + int(throttles)
