"""The one error hierarchy of imgdrop, translated only at the edges (HTTP, CLI, worker)."""

from __future__ import annotations


class ImgdropError(Exception):
    """Base of every error imgdrop raises on purpose; `code` is stable, `message` is for people."""

    code = "error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ImgdropError):
    """The request is malformed or a value is out of range."""

    code = "invalid_request"
    http_status = 400


class InvalidImage(ImgdropError):
    """The bytes are not an image we accept (corrupt, truncated, unsupported or a bomb)."""

    code = "invalid_image"
    http_status = 422


class TooLarge(InvalidImage):
    """The upload or its pixel count is over a configured limit."""

    code = "too_large"
    http_status = 413


class UnsupportedType(InvalidImage):
    """The content type (decided from the bytes or declared) is not on the allow-list."""

    code = "unsupported_type"
    http_status = 415


class NotFound(ImgdropError):
    """No such object or item — also what another user's item looks like."""

    code = "not_found"
    http_status = 404


class Unauthorized(ImgdropError):
    """Not signed in, or the credentials are wrong."""

    code = "unauthorized"
    http_status = 401


class Forbidden(ImgdropError):
    """Signed in but not allowed (bad CSRF token, bad upload signature, expired form)."""

    code = "forbidden"
    http_status = 403


class Conflict(ImgdropError):
    """The thing already exists (a taken username)."""

    code = "conflict"
    http_status = 409


class TooManyRequests(ImgdropError):
    """Throttled: try again after `retry_after_s` seconds."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AlreadyDone(ImgdropError):
    """A conditional write found the item already past `processing` (idempotent replay)."""

    code = "already_done"
    http_status = 409


class TransientError(ImgdropError):
    """A backend is unavailable for now; the operation may be retried."""

    code = "unavailable"
    http_status = 503


class QuotaExceeded(ImgdropError):
    """A per-user storage limit (images or bytes) would be exceeded."""

    code = "quota_exceeded"
    http_status = 403


class PendingQuotaExceeded(TooManyRequests):
    """Too many upload forms (or declared bytes) are waiting for their files."""

    code = "too_many_pending_uploads"


class InsufficientStorage(ImgdropError):
    """The server keeps a free-space reserve; new uploads wait until there is room."""

    code = "insufficient_storage"
    http_status = 507
