"""SqliteJobQueue: the durable queue of S3-shaped events behind the local worker."""

from __future__ import annotations

import json
import time
from typing import Any

from imgdrop.adapters.local.database import Database
from imgdrop.ports import Job
from imgdrop.services import object_created_keys


class SqliteJobQueue:
    """Jobs survive crashes: a claimed job is only leased, and comes back when the lease ends."""

    def __init__(self, db: Database) -> None:
        self.db = db

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

    def claim(self, lease_s: float) -> Job | None:
        """Lease the oldest due job."""
        now = time.time()
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT jobId, event, attempts FROM jobs WHERE dueAt <= ? "
                "ORDER BY dueAt, jobId LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET dueAt = ?, attempts = attempts + 1 WHERE jobId = ?",
                (now + lease_s, row["jobId"]),
            )
        return Job(row["jobId"], json.loads(row["event"]), row["attempts"] + 1)

    def complete(self, job_id: int) -> None:
        """Drop a finished job."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM jobs WHERE jobId = ?", (job_id,))

    def retry(self, job_id: int, delay_s: float, reason: str) -> None:
        """Make the job due again after `delay_s`."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE jobs SET dueAt = ?, lastError = ? WHERE jobId = ?",
                (time.time() + delay_s, reason, job_id),
            )

    def release_all(self) -> int:
        """At start-up nothing can hold a lease (one server per data dir): make all due now."""
        now = time.time()
        with self.db.tx() as conn:
            return conn.execute("UPDATE jobs SET dueAt = ? WHERE dueAt > ?", (now, now)).rowcount

    def pending(self) -> int:
        """Jobs queued or leased."""
        return int(self.db.conn().execute("SELECT count(*) FROM jobs").fetchone()[0])
