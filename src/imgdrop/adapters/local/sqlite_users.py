"""SqliteUsers: accounts, sessions and sign-in throttling state in SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple

from imgdrop.adapters.local.database import Database
from imgdrop.core.errors import Conflict, NotFound
from imgdrop.core.records import Session, User


class SqliteUsers:
    """The Users port on SQLite tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_user(self, user: User) -> None:
        """Insert; Conflict if the name is taken (case-insensitive)."""
        try:
            with self.db.tx() as conn:
                conn.execute(
                    "INSERT INTO users (userId, username, passwordHash, createdAt) "
                    "VALUES (?, ?, ?, ?)",
                    astuple(user),
                )
        except sqlite3.IntegrityError:
            raise Conflict("username taken") from None

    def get_user_by_name(self, username: str) -> User:
        """By name, case-insensitively."""
        row = (
            self.db.conn()
            .execute(
                "SELECT userId, username, passwordHash, createdAt FROM users WHERE username = ?",
                (username,),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound("no such user")
        return User(*row)

    def put_session(self, session: Session) -> None:
        """Store by token hash."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO sessions (tokenHash, userId, csrfToken, createdAt, "
                "expiresAt, kind) VALUES (?, ?, ?, ?, ?, ?)",
                astuple(session),
            )

    def get_session(self, token_hash: str) -> Session:
        """By token hash."""
        row = (
            self.db.conn()
            .execute(
                "SELECT tokenHash, userId, csrfToken, createdAt, expiresAt, kind FROM sessions "
                "WHERE tokenHash = ?",
                (token_hash,),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound("no such session")
        return Session(*row)

    def delete_session(self, token_hash: str) -> None:
        """Invalidate."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM sessions WHERE tokenHash = ?", (token_hash,))

    def get_login_failures(self, username: str) -> tuple[int, int]:
        """(failures, lockedUntil ms)."""
        row = (
            self.db.conn()
            .execute(
                "SELECT failures, lockedUntil FROM login_failures WHERE username = ?", (username,)
            )
            .fetchone()
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def set_login_failures(self, username: str, failures: int, locked_until_ms: int) -> None:
        """Record (or clear) throttling state."""
        with self.db.tx() as conn:
            if failures == 0:
                conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
            else:
                conn.execute(
                    "INSERT INTO login_failures VALUES (?, ?, ?) ON CONFLICT(username) "
                    "DO UPDATE SET failures = excluded.failures, "
                    "lockedUntil = excluded.lockedUntil",
                    (username, failures, locked_until_ms),
                )
