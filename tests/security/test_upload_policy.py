"""Issue 5.2: the local blob store enforces the presigned-POST policy like S3 does, and a
refused POST stores nothing. Against a real server with a small upload limit."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user, post_form, start_upload, stored_files

LIMIT = 60_000


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that accepts at most LIMIT bytes per upload."""
    proc = ServerProcess(
        tmp_path_factory.mktemp("policy") / "data", env={"IMGDROP_MAX_UPLOAD_BYTES": str(LIMIT)}
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def users(small_server: ServerProcess) -> Iterator[tuple[ApiUser, ApiUser]]:
    """Two users of `small_server`."""
    alice, bob = new_user(small_server, "p_alice"), new_user(small_server, "p_bob")
    yield alice, bob
    alice.client.close()
    bob.client.close()


def new_form(user: ApiUser, size: int = 20_000, ctype: str = "image/jpeg") -> dict[str, Any]:
    """A fresh upload (item + form) for `size` bytes."""
    created = start_upload(user, b"x" * size, "p.jpg", ctype)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def policy_expiration(form: dict[str, Any]) -> float:
    """The form's signed expiration, as a Unix time."""
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    return datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def upload_id(form: dict[str, Any]) -> str:
    """The image id inside a form's key."""
    return str(form["fields"]["key"].rsplit("/", 1)[1].split("-", 1)[0])


def refused(
    server: ServerProcess, response: httpx.Response, status: int, before: set[str], words: str
) -> None:
    """The POST was refused with `status` and a message containing `words`; nothing stored."""
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["error"]["message"].lower(), response.text
    assert stored_files(server.data_dir) == before
    assert list((server.data_dir / "blobs" / ".tmp").iterdir()) == []


def forge_policy(policy_b64: str, **changes: Any) -> str:
    """The policy document with a condition changed (the signature is left as it was)."""
    doc = json.loads(base64.b64decode(policy_b64))
    for cond in doc["conditions"]:
        if isinstance(cond, list) and "max" in changes:
            cond[2] = changes["max"]
        elif isinstance(cond, dict) and "key" in cond and "key" in changes:
            cond["key"] = changes["key"]
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def test_key_moved_into_another_users_prefix_is_refused(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    alice, bob = users
    form = new_form(bob)["upload"]
    before = stored_files(small_server.data_dir)
    for key in (
        f"uploads/{alice.user_id}/01J00000000000000000000000-evil.jpg",
        "uploads/../secret.key",
        "thumbnails/200/x.jpg",
    ):
        got = post_form(form, make_jpeg(100, 100), fields={"key": key})
        refused(small_server, got, 403, before, "key")


def test_changed_content_type_is_refused(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    form = new_form(users[0])["upload"]
    before = stored_files(small_server.data_dir)
    for ctype in ("text/html", "image/svg+xml", "image/png"):
        got = post_form(
            form,
            b"<html><script>alert(1)</script></html>",
            "x.html",
            ctype,
            fields={"Content-Type": ctype},
        )
        refused(small_server, got, 403, before, "Content-Type")


def test_tampered_policy_or_signature_is_refused(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    alice, bob = users
    form = new_form(alice)["upload"]
    fields = form["fields"]
    before = stored_files(small_server.data_dir)
    other = f"uploads/{bob.user_id}/01J00000000000000000000000-evil.jpg"
    forgeries = [
        {"policy": forge_policy(fields["policy"], max=10**9)},
        {"policy": forge_policy(fields["policy"], key=other), "key": other},
        {"signature": fields["signature"][:-1] + ("0" if fields["signature"][-1] != "0" else "1")},
        {"signature": ""},
        {"policy": ""},
    ]
    for forged in forgeries:
        got = post_form(form, make_jpeg(100, 100), fields=forged)
        assert got.status_code == 403, (forged, got.text)
        refused(small_server, got, 403, before, "signature")
    posted = post_form(form, make_jpeg(100, 100))  # the untouched form still works
    assert posted.status_code == 204, posted.text
    alice.wait_final(upload_id(form), timeout_s=10)


def test_more_bytes_than_the_limit_are_refused(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    alice = users[0]
    assert start_upload(alice, b"x" * (LIMIT + 1), "big.jpg", "image/jpeg").status_code == 413
    before = stored_files(small_server.data_dir)
    form = new_form(alice)["upload"]
    # Within the Content-Length allowance for form overhead: the streamed size check refuses.
    refused(small_server, post_form(form, b"\xff" * (LIMIT + 1)), 413, before, "limit")
    # Far over: refused from Content-Length before reading the body.
    refused(small_server, post_form(form, b"\xff" * (LIMIT * 4)), 413, before, "limit")
    assert post_form(form, make_jpeg(200, 200)).status_code == 204  # the form is still usable
    alice.wait_final(upload_id(form), timeout_s=10)


def test_chunked_body_without_length_is_still_limited(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    form = new_form(users[0])["upload"]
    before = stored_files(small_server.data_dir)
    request = httpx.Request(
        "POST",
        form["url"],
        data=form["fields"],
        files={"file": ("f.jpg", b"\xff" * (LIMIT * 3), "image/jpeg")},
    )
    body, ctype = request.read(), request.headers["content-type"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    got = httpx.post(form["url"], content=chunks(), headers={"content-type": ctype})
    assert "content-length" not in got.request.headers
    refused(small_server, got, 413, before, "limit")


def test_a_used_form_cannot_be_used_again(
    small_server: ServerProcess, users: tuple[ApiUser, ApiUser]
) -> None:
    alice = users[0]
    upload = new_form(alice)
    first = make_jpeg(120, 90, seed=1)
    assert post_form(upload["upload"], first).status_code == 204
    alice.wait_final(upload["imageId"], timeout_s=10)  # thumbnails made before the snapshot
    before = stored_files(small_server.data_dir)
    again = post_form(upload["upload"], make_jpeg(120, 90, seed=2))
    refused(small_server, again, 403, before, "already used")
    stored = small_server.data_dir / "blobs" / upload["originalKey"]
    assert stored.read_bytes() == first


def test_an_expired_form_is_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"IMGDROP_UPLOAD_EXPIRES_S": "1"}).start()
    user = new_user(server, "late")
    try:
        form = new_form(user)["upload"]
        before = stored_files(server.data_dir)
        time.sleep(1.05)  # the policy's expiration is whole seconds: at most 1 s away
        refused(server, post_form(form, make_jpeg(100, 100)), 403, before, "expired")
        # In time: accepted. A 1 s form expires at a whole second, so it may have as little as
        # a few ms left when issued (as on S3); a refusal then must be a real expiry.
        for _ in range(5):
            fresh = new_form(user)["upload"]
            status = post_form(fresh, make_jpeg(100, 100)).status_code
            if status == 204:
                break
            assert status == 403 and time.time() >= policy_expiration(fresh), status
        assert status == 204
    finally:
        user.client.close()
        server.stop()
