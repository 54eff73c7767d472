"""Guards applied before any decoder runs: bytes, type, pixels, frames. Loads no image library."""

from __future__ import annotations

from dataclasses import dataclass

from imgdrop.core.errors import InvalidImage, TooLarge, UnsupportedType
from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.engine.jpeg_scans import coefficient_planes, count_scans
from imgdrop.engine.sniff import (
    describe,
    has_appended_markup,
    has_embedded_markup,
    sniff_type,
)

__all__ = ["CONTENT_TYPES", "Limits", "check_budget", "check_header", "check_type"]

MIB = 1024 * 1024
# Peak decode memory per pixel of the stored image, by format, measured (docs/benchmarks.md):
# HEIC is libheif's YUV planes plus its RGB output (200 MP: 888 MB); AVIF adds Pillow's RGBA
# copy of libavif's output; GIF is libnsgif's RGBA canvas plus the previous frame for disposal;
# lossless WebP and interlaced PNG are decoded whole. A sequential JPEG, a lossy WebP and a
# non-interlaced PNG stream through shrink-on-load, so their cost is a few rows.
_BYTES_PER_PIXEL = {"heic": 5.0, "avif": 10.0, "gif": 8.0, "webp": 4.0, "tiff": 8.0}
_STREAMED = 0.25


@dataclass(frozen=True)
class Limits:
    """Guards applied before decoding."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 250_000_000
    max_frames: int = 1000
    allowed_types: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "avif", "heic")
    decode_budget_bytes: int = 512 * MIB
    max_jpeg_scans: int = 100


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
    if has_embedded_markup(data):
        raise InvalidImage(
            f"the {fmt.upper()} has HTML or script inside its data "
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


def decode_bytes_per_pixel(data: bytes, fmt: str) -> float:
    """Peak decode memory per stored pixel, decided from the header's bytes."""
    if fmt == "jpeg":
        planes = coefficient_planes(data)
        # A progressive decode keeps every DCT coefficient (2 bytes each) until the last scan.
        return _STREAMED if planes is None else 2.0 * planes + _STREAMED
    if fmt == "png":
        interlaced = len(data) > 28 and data[28] == 1
        depth = data[24] if len(data) > 24 else 8
        return (8.0 if depth == 16 else 4.0) if interlaced else _STREAMED
    return _BYTES_PER_PIXEL.get(fmt, 8.0)


def decode_memory(data: bytes, fmt: str, width: int, height: int) -> int:
    """Bytes a full decode of this image would take at its peak."""
    return int(width * height * decode_bytes_per_pixel(data, fmt))


def check_budget(data: bytes, fmt: str, width: int, height: int, limits: Limits) -> None:
    """Refuse an image whose decode would take more memory than the budget, before decoding."""
    need = decode_memory(data, fmt, width, height)
    if need > limits.decode_budget_bytes:
        raise TooLarge(
            f"decoding this {width}x{height} {fmt.upper()} would take about "
            f"{need / MIB:,.0f} MB of memory; the decode memory limit is "
            f"{limits.decode_budget_bytes / MIB:,.0f} MB"
        )


def check_scans(data: bytes, limits: Limits) -> None:
    """Refuse a JPEG with more scans than any real encoder writes (each is a whole-image pass)."""
    scans = count_scans(data, limits.max_jpeg_scans)
    if scans > limits.max_jpeg_scans:
        raise TooLarge(
            f"the JPEG has more than {limits.max_jpeg_scans} scans (real encoders write a few "
            "dozen at most); refused, as decoding it would take very long"
        )
