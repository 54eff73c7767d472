"""AWS errors become domain errors at the adapter edge."""

from __future__ import annotations

import socket

import pytest
from awsstack import AwsStack
from botocore.exceptions import ClientError

from imgdrop.adapters.aws.clients import aws_clients, domain_errors, error_code
from imgdrop.adapters.aws.dynamo_catalog import DynamoCatalog, DynamoUsers
from imgdrop.adapters.aws.s3_blobs import S3BlobStore
from imgdrop.core import keys
from imgdrop.core.errors import NotFound, TransientError
from imgdrop.wiring import build


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_is_transient(stack: AwsStack) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    s3, dynamodb = aws_clients(stack.settings(s3_endpoint_url=dead, dynamodb_endpoint_url=dead))
    with pytest.raises(TransientError):
        S3BlobStore(s3, stack.bucket).get("uploads/u1/x.jpg")
    with pytest.raises(TransientError):
        DynamoCatalog(dynamodb, stack.table).get_item("u1", "01JDQ0000000000000000000AB")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TransientError),
        ("ProvisionedThroughputExceededException", 400, TransientError),
        ("InternalError", 500, TransientError),
        ("SlowDown", 503, TransientError),
        ("NoSuchKey", 404, NotFound),
        ("404", 404, NotFound),  # HeadObject of a missing key (no error body)
        ("ResourceNotFoundException", 400, ClientError),  # DynamoDB: the table is missing
    ],
)
def test_client_errors_map_to_domain_errors(
    code: str, status: int, expected: type[Exception]
) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )
    with pytest.raises(expected), domain_errors("object"):
        raise error


def test_other_client_errors_propagate_unchanged() -> None:
    error = ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "GetObject",
    )
    with pytest.raises(ClientError), domain_errors("object"):
        raise error


def test_a_missing_table_is_misconfiguration_not_a_missing_item(stack: AwsStack) -> None:
    """ResourceNotFoundException names the table: it propagates instead of reading as NotFound
    (which process_upload would log and ignore as "no catalog item")."""
    missing = stack.table + "-missing"
    _, dynamodb = aws_clients(stack.settings())
    image_id = keys.new_image_id(1_700_000_000_000)
    calls = [
        lambda: DynamoCatalog(dynamodb, missing).get_item("u1", image_id),
        lambda: DynamoCatalog(dynamodb, missing).add_attempt("u1", image_id, 0),
        lambda: DynamoUsers(dynamodb, missing).get_user_by_name("alice"),
        lambda: build(stack.settings(dynamodb_table=missing)).images.process_upload(
            keys.original_key("u1", image_id, "a.jpg")
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert error_code(caught.value) == "ResourceNotFoundException"
