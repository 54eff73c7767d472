"""The one decode of the thumbnail engine, shrinking on load to the largest width.

libvips decodes PNG, WebP, GIF and AVIF (thumbnail_buffer); Pillow's libjpeg-turbo decodes RGB
and greyscale JPEGs at DCT scale; pillow-heif (libheif) decodes HEIC, which pyvips-binary
cannot. The result is upright, 8-bit sRGB and in memory.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import pyvips
from PIL import Image

from imgdrop.core.errors import InvalidImage
from imgdrop.engine import heif
from imgdrop.engine.colour import (
    colour_options,
    embedded_to_srgb,
    nclx_needs_conversion,
    nclx_to_srgb,
    to_srgb_8bit,
)
from imgdrop.engine.encode import resize_to_width
from imgdrop.engine.jpeg_scans import for_eighth_scale
from imgdrop.engine.probe import LOADERS, UPRIGHT, Header

_NO_LIMIT = 10_000_000
# A cut-off or corrupt upload is an error, not a grey half-picture: "error" also catches a PNG
# chunk with a bad CRC ("truncated" let libpng ignore it); every photo in ../shared/corpus still
# loads. It must go in the loader's option string: thumbnail_buffer's own `fail_on` argument does
# not reach the loader (libvips 8.18).
_LOADER_OPTIONS = "fail_on=error"


def _notes(header: Header, fmt: str, had_profile: bool) -> tuple[str, ...]:
    notes = []
    if header.frames > 1:
        notes.append(f"{fmt.upper()} with {header.frames} frames: the thumbnail shows the first")
    if header.from_preview and header.preview is not None:
        notes.append(
            f"made from the file's {header.preview[1]}x{header.preview[2]} preview: the full "
            "image is over the decode memory limit"
        )
    if header.cmyk:
        notes.append("CMYK converted to sRGB")
    elif header.nclx and not had_profile and nclx_needs_conversion(*header.nclx[:2]):
        notes.append("colour converted to sRGB from the file's colour code points (nclx)")
    elif had_profile:
        notes.append("colour converted to sRGB from the embedded ICC profile")
    return tuple(notes)


def _jpeg_scaled(data: bytes, header: Header, width: int) -> pyvips.Image | None:
    """DCT-scaled, upright JPEG decode by Pillow's libjpeg-turbo, wrapped for libvips; None to
    let libvips decode instead (CMYK, or too big for Pillow's own bomb guard).

    Measured on ../shared/corpus: Pillow's libjpeg-turbo decodes at 1/8 scale ~25 % faster
    than pyvips-binary's (docs/benchmarks.md), and the decode is most of an upload's time.
    A progressive JPEG decoded at 1/8 skips the scans that scale never reads (jpeg_scans).
    Pillow rotates the scaled image (0.4 ms for 0.6 MP) because libvips' rotation in the
    pipeline costs ~1 ms more.
    """
    if header.cmyk or header.width * header.height > (Image.MAX_IMAGE_PIXELS or 0):
        return None
    # Keep the side that becomes the displayed width at least `width` after scaling.
    request = (1, width) if header.orientation >= 5 else (width, 1)
    eighth = (-(-header.width // 8), -(-header.height // 8))
    reduced = None
    if min(header.width // request[0], header.height // request[1]) >= 8:
        reduced = for_eighth_scale(data)
    decoded = _pillow_draft(reduced or data, request, header.orientation)
    if reduced is not None and decoded is not None and decoded.scaled_size != eighth:
        # Cannot happen (Pillow picks 1/8 for that request); never trust a reduced stream.
        decoded = _pillow_draft(data, request, header.orientation)
    if decoded is None:
        return None
    bands = 3 if decoded.mode == "RGB" else 1
    image = pyvips.Image.new_from_memory(
        decoded.pixels, decoded.width, decoded.height, bands, "uchar"
    )
    image = image.copy(interpretation="srgb" if bands == 3 else "b-w")
    if decoded.icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", decoded.icc)
    return image


class _Decoded(NamedTuple):
    pixels: bytes  # upright
    width: int
    height: int
    mode: str
    icc: bytes | None
    scaled_size: tuple[int, int]  # as stored, after DCT scaling


def _pillow_draft(data: bytes, request: tuple[int, int], orientation: int) -> _Decoded | None:
    """Pillow's DCT-scaled decode, turned upright; None unless the JPEG is RGB or greyscale."""
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
        if im.mode not in ("RGB", "L"):
            return None
        im.draft(im.mode, request)
        try:
            im.load()
        except OSError as exc:  # Pillow's word for a truncated or broken JPEG stream
            raise InvalidImage(f"the image could not be decoded: {exc}") from None
        upright = im.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else im
        return _Decoded(
            upright.tobytes(), *upright.size, im.mode, im.info.get("icc_profile"), im.size
        )


def _cmyk_jpeg(data: bytes, header: Header, width: int) -> pyvips.Image:
    """A CMYK JPEG, DCT-shrunk on load, to sRGB through its profile (or a standard CMYK one
    when it has none) with black-point compensation, so the darkest ink prints as black."""
    side = header.display_width
    shrink = next((s for s in (8, 4, 2) if side // s >= width), 1)
    image = pyvips.Image.jpegload_buffer(data, shrink=shrink, fail_on="error")
    image = image.icc_transform(
        "srgb",
        input_profile="cmyk",
        embedded=header.icc_profile,
        intent="relative",
        black_point_compensation=True,
    )
    return resize_to_width(image.autorot(), width)


def _uncovered_transparent(image: pyvips.Image, header: Header) -> pyvips.Image:
    """Leave the canvas a GIF's first frame does not cover transparent, as browsers show it."""
    if header.first_frame is None:
        return image
    left, top, w, h = header.first_frame
    if left <= 0 and top <= 0 and left + w >= header.width and top + h >= header.height:
        return image
    sx, sy = image.width / header.width, image.height / header.height
    x, y = round(left * sx), round(top * sy)
    mask = pyvips.Image.black(image.width, image.height).draw_rect(
        255, x, y, max(1, round((left + w) * sx) - x), max(1, round((top + h) * sy) - y), fill=True
    )
    if not image.hasalpha():
        image = image.bandjoin(255)
    colour, alpha = image[: image.bands - 1], image[image.bands - 1]
    return colour.bandjoin((mask > 0).ifthenelse(alpha, 0).cast(image.format))


def _decoded_source(data: bytes, fmt: str, header: Header, width: int) -> pyvips.Image | None:
    """The upright, full- or DCT-scaled image from a decoder other than thumbnail_buffer."""
    if fmt == "heic":
        return heif.decode_heic(data, header, width)
    if fmt == "avif" and not header.libheif:
        return heif.decode_avif(data, header, width)
    if fmt == "jpeg":
        return _jpeg_scaled(data, header, width)
    return None


def decode_largest(
    data: bytes, fmt: str, header: Header, width: int
) -> tuple[pyvips.Image, tuple[str, ...]]:
    """Decode once, shrinking on load to `width`: upright, 8-bit sRGB, in memory."""
    source = _decoded_source(data, fmt, header, width)
    if source is not None:
        if header.from_preview:  # a preview is just under `width` at most: scale it to fit
            target = min(width, header.display_width)
            source = source.resize(target / source.width) if source.width != target else source
        aspect = (header.display_width, header.display_height)  # the source's sides are rounded
        image, had_profile = embedded_to_srgb(resize_to_width(source, width, aspect))
    elif fmt == "jpeg" and header.cmyk:
        image, had_profile = _cmyk_jpeg(data, header, width), header.icc_profile
    else:
        colour = colour_options(header.icc_profile, header.icc_is_srgb, header.cmyk)
        image = pyvips.Image.thumbnail_buffer(
            data, width, height=_NO_LIMIT, size="down", option_string=_LOADER_OPTIONS, **colour
        )
        if image.get("vips-loader") != LOADERS[fmt][1]:
            raise InvalidImage(f"the file claims to be {fmt.upper()} but does not decode as one")
        had_profile = header.icc_profile
    if header.nclx is not None and not had_profile:
        image = nclx_to_srgb(image, header.nclx.primaries, header.nclx.transfer)
    if fmt == "gif":
        image = _uncovered_transparent(image, header)
    # copy_memory runs the whole pipeline now, so decode errors surface here, once.
    image = to_srgb_8bit(image).copy_memory()
    return image, _notes(header, fmt, had_profile)
