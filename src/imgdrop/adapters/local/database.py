"""One SQLite file (WAL) holding the catalog, accounts and the job queue."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    userId TEXT NOT NULL,
    imageId TEXT NOT NULL,
    status TEXT NOT NULL,
    updatedAt INTEGER NOT NULL,
    body TEXT NOT NULL,              -- the whole item as JSON (seed attribute names)
    PRIMARY KEY (userId, imageId)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS images_processing ON images (status, updatedAt)
    WHERE status = 'processing';
CREATE TABLE IF NOT EXISTS users (
    userId TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    passwordHash TEXT NOT NULL,
    createdAt INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    tokenHash TEXT PRIMARY KEY,
    userId TEXT NOT NULL,
    csrfToken TEXT NOT NULL,
    createdAt INTEGER NOT NULL,
    expiresAt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    lastSeenAt INTEGER NOT NULL DEFAULT 0  -- SqliteUsers adds it to older files
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (userId);
CREATE TABLE IF NOT EXISTS login_failures (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    lockedUntil INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    jobId INTEGER PRIMARY KEY AUTOINCREMENT,
    objectKey TEXT NOT NULL UNIQUE,  -- one pending job per object: duplicate events coalesce
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    dueAt REAL NOT NULL,
    lastError TEXT
);
"""


def private_file(path: Path) -> None:
    """Create `path` (if absent) and make it 0600 whatever the umask.

    The catalog holds password hashes and session CSRF tokens. SQLite creates its -wal and
    -shm files with the database file's mode, so they are 0600 too; ones a previous version
    left readable are tightened here as well.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)


class Database:
    """A SQLite file shared by threads: one connection per thread, WAL, a busy timeout.

    A thread's connection is closed when the thread ends (request threads come and go), and
    `close()` closes the rest; a connection left for the garbage collector is a
    ResourceWarning from Python 3.13 on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[sqlite3.Connection] = set()
        self.conn().executescript(SCHEMA)  # executescript manages its own transaction

    def close(self) -> None:
        """Close every thread's connection; a later `conn()` in a thread reopens one."""
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode (only power loss can
            # roll back the newest transactions) and much faster than FULL.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
            weakref.finalize(threading.current_thread(), self._release, conn)
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE, so writers queue instead of deadlocking)."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
