"""The S3-event Lambda handler over the AWS adapters, on moto: the whole upload path."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from awsstack import AwsStack, client, make_jpeg

from imgdrop import aws_lambda
from imgdrop.core.errors import TransientError
from imgdrop.wiring import Runtime


def upload(
    rt: Runtime, data: bytes, name: str = "My cat.jpg", user: str = "u1", kind: str = "image/jpeg"
) -> Any:
    """request_upload, then POST the bytes to the bucket with the presigned form."""
    ticket = rt.images.request_upload(user, name, kind, len(data))
    response = httpx.post(
        ticket.form.url, data=ticket.form.fields, files={"file": (name, data, kind)}
    )
    assert response.status_code == 204, response.text
    return ticket.item


def s3_event(bucket: str, key: str, name: str = "ObjectCreated:Post") -> dict[str, Any]:
    """The event S3 sends, key URL-encoded."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": name,
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": 1}},
            }
        ]
    }


def test_presigned_post_notification_handler_done(stack: AwsStack, lambda_runtime: Runtime) -> None:
    item = upload(lambda_runtime, make_jpeg())
    events = stack.s3_events()
    assert any("Records" in e for e in events), events
    for event in events:  # an s3:TestEvent may come first: the handler ignores it
        aws_lambda.handler(event, None)
    got = lambda_runtime.images.get_image("u1", item.imageId)
    assert got.status == "done" and (got.width, got.height) == (800, 600)
    s3 = client("s3", stack.url)
    for key, width in ((got.thumb200Key, 200), (got.thumb400Key, 400)):
        body = s3.get_object(Bucket=stack.bucket, Key=key)
        assert body["ContentType"] == "image/jpeg"
        from PIL import Image

        assert Image.open(io.BytesIO(body["Body"].read())).size[0] == width
    urls = lambda_runtime.images.image_urls(got)
    assert urls is not None
    served = httpx.get(urls["thumb200"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"


def test_bad_image_ends_failed_and_returns(stack: AwsStack, lambda_runtime: Runtime) -> None:
    item = upload(lambda_runtime, b"\xff\xd8\xff this is not a jpeg at all")
    result = aws_lambda.handler(s3_event(stack.bucket, item.originalKey), None)
    assert result == {"processed": {item.originalKey: "failed"}}
    got = lambda_runtime.images.get_image("u1", item.imageId)
    assert got.status == "failed" and got.error


def test_duplicate_deliveries_give_one_result(stack: AwsStack, lambda_runtime: Runtime) -> None:
    item = upload(lambda_runtime, make_jpeg(300, 200))
    event = s3_event(stack.bucket, item.originalKey)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: aws_lambda.handler(event, None), range(8)))
    assert all(r == {"processed": {item.originalKey: "done"}} for r in results)
    got = lambda_runtime.images.get_image("u1", item.imageId)
    assert got.status == "done" and got.attempts == 8
    assert aws_lambda.handler(event, None) == {"processed": {item.originalKey: "done"}}


def test_test_events_and_other_records_are_ignored(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    item = upload(lambda_runtime, make_jpeg(300, 200))
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.bucket}
    assert aws_lambda.handler(test_event, None) == {"processed": {}}
    removed = s3_event(stack.bucket, item.originalKey, "ObjectRemoved:Delete")
    assert aws_lambda.handler(removed, None) == {"processed": {}}
    assert lambda_runtime.images.get_image("u1", item.imageId).status == "processing"


def test_object_uploaded_outside_the_app_is_ignored(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    key = "uploads/u1/01JDQ0000000000000000000AB-sneaky photo.jpg"
    client("s3", stack.url).put_object(Bucket=stack.bucket, Key=key, Body=make_jpeg(64, 64))
    assert aws_lambda.handler(s3_event(stack.bucket, key), None) == {"processed": {key: "ignored"}}
    listed = client("s3", stack.url).list_objects_v2(Bucket=stack.bucket, Prefix="thumbnails/")
    assert listed.get("KeyCount") == 0


def test_transient_error_retries_then_fails_on_last_attempt(
    stack: AwsStack, lambda_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = upload(lambda_runtime, make_jpeg(300, 200))

    def unavailable(*_: Any) -> Any:
        raise TransientError("S3 is unavailable")

    monkeypatch.setattr(lambda_runtime.images, "engine", unavailable)
    event = s3_event(stack.bucket, item.originalKey)
    for _ in range(2):  # Lambda retries what raises
        with pytest.raises(TransientError):
            aws_lambda.handler(event, None)
        assert lambda_runtime.images.get_image("u1", item.imageId).status == "processing"
    assert aws_lambda.handler(event, None) == {"processed": {item.originalKey: "failed"}}
    got = lambda_runtime.images.get_image("u1", item.imageId)
    assert got.status == "failed" and "gave up after 3 attempts" in (got.error or "")


def test_on_failure_queue_handler_marks_failed(stack: AwsStack, lambda_runtime: Runtime) -> None:
    item = upload(lambda_runtime, make_jpeg(300, 200))
    record = {
        "requestContext": {"condition": "RetriesExhausted"},
        "responsePayload": {"errorType": "Sandbox.Timedout"},
        "requestPayload": s3_event(stack.bucket, item.originalKey),
    }
    result = aws_lambda.failure_handler({"Records": [{"body": json.dumps(record)}]}, None)
    assert result == {"failed": [item.originalKey]}
    got = lambda_runtime.images.get_image("u1", item.imageId)
    assert got.status == "failed" and "RetriesExhausted" in (got.error or "")


def test_logs_are_one_json_object_per_line(stack: AwsStack, lambda_runtime: Runtime) -> None:
    stream = io.StringIO()
    aws_lambda.configure_logging("info", stream)
    item = upload(lambda_runtime, make_jpeg(300, 200))

    class Context:
        aws_request_id = "req-1"

    aws_lambda.handler(s3_event(stack.bucket, item.originalKey), Context())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    processed = [e for e in lines if e["message"] == "processed"]
    assert processed and processed[0]["key"] == item.originalKey
    assert processed[0]["status"] == "done" and processed[0]["aws_request_id"] == "req-1"
    assert {"time", "level", "logger"} <= processed[0].keys()


def test_sweeper_processes_a_missed_upload_and_fails_an_unused_form(
    stack: AwsStack, lambda_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    missed = upload(lambda_runtime, make_jpeg(300, 200))  # its S3 event is never handled
    unused = lambda_runtime.images.request_upload("u1", "never.jpg", "image/jpeg", 10).item
    images = lambda_runtime.images
    # Seen from 20 minutes later: both are stale and the unused form has expired.
    later = images.clock() + 20 * 60 * 1000
    monkeypatch.setattr(images, "clock", lambda: later)
    result = aws_lambda.sweep_handler({"source": "aws.events"}, None)
    assert result == {"swept": {missed.originalKey: "done"}}
    assert images.get_image("u1", missed.imageId).status == "done"
    failed = images.get_image("u1", unused.imageId)
    assert failed.status == "failed" and "never arrived" in (failed.error or "")
    assert aws_lambda.sweep_handler({}, None) == {"swept": {}}
