"""The thumbnail engine: bytes in -> 200 and 400 px thumbnails out. Pure: no I/O, no globals.

(First cut: the engine issue replaces the internals; the interface below is the contract.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyvips

from imgdrop.core.errors import InvalidImage, TooLarge, UnsupportedType

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "gif": "image/gif"}


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
    """One Thumbnail per requested width, plus facts about the source for the catalog."""

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


def sniff_type(data: bytes) -> str | None:
    """The image type decided from the first bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def make_thumbnails(
    data: bytes, widths: Sequence[int] = (200, 400), limits: Limits | None = None
) -> Thumbnails:
    """Make one thumbnail per width from `data`; raises InvalidImage with a readable reason."""
    limits = limits or Limits()
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the file is {len(data)} bytes; the limit is {limits.max_bytes}")
    fmt = sniff_type(data)
    if fmt is None or fmt not in limits.allowed_types:
        raise UnsupportedType("this is not a JPEG, PNG, WebP or GIF image")
    try:
        header = pyvips.Image.new_from_buffer(data, "")
        w, h = header.width, header.height
        if w * h > limits.max_pixels:
            raise TooLarge(f"the image is {w}x{h} pixels; the limit is {limits.max_pixels}")
        biggest = max(widths)
        thumb = pyvips.Image.thumbnail_buffer(data, biggest, height=10_000_000, size="down",
                                              export_profile="srgb", fail_on="error")
        thumb = thumb.copy_memory()
        out = []
        for width in sorted(widths, reverse=True):
            img = thumb if width >= thumb.width else thumb.resize(width / thumb.width)
            saved = img.write_to_buffer(f".{fmt}", keep="none")
            out.append(Thumbnail(img.width, img.height, fmt, CONTENT_TYPES[fmt], saved))
    except pyvips.Error as exc:
        raise InvalidImage(f"the image could not be decoded: {str(exc).splitlines()[0]}") from None
    by_width = {t.width: t for t in out}
    ordered = tuple(out[sorted(widths, reverse=True).index(wd)] for wd in widths)
    del by_width
    return Thumbnails(ordered, fmt, w, h)
