"""Decide an upload's type from its bytes (magic numbers), never from its name or declared type."""

from __future__ import annotations

import re

# ISO-BMFF brands (the `ftyp` box) that mean a still AVIF or HEIF/HEIC picture.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
    b"mif2",
}

# Things people upload that we refuse, so the reason can name them.
_REFUSED = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS document"),
    (b"\xc5\xd0\xd3\xc6", "an EPS document"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"8BPS", "a Photoshop document"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"PK\x03\x04", "a ZIP archive"),
)


def _ftyp_brands(data: bytes) -> list[bytes]:
    """Major and compatible brands of an ISO-BMFF file, or [] when there is no ftyp box."""
    if data[4:8] != b"ftyp":
        return []
    size = int.from_bytes(data[:4], "big")
    end = min(max(size, 16), len(data), 4096)
    return [data[8:12]] + [data[i : i + 4] for i in range(16, end - 3, 4)]


def _isobmff_type(data: bytes) -> str | None:
    brands = _ftyp_brands(data)
    if not brands:
        return None
    # The major brand decides ("mif1" files name their codec among the compatible brands).
    if brands[0] in _AVIF_BRANDS:
        return "avif"
    if brands[0] in _HEIC_BRANDS - {b"mif1", b"msf1", b"mif2"}:
        return "heic"
    if any(b in _AVIF_BRANDS for b in brands[1:]):
        return "avif"
    if any(b in _HEIC_BRANDS for b in brands):
        return "heic"
    return None


def sniff_type(data: bytes) -> str | None:
    """The raster image type decided from the first bytes, or None."""
    head = bytes(data[:4096])
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return _isobmff_type(head)


def describe(data: bytes) -> str:
    """A human name for what the bytes look like, for error messages."""
    kind = sniff_type(data)
    if kind is not None:
        return f"a {kind.upper()} image"
    head = bytes(data[:1024]).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head:
        return "an SVG/XML document"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    for magic, name in _REFUSED:
        if data[: len(magic)] == magic:
            return name
    return "not a recognised image"


# Markup that makes an image/HTML polyglot dangerous if any client ever sniffs it as a page.
_MARKUP = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|svg|\?php)[\s>/]", re.I)
_TAIL_SCAN = 256 * 1024


def _tail(data: bytes, fmt: str) -> bytes:
    """What follows the image's own end marker (JPEG EOI, PNG IEND, the WebP RIFF size)."""
    if fmt == "jpeg":
        end = data.rfind(b"\xff\xd9")
        return data[end + 2 :] if end >= 0 else b""
    if fmt == "png":
        end = data.rfind(b"IEND")
        return data[end + 8 :] if end >= 0 else b""
    if fmt == "webp" and len(data) >= 8:
        return data[8 + int.from_bytes(data[4:8], "little") :]
    return b""


def has_appended_markup(data: bytes, fmt: str) -> bool:
    """True if HTML/script/SVG/PHP follows the image data (an image/HTML polyglot).

    Phones legitimately append data after the image (an UltraHDR gain map is a second JPEG),
    but never markup. Read: what follows the end marker, and the file's last 256 KB (so a fake
    end marker after the markup does not hide it).
    """
    return bool(_MARKUP.search(_tail(data, fmt)[:_TAIL_SCAN]) or _MARKUP.search(data[-_TAIL_SCAN:]))


# Anywhere in the file only tags that random compressed bytes essentially never spell: a
# literal "<" then 4+ letters (chance ~1e-12 per byte) — no whitespace after "<", and "<svg"
# only with an xmlns or an on...= handler (a bare 3-letter "<svg " turns up by chance in about
# one photo in 3,000). The scan is one C-level pass (the pattern starts with a literal "<").
_EMBEDDED = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|\?php)[\s>/]"
    rb"|<svg[\s/][^<>]{0,256}?(?:xmlns|\bon[a-z]+\s*=)",
    re.I,
)


def has_embedded_markup(data: bytes) -> bool:
    """True if HTML/script/PHP (or a scripted SVG) appears anywhere in the file's bytes."""
    return _EMBEDDED.search(data) is not None
