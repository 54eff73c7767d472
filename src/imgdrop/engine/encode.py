"""Resize and encode: Lanczos down to each width, then the output format without metadata."""

from __future__ import annotations

import io

import pyvips
from PIL import Image

_NONE = pyvips.enums.ForeignKeep.NONE  # no EXIF, GPS, XMP, IPTC, ICC or comments in thumbnails
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # by band count, for 8-bit pixels


def resize_to_width(
    image: pyvips.Image, width: int, aspect: tuple[int, int] | None = None
) -> pyvips.Image:
    """Lanczos3 down to `width` (never up), the height in proportion and at least 1 px.

    The proportion is the image's own, or `aspect` (width, height): the original's, when
    `image` is a reduced copy whose sides were rounded.

    Against a Lanczos resize of the full-size decode (PSNR, corpus photos), this scored
    equal to libvips' `thumbnail_image` on one and 5-10 dB closer on three (at 400 and at
    200 px from 400), and it is ~0.3 ms faster.
    """
    if image.width <= width:
        return image
    aspect_w, aspect_h = aspect or (image.width, image.height)
    height = max(1, round(aspect_h * width / aspect_w))
    scale, vscale = width / image.width, height / image.height
    # gap=0: one Lanczos pass however large the reduction. libvips' default (gap 2) would
    # box-shrink first when reducing 4x or more — from a full-size 12 MP HEIC decode that was
    # both slower (35 vs 22 ms, one core) and softer (51 dB against this exact result).
    if image.hasalpha():  # premultiplied, so transparent pixels lend no colour to their edges
        resized = image.premultiply().resize(scale, vscale=vscale, gap=0.0).unpremultiply()
        return resized.cast(image.format)
    return image.resize(scale, vscale=vscale, gap=0.0)


def encode(image: pyvips.Image, fmt: str, lossless: bool = False) -> bytes:
    """Save without metadata; the settings favour speed, since thumbnails are small.

    A lossless WebP (pixel art, screenshots) stays lossless, as a PNG does.
    """
    if fmt == "png":
        return image.pngsave_buffer(keep=_NONE, compression=3, filter="sub")
    if fmt == "webp":
        if lossless:
            return image.webpsave_buffer(keep=_NONE, lossless=True, effort=2)
        return image.webpsave_buffer(keep=_NONE, Q=80, effort=2)
    if fmt == "gif":
        return image.gifsave_buffer(keep=_NONE, effort=3)
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))  # JPEG has no alpha
    # Pillow's libjpeg-turbo writes a 400 px JPEG in 0.35 ms, libvips' jpegsave in 0.8 ms
    # (mostly a fixed cost per call); Pillow writes no metadata it is not given.
    buf = io.BytesIO()
    pillow_image(image).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def pillow_image(image: pyvips.Image) -> Image.Image:
    """The pixels of an 8-bit libvips image, as a Pillow image (runs its pipeline)."""
    mode = _PIL_MODES[image.bands]
    return Image.frombuffer(
        mode, (image.width, image.height), image.write_to_memory(), "raw", mode, 0, 1
    )
