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
from imgdrop.core.records import DONE, FAILED, PROCESSING, DoneUpdate, ImageItem, Page


class SqliteCatalog:
    """The Catalog port on a SQLite table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_item(self, item: ImageItem) -> None:
        """Insert; Conflict if the id exists."""
        with self.db.tx() as conn:
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

    def _transition(self, user_id: str, image_id: str, changes: dict[str, object]) -> None:
        """processing -> final, as one conditional write (the DynamoDB ConditionExpression)."""
        with self.db.tx() as conn:
            body = _body(conn, user_id, image_id)
            if body["status"] != PROCESSING:
                raise AlreadyDone(f"image is already {body['status']}")
            body.update({k: v for k, v in changes.items() if v is not None})
            conn.execute(
                "UPDATE images SET status = ?, updatedAt = ?, body = ? "
                "WHERE userId = ? AND imageId = ?",
                (body["status"], body["updatedAt"], json.dumps(body), user_id, image_id),
            )

    def mark_done(self, user_id: str, image_id: str, update: DoneUpdate) -> None:
        """processing -> done with the thumbnail keys and image facts."""
        self._transition(user_id, image_id, {**asdict(update), "status": DONE})

    def mark_failed(self, user_id: str, image_id: str, error: str, now_ms: int) -> None:
        """processing -> failed with a reason."""
        self._transition(user_id, image_id, {"status": FAILED, "error": error, "updatedAt": now_ms})

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


def _body(conn: sqlite3.Connection, user_id: str, image_id: str) -> dict[str, Any]:
    """The stored item as a dict (in or out of a transaction); NotFound if absent."""
    row = conn.execute(
        "SELECT body FROM images WHERE userId = ? AND imageId = ?", (user_id, image_id)
    ).fetchone()
    if row is None:
        raise NotFound("no such image")
    body: dict[str, Any] = json.loads(row["body"])
    return body
