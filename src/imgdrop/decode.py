"""Header probing and the one decode of the thumbnail engine (libvips; pillow-heif for HEIC).

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

from imgdrop.core.errors import InvalidImage
from imgdrop.jpeg_scans import for_eighth_scale

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
    """Read size, frame count and orientation with the explicit loader for `fmt`."""
    if fmt == "heic":
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        width, height = heif.size
        return Header(width, height, len(heif))
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


def _jpeg_scaled(data: bytes, header: Header, width: int) -> pyvips.Image | None:
    """DCT-scaled JPEG decode by Pillow's libjpeg-turbo, wrapped for libvips; None to let
    libvips decode instead (CMYK, or too big for Pillow's own bomb guard).

    Measured on ../shared/corpus: Pillow's libjpeg-turbo decodes at 1/8 scale ~25 % faster
    than pyvips-binary's (docs/benchmarks.md), and the decode is most of an upload's time.
    A progressive JPEG decoded at 1/8 skips the scans that scale never reads (jpeg_scans).
    """
    if header.cmyk or header.width * header.height > (Image.MAX_IMAGE_PIXELS or 0):
        return None
    # Keep the side that becomes the displayed width at least `width` after scaling.
    request = (1, width) if header.orientation >= 5 else (width, 1)
    eighth = (-(-header.width // 8), -(-header.height // 8))
    reduced = None
    if min(header.width // request[0], header.height // request[1]) >= 8:
        reduced = for_eighth_scale(data)
    pixels, size, mode, icc = _pillow_draft(reduced or data, request)
    if reduced is not None and size != eighth:  # cannot happen; never trust a reduced stream
        pixels, size, mode, icc = _pillow_draft(data, request)
    if mode not in ("RGB", "L"):
        return None
    bands = 3 if mode == "RGB" else 1
    image = pyvips.Image.new_from_memory(pixels, size[0], size[1], bands, "uchar")
    image = image.copy(interpretation="srgb" if bands == 3 else "b-w")
    image.set_type(pyvips.GValue.gint_type, "orientation", header.orientation)
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return image


def _pillow_draft(
    data: bytes, request: tuple[int, int]
) -> tuple[bytes, tuple[int, int], str, bytes | None]:
    """Pillow's DCT-scaled decode: (pixels, size, mode, ICC profile); no pixels unless the
    mode is RGB or L."""
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
        if im.mode not in ("RGB", "L"):
            return b"", im.size, im.mode, None
        im.draft(im.mode, request)
        try:
            im.load()
        except OSError as exc:  # Pillow's word for a truncated or broken JPEG stream
            raise InvalidImage(f"the image could not be decoded: {exc}") from None
        return im.tobytes(), im.size, im.mode, im.info.get("icc_profile")


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
        colour = _colour_options(
            had_profile, had_profile and icc_is_srgb(source.get("icc-profile-data")), cmyk=False
        )
        # thumbnail_image applies the orientation and the profile carried on `source`.
        image = source.thumbnail_image(width, height=_NO_LIMIT, size="down", **colour)
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
