"""Catalog records (ARCHITECTURE.md §3). Seed attribute names are kept exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from imgdrop.core.errors import PendingQuotaExceeded, QuotaExceeded

Status = Literal["processing", "done", "failed"]
PROCESSING: Status = "processing"
DONE: Status = "done"
FAILED: Status = "failed"


@dataclass
class ImageItem:
    """One uploaded image. The first seven attributes are the seed's contract."""

    userId: str
    imageId: str
    originalKey: str
    status: Status
    createdAt: int
    thumb200Key: str | None = None
    thumb400Key: str | None = None
    # Added for users (ARCHITECTURE §3 allows additions, never renames).
    filename: str = ""
    contentType: str = ""
    bytes: int = 0
    width: int | None = None
    height: int | None = None
    format: str | None = None
    placeholder: str | None = None
    error: str | None = None
    attempts: int = 0
    updatedAt: int = 0
    # Upload integrity and settling (docs/api.md): the declared SHA-256 (hex), when the bytes
    # were received by the store, and why a failed item failed (see ERROR_CODES).
    sha256: str | None = None
    receivedAt: int | None = None
    errorCode: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without empty optionals (what both catalogs store)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageItem:
        """Build from a stored dict, ignoring attributes this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# errorCode of a failed item: the file never came, the client gave up, the bytes are not a
# usable image, or processing itself failed (time budget, memory ceiling, retries ran out).
INTERRUPTED = "interrupted"
CANCELLED = "cancelled"
INVALID_IMAGE = "invalid_image"
PROCESSING_FAILED = "processing_failed"
ERROR_CODES = (INTERRUPTED, CANCELLED, INVALID_IMAGE, PROCESSING_FAILED)
# Settled without bytes: nothing of these is stored, so they count against no storage quota.
WITHOUT_BYTES = (INTERRUPTED, CANCELLED)


@dataclass(frozen=True)
class Usage:
    """What one user holds: forms not yet used, and everything stored or on its way."""

    pending: int = 0
    pending_bytes: int = 0
    items: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class UploadQuota:
    """Per-user limits checked atomically with the insert of a new item."""

    max_pending: int
    max_pending_bytes: int
    max_items: int
    max_bytes: int

    def refusal(self, usage: Usage, size: int) -> str | None:
        """Why one more upload of `size` bytes would break a limit (None if it fits)."""
        if usage.pending + 1 > self.max_pending:
            return (
                f"You already have {usage.pending} uploads waiting for their files; the limit "
                f"is {self.max_pending}. Finish or cancel some first."
            )
        if usage.pending_bytes + size > self.max_pending_bytes:
            return (
                f"Your unfinished uploads would reach {usage.pending_bytes + size} bytes; the "
                f"limit is {self.max_pending_bytes} bytes. Finish or cancel some first."
            )
        if usage.items + 1 > self.max_items:
            return f"You have {usage.items} images; the limit is {self.max_items} per account."
        if usage.bytes + size > self.max_bytes:
            return (
                f"Your images would take {usage.bytes + size} bytes; the storage limit is "
                f"{self.max_bytes} bytes per account."
            )
        return None

    def enforce(self, usage: Usage, size: int) -> None:
        """Raise the quota error naming the limit one more upload would break."""
        message = self.refusal(usage, size)
        if message is None:
            return
        waiting = (
            usage.pending + 1 > self.max_pending
            or usage.pending_bytes + size > self.max_pending_bytes
        )
        if waiting:  # clears by itself as forms are used or expire
            raise PendingQuotaExceeded(message, retry_after_s=60)
        raise QuotaExceeded(message)


@dataclass(frozen=True)
class DoneUpdate:
    """What the worker writes when thumbnails are made (processing -> done)."""

    thumb200Key: str
    thumb400Key: str
    width: int
    height: int
    format: str
    placeholder: str | None
    updatedAt: int


@dataclass
class User:
    """An account. `passwordHash` is an argon2id PHC string."""

    userId: str
    username: str
    passwordHash: str
    createdAt: int


@dataclass
class Session:
    """A server-side session or API token (both are opaque random ids, stored hashed)."""

    tokenHash: str
    userId: str
    csrfToken: str
    createdAt: int
    expiresAt: int
    kind: Literal["cookie", "bearer"] = "cookie"
    lastSeenAt: int = 0  # touched at most once a minute, for the idle timeout (0: createdAt)

    @property
    def last_active(self) -> int:
        """When the session was last used (epoch ms), as far as the idle timeout knows."""
        return max(self.lastSeenAt, self.createdAt)


@dataclass
class Page:
    """One page of a newest-first listing."""

    items: list[ImageItem] = field(default_factory=list)
    next_cursor: str | None = None
