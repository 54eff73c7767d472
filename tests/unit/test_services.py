"""Images.process_upload on the local adapters, in-process (no server)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_jpeg

from imgdrop.settings import load_settings
from imgdrop.wiring import build_local


def test_process_upload_returns_the_final_item(tmp_path: Path) -> None:
    runtime = build_local(load_settings({}, data_dir=tmp_path), start_worker=False)
    images = runtime.images
    good = images.request_upload("u1", "a.jpg", "image/jpeg", 10)
    bad = images.request_upload("u1", "b.jpg", "image/jpeg", 10)
    runtime.blobs.put(good.item.originalKey, make_jpeg(500, 300), "image/jpeg")
    runtime.blobs.put(bad.item.originalKey, b"not a jpeg", "image/jpeg")
    done = images.process_upload(good.item.originalKey)
    failed = images.process_upload(bad.item.originalKey)
    assert done is not None and done.status == "done" and done.width == 500
    assert failed is not None and failed.status == "failed" and failed.error
    assert images.get_image("u1", bad.item.imageId).status == "failed"
    # A replay changes nothing and returns the stored item.
    again = images.process_upload(good.item.originalKey)
    assert again == images.get_image("u1", good.item.imageId)


def test_object_without_item_is_ignored(tmp_path: Path) -> None:
    runtime = build_local(load_settings({}, data_dir=tmp_path), start_worker=False)
    key = "uploads/u1/01ARZ3NDEKTSV4RRFFQ69G5FAV-stray.jpg"
    runtime.blobs.put(key, make_jpeg(100, 100), "image/jpeg")
    assert runtime.images.process_upload(key) is None
    assert not runtime.blobs.exists("thumbnails/200/01ARZ3NDEKTSV4RRFFQ69G5FAV-stray.jpg")


def test_returned_done_item_matches_the_stored_one(tmp_path: Path) -> None:
    runtime = build_local(load_settings({}, data_dir=tmp_path), start_worker=False)
    ticket = runtime.images.request_upload("u1", "c.jpg", "image/jpeg", 10)
    runtime.blobs.put(ticket.item.originalKey, make_jpeg(640, 480), "image/jpeg")
    returned = runtime.images.process_upload(ticket.item.originalKey)
    assert returned == runtime.images.get_image("u1", ticket.item.imageId)
