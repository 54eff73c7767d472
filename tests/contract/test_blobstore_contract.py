"""BlobStore contract: FilesystemBlobStore and S3BlobStore behave the same."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.aio import run_async

from imgdrop.adapters.aws.s3_blobs import S3BlobStore
from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore
from imgdrop.core.errors import ImgdropError, NotFound
from imgdrop.core.links import link_window
from imgdrop.ports import UploadForm
from imgdrop.web import blob_routes

KEY = "uploads/u1/01JDQ0000000000000000000AB-cat.jpg"


def post_form(store: Any, form: UploadForm, data: bytes, content_type: str) -> None:
    """Send the file the way a browser would (S3) or the app's /_blobs route does (local)."""
    if isinstance(store, S3BlobStore):
        response = httpx.post(
            form.url, data=form.fields, files={"file": ("cat.jpg", data, content_type)}
        )
        assert response.status_code in (200, 201, 204), response.text
        return
    posted = store.begin_post(form.fields)
    posted.write(data)
    posted.commit(form.fields["Content-Type"])


def get_url(store: Any, url: str) -> httpx.Response:
    """GET a download URL: from S3 itself, or through the app's real `/_blobs` route (local)."""
    if isinstance(store, S3BlobStore):
        return httpx.get(url)
    app = FastAPI()
    app.state.runtime = SimpleNamespace(blobs=store)  # all the GET route reads
    app.include_router(blob_routes.router)

    @app.exception_handler(ImgdropError)
    async def as_status(request: Request, exc: ImgdropError) -> JSONResponse:
        return JSONResponse({"error": exc.code}, exc.http_status)

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.get(url)

    return run_async(get(), timeout=60)


def fetch(store: Any, url: str) -> tuple[bytes, str]:
    """GET a download URL; (body, content type the server actually sent)."""
    response = get_url(store, url)
    assert response.status_code == 200, response.text
    return response.content, response.headers["content-type"]


def policy_conditions(form: UploadForm) -> tuple[dict[str, Any], set[tuple[Any, ...]]]:
    """The decoded policy and its conditions normalised to ("eq", field, value) / ranges."""
    doc = json.loads(base64.b64decode(form.fields["policy"]))
    found: set[tuple[Any, ...]] = set()
    for cond in doc["conditions"]:
        if isinstance(cond, dict):
            found.update(("eq", k.lower(), v) for k, v in cond.items())
        elif cond[0] == "content-length-range":
            found.add(tuple(cond))
        else:
            found.add((cond[0], cond[1].lstrip("$").lower(), cond[2]))
    return doc, found


def test_put_get_exists_delete(blobs: Any) -> None:
    blobs.put("thumbnails/200/a.jpg", b"\xff\xd8data", "image/jpeg")
    assert blobs.get("thumbnails/200/a.jpg") == b"\xff\xd8data"
    assert blobs.exists("thumbnails/200/a.jpg")
    blobs.put("thumbnails/200/a.jpg", b"replaced", "image/jpeg")
    assert blobs.get("thumbnails/200/a.jpg") == b"replaced"
    blobs.delete("thumbnails/200/a.jpg")
    assert not blobs.exists("thumbnails/200/a.jpg")
    blobs.delete("thumbnails/200/a.jpg")  # idempotent


def test_missing_object_is_not_found(blobs: Any) -> None:
    with pytest.raises(NotFound):
        blobs.get("uploads/u1/missing.jpg")
    assert not blobs.exists("uploads/u1/missing.jpg")


def test_upload_form_pins_key_type_size_and_expiry(blobs: Any) -> None:
    before = time.time()
    form = blobs.upload_form(KEY, "image/jpeg", 5000, 300)
    doc, conditions = policy_conditions(form)
    assert form.fields["key"] == KEY
    assert form.fields["Content-Type"] == "image/jpeg"
    assert ("eq", "key", KEY) in conditions
    assert ("eq", "content-type", "image/jpeg") in conditions
    assert ("content-length-range", 1, 5000) in conditions
    assert not any(c[0] == "starts-with" for c in conditions)
    expires = datetime.fromisoformat(doc["expiration"].replace("Z", "+00:00"))
    assert before + 298 <= expires.timestamp() <= time.time() + 301


def test_posted_form_stores_the_object(blobs: Any) -> None:
    form = blobs.upload_form(KEY, "image/jpeg", 5000, 300)
    post_form(blobs, form, b"\xff\xd8\xffjpeg-bytes", "image/jpeg")
    assert blobs.get(KEY) == b"\xff\xd8\xffjpeg-bytes"


def test_download_url_serves_bytes_with_pinned_type(blobs: Any) -> None:
    blobs.put("uploads/u1/x.png", b"\x89PNGbytes", "application/octet-stream")
    url = blobs.download_url("uploads/u1/x.png", 120, "image/png")
    body, served = fetch(blobs, url)
    assert body == b"\x89PNGbytes"
    assert served == "image/png"


def url_expiry(store: Any, url: str) -> int:
    """When a download URL stops working (local `exp`; S3 X-Amz-Date + X-Amz-Expires)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if isinstance(store, S3BlobStore):
        signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return int(signed.timestamp()) + int(query["X-Amz-Expires"])
    return int(query["exp"])


def test_download_urls_repeat_within_a_window_and_say_how_long_to_cache(blobs: Any) -> None:
    blobs.put("thumbnails/200/x.png", b"\x89PNGbytes", "image/png")
    lifetime, window = 120, 60
    for _ in range(2):  # a pair that straddles a window boundary is legitimately different
        before = link_window(time.time(), lifetime, window)
        first = blobs.download_url("thumbnails/200/x.png", lifetime, "image/png")
        second = blobs.download_url("thumbnails/200/x.png", lifetime, "image/png")
        if link_window(time.time(), lifetime, window) == before:
            break
    assert first == second
    now = time.time()
    assert now + lifetime - window - 5 <= url_expiry(blobs, first) <= now + lifetime
    response = get_url(blobs, first)
    assert response.status_code == 200 and response.content == b"\x89PNGbytes"
    cache = response.headers["cache-control"]
    assert cache.startswith("private, max-age=") and "immutable" in cache
    max_age = int(cache.split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= url_expiry(blobs, first) - int(now) + 1  # never outlives the URL


def test_local_download_type_cannot_be_changed_by_the_client(tmp_path: Path) -> None:
    """Local store only: moto does not check presigned-URL signatures (real S3 does)."""
    store = FilesystemBlobStore(tmp_path / "blobs", b"contract-secret", "http://testserver")
    store.put("uploads/u1/x.png", b"\x89PNGbytes", "application/octet-stream")
    url = store.download_url("uploads/u1/x.png", 120, "image/png")
    assert "ct=image%2Fpng" in url and get_url(store, url).status_code == 200
    tampered = get_url(store, url.replace("ct=image%2Fpng", "ct=image%2Fgif"))
    assert tampered.status_code == 403, tampered.text
    assert not tampered.content.startswith(b"\x89PNG")
