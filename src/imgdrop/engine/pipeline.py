"""make_thumbnails: the engine's stages in order (see the package docstring).

Guards first (bytes, type from content, pixels and frames from the header), then one decode with
shrink-on-load at the largest width; smaller widths are derived from that result. Only
ImgdropError subclasses (InvalidImage, TooLarge, UnsupportedType) leave `make_thumbnails`.
Animated GIF/WebP (and HEIF sequences) are thumbnailed from their first frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyvips

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge
from imgdrop.engine.decode import decode_largest
from imgdrop.engine.encode import encode, resize_to_width
from imgdrop.engine.limits import CONTENT_TYPES, Limits, check_header, check_type
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
    for width in sorted(set(widths), reverse=True):
        image = resize_to_width(largest, width)
        made[width] = Thumbnail(
            image.width, image.height, out_fmt, CONTENT_TYPES[out_fmt], encode(image, out_fmt)
        )
    return Thumbnails(
        tuple(made[w] for w in widths),
        fmt,
        header.display_width,
        header.display_height,
        placeholder_of(largest),
        notes,
    )


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
        header = probe_header(data, fmt)
        check_header(header.width, header.height, header.frames, limits)
        return _render(data, fmt, header, widths)
    except ImgdropError:
        raise
    except pyvips.Error as exc:
        raise InvalidImage(f"the image could not be decoded: {vips_reason(exc)}") from exc
    except MemoryError as exc:
        raise TooLarge("the image needs more memory than is available to decode") from exc
    except Exception as exc:  # decoders signal bad input in many ways; callers get one kind
        raise InvalidImage(f"the image could not be processed: {exc}") from exc
