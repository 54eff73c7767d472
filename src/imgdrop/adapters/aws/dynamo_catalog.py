"""DynamoCatalog: image items in the images table (userId S / imageId S), newest first.

The table holds image items only; accounts, sessions and sign-in throttling live in their own
table (dynamo_users.py) that the image-processing functions cannot reach.

The sweeper's index is sparse: only a `processing` item carries `processingShard` and
`processingSince` (written at creation, removed by the UpdateItem that settles it), so the
index `processing-since` holds exactly the items the sweeper looks for and it never scans.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from imgdrop.adapters.aws.clients import CONDITION_FAILED, domain_errors, error_code
from imgdrop.adapters.aws.dynamo_codec import from_attributes, to_attributes, value
from imgdrop.adapters.aws.dynamo_users import DynamoUsers
from imgdrop.core.errors import AlreadyDone, Conflict, NotFound, PendingQuotaExceeded
from imgdrop.core.keys import decode_cursor, encode_cursor
from imgdrop.core.records import (
    DONE,
    FAILED,
    PROCESSING,
    PROCESSING_FAILED,
    WITHOUT_BYTES,
    DoneUpdate,
    ImageItem,
    Page,
    UploadQuota,
    Usage,
)

# `status` is a DynamoDB reserved word: every expression names it through #status.
IS_PROCESSING = "attribute_exists(userId) AND #status = :processing"
UNRECEIVED = " AND attribute_not_exists(receivedAt)"
# Per-user usage counters live in one item per user (a real userId never contains `#`); a
# conditional ADD keeps parallel requests from walking past a quota.
USAGE_FIELDS = ("pendingForms", "pendingBytes", "imageCount", "storedBytes")
WITHIN = " AND ".join(f"(attribute_not_exists({f}) OR {f} <= :max_{f})" for f in USAGE_FIELDS)
STALE_INDEX = "processing-since"
SHARD, SINCE = "processingShard", "processingSince"
# Index writes of a burst of uploads spread over this many index partitions; the sweeper
# queries each (4 Queries every 15 minutes).
STALE_SHARDS = 4
# Settling an item drops it from the sparse index.
LEAVE_INDEX = f" REMOVE #{SHARD}, #{SINCE}"


def stale_marks(item: ImageItem) -> dict[str, int]:
    """The sparse-index attributes of a new `processing` item (none for any other status)."""
    if item.status != PROCESSING:
        return {}
    return {SHARD: zlib.crc32(item.imageId.encode()) % STALE_SHARDS, SINCE: item.updatedAt}


class DynamoCatalog:
    """The Catalog port on a DynamoDB table, through an injected low-level client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def _key(self, user_id: str, image_id: str) -> dict[str, Any]:
        return {"userId": {"S": user_id}, "imageId": {"S": image_id}}

    def create_item(self, item: ImageItem, quota: UploadQuota | None = None) -> None:
        """Count the item in the user's usage (conditionally, under `quota`), then PutItem
        unless the key exists (Conflict, and the count is given back)."""
        delta = (1, item.bytes, 1, item.bytes)
        self._add_usage(item.userId, delta, quota)
        try:
            with domain_errors("image"):
                self.db.put_item(
                    TableName=self.table,
                    Item=to_attributes({**item.to_dict(), **stale_marks(item)}),
                    ConditionExpression="attribute_not_exists(userId)",
                )
        except ClientError as exc:
            self._add_usage(item.userId, tuple(-d for d in delta))
            if error_code(exc) == CONDITION_FAILED:
                raise Conflict("image id exists") from None
            raise

    def _usage_key(self, user_id: str) -> dict[str, Any]:
        return self._key(f"usage#{user_id}", "#usage")

    def _add_usage(
        self, user_id: str, delta: tuple[int, ...], quota: UploadQuota | None = None
    ) -> None:
        """ADD `delta` to the usage counters; with a quota, only if the result stays within."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._usage_key(user_id),
            "UpdateExpression": "ADD " + ", ".join(f"{f} :d_{f}" for f in USAGE_FIELDS),
            "ExpressionAttributeValues": {
                f":d_{f}": value(d) for f, d in zip(USAGE_FIELDS, delta, strict=True)
            },
        }
        if quota is not None:
            quota.enforce(Usage(), delta[1])  # one file alone over a limit
            limits = (quota.max_pending, quota.max_pending_bytes, quota.max_items, quota.max_bytes)
            for f, limit, d in zip(USAGE_FIELDS, limits, delta, strict=True):
                request["ExpressionAttributeValues"][f":max_{f}"] = value(limit - d)
            request["ConditionExpression"] = WITHIN
        try:
            with domain_errors("usage"):
                self.db.update_item(**request)
        except ClientError as exc:
            if quota is None or error_code(exc) != CONDITION_FAILED:
                raise
            quota.enforce(self.usage(user_id), delta[1])
            raise PendingQuotaExceeded("Too many uploads at once; try again.", 1) from None

    def usage(self, user_id: str) -> Usage:
        """The user's counters (strongly consistent)."""
        with domain_errors("usage"):
            found = self.db.get_item(
                TableName=self.table, Key=self._usage_key(user_id), ConsistentRead=True
            ).get("Item")
        got = from_attributes(found) if found else {}
        return Usage(*(max(0, int(got.get(f, 0))) for f in USAGE_FIELDS))

    def _release_usage(self, old: dict[str, Any], pending: bool, kept: bool) -> None:
        """Give back what an item stopped holding (a pending form, stored bytes)."""
        size, p, k = int(old.get("bytes", 0)), int(pending), int(kept)
        delta = (-p, -p * size, -k, -k * size)
        if any(delta):
            self._add_usage(str(old["userId"]), delta)

    def find_by_sha256(self, user_id: str, sha256: str) -> ImageItem | None:
        """The user's newest item (not failed) with this content hash (a filtered Query)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "userId = :u",
            "FilterExpression": "sha256 = :h AND #status <> :failed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":u": value(user_id),
                ":h": value(sha256),
                ":failed": value(FAILED),
            },
            "ScanIndexForward": False,
        }
        while True:
            with domain_errors("images"):
                response = self.db.query(**request)
            if response.get("Items"):
                return ImageItem.from_dict(from_attributes(response["Items"][0]))
            if "LastEvaluatedKey" not in response:
                return None
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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

    def _transition(
        self, user_id: str, image_id: str, changes: dict[str, Any], unreceived: bool = False
    ) -> None:
        """processing -> final as one conditional UpdateItem; AlreadyDone / NotFound otherwise."""
        changes = {k: v for k, v in changes.items() if v is not None}
        names = {"#status": "status", **{f"#{k}": k for k in changes if k != "status"}}
        leave = ""
        if "status" in changes:  # settled: it leaves the sweeper's sparse index
            leave = LEAVE_INDEX
            names.update({f"#{SHARD}": SHARD, f"#{SINCE}": SINCE})
        values = {
            ":processing": value(PROCESSING),
            **{f":{k}": value(v) for k, v in changes.items()},
        }
        sets = ", ".join(f"{'#status' if k == 'status' else '#' + k} = :{k}" for k in changes)
        try:
            with domain_errors("image"):
                response = self.db.update_item(
                    TableName=self.table,
                    Key=self._key(user_id, image_id),
                    UpdateExpression=f"SET {sets}{leave}",
                    ConditionExpression=IS_PROCESSING + (UNRECEIVED if unreceived else ""),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD",
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
        # Every transition ends the item's wait for its file; one settled without bytes also
        # stops holding storage. The condition above makes this run once per item.
        before = from_attributes(response["Attributes"])
        self._release_usage(
            before, "receivedAt" not in before, changes.get("errorCode") in WITHOUT_BYTES
        )

    def mark_done(self, user_id: str, image_id: str, update: DoneUpdate) -> None:
        """processing -> done with the thumbnail keys and image facts."""
        self._transition(user_id, image_id, {**asdict(update), "status": DONE})

    def mark_failed(
        self,
        user_id: str,
        image_id: str,
        error: str,
        now_ms: int,
        error_code: str = PROCESSING_FAILED,
    ) -> None:
        """processing -> failed with a reason."""
        changes = {"status": FAILED, "error": error, "errorCode": error_code, "updatedAt": now_ms}
        self._transition(user_id, image_id, changes)

    def mark_received(self, user_id: str, image_id: str, now_ms: int) -> None:
        """Record that the bytes arrived: only once, only while processing (else AlreadyDone)."""
        self._transition(user_id, image_id, {"receivedAt": now_ms}, unreceived=True)

    def settle_unreceived(
        self, user_id: str, image_id: str, error: str, error_code: str, now_ms: int
    ) -> None:
        """processing and no bytes yet -> failed; AlreadyDone if final or received."""
        changes = {"status": FAILED, "error": error, "errorCode": error_code, "updatedAt": now_ms}
        self._transition(user_id, image_id, changes, unreceived=True)

    def add_attempt(self, user_id: str, image_id: str, now_ms: int) -> int:
        """ADD attempts 1 (atomic) while `processing`; a settled item's count stays as it is
        (a duplicate delivery to a done item is no attempt). NotFound if the item is gone."""
        try:
            with domain_errors("image"):
                response = self.db.update_item(
                    TableName=self.table,
                    Key=self._key(user_id, image_id),
                    UpdateExpression="ADD attempts :one",
                    ConditionExpression=IS_PROCESSING,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":processing": value(PROCESSING),
                    },
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if old is None:  # gone, or a server that does not return the old item: ask
                return self.get_item(user_id, image_id).attempts
            return int(from_attributes(old).get("attempts", 0))
        return int(from_attributes(response["Attributes"])["attempts"])

    def record_original_etag(self, user_id: str, image_id: str, etag: str) -> str:
        """Remember the ETag of the original a `done` item's thumbnails were made from (the
        first one recorded wins); returns the recorded ETag ("" if the item is gone)."""
        try:
            with domain_errors("image"):
                self.db.update_item(
                    TableName=self.table,
                    Key=self._key(user_id, image_id),
                    UpdateExpression="SET originalETag = :etag",
                    ConditionExpression="attribute_exists(userId) AND "
                    "attribute_not_exists(originalETag)",
                    ExpressionAttributeValues={":etag": value(etag)},
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            return self.original_etag(user_id, image_id)
        return etag

    def original_etag(self, user_id: str, image_id: str) -> str:
        """The recorded ETag of the processed original ("" if none)."""
        with domain_errors("image"):
            found = self.db.get_item(
                TableName=self.table,
                Key=self._key(user_id, image_id),
                ProjectionExpression="originalETag",
                ConsistentRead=True,
            ).get("Item")
        return str(from_attributes(found or {}).get("originalETag", ""))

    def delete_item(self, user_id: str, image_id: str) -> None:
        """DeleteItem (missing is fine), then give back what the item held."""
        with domain_errors("image"):
            old = self.db.delete_item(
                TableName=self.table, Key=self._key(user_id, image_id), ReturnValues="ALL_OLD"
            ).get("Attributes")
        if old:
            item = from_attributes(old)
            pending = item.get("status") == PROCESSING and "receivedAt" not in item
            self._release_usage(item, pending, item.get("errorCode") not in WITHOUT_BYTES)

    def list_stale_processing(self, older_than_ms: int, limit: int) -> Sequence[ImageItem]:
        """Oldest first, through the sparse index (a Query per shard, never a Scan).

        The index projects only what the sweeper reads (keys, originalKey, status, createdAt,
        updatedAt); it calls get_item before it processes anything.
        """
        shards = [self._stale_in_shard(s, older_than_ms, limit) for s in range(STALE_SHARDS)]
        merged = heapq.merge(*shards, key=lambda i: (i.updatedAt, i.imageId))
        return list(merged)[:limit]

    def _stale_in_shard(self, shard: int, older_than_ms: int, limit: int) -> list[ImageItem]:
        """Up to `limit` items of one index shard, processing since before the cutoff."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": STALE_INDEX,
            "KeyConditionExpression": f"#{SHARD} = :shard AND #{SINCE} < :cutoff",
            "ExpressionAttributeNames": {f"#{SHARD}": SHARD, f"#{SINCE}": SINCE},
            "ExpressionAttributeValues": {":shard": value(shard), ":cutoff": value(older_than_ms)},
            "ScanIndexForward": True,
        }
        found: list[ImageItem] = []
        while len(found) < limit:
            request["Limit"] = limit - len(found)
            with domain_errors("images"):
                response = self.db.query(**request)
            rows = (from_attributes(r) for r in response.get("Items", []))
            # An index is eventually consistent: skip a row whose item just settled.
            found.extend(ImageItem.from_dict(r) for r in rows if r.get("status") == PROCESSING)
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found


__all__ = ["DynamoCatalog", "DynamoUsers"]
