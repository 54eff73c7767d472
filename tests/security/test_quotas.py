"""Issue 9 point 5: per-user quotas on a real server, parallel requests included; the limit
is named in the refusal and other users are not affected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user, post_form

QUOTA_ENV = {
    "IMGDROP_MAX_PENDING_UPLOADS": "5",
    "IMGDROP_MAX_PENDING_UPLOAD_BYTES": "2000000",
    "IMGDROP_MAX_IMAGES_PER_USER": "8",
    "IMGDROP_MAX_STORED_BYTES_PER_USER": "3000000",
}


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small quotas."""
    proc = ServerProcess(tmp_path_factory.mktemp("quota") / "data", env=QUOTA_ENV).start()
    yield proc
    proc.stop()


@pytest.fixture
def users(quota_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Fresh users named after the test."""
    made: list[ApiUser] = []

    def make(tag: str) -> ApiUser:
        user = new_user(quota_server, f"{request.node.name[5:25]}-{tag}")
        made.append(user)
        return user

    yield make
    for user in made:
        user.client.close()


def ask(user: ApiUser, size: int, name: str = "q.jpg") -> httpx.Response:
    """POST /api/uploads for a JPEG of `size` declared bytes."""
    return user.client.post(
        "/api/uploads", json={"filename": name, "contentType": "image/jpeg", "size": size}
    )


def test_parallel_requests_cannot_walk_past_the_pending_limit(users: Any) -> None:
    alice, bob = users("a"), users("b")
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(base_url=alice.base_url, headers=alice.client.headers) as client:
            got = client.post(
                "/api/uploads",
                json={"filename": "p.jpg", "contentType": "image/jpeg", "size": 1000},
            )
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=one) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 5 and codes.count(429) == 25, codes
    refusal = next(a for a in answers if a.status_code == 429)
    assert "the limit is 5" in refusal.json()["error"]["message"]
    assert refusal.json()["error"]["code"] == "too_many_pending_uploads"
    assert refusal.headers["retry-after"]
    assert ask(bob, 1000).status_code == 201  # another user is not affected


def test_a_used_or_cancelled_form_frees_its_place(users: Any) -> None:
    carol = users("c")
    data = make_jpeg(120, 90)
    made = [ask(carol, len(data)).json() for _ in range(5)]
    assert ask(carol, len(data)).status_code == 429
    assert post_form(made[0]["upload"], data).status_code == 204
    assert carol.client.post(f"/api/uploads/{made[1]['imageId']}/cancel").status_code == 204
    assert ask(carol, len(data)).status_code == 201
    assert ask(carol, len(data)).status_code == 201
    assert ask(carol, len(data)).status_code == 429


def test_outstanding_declared_bytes_are_limited(users: Any) -> None:
    dave = users("d")
    assert ask(dave, 1_500_000).status_code == 201
    refused = ask(dave, 600_000)
    assert refused.status_code == 429, refused.text
    assert "2000000 bytes" in refused.json()["error"]["message"]


def test_stored_images_are_limited_and_a_delete_makes_room(users: Any) -> None:
    erin = users("e")
    ids = [erin.upload(make_jpeg(64, 48, seed=n), f"{n}.jpg")["imageId"] for n in range(8)]
    refused = ask(erin, 1000)
    assert refused.status_code == 403, refused.text
    body = refused.json()["error"]
    assert body["code"] == "quota_exceeded" and "limit is 8" in body["message"]
    assert erin.client.delete(f"/api/images/{ids[0]}").status_code == 204
    assert ask(erin, 1000).status_code == 201


def test_stored_bytes_are_limited(users: Any) -> None:
    frank = users("f")
    small = make_jpeg(64, 48)
    for _ in range(2):  # declared 1.4 MB each; the form admits any size up to that
        made = ask(frank, 1_400_000).json()
        assert post_form(made["upload"], small).status_code == 204
    refused = ask(frank, 1_400_000)
    assert refused.status_code == 403, refused.text
    assert "storage limit is 3000000 bytes" in refused.json()["error"]["message"]
    assert ask(users("g"), 1_400_000).status_code == 201
