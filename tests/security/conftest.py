"""Security-suite helpers: one server per module, raw uploads that may be refused, tree RSS."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import ApiUser, ServerProcess


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One running server for a whole module (tests use their own users)."""
    proc = ServerProcess(tmp_path_factory.mktemp("srv") / "data").start()
    yield proc
    proc.stop()


def new_user(server: ServerProcess, name: str) -> ApiUser:
    """A signed-in bearer client; the caller closes `.client`."""
    return ApiUser(server.url, name)


def start_upload(user: ApiUser, data: bytes, filename: str, content_type: str) -> httpx.Response:
    """POST /api/uploads for `data` (the answer may be a refusal)."""
    return user.client.post(
        "/api/uploads", json={"filename": filename, "contentType": content_type, "size": len(data)}
    )


def post_form(
    form: dict[str, Any],
    data: bytes,
    filename: str = "f.jpg",
    content_type: str = "image/jpeg",
    fields: dict[str, str] | None = None,
    url: str | None = None,
) -> httpx.Response:
    """POST the presigned form (fields optionally overridden) with `data` as the file."""
    sent = {**form["fields"], **(fields or {})}
    return httpx.post(
        url or form["url"], data=sent, files={"file": (filename, data, content_type)}, timeout=30
    )


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, bytes."""
    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def wait_final_sampling(
    user: ApiUser, image_id: str, pid: int, timeout_s: float = 30
) -> tuple[dict[str, Any], float, int]:
    """Poll until the item is final; (item, seconds taken, peak tree RSS seen while waiting)."""
    start = time.monotonic()
    peak = tree_rss(pid)
    while time.monotonic() - start < timeout_s:
        item: dict[str, Any] = user.client.get(f"/api/images/{image_id}").json()
        peak = max(peak, tree_rss(pid))
        if item["status"] != "processing":
            return item, time.monotonic() - start, peak
        time.sleep(0.02)
    raise AssertionError(f"{image_id} still processing after {timeout_s} s")


def stored_files(data_dir: Path) -> set[str]:
    """Every stored blob (relative path), temp files excluded."""
    root = data_dir / "blobs"
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".tmp" not in p.relative_to(root).parts
    }
