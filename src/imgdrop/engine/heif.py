"""Decoders for the ISO-BMFF formats: HEIC by libheif (pillow-heif), AVIF by libavif (Pillow).

pyvips-binary's libheif has no HEVC decoder, and for AVIF libavif is the reference: it refuses
invalid grids and non-essential transforms that libheif accepts, and it reads animated AVIF
(the thumbnail is its first frame). Both run after `isobmff.check_container`, so a cut-off file
never reaches them. The results are wrapped for libvips without copying the full-size pixels.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pillow_heif
import pyvips
from PIL import (
    AvifImagePlugin,
    Image,
    UnidentifiedImageError,
    _avif,
)

from imgdrop.engine import isobmff, libavif
from imgdrop.engine.colour import icc_is_srgb
from imgdrop.engine.probe import Header, vips_header

_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
# AvifImagePlugin is imported by name so that it is registered: else Image.open(formats=["AVIF"])
# first loads every Pillow plugin (Image.init), ~0.35 s in a fresh process without bytecode
# caches, which put small invalid AVIFs near the peer suites' 2 s refusal limit when loaded.


def probe_heic(data: bytes) -> Header:
    """Size, frames and colour of a HEIC's primary image, and its largest embedded preview."""
    isobmff.check_container(data)
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    width, height = heif.size
    icc = heif.info.get("icc_profile") or b""
    return Header(
        width,
        height,
        len(heif),
        icc_profile=bool(icc),
        icc_is_srgb=icc_is_srgb(icc),
        nclx=None if icc else isobmff.nclx(data),
        preview=_largest_preview(heif[heif.primary_index], width),
    )


def _largest_preview(image: pillow_heif.HeifImage, width: int) -> tuple[int, int, int] | None:
    """(index, width, height) of the largest embedded thumbnail, or None."""
    best = None
    for index in range(len(image.info.get("thumbnails") or ())):
        size = image.get_thumbnail(index).size
        if best is None or size[0] > best[1]:
            best = (index, *size)
    return best


def probe_avif(data: bytes) -> Header:
    """Size, frames, orientation (irot/imir) and colour of an AVIF, as libavif parses it."""
    isobmff.check_container(data)
    isobmff.check_transforms_essential(data)
    try:
        opened = Image.open(io.BytesIO(data), formats=["AVIF"])
    except UnidentifiedImageError:
        # libavif 1.4 cannot parse some valid newer layouts (layered "pymd" pyramids); the
        # container checks above passed, so libheif (libvips' loader) reads it instead.
        header = vips_header(data, "avif")
        return replace(
            header, nclx=None if header.icc_profile else isobmff.nclx(data), libheif=True
        )
    with opened as im:
        icc = im.info.get("icc_profile") or b""
        orientation = int(im.getexif().get(0x0112, 1) or 1)
        return Header(
            im.width,
            im.height,
            getattr(im, "n_frames", 1),
            orientation if 1 <= orientation <= 8 else 1,
            icc_profile=bool(icc),
            icc_is_srgb=icc_is_srgb(icc),
            nclx=None if icc else isobmff.nclx(data),
            alpha=im.mode == "RGBA",
        )


def _wrap(
    pixels: memoryview | bytes, size: tuple[int, int], stride: int, mode: str
) -> pyvips.Image:
    """libheif's rows (`stride` bytes apart) as a libvips image, without a copy.

    Rows padded by whole pixels are read as a wider image and cropped (free: a region); only
    other padding goes through bandfold, a pass over every pixel (13 ms of a 12 MP HEIC).
    """
    width, height = size
    bands = _BANDS[mode]
    interpretation = "srgb" if bands >= 3 else "b-w"
    if stride % bands == 0:
        wide = pyvips.Image.new_from_memory(pixels, stride // bands, height, bands, "uchar")
        image = wide.crop(0, 0, width, height) if stride != width * bands else wide
        return image.copy(interpretation=interpretation)
    flat = pyvips.Image.new_from_memory(pixels, stride, height, 1, "uchar")
    image = flat.crop(0, 0, width * bands, height).bandfold(factor=bands)
    return image.copy(interpretation=interpretation)


def decode_heic(data: bytes, header: Header, width: int) -> pyvips.Image:
    """The primary image (or, when `header.from_preview`, its largest preview), upright (libheif
    applies irot/imir), full size: `resize_to_width` reduces it in one Lanczos pass."""
    # One decode thread per core this process may use, as Pillow does for AVIF: pillow-heif's
    # default of 4 oversubscribes a worker pool that already runs one process per core.
    pillow_heif.options.DECODE_THREADS = len(os.sched_getaffinity(0))
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    primary = heif[heif.primary_index]
    if header.from_preview and header.preview is not None:
        thumb = primary.get_thumbnail(header.preview[0])
        image = _wrap(thumb.data, thumb.size, thumb.stride, thumb.mode)
    else:
        image = _wrap(primary.data, primary.size, primary.stride, primary.mode)
    if heif.info.get("icc_profile"):
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", heif.info["icc_profile"])
    return image


def _shrink(image: pyvips.Image, width: int, side: int) -> pyvips.Image:
    """Box-shrink by the largest whole factor that keeps `side` at least twice `width` (AVIF
    through Pillow: before the EXIF rotation, which would otherwise copy the full size)."""
    factor = min(side // (2 * width), image.width, image.height)
    return image.shrink(factor, factor) if factor > 1 else image


# libyuv's box filter, then Lanczos from 3x the width: against a Lanczos resize of the
# full-size decode, 42 / 52 dB (PSNR, the bench's 12 MP / 6 MP AVIFs at 400 px) where 2x gave
# 41 / 45; the engine's time with 3x and 2x differed by less than this machine's noise (±5 ms).
_AVIF_FIT = 3


def decode_avif(data: bytes, header: Header, width: int) -> pyvips.Image:
    """The first frame, upright, box-scaled from the full size to (through libavif) three
    times `width` or (through Pillow) at least twice it; the Lanczos resize follows.

    Through libavif's C API when it is usable (`libavif`: the YUV planes are scaled before
    the RGB conversion), else through Pillow's binding (`_avif`, what AvifImagePlugin wraps),
    whose full-size RGB goes to libvips without a copy for the same box shrink.
    """
    threads = AvifImagePlugin._get_default_max_threads()
    if libavif.available():
        side = header.display_width
        scale = min(1.0, _AVIF_FIT * width / side) if side else 1.0
        fit = (max(1, round(header.width * scale)), max(1, round(header.height * scale)))
        pixels, w, h, bands = libavif.decode_scaled(data, fit, header.alpha, threads)
        image = pyvips.Image.new_from_memory(pixels, w, h, bands, "uchar")
        icc = header.icc_profile and _avif_icc(data)
    else:
        decoder = _avif.AvifDecoder(data, "auto", threads)
        (stored_w, stored_h), _, mode, icc, *_ = decoder.get_info()
        pixels = decoder.get_frame(0)[0]
        image = pyvips.Image.new_from_memory(pixels, stored_w, stored_h, _BANDS[mode], "uchar")
        image = _shrink(image, width, stored_h if header.orientation >= 5 else stored_w)
    if header.orientation != 1:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", header.orientation)
        image = image.autorot()
    image = image.copy(interpretation="srgb" if image.bands >= 3 else "b-w")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return image


def _avif_icc(data: bytes) -> bytes:
    """The AVIF's ICC profile, as Pillow's plugin reads it (the header saw that there is one)."""
    with Image.open(io.BytesIO(data), formats=["AVIF"]) as im:
        return bytes(im.info.get("icc_profile") or b"")
