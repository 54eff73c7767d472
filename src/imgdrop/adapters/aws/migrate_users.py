"""Move a stack's accounts out of the images table: `python -m imgdrop.adapters.aws.migrate_users`.

Stacks deployed before the users table kept accounts, sessions and sign-in throttling rows in
the images table (partition keys `user#…`, `session#…`, `login#…`). This copies each such row
unchanged into the users table (same key schema) and then deletes it from the images table. A
row already present in the users table (written by the new web app since the deploy) wins and
is left alone. Items still `processing` gain the sweeper's sparse-index attributes. Idempotent:
running it again moves what is left and changes nothing else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from imgdrop.adapters.aws.clients import CONDITION_FAILED, error_code
from imgdrop.adapters.aws.dynamo_catalog import SHARD, SINCE, stale_marks
from imgdrop.adapters.aws.dynamo_codec import from_attributes, value
from imgdrop.core.records import PROCESSING, ImageItem

AUTH_PREFIXES = ("user#", "uid#", "session#", "sessions#", "login#")


@dataclass
class MigrationReport:
    """What one run did."""

    moved: int = 0
    already_there: int = 0
    indexed: int = 0


def _scan(dynamodb: Any, table: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item of a filtered Scan, page by page."""
    request["TableName"] = table
    while True:
        page = dynamodb.scan(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def auth_rows(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    """Rows of the images table that belong in the users table."""
    names = [f":p{i}" for i in range(len(AUTH_PREFIXES))]
    yield from _scan(
        dynamodb,
        table,
        FilterExpression=" OR ".join(f"begins_with(userId, {n})" for n in names),
        ExpressionAttributeValues={n: {"S": p} for n, p in zip(names, AUTH_PREFIXES, strict=True)},
    )


def move_row(dynamodb: Any, row: dict[str, Any], source: str, target: str) -> bool:
    """Copy one row unless the target has it; then delete it from the source. True if copied."""
    copied = True
    try:
        dynamodb.put_item(
            TableName=target, Item=row, ConditionExpression="attribute_not_exists(userId)"
        )
    except ClientError as exc:
        if error_code(exc) != CONDITION_FAILED:
            raise
        copied = False
    key = {"userId": row["userId"], "imageId": row["imageId"]}
    dynamodb.delete_item(TableName=source, Key=key)
    return copied


def index_processing_items(dynamodb: Any, table: str) -> int:
    """Give `processing` items created before the sparse index its attributes; the count."""
    done = 0
    for row in _scan(
        dynamodb,
        table,
        FilterExpression="#status = :processing AND attribute_not_exists(#shard)",
        ExpressionAttributeNames={"#status": "status", "#shard": SHARD},
        ExpressionAttributeValues={":processing": value(PROCESSING)},
    ):
        marks = stale_marks(ImageItem.from_dict(from_attributes(row)))
        try:
            dynamodb.update_item(
                TableName=table,
                Key={"userId": row["userId"], "imageId": row["imageId"]},
                UpdateExpression="SET #shard = :shard, #since = :since",
                ConditionExpression="#status = :processing",
                ExpressionAttributeNames={"#status": "status", "#shard": SHARD, "#since": SINCE},
                ExpressionAttributeValues={
                    ":processing": value(PROCESSING),
                    ":shard": value(marks[SHARD]),
                    ":since": value(marks[SINCE]),
                },
            )
            done += 1
        except ClientError as exc:  # settled meanwhile: it no longer belongs in the index
            if error_code(exc) != CONDITION_FAILED:
                raise
    return done


def migrate(dynamodb: Any, images_table: str, users_table: str) -> MigrationReport:
    """Move every auth row from the images table to the users table; index stale candidates."""
    report = MigrationReport()
    for row in auth_rows(dynamodb, images_table):
        if move_row(dynamodb, row, images_table, users_table):
            report.moved += 1
        else:
            report.already_there += 1
    report.indexed = index_processing_items(dynamodb, images_table)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: --images-table T --users-table U [--region R] [--endpoint-url URL]."""
    parser = argparse.ArgumentParser(
        prog="python -m imgdrop.adapters.aws.migrate_users", description=__doc__
    )
    parser.add_argument("--images-table", required=True, help="the stack's TableName output")
    parser.add_argument("--users-table", required=True, help="the stack's UsersTableName output")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS config's)")
    parser.add_argument("--endpoint-url", default=None, help="a DynamoDB-compatible endpoint")
    args = parser.parse_args(argv)
    dynamodb = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    try:
        report = migrate(dynamodb, args.images_table, args.users_table)
    except (ClientError, BotoCoreError) as exc:
        print(f"migrate_users: {exc}", file=sys.stderr)
        return 1
    print(
        f"moved {report.moved} rows to {args.users_table}, kept {report.already_there} "
        f"it already had; indexed {report.indexed} items still processing"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
