"""BlobStore contract, integrity: every store takes `sha256` when it makes a form; the local
store pins it in the signed policy and refuses other bytes, keeping nothing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from tests.contract.test_blobstore_contract import KEY, policy_conditions, post_form

from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore
from imgdrop.core.errors import Forbidden, InvalidRequest

DATA = b"\xff\xd8\xffjpeg-bytes-to-pin"
SHA = hashlib.sha256(DATA).hexdigest()


def test_a_form_with_sha256_stores_the_matching_bytes(blobs: Any) -> None:
    form = blobs.upload_form(KEY, "image/jpeg", 5000, 300, sha256=SHA)
    post_form(blobs, form, DATA, "image/jpeg")
    assert blobs.get(KEY) == DATA


def test_the_local_store_pins_the_sha256_and_refuses_other_bytes(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs", b"secret", "http://testserver")
    form = store.upload_form(KEY, "image/jpeg", 5000, 300, sha256=SHA)
    pinned = base64.b64encode(bytes.fromhex(SHA)).decode()
    assert form.fields["x-amz-checksum-sha256"] == pinned
    assert ("eq", "x-amz-checksum-sha256", pinned) in policy_conditions(form)[1]
    posted = store.begin_post(form.fields)
    posted.write(DATA[:-1] + b"!")
    with pytest.raises(InvalidRequest) as raised:
        posted.commit("image/jpeg")
    assert "SHA-256" in raised.value.message
    assert not store.exists(KEY) and list(store.tmp.iterdir()) == []
    dropped = {k: v for k, v in form.fields.items() if k != "x-amz-checksum-sha256"}
    with pytest.raises(Forbidden):
        store.begin_post(dropped)  # the pin is signed: it cannot be left out
    post_form(store, form, DATA, "image/jpeg")
    assert store.get(KEY) == DATA
