"""Colour: every thumbnail is 8-bit sRGB (or grey); ICC profiles are converted, sRGB kept."""

from __future__ import annotations

import pyvips


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


def to_srgb_8bit(image: pyvips.Image) -> pyvips.Image:
    """Make sure the pixels are 8-bit sRGB or grey (16-bit PNGs arrive as ushort)."""
    if image.format == "uchar" and image.interpretation in ("srgb", "b-w"):
        return image
    space = "b-w" if image.interpretation in ("b-w", "grey16") else "srgb"
    image = image.colourspace(space)
    return image if image.format == "uchar" else image.cast("uchar")


def colour_options(has_profile: bool, is_srgb: bool, cmyk: bool) -> dict[str, str]:
    """Ask libvips for an ICC transform only when it changes pixels.

    Untagged RGB is taken as sRGB, and sRGB-to-sRGB would cost ~20 ms per image (the libvips
    cache is off, so the LittleCMS transform is rebuilt every time) for no visible change.
    """
    if cmyk or (has_profile and not is_srgb):
        return {"output_profile": "srgb"}
    return {}


def embedded_to_srgb(image: pyvips.Image) -> tuple[pyvips.Image, bool]:
    """Convert from the image's embedded ICC profile to sRGB; also whether it had a profile."""
    if not image.get_typeof("icc-profile-data"):
        return image, False
    if not icc_is_srgb(image.get("icc-profile-data")):
        image = image.icc_transform("srgb", embedded=True)
    return image, True
