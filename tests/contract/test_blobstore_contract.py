"""BlobStore contract: FilesystemBlobStore and S3BlobStore behave the same."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from imgdrop.adapters.aws.s3_blobs import S3BlobStore
from imgdrop.core.errors import NotFound
from imgdrop.ports import UploadForm

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


def fetch(store: Any, url: str) -> tuple[bytes, str]:
    """GET a download URL; (body, served content type)."""
    if isinstance(store, S3BlobStore):
        response = httpx.get(url)
        assert response.status_code == 200, response.text
        return response.content, response.headers["content-type"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    key = unquote(parts.path.split(f"/_blobs/{store.bucket}/", 1)[1])
    path = store.open_download(key, int(query["exp"]), query["ct"], query["sig"])
    return path.read_bytes(), query["ct"]


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
