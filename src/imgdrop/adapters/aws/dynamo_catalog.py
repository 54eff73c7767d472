"""DynamoCatalog: image items in one DynamoDB table (userId S / imageId S), newest first.

Single-table design: an image item's partition key is the owner's userId (`[A-Za-z0-9_-]+`);
accounts, sessions and sign-in throttling live in the same table under partition keys that
contain `#` (see dynamo_users.py), so they can never collide with a user's images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from imgdrop.adapters.aws.clients import CONDITION_FAILED, domain_errors, error_code
from imgdrop.adapters.aws.dynamo_codec import from_attributes, to_attributes, value
from imgdrop.adapters.aws.dynamo_users import DynamoUsers
from imgdrop.core.errors import AlreadyDone, Conflict, NotFound
from imgdrop.core.keys import decode_cursor, encode_cursor
from imgdrop.core.records import DONE, FAILED, PROCESSING, DoneUpdate, ImageItem, Page

# `status` is a DynamoDB reserved word: every expression names it through #status.
IS_PROCESSING = "attribute_exists(userId) AND #status = :processing"


class DynamoCatalog:
    """The Catalog port on a DynamoDB table, through an injected low-level client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def _key(self, user_id: str, image_id: str) -> dict[str, Any]:
        return {"userId": {"S": user_id}, "imageId": {"S": image_id}}

    def create_item(self, item: ImageItem) -> None:
        """PutItem unless the key exists (Conflict)."""
        try:
            with domain_errors("image"):
                self.db.put_item(
                    TableName=self.table,
                    Item=to_attributes(item.to_dict()),
                    ConditionExpression="attribute_not_exists(userId)",
                )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise Conflict("image id exists") from None
            raise

    def get_item(self, user_id: str, image_id: str) -> ImageItem:
        """Strongly consistent GetItem (the worker must see the item the web app just wrote)."""
        with domain_errors("image"):
            found = self.db.get_item(
                TableName=self.table, Key=self._key(user_id, image_id), ConsistentRead=True
            ).get("Item")
        if not found:
            raise NotFound("no such image")
        return ImageItem.from_dict(from_attributes(found))

    def list_items(self, user_id: str, limit: int, cursor: str | None) -> Page:
        """Query newest first. The cursor carries only an imageId: the start key is rebuilt
        with the caller's own userId, so a cursor can never reach another user's partition."""
        start = self._key(user_id, decode_cursor(cursor)) if cursor else None
        rows: list[dict[str, Any]] = []
        while len(rows) <= limit:
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "userId = :u",
                "ExpressionAttributeValues": {":u": {"S": user_id}},
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(rows),
            }
            if start:
                request["ExclusiveStartKey"] = start
            with domain_errors("images"):
                response = self.db.query(**request)
            rows.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        items = [ImageItem.from_dict(from_attributes(r)) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].imageId) if more and items else None)

    def _transition(self, user_id: str, image_id: str, changes: dict[str, Any]) -> None:
        """processing -> final as one conditional UpdateItem; AlreadyDone / NotFound otherwise."""
        changes = {k: v for k, v in changes.items() if v is not None}
        names = {"#status": "status", **{f"#{k}": k for k in changes if k != "status"}}
        values = {
            ":processing": value(PROCESSING),
            **{f":{k}": value(v) for k, v in changes.items()},
        }
        sets = ", ".join(f"{'#status' if k == 'status' else '#' + k} = :{k}" for k in changes)
        try:
            with domain_errors("image"):
                self.db.update_item(
                    TableName=self.table,
                    Key=self._key(user_id, image_id),
                    UpdateExpression=f"SET {sets}",
                    ConditionExpression=IS_PROCESSING,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if old is None:
                # Not every DynamoDB-compatible server returns the old item: ask.
                self.get_item(user_id, image_id)  # raises NotFound
                raise AlreadyDone("image is no longer processing") from None
            raise AlreadyDone(f"image is already {from_attributes(old).get('status')}") from None

    def mark_done(self, user_id: str, image_id: str, update: DoneUpdate) -> None:
        """processing -> done with the thumbnail keys and image facts."""
        self._transition(user_id, image_id, {**asdict(update), "status": DONE})

    def mark_failed(self, user_id: str, image_id: str, error: str, now_ms: int) -> None:
        """processing -> failed with a reason."""
        self._transition(user_id, image_id, {"status": FAILED, "error": error, "updatedAt": now_ms})

    def add_attempt(self, user_id: str, image_id: str, now_ms: int) -> int:
        """ADD attempts 1 (atomic); NotFound if the item is gone."""
        try:
            with domain_errors("image"):
                response = self.db.update_item(
                    TableName=self.table,
                    Key=self._key(user_id, image_id),
                    UpdateExpression="ADD attempts :one",
                    ConditionExpression="attribute_exists(userId)",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="UPDATED_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise NotFound("no such image") from None
            raise
        return int(from_attributes(response["Attributes"])["attempts"])

    def delete_item(self, user_id: str, image_id: str) -> None:
        """DeleteItem; missing is fine."""
        with domain_errors("image"):
            self.db.delete_item(TableName=self.table, Key=self._key(user_id, image_id))

    def list_stale_processing(self, older_than_ms: int, limit: int) -> Sequence[ImageItem]:
        """Scan with a filter. Only the sweeper calls this (rarely); a Scan reads the whole
        table, which is cheap at small scale. At large scale add a sparse GSI on
        `processingSince` instead."""
        found: list[ImageItem] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "#status = :processing AND updatedAt < :cutoff",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":processing": value(PROCESSING),
                ":cutoff": value(older_than_ms),
            },
        }
        while True:
            with domain_errors("images"):
                response = self.db.scan(**request)
            found.extend(ImageItem.from_dict(from_attributes(r)) for r in response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda i: i.updatedAt)[:limit]


__all__ = ["DynamoCatalog", "DynamoUsers"]
