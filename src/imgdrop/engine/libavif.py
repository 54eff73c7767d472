"""AVIF decode that shrinks before the RGB conversion: libavif's C API, through ctypes.

AV1 has no reduced-size decode, so an AVIF's floor is libavif's full-size decode plus its
conversion of the YUV planes to one RGB buffer (what Pillow's binding does). The engine needs
1,200 px of a photo's 4032 (three times the 400 px thumbnail, for the Lanczos resize that
follows), so here the first frame is decoded to YUV, its planes are scaled down first
(`avifImageScale`: libyuv's box filter, as the engine's box shrink of the RGB did), and only
the small result is converted to RGB. On a 12 MP photo that skips the full-size RGB
conversion, Pillow's copy of it and the engine's own pass over it: at or below the decode
floor instead of ~1.15x above it (docs/benchmarks.md, run H), in half the memory.

The library is the one Pillow's AVIF plugin loaded (found in /proc/self/maps), with Pillow's
decoder settings (its thread count; clean-aperture and pixi strictness off). ctypes needs the
layout of two public structs, and libavif only promises their fields in order: so at first
use the layout is checked against what `avifDecoderCreate` and `avifRGBImageSetDefaults`
must write there (their documented defaults), and each conversion checks the row size it is
given. If anything differs — another libavif major version, one built without libyuv, a
Pillow without a shared libavif — `available()` is False and the engine decodes through
Pillow's binding, as before.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

from imgdrop.core.errors import InvalidImage

_VP = ctypes.c_void_p
_OK = 0
# avifDecoder opens with 11 uint32-sized settings: codecChoice (AUTO), maxThreads (1),
# requestedSource, allowProgressive, allowIncremental, ignoreExif, ignoreXMP (all 0),
# imageSizeLimit (16384 * 16384), imageDimensionLimit (32768), imageCountLimit (12 h at
# 60 fps) and strictFlags (AVIF_STRICT_ENABLED = PIXI_REQUIRED | CLAP_VALID | ALPHA_ISPE).
_DECODER_DEFAULTS = (0, 1, 0, 0, 0, 0, 0, 16384 * 16384, 32768, 12 * 3600 * 60, 7)
_MAX_THREADS, _STRICT_FLAGS = 1, 10  # their indexes
_STRICT_PIXI_REQUIRED, _STRICT_CLAP_VALID = 1, 2  # what Pillow turns off
# avifRGBImage: width, height, depth, format, chromaUpsampling, chromaDownsampling,
# avoidLibYUV, ignoreAlpha, alphaPremultiplied, isFloat, maxThreads (4 bytes each), then the
# pixels pointer (offset 48 on 64-bit) and rowBytes (offset 56).
_RGB_DEPTH, _RGB_FORMAT = 2, 3
_RGB_FORMAT_RGB, _RGB_FORMAT_RGBA = 0, 1
_RGB_PIXELS_OFFSET, _RGB_ROW_BYTES = 48, 14
_RGB_STRUCT_BYTES = 256  # room to spare: avifRGBImageSetDefaults writes the whole struct
_YUV420 = 3  # avifPixelFormat


def _loaded_library() -> Path | None:
    """The libavif shared object this process has loaded (Pillow's), or None."""
    from PIL import _avif  # noqa: F401  (loads it)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():  # address, perms, offset, device, inode, path
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "/libavif" in fields[5] and ".so" in fields[5]:
            return Path(fields[5])
    return None


@functools.cache
def _lib() -> ctypes.CDLL | None:
    """libavif with the signatures used here, if its layout is the one checked above."""
    path = _loaded_library()
    if path is None or ctypes.sizeof(_VP) != 8:  # the offsets below are 64-bit ones
        return None
    lib = ctypes.CDLL(str(path))
    lib.avifVersion.restype = ctypes.c_char_p
    lib.avifResultToString.restype = ctypes.c_char_p
    lib.avifResultToString.argtypes = [ctypes.c_int]
    lib.avifDecoderCreate.restype = _VP
    lib.avifDecoderDestroy.argtypes = [_VP]
    lib.avifDecoderSetIOMemory.argtypes = [_VP, ctypes.c_char_p, ctypes.c_size_t]
    lib.avifDecoderRead.argtypes = [_VP, _VP]
    lib.avifImageCreateEmpty.restype = _VP
    lib.avifImageCreate.restype = _VP
    lib.avifImageCreate.argtypes = [ctypes.c_uint32] * 4
    lib.avifImageDestroy.argtypes = [_VP]
    lib.avifImageScale.argtypes = [_VP, ctypes.c_uint32, ctypes.c_uint32, _VP]
    lib.avifRGBImageSetDefaults.argtypes = [_VP, _VP]
    lib.avifRGBImageAllocatePixels.argtypes = [_VP]
    lib.avifRGBImageFreePixels.argtypes = [_VP]
    lib.avifImageYUVToRGB.argtypes = [_VP, _VP]
    lib.avifLibYUVVersion.restype = ctypes.c_uint
    if not lib.avifVersion().startswith(b"1.") or not lib.avifLibYUVVersion():
        return None  # avifImageScale is libyuv's: without it, it is "not implemented"
    decoder = lib.avifDecoderCreate()
    try:
        head = tuple((ctypes.c_uint32 * len(_DECODER_DEFAULTS)).from_address(decoder))
    finally:
        lib.avifDecoderDestroy(decoder)
    return lib if head == _DECODER_DEFAULTS and _rgb_layout_as_expected(lib) else None


def _rgb_layout_as_expected(lib: ctypes.CDLL) -> bool:
    """avifRGBImageSetDefaults on a 7x5 8-bit image writes its size and depth, the default
    format RGBA and no pixels where this module reads them; allocating 8-bit RGB then gives
    21-byte rows."""
    image = lib.avifImageCreate(7, 5, 8, _YUV420)
    rgb = (ctypes.c_uint32 * (_RGB_STRUCT_BYTES // 4))()
    try:
        lib.avifRGBImageSetDefaults(rgb, image)
        defaults = (rgb[0], rgb[1], rgb[_RGB_DEPTH], rgb[_RGB_FORMAT])
        if (
            defaults != (7, 5, 8, _RGB_FORMAT_RGBA)
            or _VP.from_buffer(rgb, _RGB_PIXELS_OFFSET).value
        ):
            return False
        rgb[_RGB_FORMAT] = _RGB_FORMAT_RGB
        if lib.avifRGBImageAllocatePixels(rgb) != _OK:
            return False
        return bool(_VP.from_buffer(rgb, _RGB_PIXELS_OFFSET).value) and rgb[_RGB_ROW_BYTES] == 21
    finally:
        lib.avifRGBImageFreePixels(rgb)
        lib.avifImageDestroy(image)


def available() -> bool:
    """Whether the YUV-first decode can run here (else: Pillow's binding)."""
    return _lib() is not None


def _check(lib: ctypes.CDLL, result: int, doing: str) -> None:
    if result != _OK:
        reason = lib.avifResultToString(result).decode("ascii", "replace")
        raise InvalidImage(f"the AVIF could not be decoded ({doing}): {reason}")


def decode_scaled(
    data: bytes, fit: tuple[int, int], alpha: bool, threads: int
) -> tuple[bytes, int, int, int]:
    """The first frame, its YUV planes box-scaled down to `fit` (width, height) first if it is
    larger, then converted to 8-bit RGB (RGBA if `alpha`): (pixels, width, height, bands)."""
    lib = _lib()
    if lib is None:
        raise RuntimeError("libavif's C API is not usable here (see available())")
    decoder = lib.avifDecoderCreate()
    image = lib.avifImageCreateEmpty()
    rgb = (ctypes.c_uint32 * (_RGB_STRUCT_BYTES // 4))()
    try:
        settings = (ctypes.c_uint32 * len(_DECODER_DEFAULTS)).from_address(decoder)
        settings[_MAX_THREADS] = max(1, threads)
        settings[_STRICT_FLAGS] &= ~(_STRICT_PIXI_REQUIRED | _STRICT_CLAP_VALID)
        _check(lib, lib.avifDecoderSetIOMemory(decoder, data, len(data)), "reading")
        _check(lib, lib.avifDecoderRead(decoder, image), "decoding")  # parse + first frame
        width, height = (ctypes.c_uint32 * 2).from_address(image)
        if fit[0] < width and fit[1] < height:
            diagnostics = ctypes.create_string_buffer(512)
            _check(lib, lib.avifImageScale(image, fit[0], fit[1], diagnostics), "scaling")
        lib.avifRGBImageSetDefaults(rgb, image)
        out_w, out_h = rgb[0], rgb[1]
        bands = 4 if alpha else 3
        rgb[_RGB_DEPTH] = 8
        rgb[_RGB_FORMAT] = _RGB_FORMAT_RGBA if alpha else _RGB_FORMAT_RGB
        _check(lib, lib.avifRGBImageAllocatePixels(rgb), "allocating")
        pixels = _VP.from_buffer(rgb, _RGB_PIXELS_OFFSET).value
        if not pixels or rgb[_RGB_ROW_BYTES] != out_w * bands:  # layout guard, see above
            raise RuntimeError("libavif's avifRGBImage layout is not the one expected")
        _check(lib, lib.avifImageYUVToRGB(image, rgb), "converting to RGB")
        return ctypes.string_at(pixels, out_w * bands * out_h), out_w, out_h, bands
    finally:
        lib.avifRGBImageFreePixels(rgb)
        lib.avifImageDestroy(image)
        lib.avifDecoderDestroy(decoder)
