"""Header probing and the one decode of the thumbnail engine (libvips; pillow-heif for HEIC).

Importing this module locks libvips down for the whole process: every loader is blocked except
the five this engine needs (so SVG, PDF, PostScript, TIFF-in-disguise, matrix, CSV … can never
run, even through autodetection), untrusted operations are blocked, and the operation cache is
off (a server sees each image once; the cache would only pin big buffers in memory).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple

import pillow_heif
import pyvips
from PIL import Image

from imgdrop.core.errors import InvalidImage
from imgdrop.jpeg_scans import for_eighth_scale, frame_size

# Our type name -> (libvips loader class to unblock, the nickname libvips reports as loader).
_LOADERS = {
    "jpeg": ("VipsForeignLoadJpegBuffer", "jpegload_buffer"),
    "png": ("VipsForeignLoadPngBuffer", "pngload_buffer"),
    "webp": ("VipsForeignLoadWebpBuffer", "webpload_buffer"),
    "gif": ("VipsForeignLoadNsgifBuffer", "gifload_buffer"),
    "avif": ("VipsForeignLoadHeifBuffer", "heifload_buffer"),
    "tiff": ("VipsForeignLoadTiffBuffer", "tiffload_buffer"),
}
_NO_LIMIT = 10_000_000
# A cut-off or corrupt upload is an error, not a grey half-picture: "error" also catches a PNG
# chunk with a bad CRC ("truncated" let libpng ignore it); every photo in ../shared/corpus still
# loads. It must go in the loader's option string: thumbnail_buffer's own `fail_on` argument does
# not reach the loader (libvips 8.18).
_LOADER_OPTIONS = "fail_on=error"


def _lock_down_libvips() -> None:
    pyvips.cache_set_max(0)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for class_name, _ in _LOADERS.values():
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
    nickname = _LOADERS[fmt][1]
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


def icc_is_srgb(icc: bytes) -> bool:
    """Whether an ICC profile is an RGB profile describing itself as sRGB (e.g. from cameras)."""
    if len(icc) < 132 or icc[16:20] != b"RGB ":
        return False
    count = int.from_bytes(icc[128:132], "big")
    for i in range(min(count, 100)):
        entry = icc[132 + 12 * i : 144 + 12 * i]
        if entry[:4] == b"desc":
            start = int.from_bytes(entry[4:8], "big")
            text = icc[start : start + min(int.from_bytes(entry[8:12], "big"), 512)]
            # v2 'desc' holds ASCII; v4 'mluc' holds UTF-16BE: dropping NULs reads both.
            return b"srgb" in text[8:].replace(b"\0", b"").lower()
    return False


def vips_reason(exc: pyvips.Error) -> str:
    """The most specific line of a libvips error, for people."""
    lines = [ln.strip() for ln in f"{exc.message}\n{exc.detail or ''}".splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith("unable to call")]
    return useful[-1] if useful else "libvips could not read it"


def _to_srgb_8bit(image: pyvips.Image) -> pyvips.Image:
    """Make sure the pixels are 8-bit sRGB or grey (16-bit PNGs arrive as ushort)."""
    if image.format == "uchar" and image.interpretation in ("srgb", "b-w"):
        return image
    space = "b-w" if image.interpretation in ("b-w", "grey16") else "srgb"
    image = image.colourspace(space)
    return image if image.format == "uchar" else image.cast("uchar")


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


def resize_to_width(image: pyvips.Image, width: int) -> pyvips.Image:
    """Lanczos3 down to `width` (never up), the height in proportion and at least 1 px.

    Against a Lanczos resize of the full-size decode (PSNR, corpus photos), this scored
    equal to libvips' `thumbnail_image` on one and 5-10 dB closer on three (at 400 and at
    200 px from 400), and it is ~0.3 ms faster.
    """
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    scale, vscale = width / image.width, height / image.height
    if image.hasalpha():  # premultiplied, so transparent pixels lend no colour to their edges
        resized = image.premultiply().resize(scale, vscale=vscale).unpremultiply()
        return resized.cast(image.format)
    return image.resize(scale, vscale=vscale)


def _colour_options(has_profile: bool, is_srgb: bool, cmyk: bool) -> dict[str, str]:
    """Ask libvips for an ICC transform only when it changes pixels.

    Untagged RGB is taken as sRGB, and sRGB-to-sRGB would cost ~20 ms per image (the libvips
    cache is off, so the LittleCMS transform is rebuilt every time) for no visible change.
    """
    if cmyk or (has_profile and not is_srgb):
        return {"output_profile": "srgb"}
    return {}


def decode_largest(
    data: bytes, fmt: str, header: Header, width: int
) -> tuple[pyvips.Image, tuple[str, ...]]:
    """Decode once, shrinking on load to `width`: upright, 8-bit sRGB, in memory."""
    source = _heic_image(data) if fmt == "heic" else None
    if fmt == "jpeg":
        source = _jpeg_scaled(data, header, width)
    if source is not None:
        had_profile = bool(source.get_typeof("icc-profile-data"))
        image = resize_to_width(source, width)  # `source` is upright
        if had_profile and not icc_is_srgb(source.get("icc-profile-data")):
            image = image.icc_transform("srgb", embedded=True)
    else:
        colour = _colour_options(header.icc_profile, header.icc_is_srgb, header.cmyk)
        image = pyvips.Image.thumbnail_buffer(
            data, width, height=_NO_LIMIT, size="down", option_string=_LOADER_OPTIONS, **colour
        )
        if image.get("vips-loader") != _LOADERS[fmt][1]:
            raise InvalidImage(f"the file claims to be {fmt.upper()} but does not decode as one")
        had_profile = header.icc_profile
    # copy_memory runs the whole pipeline now, so decode errors surface here, once.
    image = _to_srgb_8bit(image).copy_memory()
    return image, _notes(header, fmt, had_profile)
