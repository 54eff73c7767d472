"""Decide an upload's type from its bytes (magic numbers), never from its name or declared type."""

from __future__ import annotations

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
