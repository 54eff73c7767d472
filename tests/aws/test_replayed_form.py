"""A replayed form cannot swap bytes: the S3 policy pins the content's SHA-256, and the
thumbnail handler detects an original replaced after its thumbnails were made."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import httpx
import pytest
from awsstack import AwsStack, make_jpeg
from test_lambda_handler import s3_event, upload

from imgdrop import aws_lambda
from imgdrop.adapters.aws.clients import aws_clients
from imgdrop.adapters.aws.s3_blobs import S3BlobStore
from imgdrop.core.errors import InvalidRequest
from imgdrop.wiring import Runtime


def policy(fields: dict[str, str]) -> dict[str, Any]:
    """The signed POST policy document of a form."""
    return dict(json.loads(base64.b64decode(fields["policy"])))


def test_the_policy_pins_the_content_sha256(stack: AwsStack) -> None:
    s3, _ = aws_clients(stack.settings())
    data = make_jpeg(64, 64)
    digest = hashlib.sha256(data).hexdigest()
    form = S3BlobStore(s3, stack.bucket).upload_form(
        "uploads/u1/x.jpg", "image/jpeg", len(data), 600, sha256=digest
    )
    b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert form.fields["x-amz-checksum-sha256"] == b64
    assert form.fields["x-amz-checksum-algorithm"] == "SHA256"
    conditions = policy(form.fields)["conditions"]
    assert {"x-amz-checksum-sha256": b64} in conditions
    assert {"x-amz-checksum-algorithm": "SHA256"} in conditions
    assert {"key": "uploads/u1/x.jpg"} in conditions
    assert ["content-length-range", 1, len(data)] in conditions


def test_without_a_digest_the_policy_has_no_checksum(stack: AwsStack) -> None:
    s3, _ = aws_clients(stack.settings())
    form = S3BlobStore(s3, stack.bucket).upload_form("uploads/u1/y.jpg", "image/jpeg", 10, 600)
    assert not any("checksum" in k for k in form.fields)
    assert "checksum" not in json.dumps(policy(form.fields))


@pytest.mark.parametrize("bad", ["abc", "z" * 64, "00" * 31])
def test_a_malformed_digest_is_refused(stack: AwsStack, bad: str) -> None:
    s3, _ = aws_clients(stack.settings())
    with pytest.raises(InvalidRequest, match="64 hexadecimal"):
        S3BlobStore(s3, stack.bucket).upload_form("uploads/u1/z.jpg", "image/jpeg", 9, 60, bad)


def test_handler_detects_an_original_replaced_after_processing(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    stream = io.StringIO()
    aws_lambda.configure_logging("info", stream)
    first = make_jpeg(120, 80, seed=1)
    ticket = lambda_runtime.images.request_upload("u1", "a.jpg", "image/jpeg", len(first))
    item = ticket.item
    post = {"url": ticket.form.url, "data": ticket.form.fields}
    assert httpx.post(**post, files={"file": ("a.jpg", first, "image/jpeg")}).status_code == 204
    events = [e for e in stack.s3_events() if "Records" in e]
    assert aws_lambda.handler(events[0], None) == {"processed": {item.originalKey: "done"}}
    # moto does not enforce POST policies: the replay with other bytes goes through here,
    # as it would on S3 with a form that carries no SHA-256.
    other = make_jpeg(120, 80, seed=2)
    assert httpx.post(**post, files={"file": ("a.jpg", other, "image/jpeg")}).status_code == 204
    replay = [e for e in stack.s3_events() if "Records" in e]
    assert aws_lambda.handler(replay[0], None) == {"processed": {item.originalKey: "replaced"}}
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert any(x["message"] == "original replaced after its thumbnails were made" for x in lines)
    assert lambda_runtime.images.get_image("u1", item.imageId).status == "done"


def test_a_duplicate_delivery_is_not_a_replacement(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    item = upload(lambda_runtime, make_jpeg(100, 60))
    event = s3_event(stack.bucket, item.originalKey)
    assert aws_lambda.handler(event, None) == {"processed": {item.originalKey: "done"}}
    assert aws_lambda.handler(event, None) == {"processed": {item.originalKey: "done"}}
