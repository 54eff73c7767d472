"""The thumbnail engine: bytes in -> 200 and 400 px thumbnails out. Pure: no I/O.

Guards first (bytes, type from content, pixels and frames from the header), then one decode with
shrink-on-load at the largest width; smaller widths are derived from that result. Only
ImgdropError subclasses (InvalidImage, TooLarge, UnsupportedType) leave `make_thumbnails`.
Animated GIF/WebP (and HEIF sequences) are thumbnailed from their first frame.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyvips
from PIL import Image

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge, UnsupportedType
from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.decode import Header, decode_largest, probe_header, resize_to_width, vips_reason
from imgdrop.placeholder import PLACEHOLDER_MAX_SIDE, thumbhash_base64
from imgdrop.sniff import describe, has_appended_markup, sniff_type

__all__ = ["CONTENT_TYPES", "Limits", "Thumbnail", "Thumbnails", "make_thumbnails", "sniff_type"]

# Browsers show these, so thumbnails keep the original's format; everything else becomes JPEG.
_SAME_FORMAT_OUT = {"jpeg", "png", "webp", "gif"}
_NONE = pyvips.enums.ForeignKeep.NONE  # no EXIF, GPS, XMP, IPTC, ICC or comments in thumbnails
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # by band count, for 8-bit pixels


@dataclass(frozen=True)
class Limits:
    """Guards applied before decoding."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 250_000_000
    max_frames: int = 1000
    allowed_types: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "avif", "heic")


@dataclass(frozen=True)
class Thumbnail:
    """One output image."""

    width: int
    height: int
    format: str
    content_type: str
    data: bytes

    @property
    def ext(self) -> str:
        """File extension for this format."""
        return "jpg" if self.format == "jpeg" else self.format


@dataclass(frozen=True)
class Thumbnails(Sequence[Thumbnail]):
    """One Thumbnail per requested width, plus facts about the source for the catalog.

    `source_width`/`source_height` are as displayed (after EXIF orientation); `placeholder` is a
    base64 ThumbHash; `notes` are human-readable remarks (first frame used, colour converted).
    """

    items: tuple[Thumbnail, ...]
    source_format: str
    source_width: int
    source_height: int
    placeholder: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def __iter__(self) -> Iterator[Thumbnail]:
        return iter(self.items)


def _check_type(data: bytes, limits: Limits) -> str:
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    fmt = sniff_type(data)
    if fmt is None or fmt not in limits.allowed_types:
        allowed = ", ".join(t.upper() for t in limits.allowed_types)
        raise UnsupportedType(f"the file is {describe(data)}; accepted types are {allowed}")
    if has_appended_markup(data, fmt):
        raise InvalidImage(
            f"the {fmt.upper()} has HTML or script appended after the image data "
            "(an image/HTML polyglot); refused"
        )
    return fmt


def _check_header(header: Header, limits: Limits) -> None:
    pixels = header.width * header.height
    if pixels > limits.max_pixels:
        raise TooLarge(
            f"the image is {header.width}x{header.height} pixels "
            f"({pixels / 1e6:.0f} MP); the limit is {limits.max_pixels / 1e6:.0f} MP"
        )
    if header.frames > limits.max_frames:
        raise TooLarge(f"the image has {header.frames} frames; the limit is {limits.max_frames}")


def _encode(image: pyvips.Image, fmt: str) -> bytes:
    """Save without metadata; the settings favour speed, since thumbnails are small."""
    if fmt == "png":
        return image.pngsave_buffer(keep=_NONE, compression=3, filter="sub")
    if fmt == "webp":
        return image.webpsave_buffer(keep=_NONE, Q=80, effort=2)
    if fmt == "gif":
        return image.gifsave_buffer(keep=_NONE, effort=3)
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))  # JPEG has no alpha
    # Pillow's libjpeg-turbo writes a 400 px JPEG in 0.35 ms, libvips' jpegsave in 0.8 ms
    # (mostly a fixed cost per call); Pillow writes no metadata it is not given.
    buf = io.BytesIO()
    _pillow_image(image).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _pillow_image(image: pyvips.Image) -> Image.Image:
    """The pixels of an 8-bit libvips image, as a Pillow image (runs its pipeline)."""
    mode = _PIL_MODES[image.bands]
    return Image.frombuffer(
        mode, (image.width, image.height), image.write_to_memory(), "raw", mode, 0, 1
    )


def _placeholder(largest: pyvips.Image) -> str:
    """ThumbHash of the largest thumbnail, box-reduced by Pillow to at most 24 px a side.

    A placeholder is a blur anyway, and Pillow's `reduce` on the in-memory pixels costs 0.2 ms
    where a libvips pipeline costs 0.8 ms, most of it fixed per-pipeline overhead.
    """
    image = _pillow_image(largest)
    factor = math.ceil(max(image.width, image.height) / PLACEHOLDER_MAX_SIDE)
    if factor > 1:
        # Clamped per axis: a 400x1 thumbnail of a 6000x12 strip cannot shrink vertically.
        image = image.reduce((min(factor, image.width), min(factor, image.height)))
    tiny = image.convert("RGBA")
    return thumbhash_base64(tiny.width, tiny.height, tiny.tobytes())


def _render(data: bytes, fmt: str, header: Header, widths: Sequence[int]) -> Thumbnails:
    largest, notes = decode_largest(data, fmt, header, max(widths))
    out_fmt = fmt if fmt in _SAME_FORMAT_OUT else "jpeg"
    made: dict[int, Thumbnail] = {}
    for width in sorted(set(widths), reverse=True):
        image = resize_to_width(largest, width)
        made[width] = Thumbnail(
            image.width, image.height, out_fmt, CONTENT_TYPES[out_fmt], _encode(image, out_fmt)
        )
    return Thumbnails(
        tuple(made[w] for w in widths),
        fmt,
        header.display_width,
        header.display_height,
        _placeholder(largest),
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
        fmt = _check_type(data, limits)
        header = probe_header(data, fmt)
        _check_header(header, limits)
        return _render(data, fmt, header, widths)
    except ImgdropError:
        raise
    except pyvips.Error as exc:
        raise InvalidImage(f"the image could not be decoded: {vips_reason(exc)}") from exc
    except MemoryError as exc:
        raise TooLarge("the image needs more memory than is available to decode") from exc
    except Exception as exc:  # decoders signal bad input in many ways; callers get one kind
        raise InvalidImage(f"the image could not be processed: {exc}") from exc
