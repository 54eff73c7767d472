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


# Linear RGB of the signalled primaries -> linear sRGB (both D65): XYZ_to_sRGB @ RGB_to_XYZ.
_TO_SRGB = {
    9: [  # BT.2020 / BT.2100
        [1.660491, -0.587641, -0.072850],
        [-0.124550, 1.132900, -0.008349],
        [-0.018151, -0.100579, 1.118730],
    ],
    12: [  # Display P3 (SMPTE EG 432-1)
        [1.224940, -0.224940, 0.0],
        [-0.042057, 1.042057, 0.0],
        [-0.019638, -0.078636, 1.098274],
    ],
}
_BT709_TRANSFERS = {1, 6, 14, 15}
_PQ, _HLG = 16, 18
# HDR is shown as an SDR screen shows it (BT.2408): 203 cd/m² is SDR white; highlights up to
# the 1000 cd/m² HDR reference peak are compressed into the top of the range (extended
# Reinhard on the brightest channel, so hues keep their ratios).
_SDR_WHITE, _HDR_PEAK = 203.0, 1000.0


def nclx_needs_conversion(primaries: int, transfer: int) -> bool:
    """Whether nclx code points describe something other than (close enough to) sRGB."""
    return primaries in _TO_SRGB or transfer in (_PQ, _HLG)


def nclx_to_srgb(image: pyvips.Image, primaries: int, transfer: int) -> pyvips.Image:
    """Convert 8-bit pixels signalled by nclx code points (no ICC profile) to sRGB."""
    if image.bands < 3 or not nclx_needs_conversion(primaries, transfer):
        return image
    alpha = image[3:] if image.bands > 3 else None
    linear = _to_linear(image[:3] / 255.0, transfer)
    if primaries in _TO_SRGB:
        linear = linear.recomb(_TO_SRGB[primaries])
    linear = (linear > 0).ifthenelse(linear, 0)
    encoded = (_srgb_oetf((linear < 1).ifthenelse(linear, 1)) * 255 + 0.5).cast("uchar")
    encoded = encoded.copy(interpretation="srgb")
    return encoded.bandjoin(alpha) if alpha is not None else encoded


def _to_linear(v: pyvips.Image, transfer: int) -> pyvips.Image:
    """Relative linear light (1.0 = SDR white) for an H.273 transfer characteristic."""
    if transfer == 8:
        return v
    if transfer in (4, 5):
        return v ** (2.2 if transfer == 4 else 2.8)
    if transfer in _BT709_TRANSFERS:
        return (v < 0.081).ifthenelse(v / 4.5, ((v + 0.099) / 1.099) ** (1 / 0.45))
    if transfer == _PQ:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = v ** (1 / m2)
        num = (p - c1 > 0).ifthenelse(p - c1, 0)
        return _tone_map((num / (c2 - c3 * p)) ** (1 / m1) * (10000.0 / _SDR_WHITE))
    if transfer == _HLG:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = (v <= 0.5).ifthenelse(v * v / 3, (((v - c) / a).exp() + b) / 12)
        luma = scene.recomb([[0.2627, 0.6780, 0.0593]])
        gain = ((luma > 1e-6).ifthenelse(luma, 1e-6) ** 0.2) * (_HDR_PEAK / _SDR_WHITE)
        return _tone_map(scene * gain)
    return (v <= 0.04045).ifthenelse(v / 12.92, ((v + 0.055) / 1.055) ** 2.4)  # 13, sRGB


def _tone_map(rgb: pyvips.Image) -> pyvips.Image:
    """Compress highlights above SDR white into range, keeping each pixel's channel ratios."""
    peak = _HDR_PEAK / _SDR_WHITE
    brightest = rgb[0].maxpair(rgb[1]).maxpair(rgb[2])
    brightest = (brightest > 1e-6).ifthenelse(brightest, 1e-6)
    mapped = brightest * (1 + brightest / (peak * peak)) / (1 + brightest)
    return rgb * (mapped / brightest)


def _srgb_oetf(v: pyvips.Image) -> pyvips.Image:
    return (v <= 0.0031308).ifthenelse(v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
