"""SqliteJobQueue: the durable queue of S3-shaped events behind the local worker."""

from __future__ import annotations

import json
import time
from typing import Any

from imgdrop.adapters.local.database import Database
from imgdrop.ports import Job
from imgdrop.services import object_created_keys

# Fair claiming: who holds a lease now, and when each user was last served. Kept beside the
# jobs table (same file) so the jobs schema stays as it is.
FAIR_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_leases (
    jobId INTEGER PRIMARY KEY,
    userId TEXT NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS job_users (
    userId TEXT PRIMARY KEY,
    lastServed REAL NOT NULL
);
"""
# The owner of a job is the <userId> of its key, uploads/<userId>/<imageId>-<name>.
JOB_USER = "substr(objectKey, 9, instr(substr(objectKey, 9), '/') - 1)"
# Among due jobs whose owner is under the per-user cap: the owner with the fewest jobs
# running, then the least recently served, then the oldest job. One user's ten bombs never
# hold another user's upload.
CLAIM_SQL = f"""
SELECT j.jobId, j.event, j.attempts, j.userId FROM (
    SELECT jobId, event, attempts, dueAt, {JOB_USER} AS userId FROM jobs WHERE dueAt <= :now
) AS j
LEFT JOIN (
    SELECT userId, count(*) AS running FROM job_leases WHERE until > :now GROUP BY userId
) AS r ON r.userId = j.userId
LEFT JOIN job_users AS u ON u.userId = j.userId
WHERE coalesce(r.running, 0) < :cap
ORDER BY coalesce(r.running, 0), coalesce(u.lastServed, 0), j.dueAt, j.jobId
LIMIT 1
"""


class SqliteJobQueue:
    """Jobs survive crashes: a claimed job is only leased, and comes back when the lease ends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.db.conn().executescript(FAIR_SCHEMA)

    def enqueue(self, event: dict[str, Any]) -> None:
        """Persist one job per object key in the event (a duplicate coalesces).

        A duplicate only hurries a job never tried: one that is running (leased) or waiting to
        retry keeps its time, so no second worker runs the same job at once.
        """
        now = time.time()
        with self.db.tx() as conn:
            # Each job keeps only the record naming its key, so it processes that key alone.
            for record in event.get("Records") or []:  # a TestEvent has none: nothing to queue
                one = {"Records": [record]}
                for key in object_created_keys(one):
                    conn.execute(
                        "INSERT INTO jobs (objectKey, event, dueAt) VALUES (?, ?, ?) "
                        "ON CONFLICT(objectKey) DO UPDATE SET dueAt = min(dueAt, ?) "
                        "WHERE attempts = 0",
                        (key, json.dumps(one), now, now),
                    )

    def claim(self, lease_s: float, max_per_user: int | None = None) -> Job | None:
        """Lease a due job fairly across users: fewest running, then least recently served
        (and none of a user already running `max_per_user` jobs)."""
        now = time.time()
        cap = max_per_user if max_per_user is not None else 2**31
        with self.db.tx() as conn:
            row = conn.execute(CLAIM_SQL, {"now": now, "cap": cap}).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET dueAt = ?, attempts = attempts + 1 WHERE jobId = ?",
                (now + lease_s, row["jobId"]),
            )
            conn.execute(
                "INSERT OR REPLACE INTO job_leases (jobId, userId, until) VALUES (?, ?, ?)",
                (row["jobId"], row["userId"], now + lease_s),
            )
            conn.execute(
                "INSERT INTO job_users (userId, lastServed) VALUES (?, ?) "
                "ON CONFLICT(userId) DO UPDATE SET lastServed = excluded.lastServed",
                (row["userId"], now),
            )
        return Job(row["jobId"], json.loads(row["event"]), row["attempts"] + 1)

    def complete(self, job_id: int) -> None:
        """Drop a finished job."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM jobs WHERE jobId = ?", (job_id,))
            conn.execute("DELETE FROM job_leases WHERE jobId = ?", (job_id,))

    def retry(self, job_id: int, delay_s: float, reason: str) -> None:
        """Make the job due again after `delay_s`."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET dueAt = ?, lastError = ? WHERE jobId = ?",
                (time.time() + delay_s, reason, job_id),
            )
            conn.execute("DELETE FROM job_leases WHERE jobId = ?", (job_id,))

    def release_all(self) -> int:
        """At start-up nothing can hold a lease (one server per data dir): make all due now."""
        now = time.time()
        with self.db.tx() as conn:
            conn.execute("DELETE FROM job_leases")
            # Who was served when matters only while jobs wait; forget the rest.
            conn.execute(f"DELETE FROM job_users WHERE userId NOT IN (SELECT {JOB_USER} FROM jobs)")
            return conn.execute("UPDATE jobs SET dueAt = ? WHERE dueAt > ?", (now, now)).rowcount

    def pending(self) -> int:
        """Jobs queued or leased."""
        return int(self.db.conn().execute("SELECT count(*) FROM jobs").fetchone()[0])
