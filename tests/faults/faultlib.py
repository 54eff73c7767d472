"""Shared helpers of the fault tests: seed uploads the way the app does, and check the data dir."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.settings import load_settings
from imgdrop.wiring import Runtime, build_local
from tests.conftest import make_jpeg

RUNNER = Path(__file__).with_name("crash_runner.py")
CRASH_EXIT = 137


def local_runtime(data_dir: Path, start_worker: bool = True) -> Runtime:
    """A local Runtime with the engine in-process (no spawn pool: fast to start and stop)."""
    settings = load_settings({}, data_dir=data_dir, workers=2, log_level="warning")
    return build_local(settings, engine=make_thumbnails, start_worker=start_worker)


def post_upload(rt: Runtime, user_id: str, name: str, data: bytes) -> str:
    """What POST /api/uploads plus the form POST do: item, stored original, queued event."""
    ticket = rt.images.request_upload(user_id, name, "image/jpeg", len(data))
    posted = rt.blobs.begin_post(ticket.form.fields)  # type: ignore[attr-defined]
    posted.write(data)
    posted.commit("image/jpeg")
    return ticket.item.imageId


def seed_uploads(data_dir: Path, count: int, seed: int, user_id: str = "u1") -> list[str]:
    """`count` accepted uploads of small distinct JPEGs, queued for a worker that is not running."""
    rt = local_runtime(data_dir)
    try:
        return [
            post_upload(
                rt,
                user_id,
                f"photo {seed}-{i}.jpg",
                make_jpeg(420 + i * 8, 320, seed=seed * 31 + i, quality=80),
            )
            for i in range(count)
        ]
    finally:
        rt.close()


class Runner:
    """crash_runner.py --serve: one forked worker run per call, the imports paid once."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[str]:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the fd
            return subprocess.Popen(
                [sys.executable, str(RUNNER), "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def run(self, data_dir: Path, crash_point: str = "", crash_at: int = 1) -> int:
        """Exit code of one run on `data_dir`: CRASH_EXIT when it died at the crash point."""
        if self.proc.poll() is not None:  # an earlier test broke it; that test failed already
            self.close()
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{data_dir} {crash_point or '-'} {crash_at}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer.strip().lstrip("-").isdigit(), f"crash runner said {answer!r}:\n{self.log()}"
        return int(answer)

    def log(self) -> str:
        """What the runs printed (tracebacks of unexpected errors)."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        """End the runner (it exits at the end of its input)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        self.proc.wait(30)
        self.proc.stdout.close()


@dataclass
class Snapshot:
    """The data dir as stored: items by id, queued jobs, files under blobs/."""

    items: dict[str, dict]
    jobs: int
    thumbs: dict[int, list[str]]
    partial: list[str]


def snapshot(data_dir: Path) -> Snapshot:
    """Read the SQLite catalog and the blob directory directly."""
    with sqlite3.connect(data_dir / "catalog.db") as conn:
        rows = conn.execute("SELECT imageId, status, body FROM images").fetchall()
        jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    conn.close()
    items = {}
    for image_id, status, body in rows:
        item = json.loads(body)
        assert item["status"] == status, f"status column and body disagree: {item}"
        items[image_id] = item
    blobs = data_dir / "blobs"
    thumbs = {
        w: sorted(
            p.relative_to(blobs).as_posix() for p in (blobs / "thumbnails" / str(w)).glob("*")
        )
        for w in (200, 400)
    }
    partial = sorted(p.name for p in (blobs / ".tmp").glob("*"))
    return Snapshot(items, jobs, thumbs, partial)


def assert_thumbnail(data_dir: Path, key: str, width: int) -> None:
    """The object at `key` is a complete image `width` px wide."""
    with Image.open(io.BytesIO((data_dir / "blobs" / key).read_bytes())) as img:
        img.load()
        assert img.width == width, f"{key} is {img.width} px wide, not {width}"


def assert_settled(data_dir: Path, expected_ids: list[str]) -> Snapshot:
    """Every accepted upload is done (both thumbnails decode) or failed with a reason; nothing
    is processing, queued, duplicated or left half-written."""
    snap = snapshot(data_dir)
    assert sorted(snap.items) == sorted(expected_ids), "items lost or duplicated"
    for item in snap.items.values():
        assert item["status"] in {"done", "failed"}, f"not settled: {item}"
        if item["status"] == "failed":
            assert item.get("error"), f"failed without a reason: {item}"
            continue
        assert_thumbnail(data_dir, item["thumb200Key"], 200)
        assert_thumbnail(data_dir, item["thumb400Key"], 400)
    done = [i for i in snap.items.values() if i["status"] == "done"]
    for width in (200, 400):
        assert snap.thumbs[width] == sorted(i[f"thumb{width}Key"] for i in done), (
            f"stray or duplicate {width} px thumbnails"
        )
    assert snap.jobs == 0, f"{snap.jobs} job(s) left in the queue"
    assert not snap.partial, f"partial files left: {snap.partial}"
    return snap
