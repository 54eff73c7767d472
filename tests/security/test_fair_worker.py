"""Issue 9 point 4: a per-job time budget, a per-process memory ceiling and a fair queue.

Against a real server: first with an engine stand-in that never returns or keeps allocating
(so the backstop is shown to hold whatever the engine refuses by itself), then with real bomb
files built here (a 60,000-scan progressive JPEG, and a small AVIF that decodes huge).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg, make_png
from tests.security.bombs import avif_decode_bomb, progressive_scan_bomb
from tests.security.conftest import new_user, tree_rss
from tests.security.stub_engine import ALLOC, SLEEP

BOMB_DEADLINE_S = 20
REPLACEMENT_START_S = 6  # a fresh worker process on a busy 2-core machine, with margin
MAX_TREE_RSS = 1536 * 2**20


class StubServer(ServerProcess):
    """The real app and worker pool, with tests/security/stub_engine.py as the engine."""

    def command(self) -> list[str]:
        """stub_serve.py in place of `imgdrop serve`."""
        stub = [sys.executable, "-m", "tests.security.stub_serve", "--port", str(self.port)]
        return [*stub, "--data-dir", str(self.data_dir)]


@pytest.fixture
def stub_server(tmp_path: Path) -> Iterator[StubServer]:
    """Two worker processes, default time budget and memory ceiling, and one of them kept
    free of any single user (IMGDROP_JOBS_PER_USER=1), so B starts at once."""
    env = {"IMGDROP_WORKERS": "2", "IMGDROP_JOBS_PER_USER": "1"}
    proc = StubServer(tmp_path / "data", env=env).start()
    yield proc
    proc.stop()


def sample_until_final(
    user: ApiUser, image_ids: list[str], pid: int, timeout_s: float
) -> tuple[dict[str, dict], dict[str, float], int]:
    """Poll the items until all are final: (items, seconds each took, peak tree RSS)."""
    start = time.monotonic()
    finals: dict[str, dict] = {}
    took: dict[str, float] = {}
    peak = 0
    while len(finals) < len(image_ids) and time.monotonic() - start < timeout_s:
        peak = max(peak, tree_rss(pid))
        for image_id in image_ids:
            if image_id in finals:
                continue
            item = user.client.get(f"/api/images/{image_id}").json()
            if item["status"] != "processing":
                finals[image_id], took[image_id] = item, time.monotonic() - start
        time.sleep(0.05)
    return finals, took, peak


def test_stub_bombs_are_stopped_alone_and_another_user_is_served_at_once(
    stub_server: StubServer,
) -> None:
    """Ten never-ending jobs and an allocating one from A; B's photo behind them is done at
    once, A's first bombs end failed within the budget, memory stays bounded, the server and
    every sibling process survive."""
    pid = stub_server.proc.pid  # type: ignore[union-attr]
    mallory, bob = new_user(stub_server, "mallory"), new_user(stub_server, "bob")
    try:
        bombs = [mallory.upload(ALLOC + bytes(64), "alloc.jpg")["imageId"]]
        bombs += [
            mallory.upload(SLEEP + bytes([i]) * 64, f"sleep{i}.jpg")["imageId"] for i in range(10)
        ]
        time.sleep(0.5)  # the bombs are claimed first
        started = time.monotonic()
        good = bob.upload(make_jpeg(800, 600, seed=2), "bob.jpg")["imageId"]
        finals, took, peak = sample_until_final(bob, [good], pid, BOMB_DEADLINE_S)
        assert finals.get(good, {}).get("status") == "done", stub_server.log()[-3000:]
        assert time.monotonic() - started < 10, took  # not held behind the bombs
        first = bombs[:2]  # A runs one job at a time: the others wait their turn
        finals, took, peak2 = sample_until_final(mallory, first, pid, BOMB_DEADLINE_S + 5)
        for image_id in first:
            item = finals[image_id]
            assert item["status"] == "failed" and item["errorCode"] == "invalid_image", item
        assert "memory" in finals[bombs[0]]["error"], finals[bombs[0]]
        assert "took over 15 s" in finals[bombs[1]]["error"], finals
        # A runs one job at a time, so the sleeper starts when the allocator's process is gone:
        # from the one failure to the other (the server's own clock) is the 15 s budget plus
        # starting a replacement process, however loaded the machine is.
        budget_used = (finals[bombs[1]]["updatedAt"] - finals[bombs[0]]["updatedAt"]) / 1000
        assert 15 - 0.5 < budget_used < 15 + REPLACEMENT_START_S, finals
        assert max(took.values()) < BOMB_DEADLINE_S + REPLACEMENT_START_S, took
        assert max(peak, peak2) < MAX_TREE_RSS, (peak, peak2)
        # The pool still works for both users (replacement processes were started).
        again = bob.upload(make_png(120, 90), "again.png", "image/png")["imageId"]
        finals, _, _ = sample_until_final(bob, [again], pid, BOMB_DEADLINE_S)
        assert finals[again]["status"] == "done"
        assert stub_server.proc.poll() is None  # type: ignore[union-attr]
    finally:
        mallory.client.close()
        bob.client.close()


@pytest.fixture(scope="module")
def real_bombs() -> dict[str, bytes]:
    """The two bombs of issue 9 (M1, M2), built here."""
    return {"scans.jpg": progressive_scan_bomb(), "grid.avif": avif_decode_bomb()}


def test_real_bombs_fail_within_20_s_and_another_users_upload_is_done(
    server: ServerProcess, real_bombs: dict[str, bytes]
) -> None:
    """Two of each bomb from A; B's upload behind them is done within 20 s, A's first bombs
    end failed with a reason within 20 s, and the tree stays under 1.5 GB."""
    pid = server.proc.pid  # type: ignore[union-attr]
    mallory, bob = new_user(server, "mallory"), new_user(server, "bob")
    try:
        uploaded = time.monotonic()
        bombs = [
            mallory.upload(data, name, "image/avif" if name.endswith("avif") else "image/jpeg")
            for _ in range(2)
            for name, data in real_bombs.items()
        ]
        ids = [b["imageId"] for b in bombs]
        time.sleep(0.3)
        started = time.monotonic()
        good = bob.upload(make_png(64, 64, alpha=False), "small.png", "image/png")["imageId"]
        finals, _took, peak = sample_until_final(bob, [good], pid, BOMB_DEADLINE_S)
        assert finals.get(good, {}).get("status") == "done", server.log()[-3000:]
        assert time.monotonic() - started < BOMB_DEADLINE_S
        waited = time.monotonic() - uploaded
        finals, took, peak2 = sample_until_final(mallory, ids[:2], pid, BOMB_DEADLINE_S + 5)
        took = {i: t + waited for i, t in took.items()}  # from the bombs' upload
        for image_id in ids[:2]:
            item = finals[image_id]
            assert item["status"] == "failed" and item["error"], item
            assert item["errorCode"] == "invalid_image", item
        print(
            f"\nreal bombs: B done after {time.monotonic() - started:.1f} s; bombs final "
            f"after {sorted(round(t, 1) for t in took.values())} s; peak tree RSS "
            f"{max(peak, peak2) / 2**20:.0f} MB"
        )
        assert max(took.values()) < BOMB_DEADLINE_S, took
        assert max(peak, peak2) < MAX_TREE_RSS, (peak, peak2)
        assert server.proc.poll() is None  # type: ignore[union-attr]
    finally:
        mallory.client.close()
        bob.client.close()
