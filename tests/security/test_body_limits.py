"""Every request body is bounded before it is read (issue 9, point 1), against a real server."""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import ServerProcess
from tests.security.conftest import new_user, post_form, start_upload, tree_rss

GiB = 1024**3
LIMIT = 64 * 1024  # the default IMGDROP_MAX_BODY_BYTES
CHUNK = b"a" * (256 * 1024)


def body_stream(total: int, sent: list[int]) -> Iterator[bytes]:
    """`total` bytes of a JSON-looking body, made on the fly (never held), counting what left."""
    yield b'{"username": "'
    while sent[0] < total:
        sent[0] += len(CHUNK)
        yield CHUNK


def noisy_jpeg(width: int = 800, height: int = 600) -> bytes:
    """A seeded noise JPEG: noise does not compress, so the file is several times the limit."""
    noise = random.Random(9).randbytes(width * height * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(buf, "JPEG", quality=95)
    return buf.getvalue()


class PeakRss:
    """Samples the server tree's RSS in a thread; `.peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = tree_rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


def assert_too_large(response: httpx.Response) -> None:
    """413, the readable JSON error naming the limit, and the connection closed."""
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["message"] == f"The request body is too large; the limit is {LIMIT} bytes."
    assert response.headers["connection"] == "close"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_2_gib_login_body_is_refused_without_the_server_growing(
    shared_server: ServerProcess, declared: bool
) -> None:
    assert shared_server.proc is not None
    pid = shared_server.proc.pid
    for _ in range(3):  # warm up: the first requests allocate what every request needs
        httpx.post(f"{shared_server.url}/api/login", json={"username": "x", "password": "y"})
    before = tree_rss(pid)
    sent = [0]
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(2 * GiB)
    started = time.monotonic()
    with PeakRss(pid) as rss:
        response = httpx.post(
            f"{shared_server.url}/api/login",
            content=body_stream(2 * GiB, sent),
            headers=headers,
            timeout=60,
        )
    took = time.monotonic() - started
    assert_too_large(response)
    growth_mb = (rss.peak - before) / 1e6
    assert growth_mb < 50, f"server tree grew {growth_mb:.1f} MB"
    # The server stopped reading: the client did not get to push anything like 2 GiB.
    assert sent[0] < 256 * 1024 * 1024, f"{sent[0]} bytes were sent before the refusal"
    assert took < 20
    # And it still serves everyone else.
    assert httpx.get(f"{shared_server.url}/api/config").status_code == 200


def test_just_under_the_limit_reaches_the_route_and_one_byte_over_does_not(
    shared_server: ServerProcess,
) -> None:
    url = f"{shared_server.url}/api/login"
    pad = "p" * LIMIT
    under = json.dumps({"username": "nobody", "password": "x", "pad": ""}).encode()
    under = under[:-2] + pad[: LIMIT - len(under)].encode() + b'"}'
    assert len(under) == LIMIT
    answered = httpx.post(url, content=under, headers={"content-type": "application/json"})
    assert answered.status_code == 401, answered.text  # the route ran: wrong credentials
    over = under[:-2] + b'p"}'
    assert_too_large(httpx.post(url, content=over, headers={"content-type": "application/json"}))


ROUTES = [
    ("POST", "/api/signup", 413),
    ("POST", "/api/login", 413),
    ("POST", "/api/uploads", 413),  # the body is read (and refused) before sign-in is checked
    ("DELETE", "/api/images/01HZZZZZZZZZZZZZZZZZZZZZZZ", 401),
    ("GET", "/api/config", 200),
    ("POST", "/signin", 405),
    ("POST", "/no/such/route", 404),
]


@pytest.mark.parametrize("method, path, unread_status", ROUTES)
def test_every_route_but_the_blob_form_refuses_a_declared_oversize_body(
    shared_server: ServerProcess, method: str, path: str, unread_status: int
) -> None:
    big = b"x" * (LIMIT + 1)
    assert_too_large(httpx.request(method, f"{shared_server.url}{path}", content=big))


@pytest.mark.parametrize("method, path, unread_status", ROUTES)
def test_a_chunked_oversize_body_is_refused_where_it_is_read(
    shared_server: ServerProcess, method: str, path: str, unread_status: int
) -> None:
    big = b"x" * (LIMIT + 1)
    chunks = iter([big[:1000], big[1000:]])
    response = httpx.request(method, f"{shared_server.url}{path}", content=chunks, timeout=30)
    if unread_status == 413:
        assert_too_large(response)
    else:
        # A route that never reads its body gives its own answer; the unread rest of the
        # body is discarded as it arrives, never held.
        assert response.status_code == unread_status, response.text
    assert httpx.get(f"{shared_server.url}/api/config").status_code == 200


def test_the_blob_form_route_takes_files_far_over_the_json_limit(
    shared_server: ServerProcess,
) -> None:
    user = new_user(shared_server, "bigfile")
    try:
        photo = noisy_jpeg()
        assert len(photo) > 4 * LIMIT
        created = start_upload(user, photo, "big.jpg", "image/jpeg")
        assert created.status_code == 201, created.text
        posted = post_form(created.json()["upload"], photo, "big.jpg")
        assert posted.status_code == 204, posted.text
        assert user.wait_final(created.json()["imageId"])["status"] == "done"
    finally:
        user.client.close()


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"IMGDROP_MAX_BODY_BYTES": "1000"}).start()
    try:
        url = f"{server.url}/api/login"
        small = httpx.post(url, json={"username": "a", "password": "b" * 900})
        assert small.status_code == 401
        big = httpx.post(url, json={"username": "a", "password": "b" * 1000})
        assert big.status_code == 413
        assert big.json()["error"]["message"].endswith("the limit is 1000 bytes.")
    finally:
        server.stop()
    assert "Traceback" not in server.log()
