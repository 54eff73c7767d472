"""kill -9 the server while uploads are being processed; after a restart nothing is lost."""

from __future__ import annotations

import io
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
from PIL import Image

from tests.conftest import ApiUser, ServerProcess, make_jpeg

UPLOADS = 12


def statuses(data_dir: Path) -> dict[str, int]:
    """Item counts by status, read straight from the SQLite catalog."""
    with closing(sqlite3.connect(data_dir / "catalog.db")) as conn:
        rows = conn.execute("SELECT status, count(*) FROM images GROUP BY status").fetchall()
    return dict(rows)


def test_sigkill_mid_processing_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir).start()
    user = ApiUser(first.url, "erin")
    # Big enough that two workers are still busy when the last POST returns.
    photos = [make_jpeg(3000, 2000, seed=i, quality=95) for i in range(UPLOADS)]
    ids = [user.upload(data, f"photo {i}.jpg")["imageId"] for i, data in enumerate(photos)]
    first.kill()
    user.client.close()
    at_kill = statuses(data_dir)
    assert at_kill.get("processing", 0) > 0, f"nothing was in flight at the kill: {at_kill}"

    second = ServerProcess(data_dir).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            token = client.post(
                "/api/login", json={"username": "erin", "password": "correct horse battery staple"}
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            items = wait_all_final(client, ids)
    finally:
        second.stop()
    assert [i["status"] for i in items] == ["done"] * UPLOADS, items
    check_blobs(data_dir, items)


def wait_all_final(client: httpx.Client, ids: list[str], timeout_s: float = 180) -> list[dict]:
    """Poll the gallery until no item is processing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = client.get("/api/images", params={"limit": 100}).json()["items"]
        if len(items) == len(ids) and all(i["status"] != "processing" for i in items):
            assert sorted(i["imageId"] for i in items) == sorted(ids)
            return list(items)
        time.sleep(0.25)
    raise AssertionError(f"still processing after {timeout_s} s")


def check_blobs(data_dir: Path, items: list[dict]) -> None:
    """Every thumbnail exists and decodes at its width; no stray or duplicate objects."""
    blobs = data_dir / "blobs"
    for item in items:
        for key, width in ((item["thumb200Key"], 200), (item["thumb400Key"], 400)):
            with Image.open(io.BytesIO((blobs / key).read_bytes())) as thumb:
                thumb.load()
                assert thumb.width == width
    for width in (200, 400):
        assert len(list((blobs / "thumbnails" / str(width)).iterdir())) == len(items)
    assert not list((blobs / ".tmp").iterdir()), "partial files left behind"
