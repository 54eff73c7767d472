"""The header probe: size, frames, orientation and colour, read without decoding pixels.

Importing this module locks libvips down for the whole process: every loader is blocked except
the five this engine needs (so SVG, PDF, PostScript, TIFF-in-disguise, matrix, CSV … can never
run, even through autodetection), untrusted operations are blocked, and the operation cache is
off (a server sees each image once; the cache would only pin big buffers in memory).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import pyvips
from PIL import Image

from imgdrop.engine.colour import icc_is_srgb
from imgdrop.engine.isobmff import Nclx
from imgdrop.engine.jpeg_scans import frame_size

# Our type name -> (libvips loader class to unblock, the nickname libvips reports as loader).
LOADERS = {
    "jpeg": ("VipsForeignLoadJpegBuffer", "jpegload_buffer"),
    "png": ("VipsForeignLoadPngBuffer", "pngload_buffer"),
    "webp": ("VipsForeignLoadWebpBuffer", "webpload_buffer"),
    "gif": ("VipsForeignLoadNsgifBuffer", "gifload_buffer"),
    "avif": ("VipsForeignLoadHeifBuffer", "heifload_buffer"),  # only what libavif cannot parse
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
    nclx: Nclx | None = None  # AVIF/HEIF colour signalled by code points instead of ICC
    preview: tuple[int, int, int] | None = None  # HEIC: (index, width, height) of a thumbnail
    from_preview: bool = False  # decode the preview: the full image is over the memory budget
    first_frame: tuple[int, int, int, int] | None = None  # GIF: left, top, width, height
    lossless: bool = False  # WebP stored losslessly (VP8L)
    libheif: bool = False  # AVIF that libavif cannot parse: libvips' libheif loader reads it
    alpha: bool = False  # AVIF: an alpha plane is present (libavif)

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
    if fmt in ("heic", "avif"):
        from imgdrop.engine import heif  # imports this module: import it late

        return heif.probe_heic(data) if fmt == "heic" else heif.probe_avif(data)
    if fmt == "jpeg" and (header := _jpeg_header(data)) is not None:
        return header
    header = vips_header(data, fmt)
    if fmt == "gif":
        return replace(header, first_frame=gif_first_frame(data))
    if fmt == "webp":
        return replace(header, lossless=webp_is_lossless(data))
    return header


def gif_first_frame(data: bytes) -> tuple[int, int, int, int] | None:
    """(left, top, width, height) of a GIF's first image descriptor, or None if unreadable."""
    pos = 13
    if len(data) > 10 and data[10] & 0x80:  # a global colour table follows the screen
        pos += 3 << ((data[10] & 7) + 1)
    while pos < len(data):
        if data[pos] == 0x2C and pos + 9 <= len(data):
            return tuple(
                int.from_bytes(data[pos + i : pos + i + 2], "little") for i in (1, 3, 5, 7)
            )  # type: ignore[return-value]
        if data[pos] != 0x21 or pos + 2 >= len(data):
            return None
        pos += 2  # extension introducer and label, then sub-blocks up to a zero length
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return None


def _le16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "little")


def webp_is_lossless(data: bytes) -> bool:
    """Whether a WebP's (first) image is stored losslessly: its first image chunk is VP8L."""
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    for _ in range(64):  # a handful of chunks (VP8X, ICCP, ANIM) come before the image
        if pos + 8 > end:
            return False
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if kind == b"ANMF":  # an animation frame: its image chunks follow a 16-byte header
            pos += 8 + 16
            continue
        if kind in (b"VP8L", b"VP8 ", b"ALPH"):
            return kind == b"VP8L"
        pos += 8 + size + (size & 1)
    return False


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


# The Pillow transposition that turns an image stored with EXIF orientation 2-8 upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
