"""The header probe: size, frames, orientation and colour, read without decoding pixels.

Importing this module locks libvips down for the whole process: every loader is blocked except
the five this engine needs (so SVG, PDF, PostScript, TIFF-in-disguise, matrix, CSV … can never
run, even through autodetection), untrusted operations are blocked, and the operation cache is
off (a server sees each image once; the cache would only pin big buffers in memory).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pillow_heif
import pyvips
from PIL import Image

from imgdrop.engine.colour import icc_is_srgb
from imgdrop.engine.jpeg_scans import frame_size

# Our type name -> (libvips loader class to unblock, the nickname libvips reports as loader).
LOADERS = {
    "jpeg": ("VipsForeignLoadJpegBuffer", "jpegload_buffer"),
    "png": ("VipsForeignLoadPngBuffer", "pngload_buffer"),
    "webp": ("VipsForeignLoadWebpBuffer", "webpload_buffer"),
    "gif": ("VipsForeignLoadNsgifBuffer", "gifload_buffer"),
    "avif": ("VipsForeignLoadHeifBuffer", "heifload_buffer"),
    "tiff": ("VipsForeignLoadTiffBuffer", "tiffload_buffer"),
}


def _lock_down_libvips() -> None:
    pyvips.cache_set_max(0)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for class_name, _ in LOADERS.values():
        pyvips.operation_block_set(class_name, False)


_lock_down_libvips()


@dataclass(frozen=True)
class Header:
    """What the header says, read without decoding pixels."""

    width: int
    height: int
    frames: int = 1
    orientation: int = 1
    cmyk: bool = False
    icc_profile: bool = False
    icc_is_srgb: bool = False

    @property
    def display_width(self) -> int:
        """Width once EXIF orientation is applied."""
        return self.height if self.orientation >= 5 else self.width

    @property
    def display_height(self) -> int:
        """Height once EXIF orientation is applied."""
        return self.width if self.orientation >= 5 else self.height


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    return int(image.get(name)) if image.get_typeof(name) else default


def probe_header(data: bytes, fmt: str) -> Header:
    """Read size, frame count and orientation without decoding pixels."""
    if fmt == "heic":
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        width, height = heif.size
        return Header(width, height, len(heif))
    if fmt == "jpeg" and (header := _jpeg_header(data)) is not None:
        return header
    return vips_header(data, fmt)


def vips_header(data: bytes, fmt: str) -> Header:
    """The header as libvips' explicit loader for `fmt` reads it."""
    nickname = LOADERS[fmt][1]
    # Loaders called directly are lazy: this parses the header and allocates no pixels.
    image = getattr(pyvips.Image, nickname)(data)
    orientation = _int_field(image, "orientation", 1)
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else b""
    return Header(
        image.width,
        image.height,
        _int_field(image, "n-pages", 1),
        orientation if 1 <= orientation <= 8 else 1,
        cmyk=image.interpretation == "cmyk",
        icc_profile=bool(icc),
        icc_is_srgb=icc_is_srgb(icc),
    )


def _jpeg_header(data: bytes) -> Header | None:
    """A JPEG's header read by Pillow: 0.1 ms where libvips takes 0.5 ms (it also unpacks all
    of EXIF). None to ask libvips instead: more pixels than Pillow's own bomb guard allows
    (Image.open would warn or refuse), or a stream Pillow cannot read."""
    size = frame_size(data)
    if size is None or size[0] * size[1] > (Image.MAX_IMAGE_PIXELS or 0):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            mode, icc = im.mode, im.info.get("icc_profile") or b""
            orientation = _exif_orientation(im)
    except (OSError, SyntaxError, ValueError, Warning):  # Warning: when warnings are errors
        return None
    return Header(
        size[0],
        size[1],
        orientation=orientation,
        cmyk=mode == "CMYK",
        icc_profile=bool(icc),
        icc_is_srgb=icc_is_srgb(icc),
    )


def _exif_orientation(image: Image.Image) -> int:
    """EXIF orientation 1-8; 1 when absent, out of range or unreadable (as libvips does)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # EXIF is untrusted and Pillow's errors for bad EXIF vary; 1 is safe
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def vips_reason(exc: pyvips.Error) -> str:
    """The most specific line of a libvips error, for people."""
    lines = [ln.strip() for ln in f"{exc.message}\n{exc.detail or ''}".splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith("unable to call")]
    return useful[-1] if useful else "libvips could not read it"
