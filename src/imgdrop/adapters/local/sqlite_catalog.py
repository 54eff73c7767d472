"""SqliteCatalog: image items in SQLite, newest first by imageId (a ULID)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from imgdrop.adapters.local.database import Database
from imgdrop.core.errors import AlreadyDone, Conflict, NotFound
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

# One pass over the user's rows (primary-key prefix): what check_quota compares with limits.
USAGE_SQL = f"""
SELECT
  coalesce(sum(pending), 0) AS pending,
  coalesce(sum(pending * size), 0) AS pending_bytes,
  coalesce(sum(kept), 0) AS items,
  coalesce(sum(kept * size), 0) AS bytes
FROM (
  SELECT
    (status = 'processing' AND json_extract(body, '$.receivedAt') IS NULL) AS pending,
    (coalesce(json_extract(body, '$.errorCode'), '') NOT IN
        ({", ".join(f"'{c}'" for c in WITHOUT_BYTES)})) AS kept,
    coalesce(json_extract(body, '$.bytes'), 0) AS size
  FROM images WHERE userId = ?
)
"""


class SqliteCatalog:
    """The Catalog port on a SQLite table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_item(self, item: ImageItem, quota: UploadQuota | None = None) -> None:
        """Insert; Conflict if the id exists; a quota is checked in the same transaction."""
        with self.db.tx() as conn:
            if quota is not None:
                quota.enforce(_usage(conn, item.userId), item.bytes)
            cur = conn.execute(
                "INSERT OR IGNORE INTO images (userId, imageId, status, updatedAt, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    item.userId,
                    item.imageId,
                    item.status,
                    item.updatedAt,
                    json.dumps(item.to_dict()),
                ),
            )
            if cur.rowcount == 0:
                raise Conflict("image id exists")

    def get_item(self, user_id: str, image_id: str) -> ImageItem:
        """One item; NotFound if absent or another user's."""
        return ImageItem.from_dict(_body(self.db.conn(), user_id, image_id))

    def list_items(self, user_id: str, limit: int, cursor: str | None) -> Page:
        """Newest first, `limit` at a time."""
        after = decode_cursor(cursor) if cursor else "\U0010ffff"
        rows = (
            self.db.conn()
            .execute(
                "SELECT imageId, body FROM images WHERE userId = ? AND imageId < ? "
                "ORDER BY imageId DESC LIMIT ?",
                (user_id, after, limit + 1),
            )
            .fetchall()
        )
        items = [ImageItem.from_dict(json.loads(r["body"])) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].imageId) if more and items else None)

    def _transition(
        self, user_id: str, image_id: str, changes: dict[str, object], unreceived: bool = False
    ) -> None:
        """processing -> final, as one conditional write (the DynamoDB ConditionExpression)."""
        with self.db.tx() as conn:
            body = _body(conn, user_id, image_id)
            if body["status"] != PROCESSING:
                raise AlreadyDone(f"image is already {body['status']}")
            if unreceived and body.get("receivedAt") is not None:
                raise AlreadyDone("the image's file has already arrived")
            body.update({k: v for k, v in changes.items() if v is not None})
            conn.execute(
                "UPDATE images SET status = ?, updatedAt = ?, body = ? "
                "WHERE userId = ? AND imageId = ?",
                (body["status"], body["updatedAt"], json.dumps(body), user_id, image_id),
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
        self._transition(
            user_id,
            image_id,
            {"status": FAILED, "error": error, "errorCode": error_code, "updatedAt": now_ms},
        )

    def mark_received(self, user_id: str, image_id: str, now_ms: int) -> None:
        """Record that the bytes arrived: only once, only while processing (else AlreadyDone)."""
        self._transition(user_id, image_id, {"receivedAt": now_ms}, unreceived=True)

    def settle_unreceived(
        self, user_id: str, image_id: str, error: str, error_code: str, now_ms: int
    ) -> None:
        """processing and no bytes yet -> failed; AlreadyDone if final or received."""
        changes = {"status": FAILED, "error": error, "errorCode": error_code, "updatedAt": now_ms}
        self._transition(user_id, image_id, changes, unreceived=True)

    def find_by_sha256(self, user_id: str, sha256: str) -> ImageItem | None:
        """The user's newest item (not failed) with this content hash."""
        row = (
            self.db.conn()
            .execute(
                "SELECT body FROM images WHERE userId = ? AND status != 'failed' "
                "AND json_extract(body, '$.sha256') = ? ORDER BY imageId DESC LIMIT 1",
                (user_id, sha256),
            )
            .fetchone()
        )
        return ImageItem.from_dict(json.loads(row["body"])) if row else None

    def usage(self, user_id: str) -> Usage:
        """The user's pending forms and stored items, counted now."""
        return _usage(self.db.conn(), user_id)

    def add_attempt(self, user_id: str, image_id: str, now_ms: int) -> int:
        """One more processing attempt of a processing item; returns the count."""
        with self.db.tx() as conn:
            body = _body(conn, user_id, image_id)
            body["attempts"] = int(body.get("attempts", 0)) + 1
            conn.execute(
                "UPDATE images SET body = ? WHERE userId = ? AND imageId = ?",
                (json.dumps(body), user_id, image_id),
            )
            return int(body["attempts"])

    def delete_item(self, user_id: str, image_id: str) -> None:
        """Remove; missing is fine."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM images WHERE userId = ? AND imageId = ?", (user_id, image_id))

    def list_stale_processing(self, older_than_ms: int, limit: int) -> Sequence[ImageItem]:
        """Items processing since before `older_than_ms`."""
        rows = (
            self.db.conn()
            .execute(
                "SELECT body FROM images WHERE status = 'processing' AND updatedAt < ? "
                "ORDER BY updatedAt LIMIT ?",
                (older_than_ms, limit),
            )
            .fetchall()
        )
        return [ImageItem.from_dict(json.loads(r["body"])) for r in rows]


def _usage(conn: sqlite3.Connection, user_id: str) -> Usage:
    row = conn.execute(USAGE_SQL, (user_id,)).fetchone()
    return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _body(conn: sqlite3.Connection, user_id: str, image_id: str) -> dict[str, Any]:
    """The stored item as a dict (in or out of a transaction); NotFound if absent."""
    row = conn.execute(
        "SELECT body FROM images WHERE userId = ? AND imageId = ?", (user_id, image_id)
    ).fetchone()
    if row is None:
        raise NotFound("no such image")
    body: dict[str, Any] = json.loads(row["body"])
    return body
