"""Issue 5.1: hostile files are refused or end `failed` fast, in bounded memory, and the worker
keeps going. Everything goes through a real `imgdrop serve` process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import (
    new_user,
    post_form,
    start_upload,
    tree_rss,
    wait_final_sampling,
)
from tests.security.hostile import HOSTILE, HTML

MAX_SECONDS = 2.0
MAX_EXTRA_RSS = 150 * 1024 * 1024
REFUSED_AT_UPLOAD = {400, 403, 413, 415}


@pytest.fixture(scope="module")
def mallory(shared_server: ServerProcess) -> Iterator[ApiUser]:
    """The uploader of hostile files, with the worker pool warmed up by two valid images."""
    user = new_user(shared_server, "mallory")
    for seed in (1, 2):
        warm = user.upload(make_jpeg(1200, 900, seed=seed), f"warm{seed}.jpg")
        assert user.wait_final(warm["imageId"])["status"] == "done"
    yield user
    user.client.close()


def upload_hostile(user: ApiUser, data: bytes, filename: str, content_type: str) -> str | None:
    """Upload; None when refused before storing (with an error body), else the image id."""
    created = start_upload(user, data, filename, content_type)
    if created.status_code in REFUSED_AT_UPLOAD:
        assert created.json()["error"]["message"]
        return None
    assert created.status_code == 201, created.text
    body = created.json()
    posted = post_form(body["upload"], data, filename, content_type)
    if posted.status_code in REFUSED_AT_UPLOAD:
        assert posted.json()["error"]["message"]
        return None
    assert posted.status_code == 204, posted.text
    return str(body["imageId"])


CASES = [pytest.param("empty", b"", "empty.jpg", "image/jpeg", id="empty")] + [
    pytest.param(name, data, filename, ctype, id=name)
    for name, (data, filename, ctype) in HOSTILE.items()
]


@pytest.mark.parametrize(("name", "data", "filename", "content_type"), CASES)
def test_hostile_file_is_refused_or_fails_fast_in_bounded_memory(
    shared_server: ServerProcess,
    mallory: ApiUser,
    name: str,
    data: bytes,
    filename: str,
    content_type: str,
) -> None:
    pid = shared_server.proc.pid  # type: ignore[union-attr]
    before = tree_rss(pid)
    image_id = upload_hostile(mallory, data, filename, content_type)
    if image_id is None:
        return  # refused at upload: nothing stored, nothing to process
    item, seconds, peak = wait_final_sampling(mallory, image_id, pid)
    after = tree_rss(pid)
    assert item["status"] == "failed", (name, item)
    assert len(item["error"]) > 10 and "Traceback" not in item["error"], item["error"]
    assert item["urls"] is None and item["thumb200Key"] is None
    assert seconds < MAX_SECONDS, f"{name} took {seconds:.2f} s"
    assert max(peak, after) - before < MAX_EXTRA_RSS, (
        f"{name}: +{(max(peak, after) - before) / 2**20:.0f} MB"
    )
    print(
        f"{name}: failed in {seconds:.2f} s, +{(peak - before) / 2**20:.1f} MB peak; "
        f"{item['error']}"
    )


def test_reasons_name_what_was_wrong(shared_server: ServerProcess, mallory: ApiUser) -> None:
    expected = {
        "png_bomb": "pixels",
        "jpeg_bomb": "pixels",
        "gif_3000_frames": "frames",
        "html": "HTML",
        "svg": "SVG",
        "pdf": "PDF",
        "postscript": "PostScript",
    }
    for name, word in expected.items():
        data, filename, ctype = HOSTILE[name]
        image_id = upload_hostile(mallory, data, filename, ctype)
        assert image_id is not None
        item = mallory.wait_final(image_id, timeout_s=10)
        assert word in item["error"], (name, item["error"])


def test_valid_upload_queued_behind_every_hostile_file_completes(
    shared_server: ServerProcess, mallory: ApiUser
) -> None:
    pid = shared_server.proc.pid  # type: ignore[union-attr]
    before = tree_rss(pid)
    ids = [upload_hostile(mallory, data, fn, ct) for data, fn, ct in HOSTILE.values()]
    started = time.monotonic()
    good = mallory.upload(make_jpeg(1600, 1200, seed=9), "after-the-storm.jpg")
    item, _seconds, peak = wait_final_sampling(mallory, good["imageId"], pid, timeout_s=20)
    assert item["status"] == "done", item
    assert time.monotonic() - started < 10
    for image_id in filter(None, ids):
        assert mallory.wait_final(image_id, timeout_s=10)["status"] == "failed"
    assert shared_server.proc.poll() is None  # type: ignore[union-attr]
    assert peak - before < MAX_EXTRA_RSS
    again = mallory.upload(make_jpeg(300, 300, seed=3), "still-working.jpg")
    assert mallory.wait_final(again["imageId"], timeout_s=10)["status"] == "done"


def test_jpeg_with_html_appended_fails_with_a_reason(mallory: ApiUser) -> None:
    """An image/HTML polyglot ends failed, saying why."""
    polyglot = make_jpeg(400, 300, seed=4) + HTML
    image_id = upload_hostile(mallory, polyglot, "polyglot.jpg", "image/jpeg")
    assert image_id is not None
    item = mallory.wait_final(image_id, timeout_s=10)
    assert item["status"] == "failed" and "HTML" in item["error"], item
    assert item["urls"] is None


def test_jpeg_with_a_binary_trailer_is_served_only_as_an_image(mallory: ApiUser) -> None:
    """Data after EOI that is not markup is fine (phones append some), and the original is
    only ever served as its pinned image type; thumbnails drop the tail."""
    trailed = make_jpeg(400, 300, seed=4) + b"\x00<scrip" + bytes(range(256))
    image_id = upload_hostile(mallory, trailed, "trailer.jpg", "image/jpeg")
    assert image_id is not None
    item = mallory.wait_final(image_id, timeout_s=10)
    assert item["status"] == "done", item
    original = httpx.get(item["urls"]["original"])
    assert original.headers["content-type"] == "image/jpeg"
    assert original.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in original.headers["content-security-policy"]
    for name in ("thumb200", "thumb400"):
        assert b"<scrip" not in httpx.get(item["urls"][name]).content
