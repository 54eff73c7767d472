"""make_thumbnails: the engine's stages in order (see the package docstring).

Guards first (bytes, type from content, pixels and frames from the header), then one decode with
shrink-on-load at the largest width; smaller widths are derived from that result. Only
ImgdropError subclasses (InvalidImage, TooLarge, UnsupportedType) leave `make_thumbnails`.
Animated GIF/WebP (and HEIF sequences) are thumbnailed from their first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pyvips

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge
from imgdrop.engine import isobmff
from imgdrop.engine.decode import decode_largest
from imgdrop.engine.encode import encode, resize_to_width
from imgdrop.engine.limits import (
    CONTENT_TYPES,
    Limits,
    check_budget,
    check_header,
    check_scans,
    check_type,
)
from imgdrop.engine.placeholder import placeholder_of
from imgdrop.engine.probe import Header, probe_header, vips_reason
from imgdrop.engine.results import Thumbnail, Thumbnails

__all__ = ["make_thumbnails"]

# Browsers show these, so thumbnails keep the original's format; everything else becomes JPEG.
_SAME_FORMAT_OUT = {"jpeg", "png", "webp", "gif"}


def _render(data: bytes, fmt: str, header: Header, widths: Sequence[int]) -> Thumbnails:
    largest, notes = decode_largest(data, fmt, header, max(widths))
    out_fmt = fmt if fmt in _SAME_FORMAT_OUT else "jpeg"
    made: dict[int, Thumbnail] = {}
    aspect = (header.display_width, header.display_height)  # not the rounded sides of `largest`
    for width in sorted(set(widths), reverse=True):
        image = resize_to_width(largest, width, aspect)
        made[width] = Thumbnail(
            image.width,
            image.height,
            out_fmt,
            CONTENT_TYPES[out_fmt],
            encode(image, out_fmt, lossless=header.lossless),
        )
    return Thumbnails(
        tuple(made[w] for w in widths),
        fmt,
        header.display_width,
        header.display_height,
        placeholder_of(largest),
        notes,
    )


def _check_declared_size(data: bytes, fmt: str, limits: Limits) -> None:
    """Pixel cap and memory budget from the sizes the container declares, before any decoder."""
    size = isobmff.largest_size(data)
    if size is None:
        raise InvalidImage(f"the {fmt.upper()} declares no image size (no 'ispe' property)")
    check_header(size[0], size[1], 1, limits)
    check_budget(data, fmt, size[0], size[1], limits)


def _within_budget(data: bytes, fmt: str, header: Header, limits: Limits, width: int) -> Header:
    """The header, if decoding fits the memory budget; else a HEIC's embedded preview when it
    is nearly as wide as the largest thumbnail (a phone's 200 MP HEIC has a 512 px one)."""
    try:
        check_budget(data, fmt, header.width, header.height, limits)
    except TooLarge:
        preview = header.preview
        if preview is None or not _usable_preview(header, preview[1:], width):
            raise
        check_budget(data, fmt, preview[1], preview[2], limits)
        return replace(header, from_preview=True)
    return header


def _usable_preview(header: Header, size: tuple[int, int], width: int) -> bool:
    """A preview of the same shape, at least 90 % of the width it must give."""
    same_shape = abs(size[0] * header.height - size[1] * header.width) <= header.width * 2
    return same_shape and size[0] >= 0.9 * min(width, header.width)


def make_thumbnails(
    data: bytes, widths: Sequence[int] = (200, 400), limits: Limits | None = None
) -> Thumbnails:
    """Make one thumbnail per width from `data`; raises InvalidImage with a readable reason."""
    limits = limits or Limits()
    if not widths or min(widths) < 1:
        raise InvalidImage(f"thumbnail widths must be positive, not {tuple(widths)}")
    try:
        data = bytes(data)  # no copy for bytes; memoryview/bytearray callers get a snapshot
        fmt = check_type(data, limits)
        if fmt == "avif":  # libavif decodes the first frame as it opens: check before it runs
            _check_declared_size(data, fmt, limits)
        header = probe_header(data, fmt)
        check_header(header.width, header.height, header.frames, limits)
        if fmt == "jpeg":
            check_scans(data, limits)
        header = _within_budget(data, fmt, header, limits, max(widths))
        return _render(data, fmt, header, widths)
    except ImgdropError:
        raise
    except pyvips.Error as exc:
        raise InvalidImage(f"the image could not be decoded: {vips_reason(exc)}") from exc
    except MemoryError as exc:
        raise TooLarge("the image needs more memory than is available to decode") from exc
    except Exception as exc:  # decoders signal bad input in many ways; callers get one kind
        raise InvalidImage(f"the image could not be processed: {exc}") from exc
