"""LocalWorker: the durable in-process worker draining the SQLite job queue.

Durability comes from the order of writes: the blob store links the file into place, then the
job row is committed; a job is only leased while it runs and deleted after the catalog says
done/failed. A crash anywhere leaves either a job (re-run, idempotently) or a `processing` item
whose original exists (re-queued by the start-up sweep).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from imgdrop.adapters.local.filesystem_blobs import s3_event
from imgdrop.adapters.local.sqlite_queue import SqliteJobQueue
from imgdrop.core.errors import ImgdropError, TransientError
from imgdrop.ports import Job
from imgdrop.services import Images, object_created_keys

log = logging.getLogger("imgdrop.worker")
LEASE_S = 300.0
# Often: the sweep settles an item as soon as its form expired with no file (one indexed query).
SWEEP_EVERY_S = 5.0
RETRYABLE = (TransientError, OSError, sqlite3.OperationalError)


def jobs_per_user(setting: int, threads: int) -> int:
    """How many jobs of one user may run at once (IMGDROP_JOBS_PER_USER; 0 = automatic).

    Claims always go to the user with the fewest jobs running, least recently served, so a
    newcomer waits at most one job's time budget. With three or more loops one is also kept
    free of any single user; with two, a cap of one would halve every user's throughput and
    serialise one user's slow files, so none is set."""
    if setting > 0:
        return setting
    return threads - 1 if threads >= 3 else threads


class LocalWorker:
    """`threads` loops claim jobs; each runs the shared `Images.process_upload`."""

    def __init__(
        self,
        images: Images,
        queue: SqliteJobQueue,
        threads: int,
        max_attempts: int,
        backoff_s: float = 1.0,
    ) -> None:
        self.images = images
        self.queue = queue
        self.threads = threads
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.per_user = jobs_per_user(images.settings.jobs_per_user, threads)

    def notify(self, event: dict[str, object]) -> None:
        """The blob store's listener: persist the event, then wake a loop."""
        self.queue.enqueue(event)
        self._wake.set()

    def start(self) -> None:
        """Recover what a crash left, then start the loops."""
        released = self.queue.release_all()
        requeued = self.recover(self.images.clock() + 1)
        log.info(
            "worker starting: %d leased job(s) released, %d upload(s) re-queued", released, requeued
        )
        for n in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"imgdrop-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        threading.Thread(target=self._sweeper, name="imgdrop-sweeper", daemon=True).start()

    def recover(self, older_than_ms: int | None = None) -> int:
        """Queue `processing` uploads (older than the cutoff) whose original is stored."""
        keys = self.images.sweep_stale(older_than_ms)
        for key in keys:
            self.queue.enqueue(s3_event(self.images.blobs.bucket, key, 0))
        return len(keys)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loops to finish their current job and exit."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def idle(self) -> bool:
        """No job queued or running."""
        with self._busy_lock:
            return self._busy == 0 and self.queue.pending() == 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.queue.claim(LEASE_S, self.per_user)
            except sqlite3.OperationalError:
                log.exception("could not claim a job")
                job = None
            if job is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            with self._busy_lock:
                self._busy += 1
            try:
                self.run_job(job)
            except Exception:
                # Never let a job end a loop: the lease runs out and the job is tried again.
                log.exception("job %s could not be settled", job.job_id)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def run_job(self, job: Job) -> None:
        """Process one job; retry transient faults with backoff, then give up as `failed`."""
        try:
            self.images.process_event(job.event)
        except Exception as exc:
            reason = exc.message if isinstance(exc, ImgdropError) else f"{type(exc).__name__}"
            if not isinstance(exc, RETRYABLE):
                log.exception("unexpected error processing job %s", job.job_id)
            if job.attempts < self.max_attempts or not self._give_up(job, reason):
                delay = min(self.backoff_s * 2 ** (job.attempts - 1), 60.0)
                log.warning(
                    "job %s attempt %d failed (%s); retrying in %.1f s",
                    job.job_id,
                    job.attempts,
                    reason,
                    delay,
                )
                self.queue.retry(job.job_id, delay, reason)
                return
        self.queue.complete(job.job_id)

    def _give_up(self, job: Job, reason: str) -> bool:
        """Mark the job's uploads failed; False if even that hit a transient fault."""
        try:
            for key in object_created_keys(job.event):
                self.images.fail_upload(
                    key,
                    f"processing kept failing ({reason}); gave up after {job.attempts} attempts",
                )
        except RETRYABLE:
            log.warning("job %s: could not record the failure; keeping the job", job.job_id)
            return False
        return True

    def _sweeper(self) -> None:
        while not self._stop.wait(SWEEP_EVERY_S):
            try:
                self.recover()
            except Exception:
                log.exception("sweep failed")

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until idle (for tests and `imgdrop` commands); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.05)
        return False
