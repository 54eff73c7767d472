"""Issue 9 point 6 and the settling contract: forms are single-use, a deleted or cancelled
item refuses its form, an expired form with no file settles `interrupted` at once, temp
files are swept at start."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user, post_form, stored_files


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Forms live 2 s, so expiry can be watched; a leftover temp file waits at start."""
    data_dir = tmp_path_factory.mktemp("forms") / "data"
    leftover = data_dir / "blobs" / ".tmp" / "tmp-left-by-a-crash"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1000)
    proc = ServerProcess(data_dir, env={"IMGDROP_UPLOAD_EXPIRES_S": "2"}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def carol(quick_server: ServerProcess) -> Iterator[ApiUser]:
    """A user of the quick server."""
    user = new_user(quick_server, "carol")
    yield user
    user.client.close()


def create(user: ApiUser, data: bytes) -> dict:
    """POST /api/uploads; the 201 body."""
    answer = user.client.post(
        "/api/uploads", json={"filename": "c.jpg", "contentType": "image/jpeg", "size": len(data)}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_temp_files_are_swept_at_start(quick_server: ServerProcess) -> None:
    assert not list((quick_server.data_dir / "blobs" / ".tmp").iterdir())


def test_a_form_works_once(carol: ApiUser) -> None:
    data = make_jpeg(200, 150)
    made = create(carol, data)
    assert post_form(made["upload"], data).status_code == 204
    again = post_form(made["upload"], data)
    assert again.status_code == 403 and again.json()["error"]["message"], again.text


def test_a_deleted_images_form_refuses_and_keeps_nothing(
    quick_server: ServerProcess, carol: ApiUser
) -> None:
    """L1: delete before the bytes come; the form then keeps no byte."""
    data = make_jpeg(200, 150, seed=2)
    made = create(carol, data)
    assert carol.client.delete(f"/api/images/{made['imageId']}").status_code == 204
    answer = post_form(made["upload"], data)
    assert answer.status_code == 403, answer.text
    assert made["originalKey"] not in stored_files(quick_server.data_dir)


def test_a_form_refuses_after_its_image_was_processed_and_deleted(
    quick_server: ServerProcess, carol: ApiUser
) -> None:
    data = make_jpeg(200, 150, seed=3)
    made = create(carol, data)
    assert post_form(made["upload"], data).status_code == 204
    assert carol.wait_final(made["imageId"], 30)["status"] == "done"
    assert carol.client.delete(f"/api/images/{made['imageId']}").status_code == 204
    assert post_form(made["upload"], data).status_code == 403
    assert made["originalKey"] not in stored_files(quick_server.data_dir)


def test_cancel_settles_an_upload_whose_file_has_not_arrived(
    quick_server: ServerProcess, carol: ApiUser
) -> None:
    data = make_jpeg(200, 150, seed=4)
    made = create(carol, data)
    assert carol.client.post(f"/api/uploads/{made['imageId']}/cancel").status_code == 204
    item = carol.client.get(f"/api/images/{made['imageId']}").json()
    assert item["status"] == "failed" and item["errorCode"] == "cancelled", item
    assert item["error"] == "The upload was cancelled."
    assert post_form(made["upload"], data).status_code == 403
    assert made["originalKey"] not in stored_files(quick_server.data_dir)
    # A repeated cancel is answered the same way.
    assert carol.client.post(f"/api/uploads/{made['imageId']}/cancel").status_code == 204


def test_cancel_after_the_file_arrived_is_409(carol: ApiUser) -> None:
    data = make_jpeg(200, 150, seed=5)
    made = create(carol, data)
    assert post_form(made["upload"], data).status_code == 204
    answer = carol.client.post(f"/api/uploads/{made['imageId']}/cancel")
    assert answer.status_code == 409 and "arrived" in answer.json()["error"]["message"]
    assert carol.wait_final(made["imageId"], 30)["status"] == "done"


def test_cancel_is_owner_only_and_needs_csrf_with_a_cookie(
    quick_server: ServerProcess, carol: ApiUser
) -> None:
    """(Sign-ins first: forms here live 2 s.)"""
    dave = new_user(quick_server, "dave")
    with httpx.Client(base_url=quick_server.url) as browser:
        login = browser.post(
            "/api/login", json={"username": "carol", "password": "correct horse battery staple"}
        )
        assert login.status_code == 200
        made = create(carol, make_jpeg(64, 64, seed=6))
        cancel = f"/api/uploads/{made['imageId']}/cancel"
        try:
            assert dave.client.post(cancel).status_code == 404
        finally:
            dave.client.close()
        assert browser.post(cancel).status_code == 403
        csrf = {"X-CSRF-Token": login.json()["csrfToken"]}
        assert browser.post(cancel, headers=csrf).status_code == 204


def test_an_expired_form_with_no_file_settles_interrupted_at_once(carol: ApiUser) -> None:
    """Not STALE_PROCESSING_S (15 min) later: within the form's life plus one sweep."""
    made = create(carol, make_jpeg(64, 64, seed=7))
    deadline = time.monotonic() + 2 + 1 + 5 + 3  # expiry, slack, one sweep, margin
    item: dict = {}
    while time.monotonic() < deadline:
        item = carol.client.get(f"/api/images/{made['imageId']}").json()
        if item["status"] != "processing":
            break
        time.sleep(0.2)
    assert item["status"] == "failed", item
    assert item["errorCode"] == "interrupted" and item["error"] == "The file never arrived."


def test_nothing_is_left_in_temp(quick_server: ServerProcess) -> None:
    assert not list(Path(quick_server.data_dir / "blobs" / ".tmp").iterdir())


def ask_sha(user: ApiUser, data: bytes, **extra: object) -> httpx.Response:
    """POST /api/uploads with the file's SHA-256."""
    return user.client.post(
        "/api/uploads",
        json={
            "filename": "d.jpg",
            "contentType": "image/jpeg",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            **extra,
        },
    )


def test_a_second_copy_of_the_same_content_is_reported_as_a_duplicate(
    quick_server: ServerProcess, carol: ApiUser
) -> None:
    data = make_jpeg(240, 180, seed=21)
    first = ask_sha(carol, data)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    assert post_form(first.json()["upload"], data).status_code == 204
    assert carol.wait_final(first.json()["imageId"], 30)["status"] == "done"
    again = ask_sha(carol, data)
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["duplicate"] is True and body["upload"] is None
    assert body["imageId"] == first.json()["imageId"] == body["image"]["imageId"]
    assert body["image"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["image"]["urls"]  # the existing image, ready to show
    forced = ask_sha(carol, data, allowDuplicate=True)
    assert forced.status_code == 201 and forced.json()["upload"]
    other = new_user(quick_server, "erin-dup")
    try:
        assert ask_sha(other, data).status_code == 201  # per user
    finally:
        other.client.close()


def test_a_failed_copy_is_not_a_duplicate(carol: ApiUser) -> None:
    junk = b"\xff\xd8\xff" + bytes(range(256)) * 8
    first = ask_sha(carol, junk)
    assert post_form(first.json()["upload"], junk).status_code == 204
    item = carol.wait_final(first.json()["imageId"], 30)
    assert item["status"] == "failed" and item["errorCode"] == "invalid_image", item
    assert ask_sha(carol, junk).status_code == 201
