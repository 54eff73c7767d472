"""Use cases, shared by every trigger: web app, CLI, local worker and the Lambda handler."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imgdrop.core import keys
from imgdrop.core.errors import (
    AlreadyDone,
    Conflict,
    Forbidden,
    InsufficientStorage,
    InvalidImage,
    InvalidRequest,
    NotFound,
    TooLarge,
    UnsupportedType,
)
from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.core.records import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    INVALID_IMAGE,
    PROCESSING,
    PROCESSING_FAILED,
    DoneUpdate,
    ImageItem,
    Page,
    UploadQuota,
)
from imgdrop.engine.limits import Limits
from imgdrop.engine.results import Thumbnails
from imgdrop.ports import BlobStore, Catalog, UploadForm
from imgdrop.settings import Settings

log = logging.getLogger("imgdrop.services")

WIDTHS = (200, 400)
MAX_FILENAME_CHARS = 1000
MAX_PAGE = 100
# Browsers and phones label HEIF files either way.
TYPE_ALIASES = {"image/heif": "image/heic", "image/jpg": "image/jpeg"}
Engine = Callable[[bytes, Sequence[int], Limits], Thumbnails]
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NEVER_ARRIVED = "The file never arrived."
CANCELLED_TEXT = "The upload was cancelled."
# The same words web/app.py answers for a full disk (one message, whichever check refused).
OUT_OF_SPACE = "The server is out of storage space right now. Please try again later."
FORM_SPENT = "This upload form can no longer be used (already used, cancelled or deleted)."


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def make_thumbnails(data: bytes, widths: Sequence[int], limits: Limits) -> Thumbnails:
    """The engine, imported on first use: the web app never loads pyvips or Pillow."""
    from imgdrop.engine.pipeline import make_thumbnails as engine

    return engine(data, widths, limits)


def limits_from(settings: Settings) -> Limits:
    """Engine guards from settings."""
    return Limits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_frames=settings.max_frames,
        decode_budget_bytes=settings.decode_budget_mb * 1024 * 1024,
        max_jpeg_scans=settings.max_jpeg_scans,
        allowed_types=settings.allowed_types,
    )


def quota_from(settings: Settings) -> UploadQuota:
    """Per-user upload quotas from settings."""
    return UploadQuota(
        max_pending=settings.max_pending_uploads,
        max_pending_bytes=settings.max_pending_upload_bytes,
        max_items=settings.max_images_per_user,
        max_bytes=settings.max_stored_bytes_per_user,
    )


@dataclass(frozen=True)
class UploadTicket:
    """What POST /api/uploads answers: the new item and the form to post the bytes with, or
    (`duplicate`) the user's existing item with the same content and no form."""

    item: ImageItem
    form: UploadForm | None
    duplicate: bool = False


class Images:
    """Uploads, processing and galleries over a BlobStore and a Catalog."""

    def __init__(
        self,
        blobs: BlobStore,
        catalog: Catalog,
        settings: Settings,
        engine: Engine | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self.settings = settings
        self.limits = limits_from(settings)
        self.engine: Engine = engine or make_thumbnails
        self.clock = clock

    def allowed_content_types(self) -> list[str]:
        """The declared content types an upload may have."""
        return [CONTENT_TYPES[t] for t in self.settings.allowed_types]

    def request_upload(
        self,
        user_id: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str | None = None,
        allow_duplicate: bool = False,
    ) -> UploadTicket:
        """Create the `processing` item and a presigned form for exactly one object (or report
        the user's existing copy of the same content)."""
        content_type = TYPE_ALIASES.get((content_type or "").lower(), (content_type or "").lower())
        self._check_request(filename, content_type, size, sha256)
        if sha256 and not allow_duplicate:
            existing = self.catalog.find_by_sha256(user_id, sha256)
            if existing is not None:
                return UploadTicket(existing, None, duplicate=True)
        self.ensure_space(size)
        created = self.clock()
        image_id = keys.new_image_id(created)
        key = keys.original_key(user_id, image_id, keys.safe_filename(filename, content_type))
        item = ImageItem(
            userId=user_id,
            imageId=image_id,
            originalKey=key,
            status=PROCESSING,
            createdAt=created,
            filename=filename,
            contentType=content_type,
            bytes=size,
            updatedAt=created,
            sha256=sha256,
        )
        self.catalog.create_item(item, quota_from(self.settings))
        # The form admits at most the declared size, so the item's `bytes` cannot be exceeded.
        form = self.blobs.upload_form(
            key, content_type, size, self.settings.upload_expires_s, sha256=sha256
        )
        return UploadTicket(item, form)

    def _check_request(
        self, filename: str, content_type: str, size: int, sha256: str | None
    ) -> None:
        """Refuse a bad upload request before anything is stored."""
        if not isinstance(filename, str) or not filename.strip():
            raise InvalidRequest("filename is required")
        if len(filename) > MAX_FILENAME_CHARS or "\x00" in filename:
            raise InvalidRequest(
                f"filename must be at most {MAX_FILENAME_CHARS} characters with no NUL"
            )
        if content_type not in self.allowed_content_types():
            raise UnsupportedType(
                f"{content_type or 'this type'} is not accepted; send one of "
                + ", ".join(self.allowed_content_types())
            )
        if size <= 0:
            raise InvalidRequest("size must be a positive number of bytes")
        if size > self.settings.max_upload_bytes:
            raise TooLarge(
                f"the file is {size} bytes; the limit is {self.settings.max_upload_bytes} bytes"
            )
        if sha256 is not None and not SHA256_HEX.fullmatch(sha256):
            raise InvalidRequest("sha256 must be 64 lowercase hexadecimal characters")

    def ensure_space(self, size: int) -> None:
        """InsufficientStorage (507) when storing `size` more bytes would eat into the reserve.

        Only a store that reports its free space (the local filesystem) is checked."""
        free_bytes = getattr(self.blobs, "free_bytes", None)
        if free_bytes is None:
            return
        if free_bytes() - size < self.settings.disk_reserve_bytes:
            log.warning("refusing an upload: free space is under the reserve")
            raise InsufficientStorage(OUT_OF_SPACE)

    def admit_post(self, key: str) -> ImageItem:
        """The item a form POST for `key` may fill: still processing, its bytes not yet
        received (a used, cancelled, settled or deleted item refuses: Forbidden)."""
        try:
            parsed = keys.parse_original_key(key)
            item = self.catalog.get_item(parsed.user_id, parsed.image_id)
        except (InvalidRequest, NotFound):
            raise Forbidden(FORM_SPENT) from None
        if item.status != PROCESSING or item.receivedAt is not None or item.originalKey != key:
            raise Forbidden(FORM_SPENT)
        return item

    def record_received(self, item: ImageItem) -> None:
        """Mark the bytes received, once; Forbidden if the item was settled or deleted."""
        try:
            self.catalog.mark_received(item.userId, item.imageId, self.clock())
        except (AlreadyDone, NotFound):
            raise Forbidden(FORM_SPENT) from None

    def cancel_upload(self, user_id: str, image_id: str) -> None:
        """Settle a processing item whose bytes have not arrived as `cancelled`; Conflict if
        they have (or the item is already final)."""
        item = self.get_image(user_id, image_id)
        if item.status == FAILED and item.errorCode == CANCELLED:
            return  # a repeated cancel is answered the same way
        arrived = Conflict("The file has already arrived; delete the image instead.")
        if item.status != PROCESSING or item.receivedAt is not None:
            raise arrived
        if self.blobs.exists(item.originalKey):  # on S3 nothing marks an item received
            raise arrived
        try:
            self.catalog.settle_unreceived(
                user_id, image_id, CANCELLED_TEXT, CANCELLED, self.clock()
            )
        except AlreadyDone:
            raise arrived from None

    def process_upload(self, key: str) -> ImageItem | None:
        """Make both thumbnails for the original at `key` and mark its item done or failed.

        Idempotent: thumbnail keys are deterministic and the status change is conditional, so
        replays and concurrent duplicates end in one result. A transient backend error
        propagates so the trigger (local queue or Lambda) retries. Returns None for an object
        with no item (not uploaded through the app: ignored, see docs/deploy-aws.md).
        """
        try:
            parsed = keys.parse_original_key(key)
            item = self.catalog.get_item(parsed.user_id, parsed.image_id)
        except (InvalidRequest, NotFound):
            log.warning("ignoring object with no catalog item: %s", key)
            return None
        if item.status != PROCESSING or item.originalKey != key:
            return item
        try:
            data = self.blobs.get(key)
        except NotFound:
            log.warning("object gone before processing (deleted?): %s", key)
            return None
        try:
            thumbs = self.engine(data, WIDTHS, self.limits)
        except InvalidImage as exc:
            return self._finish_failed(item, exc.message, INVALID_IMAGE)
        by_width = {w: t for w, t in zip(WIDTHS, thumbs, strict=True)}
        thumb_keys = {w: keys.thumbnail_key(w, key, t.ext) for w, t in by_width.items()}
        try:
            for width, thumb in by_width.items():
                self.blobs.put(thumb_keys[width], thumb.data, thumb.content_type)
        except BaseException:
            # Half-written (disk full, store down): leave nothing the item does not name.
            self._remove_thumbnails(thumb_keys.values())
            raise
        update = DoneUpdate(
            thumb200Key=thumb_keys[200],
            thumb400Key=thumb_keys[400],
            width=thumbs.source_width,
            height=thumbs.source_height,
            format=thumbs.source_format,
            placeholder=thumbs.placeholder,
            updatedAt=self.clock(),
        )
        try:
            self.catalog.mark_done(item.userId, item.imageId, update)
        except AlreadyDone:  # a concurrent delivery settled it first: report what it stored
            return self.catalog.get_item(item.userId, item.imageId)
        except NotFound:
            self._remove_thumbnails(thumb_keys.values())  # deleted while we worked
            return None
        return dataclasses.replace(item, status=DONE, **dataclasses.asdict(update))

    def fail_upload(self, key: str, reason: str) -> None:
        """Mark the item of `key` failed (after retries ran out); a no-op if already final."""
        try:
            parsed = keys.parse_original_key(key)
            item = self.catalog.get_item(parsed.user_id, parsed.image_id)
        except (InvalidRequest, NotFound):
            return
        self._finish_failed(item, reason, PROCESSING_FAILED)

    def _finish_failed(self, item: ImageItem, reason: str, code: str) -> ImageItem:
        """processing -> failed; returns the item as it now is."""
        log.info("upload failed: %s: %s", item.originalKey, reason)
        now = self.clock()
        try:
            self.catalog.mark_failed(item.userId, item.imageId, reason, now, code)
        except (AlreadyDone, NotFound):  # already final, or deleted meanwhile
            return item
        return dataclasses.replace(item, status=FAILED, error=reason, errorCode=code, updatedAt=now)

    def process_event(self, event: dict[str, Any]) -> list[ImageItem | None]:
        """Process every ObjectCreated record of an S3-shaped event; others are ignored."""
        return [self.process_upload(key) for key in object_created_keys(event)]

    def list_images(self, user_id: str, limit: int = 24, cursor: str | None = None) -> Page:
        """The user's items, newest first, one page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        return self.catalog.list_items(user_id, limit, cursor or None)

    def get_image(self, user_id: str, image_id: str) -> ImageItem:
        """One of the user's items; another user's id is NotFound."""
        if not keys.is_image_id(image_id):
            raise NotFound("no such image")
        try:
            return self.catalog.get_item(user_id, image_id)
        except NotFound:
            raise NotFound("no such image") from None

    def image_urls(self, item: ImageItem) -> dict[str, str] | None:
        """Short-lived signed URLs for a done item's original and thumbnails (after ownership)."""
        if item.status != DONE or not item.thumb200Key or not item.thumb400Key:
            return None
        exp = self.settings.download_expires_s
        thumb_type = CONTENT_TYPES.get(_ext_format(item.thumb400Key), "image/jpeg")
        return {
            "original": self.blobs.download_url(item.originalKey, exp, item.contentType),
            "thumb200": self.blobs.download_url(item.thumb200Key, exp, thumb_type),
            "thumb400": self.blobs.download_url(item.thumb400Key, exp, thumb_type),
        }

    def delete_image(self, user_id: str, image_id: str) -> None:
        """Remove the original, both thumbnails and the item."""
        item = self.get_image(user_id, image_id)
        self._remove_thumbnails([item.thumb200Key, item.thumb400Key])
        self.blobs.delete(item.originalKey)
        self.catalog.delete_item(user_id, image_id)

    def _remove_thumbnails(self, thumb_keys: Any) -> None:
        for key in thumb_keys:
            if key:
                self.blobs.delete(key)

    def sweep_stale(self, older_than_ms: int | None = None) -> list[str]:
        """Settle items left `processing`: those whose form expired with no bytes end failed
        (`interrupted`) at once; return the keys stuck since before `older_than_ms` (default:
        STALE_PROCESSING_S ago) whose original exists, to be queued again."""
        now = self.clock()
        stale_cutoff = (
            older_than_ms
            if older_than_ms is not None
            else now - self.settings.stale_processing_s * 1000
        )
        # A form's expiry is whole seconds (as on S3): one second of slack.
        expired_cutoff = now - (self.settings.upload_expires_s + 1) * 1000
        requeue: list[str] = []
        for item in self.catalog.list_stale_processing(max(stale_cutoff, expired_cutoff), 500):
            if item.receivedAt is not None or self.blobs.exists(item.originalKey):
                if item.updatedAt < stale_cutoff:
                    requeue.append(item.originalKey)
            elif item.createdAt < expired_cutoff:
                self._settle_interrupted(item)
        return requeue

    def _settle_interrupted(self, item: ImageItem) -> None:
        # AlreadyDone / NotFound: the bytes came meanwhile, or it was deleted.
        with contextlib.suppress(AlreadyDone, NotFound):
            self.catalog.settle_unreceived(
                item.userId, item.imageId, NEVER_ARRIVED, INTERRUPTED, self.clock()
            )

    def delete_all(self, user_id: str) -> int:
        """Remove every original, thumbnail and item of the user (account deletion); a count."""
        removed = 0
        cursor: str | None = None
        while True:
            page = self.catalog.list_items(user_id, MAX_PAGE, cursor)
            for item in page.items:
                self._remove_thumbnails([item.thumb200Key, item.thumb400Key])
                self.blobs.delete(item.originalKey)
                self.catalog.delete_item(user_id, item.imageId)
                removed += 1
            if not page.next_cursor:
                return removed
            cursor = page.next_cursor


def _ext_format(key: str) -> str:
    ext = key.rsplit(".", 1)[-1].lower()
    return {"jpg": "jpeg"}.get(ext, ext)


def object_created_keys(event: dict[str, Any]) -> list[str]:
    """Decoded `uploads/` keys of the ObjectCreated records (an s3:TestEvent has none)."""
    found: list[str] = []
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "ObjectCreated:")).startswith("ObjectCreated:"):
            continue
        raw = (record.get("s3") or {}).get("object", {}).get("key")
        if isinstance(raw, str):
            key = keys.decode_event_key(raw)
            if key.startswith(keys.UPLOADS):
                found.append(key)
    return found


__all__ = ["DONE", "FAILED", "PROCESSING", "Images", "UploadTicket", "object_created_keys"]
