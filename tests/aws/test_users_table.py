"""Accounts live in their own table; the sweeper's sparse index; moving an old stack's users."""

from __future__ import annotations

from typing import Any

import pytest
from awsstack import AwsStack, client, make_jpeg
from test_http_api_aws import function_url_event
from test_lambda_handler import s3_event, upload
from tests.aio import run_async

from imgdrop import aws_lambda
from imgdrop.adapters.aws import migrate_users
from imgdrop.adapters.aws.dynamo_catalog import STALE_INDEX
from imgdrop.adapters.aws.dynamo_users import DynamoUsers
from imgdrop.core.records import PROCESSING, ImageItem
from imgdrop.settings import SettingsError
from imgdrop.wiring import Runtime, build

PASSWORD = "correct horse battery staple"


def partition_keys(stack: AwsStack, table: str) -> set[str]:
    """Every userId stored in a table (the images table's per-user usage counters aside:
    they are image bookkeeping, not auth data)."""
    rows = client("dynamodb", stack.url).scan(TableName=table)["Items"]
    return {r["userId"]["S"] for r in rows} - {"usage#u1"}


def index_rows(stack: AwsStack) -> list[dict[str, Any]]:
    """What the sweeper's sparse index holds."""
    return client("dynamodb", stack.url).scan(TableName=stack.table, IndexName=STALE_INDEX)["Items"]


def web(method: str, path: str, body: dict[str, Any] | None = None) -> int:
    """One Function URL request through the web handler; its status."""
    return int(aws_lambda.web_handler(function_url_event(method, path, body), None)["statusCode"])


def test_accounts_and_sessions_never_touch_the_images_table(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    creds = {"username": "Alice", "password": PASSWORD}
    assert web("POST", "/api/signup", creds) == 201
    assert web("POST", "/api/login", {**creds, "password": "wrong password here"}) == 401
    assert web("POST", "/api/login", creds) == 200
    upload(lambda_runtime, make_jpeg(64, 64))
    assert partition_keys(stack, stack.table) == {"u1"}
    kinds = {k.split("#")[0] for k in partition_keys(stack, stack.users_table)}
    assert {"user", "session"} <= kinds  # a success clears the failed sign-in's row


def test_the_web_runtime_needs_the_users_table(stack: AwsStack) -> None:
    with pytest.raises(SettingsError, match="IMGDROP_USERS_TABLE"):
        build(stack.settings(users_table=""))


def test_only_processing_items_are_in_the_sparse_index(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    done = upload(lambda_runtime, make_jpeg(64, 64))
    waiting = lambda_runtime.images.request_upload("u1", "w.jpg", "image/jpeg", 10).item
    assert {r["imageId"]["S"] for r in index_rows(stack)} == {done.imageId, waiting.imageId}
    aws_lambda.handler(s3_event(stack.bucket, done.originalKey), None)
    assert {r["imageId"]["S"] for r in index_rows(stack)} == {waiting.imageId}
    catalog = lambda_runtime.images.catalog
    assert catalog.list_stale_processing(waiting.updatedAt, 10) == []
    [stale] = catalog.list_stale_processing(waiting.updatedAt + 1, 10)
    assert (stale.imageId, stale.originalKey, stale.status) == (
        waiting.imageId,
        waiting.originalKey,
        PROCESSING,
    )


def test_stale_items_come_oldest_first_across_shards(lambda_runtime: Runtime) -> None:
    images = lambda_runtime.images
    clock = iter(range(1_700_000_000_000, 1_700_000_000_000 + 40_000, 1000))
    images.clock = lambda: next(clock)
    made = [images.request_upload("u1", f"{i}.jpg", "image/jpeg", 10).item for i in range(12)]
    found = images.catalog.list_stale_processing(made[-1].updatedAt + 1, 5)
    assert [i.imageId for i in found] == [i.imageId for i in made[:5]]


def test_a_duplicate_delivery_to_a_done_item_is_no_attempt(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    item = upload(lambda_runtime, make_jpeg(64, 64))
    event = s3_event(stack.bucket, item.originalKey)
    aws_lambda.handler(event, None)
    for _ in range(3):
        assert aws_lambda.handler(event, None) == {"processed": {item.originalKey: "done"}}
    assert lambda_runtime.images.get_image("u1", item.imageId).attempts == 1


def old_stack_rows(stack: AwsStack, rt: Runtime) -> ImageItem:
    """What a stack from before the users table holds: auth rows in the images table, and a
    processing item without the sparse-index attributes."""
    old_users = DynamoUsers(rt.users.db, stack.table)  # type: ignore[attr-defined]
    old = type(rt.accounts)(old_users, rt.images.clock, rt.settings, b"k" * 32)
    run_async(old.signup("carol", PASSWORD, "127.0.0.1"))
    run_async(old.login("carol", PASSWORD, "127.0.0.1"))
    item = rt.images.request_upload("u1", "old.jpg", "image/jpeg", 10).item
    client("dynamodb", stack.url).update_item(
        TableName=stack.table,
        Key={"userId": {"S": "u1"}, "imageId": {"S": item.imageId}},
        UpdateExpression="REMOVE processingShard, processingSince",
    )
    return item


def test_migration_moves_accounts_and_indexes_old_items(
    stack: AwsStack, lambda_runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    item = old_stack_rows(stack, lambda_runtime)
    moved_rows = len(partition_keys(stack, stack.table)) - 1  # all but the image's partition
    assert moved_rows >= 3  # the account, its id lookup, the session (and its listing)
    assert web("POST", "/api/signup", {"username": "dave", "password": PASSWORD}) == 201
    assert index_rows(stack) == []
    carol = {"username": "carol", "password": PASSWORD}
    assert web("POST", "/api/login", carol) == 401  # before the move, carol is unknown
    argv = ["--images-table", stack.table, "--users-table", stack.users_table]
    argv += ["--endpoint-url", stack.url, "--region", "us-east-1"]
    assert migrate_users.main(argv) == 0
    assert "moved " in capsys.readouterr().out
    assert partition_keys(stack, stack.table) == {"u1"}
    assert web("POST", "/api/login", carol) == 200
    assert web("POST", "/api/login", {"username": "dave", "password": PASSWORD}) == 200
    assert [r["imageId"]["S"] for r in index_rows(stack)] == [item.imageId]
    assert migrate_users.main(argv) == 0  # idempotent
    assert "moved 0 rows" in capsys.readouterr().out


def test_migration_keeps_a_row_the_new_table_already_has(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    dynamodb = client("dynamodb", stack.url)
    key = {"userId": {"S": "login#erin"}, "imageId": {"S": "#login"}}
    dynamodb.put_item(TableName=stack.table, Item={**key, "body": {"S": "old"}})
    dynamodb.put_item(TableName=stack.users_table, Item={**key, "body": {"S": "new"}})
    report = migrate_users.migrate(dynamodb, stack.table, stack.users_table)
    assert (report.moved, report.already_there) == (0, 1)
    assert dynamodb.get_item(TableName=stack.users_table, Key=key)["Item"]["body"] == {"S": "new"}
    assert "Item" not in dynamodb.get_item(TableName=stack.table, Key=key)
