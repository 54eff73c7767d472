"""Storage keys and ids (ARCHITECTURE.md §2): pure functions every adapter obeys.

    uploads/<userId>/<imageId>-<filename>     original, byte for byte
    thumbnails/200/<imageId>-<filename>       200 px wide
    thumbnails/400/<imageId>-<filename>       400 px wide

`<imageId>` is a ULID: 48 bits of epoch milliseconds then 80 random bits, in Crockford base32.
It *is* the architecture's `<timestamp>`: it starts with the upload time (so keys and items sort
by time) and is globally unique (so two users' `cat.jpg` in one millisecond get distinct keys).
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_plus

from ulid import ULID

from imgdrop.core.errors import InvalidRequest

UPLOADS = "uploads/"
THUMBNAILS = "thumbnails/"
MAX_STEM_CHARS = 80
# Our type names (decided from content) and their media types.
CONTENT_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "heic": "image/heic",
    "tiff": "image/tiff",
}
# One extension per content type we accept; thumbnails of other types are JPEG (ARCHITECTURE §4).
EXTENSIONS: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/tiff": "tiff",
}
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_USER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_image_id(now_ms: int) -> str:
    """A fresh time-ordered unique id (ULID) for an upload made at `now_ms`."""
    return str(ULID.from_timestamp(now_ms / 1000))


def image_id_time_ms(image_id: str) -> int:
    """The epoch milliseconds encoded in a ULID image id."""
    return int(ULID.from_str(image_id).milliseconds)


def is_image_id(value: str) -> bool:
    """True if `value` has the shape of an image id (cheap check before any lookup)."""
    return bool(_ULID_RE.match(value))


def safe_filename(display_name: str, content_type: str) -> str:
    """A key-safe file name: ASCII letters, digits, `._-`; bounded; extension from the type.

    The user's own name is kept only in the catalog item (and shown escaped); this one is for keys.
    """
    ext = EXTENSIONS.get(content_type)
    if ext is None:
        raise InvalidRequest(f"unsupported content type {content_type!r}")
    base = display_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    # NFKD then ASCII drops accents ("é" -> "e") instead of losing the whole letter.
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean = _UNSAFE.sub("-", ascii_stem).strip("-._")[:MAX_STEM_CHARS].strip("-._")
    return f"{clean or 'image'}.{ext}"


def _check_user(user_id: str) -> None:
    if not _USER_RE.match(user_id):
        raise InvalidRequest(f"bad user id {user_id!r}")


def original_key(user_id: str, image_id: str, filename: str) -> str:
    """`uploads/<userId>/<imageId>-<filename>` — the one place that shapes an original's key."""
    _check_user(user_id)
    return f"{UPLOADS}{user_id}/{image_id}-{filename}"


def thumbnail_key(width: int, original: str, output_ext: str) -> str:
    """`thumbnails/<width>/<imageId>-<filename>`; the extension follows the thumbnail's format."""
    name = original.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    return f"{THUMBNAILS}{width}/{stem}.{output_ext}"


@dataclass(frozen=True)
class OriginalKey:
    """The parts of a parsed `uploads/…` key."""

    user_id: str
    image_id: str
    filename: str


def parse_original_key(key: str) -> OriginalKey:
    """Split `uploads/<userId>/<imageId>-<filename>`; raises InvalidRequest for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != UPLOADS:
        raise InvalidRequest(f"not an upload key: {key!r}")
    user_id, name = parts[1], parts[2]
    image_id, sep, filename = name.partition("-")
    if not sep or not is_image_id(image_id) or not _USER_RE.match(user_id) or not filename:
        raise InvalidRequest(f"not an upload key: {key!r}")
    return OriginalKey(user_id, image_id, filename)


def encode_cursor(image_id: str) -> str:
    """Opaque page cursor: the last imageId of a page (every catalog uses this shape)."""
    return base64.urlsafe_b64encode(image_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Back to an imageId; raises InvalidRequest for anything else."""
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("bad cursor") from None
    if not is_image_id(value):
        raise InvalidRequest("bad cursor")
    return value


def decode_event_key(raw: str) -> str:
    """S3 event keys are URL-encoded with `+` for space."""
    return unquote_plus(raw)
