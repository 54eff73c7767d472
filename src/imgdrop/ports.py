"""The ports: small Protocols that every backend (local or AWS) implements.

Adapters are named technology + port (`FilesystemBlobStore`, `S3BlobStore`, `SqliteCatalog`,
`DynamoCatalog`); one contract suite in tests/contract runs against each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from imgdrop.core.records import DoneUpdate, ImageItem, Page, Session, UploadQuota, Usage, User
from imgdrop.core.throttle import Admission, Backoff


@dataclass(frozen=True)
class UploadForm:
    """A presigned-POST style form: POST `fields` then `file` (multipart) to `url`."""

    url: str
    fields: dict[str, str]


class BlobStore(Protocol):
    """Object storage for originals and thumbnails."""

    bucket: str

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` at `key` (atomically: readers see all of it or nothing)."""

    def get(self, key: str) -> bytes:
        """The object's bytes; raises NotFound."""

    def exists(self, key: str) -> bool:
        """True if an object is stored at `key`."""

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error (deletes are idempotent)."""

    def upload_form(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_s: int,
        sha256: str | None = None,
    ) -> UploadForm:
        """A form that lets a client POST exactly one object: this key, type, size, until expiry;
        with `sha256` (hex), only bytes with that SHA-256 are stored."""

    def download_url(self, key: str, expires_s: int, content_type: str) -> str:
        """A short-lived signed GET URL that serves the object with `content_type` pinned."""


class Catalog(Protocol):
    """Image items, partitioned by user, sorted by imageId (time-ordered)."""

    def create_item(self, item: ImageItem, quota: UploadQuota | None = None) -> None:
        """Insert a new item; raises Conflict if (userId, imageId) exists. With `quota`, raises
        QuotaExceeded / PendingQuotaExceeded instead when the user's usage would break it,
        atomically with the insert (parallel requests cannot walk past it)."""

    def usage(self, user_id: str) -> Usage:
        """The user's pending forms (not yet received) and stored items and bytes."""

    def find_by_sha256(self, user_id: str, sha256: str) -> ImageItem | None:
        """The user's newest item that is not failed and has this content hash."""

    def get_item(self, user_id: str, image_id: str) -> ImageItem:
        """One item of this user; raises NotFound (also for another user's id)."""

    def list_items(self, user_id: str, limit: int, cursor: str | None) -> Page:
        """Newest first; `cursor` is the opaque `next_cursor` of the previous page."""

    def mark_done(self, user_id: str, image_id: str, update: DoneUpdate) -> None:
        """processing -> done, conditionally; raises AlreadyDone / NotFound otherwise."""

    def mark_failed(
        self, user_id: str, image_id: str, error: str, now_ms: int, error_code: str = ...
    ) -> None:
        """processing -> failed with a reason and an errorCode (default processing_failed),
        conditionally; raises AlreadyDone / NotFound."""

    def mark_received(self, user_id: str, image_id: str, now_ms: int) -> None:
        """Note that the bytes arrived (once, while processing); AlreadyDone / NotFound."""

    def settle_unreceived(
        self, user_id: str, image_id: str, error: str, error_code: str, now_ms: int
    ) -> None:
        """processing with no bytes received -> failed; AlreadyDone / NotFound otherwise."""

    def add_attempt(self, user_id: str, image_id: str, now_ms: int) -> int:
        """Count one more processing attempt of a `processing` item; returns the new count."""

    def delete_item(self, user_id: str, image_id: str) -> None:
        """Remove the item; missing is not an error."""

    def list_stale_processing(self, older_than_ms: int, limit: int) -> Sequence[ImageItem]:
        """Items still `processing` whose updatedAt is before `older_than_ms` (for the sweeper)."""


class Users(Protocol):
    """Accounts, sessions/tokens and sign-in throttling state."""

    def create_user(self, user: User) -> None:
        """Insert; raises Conflict if the username is taken (case-insensitively)."""

    def get_user_by_name(self, username: str) -> User:
        """Raises NotFound."""

    def get_user(self, user_id: str) -> User:
        """By userId; raises NotFound."""

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the account's password hash; raises NotFound."""

    def delete_user(self, user_id: str) -> None:
        """Remove the account and every session of it; missing is not an error."""

    def put_session(self, session: Session) -> None:
        """Store a session or bearer token (by its hash)."""

    def get_session(self, token_hash: str) -> Session:
        """Raises NotFound when there is none; expiry is checked by Accounts, not here."""

    def touch_session(self, token_hash: str, now_ms: int, idle_ms: int) -> None:
        """Record use of a session (lastSeenAt); `idle_ms` lets a TTL follow the idle timeout."""

    def delete_session(self, token_hash: str) -> None:
        """Invalidate on the server; missing is not an error."""

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        """End every session of the user except the one hashed `keep`; returns how many."""

    def begin_attempt(self, key: str, now_ms: int, backoff: Backoff) -> Admission:
        """Atomically: refuse while `key` is locked, else count one attempt and store its lock.

        Counted before the password is checked, so parallel guesses cannot share a count.
        """

    def extend_lock(self, key: str, until_ms: int) -> None:
        """Lock `key` until at least `until_ms` (a failure's lock runs from its verdict)."""

    def clear_attempts(self, key: str) -> None:
        """Forget the key's counted attempts (after a successful sign-in)."""

    def get_login_failures(self, username: str) -> tuple[int, int]:
        """(consecutive failures, locked-until epoch ms) for throttling sign-in."""

    def set_login_failures(self, username: str, failures: int, locked_until_ms: int) -> None:
        """Record the throttling state (0, 0 resets it)."""

    def purge_expired(self, now_ms: int, idle_ms: int, keep_ms: int) -> int:
        """Delete ended sessions (absolute or idle) and throttling state unused for `keep_ms`."""


@dataclass(frozen=True)
class Job:
    """One queued S3-shaped event, claimed by a worker under a lease."""

    job_id: int
    event: dict[str, Any]
    attempts: int


class JobQueue(Protocol):
    """Durable queue of S3-shaped events for the local worker (on AWS, S3 invokes Lambda)."""

    def enqueue(self, event: dict[str, Any]) -> None:
        """Persist an event before returning (so a crash after this loses nothing)."""

    def claim(self, lease_s: float) -> Job | None:
        """Take a due job under a lease, fairly across users (least recently served first);
        an expired lease makes it due again."""

    def complete(self, job_id: int) -> None:
        """Remove a finished job."""

    def retry(self, job_id: int, delay_s: float, reason: str) -> None:
        """Release the job to run again after `delay_s`."""

    def pending(self) -> int:
        """How many jobs are queued or leased."""


# The notification hook a local blob store calls after an object is stored.
ObjectCreatedListener = Callable[[dict[str, Any]], None]
