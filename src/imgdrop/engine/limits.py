"""Guards applied before any decoder runs: bytes, type, pixels, frames. Loads no image library."""

from __future__ import annotations

from dataclasses import dataclass

from imgdrop.core.errors import InvalidImage, TooLarge, UnsupportedType
from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.engine.sniff import describe, has_appended_markup, sniff_type

__all__ = ["CONTENT_TYPES", "Limits", "check_header", "check_type"]


@dataclass(frozen=True)
class Limits:
    """Guards applied before decoding."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 250_000_000
    max_frames: int = 1000
    allowed_types: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "avif", "heic")


def check_type(data: bytes, limits: Limits) -> str:
    """The sniffed type of `data`, or a refusal (empty, too big, not allowed, polyglot)."""
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    fmt = sniff_type(data)
    if fmt is None or fmt not in limits.allowed_types:
        allowed = ", ".join(t.upper() for t in limits.allowed_types)
        raise UnsupportedType(f"the file is {describe(data)}; accepted types are {allowed}")
    if has_appended_markup(data, fmt):
        raise InvalidImage(
            f"the {fmt.upper()} has HTML or script appended after the image data "
            "(an image/HTML polyglot); refused"
        )
    return fmt


def check_header(width: int, height: int, frames: int, limits: Limits) -> None:
    """Refuse more pixels or frames than the limits allow, from the header's figures."""
    pixels = width * height
    if pixels > limits.max_pixels:
        raise TooLarge(
            f"the image is {width}x{height} pixels "
            f"({pixels / 1e6:.0f} MP); the limit is {limits.max_pixels / 1e6:.0f} MP"
        )
    if frames > limits.max_frames:
        raise TooLarge(f"the image has {frames} frames; the limit is {limits.max_frames}")
