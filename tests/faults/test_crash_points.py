"""Crash the worker (os._exit, like SIGKILL) at each step of processing; a restart settles all.

Each case: seed accepted uploads, run crash_runner.py with a crash point (it must die there),
check nothing is corrupt yet, run it again without one, check every upload is settled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_jpeg
from tests.faults.faultlib import (
    CRASH_EXIT,
    Runner,
    assert_settled,
    assert_thumbnail,
    local_runtime,
    seed_uploads,
    snapshot,
)

UPLOADS = 6
CASES = (
    [("read_original", n) for n in range(1, UPLOADS + 1)]
    + [("thumb_written", n) for n in range(1, 2 * UPLOADS + 1)]
    + [("before_mark_done", n) for n in range(1, UPLOADS + 1)]
    + [("after_mark_done", n) for n in range(1, UPLOADS + 1)]
)
# A second crash while recovering from the first.
TWICE = [
    ("read_original", 2, "thumb_written", 1),
    ("thumb_written", 3, "before_mark_done", 1),
    ("before_mark_done", 4, "read_original", 1),
    ("after_mark_done", 2, "thumb_written", 4),
    ("thumb_written", 7, "after_mark_done", 3),
    ("before_mark_done", 1, "before_mark_done", 2),
]


def crash(runner: Runner, data_dir: Path, point: str, at: int) -> None:
    """Run the worker until it dies at `point`; what it leaves is unfinished but not corrupt."""
    code = runner.run(data_dir, point, at)
    assert code == CRASH_EXIT, f"runner did not die at {point}#{at}: rc={code}\n{runner.log()}"
    snap = snapshot(data_dir)
    unfinished = [i for i in snap.items.values() if i["status"] == "processing"]
    assert unfinished or snap.jobs, "the crash left no work behind: it hit too late"
    for item in snap.items.values():
        if item["status"] == "done":  # done is only ever written after both thumbnails
            assert_thumbnail(data_dir, item["thumb200Key"], 200)
            assert_thumbnail(data_dir, item["thumb400Key"], 400)


def recover(runner: Runner, data_dir: Path, ids: list[str]) -> None:
    """A clean run drains everything; then every upload is settled exactly once."""
    code = runner.run(data_dir)
    assert code == 0, f"recovery run failed: rc={code}\n{runner.log()}"
    snap = assert_settled(data_dir, ids)
    assert {i["status"] for i in snap.items.values()} == {"done"}, "a good image ended failed"


@pytest.mark.parametrize(("point", "at"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_crash_point_then_restart_settles_everything(
    runner: Runner, tmp_path: Path, point: str, at: int
) -> None:
    data_dir = tmp_path / "data"
    ids = seed_uploads(data_dir, UPLOADS, seed=at)
    crash(runner, data_dir, point, at)
    recover(runner, data_dir, ids)


@pytest.mark.parametrize(("first", "first_at", "second", "second_at"), TWICE)
def test_crash_during_recovery_then_restart(
    runner: Runner, tmp_path: Path, first: str, first_at: int, second: str, second_at: int
) -> None:
    data_dir = tmp_path / "data"
    ids = seed_uploads(data_dir, UPLOADS, seed=first_at)
    crash(runner, data_dir, first, first_at)
    ids += seed_uploads(data_dir, 2, seed=50 + second_at)  # new uploads arrive meanwhile
    crash(runner, data_dir, second, second_at)
    recover(runner, data_dir, ids)


def test_upload_that_never_arrived_fails_after_its_form_expires(
    runner: Runner, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    ids = seed_uploads(data_dir, 2, seed=9)
    rt = local_runtime(data_dir)
    try:  # the browser was closed between POST /api/uploads and the form POST
        lost = rt.images.request_upload("u1", "lost.jpg", "image/jpeg", 1000).item.imageId
    finally:
        rt.close()
    assert runner.run(data_dir) == 0
    assert snapshot(data_dir).items[lost]["status"] == "processing"  # the form is still valid

    rt = local_runtime(data_dir)
    later = rt.images.clock() + (rt.settings.upload_expires_s + 1) * 1000
    rt.images.clock = lambda: later
    try:
        rt.start()
        assert rt.worker.wait_idle(10)
    finally:
        rt.close()
    snap = assert_settled(data_dir, [*ids, lost])
    assert "never arrived" in snap.items[lost]["error"]


def test_original_stored_but_event_lost_is_recovered(runner: Runner, tmp_path: Path) -> None:
    # A crash between the original's rename into place and the job's commit: no job at all.
    data_dir = tmp_path / "data"
    rt = local_runtime(data_dir)
    try:
        data = make_jpeg(500, 400, seed=3)
        ticket = rt.images.request_upload("u1", "orphan.jpg", "image/jpeg", len(data))
        rt.blobs.put(ticket.item.originalKey, data, "image/jpeg")
    finally:
        rt.close()
    assert snapshot(data_dir).jobs == 0
    assert runner.run(data_dir) == 0
    snap = assert_settled(data_dir, [ticket.item.imageId])
    assert snap.items[ticket.item.imageId]["status"] == "done"
