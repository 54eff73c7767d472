"""The same event twice, or eight times at once, gives one transition and the same thumbnails."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgdrop.adapters.local.sqlite_queue import SqliteJobQueue
from imgdrop.core.errors import AlreadyDone
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.ports import UploadForm
from imgdrop.wiring import Runtime
from tests.conftest import make_jpeg
from tests.faults.faultlib import assert_settled, local_runtime


class CountingCatalog:
    """Counts successful and refused `mark_done` calls."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def mark_done(self, *args: Any) -> None:
        try:
            self._inner.mark_done(*args)
        except AlreadyDone:
            self._count("refused")
            raise
        self._count("done")

    def _count(self, what: str) -> None:
        with self._lock:
            self.calls[what] += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RecordingBlobs:
    """Keeps every thumbnail write, to show each key always gets the same bytes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.writes: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._inner.put(key, data, content_type)
        with self._lock:
            self.writes.setdefault(key, set()).add(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    """A local runtime with no worker running: the tests deliver events themselves."""
    runtime = local_runtime(tmp_path / "data", start_worker=False)
    yield runtime
    runtime.close()


def accepted_event(rt: Runtime, seed: int) -> tuple[str, dict[str, Any]]:
    """Create an upload and store its bytes; return its id and the ObjectCreated event."""
    data = make_jpeg(900, 600, seed=seed)
    ticket = rt.images.request_upload("u1", "dup.jpg", "image/jpeg", len(data))
    form: UploadForm = ticket.form
    posted = rt.blobs.begin_post(form.fields)  # type: ignore[attr-defined]
    posted.write(data)
    return ticket.item.imageId, posted.commit("image/jpeg")


def wrap(rt: Runtime) -> tuple[CountingCatalog, RecordingBlobs]:
    """Instrument the services' catalog and blob store."""
    catalog, blobs = CountingCatalog(rt.images.catalog), RecordingBlobs(rt.images.blobs)
    rt.images.catalog = catalog  # type: ignore[assignment]
    rt.images.blobs = blobs  # type: ignore[assignment]
    return catalog, blobs


def test_same_event_twice_makes_one_transition(rt: Runtime, tmp_path: Path) -> None:
    image_id, event = accepted_event(rt, seed=1)
    catalog, blobs = wrap(rt)
    first = rt.images.process_event(event)
    second = rt.images.process_event(event)
    assert catalog.calls == {"done": 1}
    assert first == second
    assert first[0] is not None and first[0].status == "done"
    assert all(len(v) == 1 for v in blobs.writes.values())
    assert_settled(tmp_path / "data", [image_id])


def test_eight_concurrent_deliveries_make_one_transition(rt: Runtime, tmp_path: Path) -> None:
    image_id, event = accepted_event(rt, seed=2)
    catalog, blobs = wrap(rt)
    # Hold every delivery inside the engine until all eight are past the status check.
    gate = threading.Barrier(8, timeout=20)

    def engine(data: bytes, widths: Any, limits: Any) -> Any:
        gate.wait()
        return make_thumbnails(data, widths, limits)

    rt.images.engine = engine
    results: list[Any] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(rt.images.process_event(event)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert catalog.calls == {"done": 1, "refused": 7}
    assert len(results) == 8 and {r.status for r in results} == {"done"}
    assert len({(r.thumb200Key, r.thumb400Key, r.updatedAt) for r in results}) == 1
    assert len(blobs.writes) == 2, "thumbnail keys are not deterministic"
    assert all(len(v) == 1 for v in blobs.writes.values()), "thumbnail bytes differ per delivery"
    assert_settled(tmp_path / "data", [image_id])


def test_duplicate_events_coalesce_in_the_local_queue(rt: Runtime) -> None:
    _, event = accepted_event(rt, seed=3)
    queue = SqliteJobQueue(rt.images.catalog.db)  # type: ignore[attr-defined]
    for _ in range(8):
        queue.enqueue(event)
    assert queue.pending() == 1


def test_duplicate_event_does_not_steal_a_running_jobs_lease(rt: Runtime) -> None:
    _, event = accepted_event(rt, seed=4)
    queue = SqliteJobQueue(rt.images.catalog.db)  # type: ignore[attr-defined]
    queue.enqueue(event)
    running = queue.claim(lease_s=300)
    assert running is not None
    queue.enqueue(event)  # S3 delivers at least once: the same event again, mid-processing
    assert queue.claim(lease_s=300) is None, "a second worker would run the same job at once"
    queue.complete(running.job_id)
    assert queue.pending() == 0
