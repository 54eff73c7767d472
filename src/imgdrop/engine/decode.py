"""The one decode of the thumbnail engine, shrinking on load to the largest width.

libvips decodes PNG, WebP, GIF and AVIF (thumbnail_buffer); Pillow's libjpeg-turbo decodes RGB
and greyscale JPEGs at DCT scale; pillow-heif (libheif) decodes HEIC, which pyvips-binary
cannot. The result is upright, 8-bit sRGB and in memory.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import pillow_heif
import pyvips
from PIL import Image

from imgdrop.core.errors import InvalidImage
from imgdrop.engine.colour import colour_options, embedded_to_srgb, to_srgb_8bit
from imgdrop.engine.encode import resize_to_width
from imgdrop.engine.jpeg_scans import for_eighth_scale
from imgdrop.engine.probe import LOADERS, Header

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
    if header.cmyk:
        notes.append("CMYK converted to sRGB")
    elif had_profile:
        notes.append("colour converted to sRGB from the embedded ICC profile")
    return tuple(notes)


def _heic_image(data: bytes) -> pyvips.Image:
    """Decode HEIC with libheif (pyvips-binary has no HEVC decoder) and wrap it for libvips."""
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    width, height = heif.size
    bands = len(heif.mode)  # "RGB" or "RGBA" once HDR is converted to 8-bit
    pixels = heif.data
    row = width * bands
    if heif.stride != row:  # libheif pads rows; libvips wants them packed
        pixels = b"".join(pixels[y * heif.stride : y * heif.stride + row] for y in range(height))
    image = pyvips.Image.new_from_memory(bytes(pixels), width, height, bands, "uchar")
    image = image.copy(interpretation="srgb")
    if heif.info.get("icc_profile"):
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", heif.info["icc_profile"])
    return image


# The Pillow transposition that turns an image stored with EXIF orientation 2-8 upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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
        upright = im.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else im
        return _Decoded(
            upright.tobytes(), *upright.size, im.mode, im.info.get("icc_profile"), im.size
        )


def decode_largest(
    data: bytes, fmt: str, header: Header, width: int
) -> tuple[pyvips.Image, tuple[str, ...]]:
    """Decode once, shrinking on load to `width`: upright, 8-bit sRGB, in memory."""
    source = _heic_image(data) if fmt == "heic" else None
    if fmt == "jpeg":
        source = _jpeg_scaled(data, header, width)
    if source is not None:
        image, had_profile = embedded_to_srgb(resize_to_width(source, width))  # it is upright
    else:
        colour = colour_options(header.icc_profile, header.icc_is_srgb, header.cmyk)
        image = pyvips.Image.thumbnail_buffer(
            data, width, height=_NO_LIMIT, size="down", option_string=_LOADER_OPTIONS, **colour
        )
        if image.get("vips-loader") != LOADERS[fmt][1]:
            raise InvalidImage(f"the file claims to be {fmt.upper()} but does not decode as one")
        had_profile = header.icc_profile
    # copy_memory runs the whole pipeline now, so decode errors surface here, once.
    image = to_srgb_8bit(image).copy_memory()
    return image, _notes(header, fmt, had_profile)
