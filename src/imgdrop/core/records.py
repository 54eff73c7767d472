"""Catalog records (ARCHITECTURE.md §3). Seed attribute names are kept exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

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

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without empty optionals (what both catalogs store)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageItem:
        """Build from a stored dict, ignoring attributes this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
