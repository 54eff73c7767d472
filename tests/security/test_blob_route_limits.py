"""Issue 9 point 1 (the local blob-store form route): only known fields, bounded counts and
sizes, chunked bodies counted as they stream; the SHA-256 pin; nothing kept on refusal."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user, post_form, start_upload, stored_files, tree_rss
from tests.security.rawhttp import send_chunked, send_cut_off

BOUNDARY = "imgdropboundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"
THREE_GIB = 3 * 2**30
MAX_GROWTH = 50 * 2**20


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    """One multipart part."""
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def form_body(fields: dict[str, str], data: bytes) -> bytes:
    """A whole form: fields, then the file, then the closing boundary."""
    parts = [part(k, v.encode()) for k, v in fields.items()]
    return b"".join(parts) + part("file", data, "f.jpg") + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def alice(shared_server: ServerProcess) -> Iterator[ApiUser]:
    """A user of the shared server."""
    user = new_user(shared_server, "alice-limits")
    yield user
    user.client.close()


def new_form(user: ApiUser, data: bytes, **extra: Any) -> dict[str, Any]:
    """A fresh upload form for `data`."""
    answer = user.client.post(
        "/api/uploads",
        json={"filename": "f.jpg", "contentType": "image/jpeg", "size": len(data), **extra},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def temp_files(server: ServerProcess) -> list[Path]:
    """Temp files under the blob store."""
    return list((server.data_dir / "blobs" / ".tmp").glob("*"))


def assert_error(answer: httpx.Response | Any, status: int, word: str) -> None:
    """A readable JSON refusal."""
    body = answer.json() if isinstance(answer, httpx.Response) else answer.body
    code = answer.status_code if isinstance(answer, httpx.Response) else answer.status
    assert code == status, (code, body)
    assert word in body["error"]["message"], body


def test_unknown_field_names_are_refused(alice: ApiUser) -> None:
    data = make_jpeg(64, 64)
    form = new_form(alice, data)
    answer = post_form(form["upload"], data, fields={"x-evil": "1"})
    assert_error(answer, 400, "unknown field")


def test_a_field_sent_twice_is_refused(alice: ApiUser) -> None:
    data = make_jpeg(64, 64)
    fields = new_form(alice, data)["upload"]["fields"]
    body = b"".join(part(k, v.encode()) for k, v in fields.items()) + part("key", b"other")
    body += part("file", data, "f.jpg") + f"--{BOUNDARY}--\r\n".encode()
    url = new_form(alice, data)["upload"]["url"]
    answer = httpx.post(url, content=body, headers={"Content-Type": CTYPE})
    assert_error(answer, 400, "twice")


def test_an_oversized_field_is_refused(alice: ApiUser) -> None:
    data = make_jpeg(64, 64)
    form = new_form(alice, data)
    answer = post_form(form["upload"], data, fields={"policy": "A" * 9000})
    assert_error(answer, 413, "over 8192 bytes")


def chunked_attack(kind: str) -> Iterator[bytes]:
    """3 GiB in 64 KiB chunks: many small fields, one endless field, endless junk, or an
    endless part header."""
    chunk = 64 * 1024
    if kind == "many_fields":
        one = part("key", b"x")
        unit = one * (chunk // len(one))
    elif kind == "endless_field":
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="policy"\r\n\r\n'.encode()
        unit = b"A" * chunk
    elif kind == "endless_header":
        yield f"--{BOUNDARY}\r\nX-Long: ".encode()
        unit = b"h" * chunk
    else:  # junk before any boundary
        unit = b"j" * chunk
    for _ in range(THREE_GIB // len(unit)):
        yield unit


@pytest.mark.parametrize("kind", ["many_fields", "endless_field", "endless_header", "junk"])
def test_three_gib_chunked_bodies_are_refused_early(
    shared_server: ServerProcess, alice: ApiUser, kind: str
) -> None:
    """No Content-Length: the route counts streamed bytes; memory does not grow."""
    pid = shared_server.proc.pid  # type: ignore[union-attr]
    url = f"{shared_server.url}/_blobs/local"
    before = tree_rss(pid)
    result = send_chunked(url, CTYPE, chunked_attack(kind))
    after = tree_rss(pid)
    print(
        f"\n{kind}: {result.status} after {result.sent} body bytes in {result.seconds:.2f} s; "
        f"tree RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MB"
    )
    assert result.status in {400, 413}, result
    assert result.body and result.body["error"]["message"], result
    assert result.sent < 8 * 2**20, result.sent  # refused long before 3 GiB
    assert after - before < MAX_GROWTH, (before, after)
    assert not temp_files(shared_server)


def test_a_chunked_file_over_the_declared_size_is_cut_off(
    shared_server: ServerProcess, alice: ApiUser
) -> None:
    """The declared size caps the file even without Content-Length; nothing is kept."""
    data = make_jpeg(200, 200)
    form = new_form(alice, data)
    head = form_body(form["upload"]["fields"], b"")[: -len(f"\r\n--{BOUNDARY}--\r\n")]

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(THREE_GIB // 65536):
            yield b"\xff" * 65536

    result = send_chunked(form["upload"]["url"], CTYPE, body())
    assert result.status == 413 and result.sent < 8 * 2**20, result
    assert not temp_files(shared_server)
    assert form["originalKey"] not in stored_files(shared_server.data_dir)


def test_a_client_cut_off_mid_file_leaves_no_temp_file(
    shared_server: ServerProcess, alice: ApiUser
) -> None:
    """M3: ten cut-off posts leave nothing under the data dir; the form still works after."""
    data = make_jpeg(1200, 900, seed=3)
    form = new_form(alice, data)
    body = form_body(form["upload"]["fields"], data)
    for _ in range(10):
        send_cut_off(form["upload"]["url"], CTYPE, body, keep=len(body) // 2)
    deadline = time.monotonic() + 5
    while temp_files(shared_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not temp_files(shared_server)
    assert form["originalKey"] not in stored_files(shared_server.data_dir)
    assert post_form(form["upload"], data).status_code == 204
    assert alice.wait_final(form["imageId"], 30)["status"] == "done"


def test_bytes_that_differ_from_the_declared_sha256_are_refused(
    shared_server: ServerProcess, alice: ApiUser
) -> None:
    """The store checks the pinned SHA-256: other bytes get 400 and nothing is kept; the
    right bytes then go through."""
    data = make_jpeg(300, 200, seed=11)
    form = new_form(alice, data, sha256=hashlib.sha256(data).hexdigest())
    assert "x-amz-checksum-sha256" in form["upload"]["fields"]
    other = make_jpeg(300, 200, seed=12)[: len(data)]
    answer = post_form(form["upload"], other)
    assert_error(answer, 400, "SHA-256")
    assert form["originalKey"] not in stored_files(shared_server.data_dir)
    assert not temp_files(shared_server)
    # The pin cannot be dropped or swapped: it is part of the signed policy.
    fake = hashlib.sha256(other).digest()
    import base64

    swapped = post_form(
        form["upload"], other, fields={"x-amz-checksum-sha256": base64.b64encode(fake).decode()}
    )
    assert swapped.status_code == 403, swapped.text
    assert post_form(form["upload"], data).status_code == 204
    assert alice.wait_final(form["imageId"], 30)["status"] == "done"


def test_a_bad_sha256_in_the_request_is_refused(alice: ApiUser) -> None:
    data = make_jpeg(64, 64)
    answer = start_upload(alice, data, "f.jpg", "image/jpeg")
    assert answer.status_code == 201
    for bad in ("A" * 64, "z" * 64, "ab"):
        refused = alice.client.post(
            "/api/uploads",
            json={"filename": "f.jpg", "contentType": "image/jpeg", "size": 10, "sha256": bad},
        )
        assert refused.status_code == 400, refused.text
        assert "sha256" in refused.json()["error"]["message"]
