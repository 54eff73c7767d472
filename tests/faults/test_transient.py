"""Transient faults of the blob store or catalog are retried with backoff; lasting ones end
`failed` with a reason; the worker's threads survive whatever a job raises."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgdrop.adapters.local.sqlite_queue import SqliteJobQueue
from imgdrop.adapters.local.worker import LocalWorker
from imgdrop.core.errors import TransientError
from imgdrop.wiring import Runtime
from tests.conftest import make_jpeg
from tests.faults.faultlib import assert_settled, local_runtime, post_upload, snapshot

BACKOFF_S = 0.1


class Flaky:
    """Proxy whose method `name` raises `error` for its first `failures` calls (-1: always)."""

    def __init__(self, inner: Any, name: str, error: Exception, failures: int) -> None:
        self._inner = inner
        self._name = name
        self._error = error
        self.failures = failures
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name != self._name:
            return target

        def flaky(*args: Any) -> Any:
            with self._lock:
                self.calls.append(time.monotonic())
                failing = self.failures != 0
                self.failures -= 1 if self.failures > 0 else 0
            if failing:
                raise self._error
            return target(*args)

        return flaky


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    """A local runtime whose worker the test builds itself (short backoff, 3 attempts)."""
    runtime = local_runtime(tmp_path / "data", start_worker=False)
    queue = SqliteJobQueue(runtime.images.catalog.db)  # type: ignore[attr-defined]
    runtime.worker = LocalWorker(
        runtime.images, queue, threads=2, max_attempts=3, backoff_s=BACKOFF_S
    )
    runtime.blobs.listener = runtime.worker.notify  # type: ignore[attr-defined]
    runtime.closers.append(runtime.worker.stop)
    yield runtime
    runtime.close()


def upload(rt: Runtime, seed: int) -> str:
    """One accepted upload (queued for the worker)."""
    return post_upload(rt, "u1", f"p{seed}.jpg", make_jpeg(500, 400, seed=seed))


def run_until_idle(rt: Runtime, ids: list[str], tmp_path: Path) -> dict[str, dict]:
    """Start the worker, wait for the queue to drain, check every upload is settled."""
    rt.start()
    assert rt.worker.wait_idle(20), "the worker never finished"
    return assert_settled(tmp_path / "data", ids).items


@pytest.mark.parametrize(
    "error", [OSError(5, "Input/output error"), TransientError("the store is unavailable")]
)
def test_blob_store_failing_twice_is_retried_with_backoff(
    rt: Runtime, tmp_path: Path, error: Exception
) -> None:
    flaky = Flaky(rt.images.blobs, "get", error, failures=2)
    rt.images.blobs = flaky  # type: ignore[assignment]
    image_id = upload(rt, 1)
    items = run_until_idle(rt, [image_id], tmp_path)
    assert items[image_id]["status"] == "done"
    assert len(flaky.calls) == 3
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps[0] >= BACKOFF_S * 0.9 and gaps[1] >= 2 * BACKOFF_S * 0.9, gaps


def test_catalog_failing_at_mark_done_is_retried(rt: Runtime, tmp_path: Path) -> None:
    flaky = Flaky(rt.images.catalog, "mark_done", TransientError("catalog busy"), failures=2)
    rt.images.catalog = flaky  # type: ignore[assignment]
    ids = [upload(rt, 2), upload(rt, 3)]
    items = run_until_idle(rt, ids, tmp_path)
    assert {i["status"] for i in items.values()} == {"done"}
    assert len(flaky.calls) == 4


def test_blob_store_that_keeps_failing_ends_failed_with_a_reason(
    rt: Runtime, tmp_path: Path
) -> None:
    flaky = Flaky(rt.images.blobs, "get", OSError(5, "Input/output error"), failures=-1)
    rt.images.blobs = flaky  # type: ignore[assignment]
    image_id = upload(rt, 4)
    items = run_until_idle(rt, [image_id], tmp_path)
    assert items[image_id]["status"] == "failed"
    assert "gave up after 3 attempts" in items[image_id]["error"], items[image_id]
    assert len(flaky.calls) == 3


def test_catalog_down_even_for_the_failure_keeps_the_job_and_the_threads(
    rt: Runtime, tmp_path: Path
) -> None:
    # Every read fails: processing cannot start and the item cannot be marked failed either.
    flaky = Flaky(rt.images.catalog, "get_item", TransientError("catalog down"), failures=-1)
    rt.images.catalog = flaky  # type: ignore[assignment]
    image_id = upload(rt, 5)
    rt.start()
    deadline = time.monotonic() + 10
    while len(flaky.calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(flaky.calls) >= 5, "the worker stopped retrying"
    assert snapshot(tmp_path / "data").items[image_id]["status"] == "processing"
    flaky.failures = 0  # the catalog is back
    later = upload(rt, 6)
    assert rt.worker.wait_idle(20), "the job was lost or a worker thread died"
    assert all(t.is_alive() for t in rt.worker._threads)
    items = assert_settled(tmp_path / "data", [image_id, later]).items
    assert items[later]["status"] == "done"
    assert items[image_id]["status"] in {"done", "failed"}
