"""ThumbHash placeholders (https://evanw.github.io/thumbhash/) for the catalog.

The encoder follows the reference JavaScript encoder. It is written here rather than taken from
the `thumbhash` package because that package (0.1.2) raises TypeError for any image with
transparency (`a_dc, a_ac, a_scale = f(...) if has_alpha else 1.0, [], 1.0` binds a tuple) and
runs a quadruple loop; the separable sums below are ~20x faster. Tests check that both encoders
agree on opaque images.
"""

from __future__ import annotations

import base64
import functools
import math
from operator import mul
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyvips

# A ThumbHash keeps at most 7 frequencies per axis, so 24 px (over 3 samples per period of the
# highest) carries what it needs; the format allows 100, at ~17x the pure-Python cost.
PLACEHOLDER_MAX_SIDE = 24


def _round(x: float) -> int:
    """JavaScript's Math.round (half up), as in the reference encoder."""
    return math.floor(x + 0.5)


@functools.lru_cache(maxsize=256)
def _cosines(n: int, frequencies: int) -> tuple[tuple[float, ...], ...]:
    """cos(pi / n * f * (i + 0.5)) for each frequency f and sample i: the DCT basis."""
    return tuple(
        tuple(math.cos(math.pi / n * f * (i + 0.5)) for i in range(n)) for f in range(frequencies)
    )


def _encode_channel(
    channel: list[float], w: int, h: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC, normalised AC coefficients and scale of one channel's low-frequency DCT."""
    fx, fys = _cosines(w, nx), _cosines(h, ny)
    # Project each row on every horizontal frequency once; each coefficient is then a sum over y.
    rows = [channel[y * w : (y + 1) * w] for y in range(h)]
    proj = [[sum(map(mul, row, fx[cx])) for cx in range(nx)] for row in rows]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fy = fys[cy]
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = sum(map(mul, fy, [row[cx] for row in proj])) / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def rgba_to_thumbhash(w: int, h: int, rgba: bytes) -> bytes:
    """Encode straight (not premultiplied) 8-bit RGBA pixels, at most 100x100, as a ThumbHash."""
    if not (0 < w <= 100 and 0 < h <= 100) or len(rgba) != w * h * 4:
        raise ValueError(f"{w}x{h} RGBA with {len(rgba)} bytes cannot be hashed")
    red, green, blue, opacity = (rgba[i::4] for i in range(4))
    has_alpha = opacity.count(255) < w * h
    if has_alpha:
        alpha = [v / 255 for v in opacity]
        total_a = sum(alpha)
        avg = [0.0, 0.0, 0.0]
        if total_a:
            avg = [
                sum(a * v / 255 for a, v in zip(alpha, c, strict=True)) / total_a
                for c in (red, green, blue)
            ]
        # Transparent pixels are blended with the average colour so they don't darken the hash.
        r, g, b = (
            [avg[i] * (1 - a) + a / 255 * v for a, v in zip(alpha, c, strict=True)]
            for i, c in enumerate((red, green, blue))
        )
        lum = [(x + y + z) / 3 for x, y, z in zip(r, g, b, strict=True)]
        p = [(x + y) / 2 - z for x, y, z in zip(r, g, b, strict=True)]
        q = [x - y for x, y in zip(r, g, strict=True)]
    else:  # the same sums, straight from the bytes (most photos: 2x faster)
        lum = [(x + y + z) / 765 for x, y, z in zip(red, green, blue, strict=True)]
        p = [(x + y - 2 * z) / 510 for x, y, z in zip(red, green, blue, strict=True)]
        q = [(x - y) / 255 for x, y in zip(red, green, strict=True)]
    l_limit = 5 if has_alpha else 7
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))
    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q, w, h, 3, 3)
    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (has_alpha << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (landscape << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    acs = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alpha, w, h, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        acs.append(a_ac)
    nibbles = [_round(15 * f) for ac in acs for f in ac]
    nibbles += [0] * (len(nibbles) % 2)
    out += [lo | (hi << 4) for lo, hi in zip(nibbles[::2], nibbles[1::2], strict=True)]
    return bytes(out)


def thumbhash_base64(w: int, h: int, rgba: bytes) -> str:
    """The ThumbHash of the pixels, base64-encoded for storing in the catalog."""
    return base64.b64encode(rgba_to_thumbhash(w, h, rgba)).decode("ascii")


def placeholder_of(largest: pyvips.Image) -> str:
    """ThumbHash of the largest thumbnail, box-reduced by Pillow to at most 24 px a side.

    A placeholder is a blur anyway, and Pillow's `reduce` on the in-memory pixels costs 0.2 ms
    where a libvips pipeline costs 0.8 ms, most of it fixed per-pipeline overhead.
    """
    from imgdrop.engine.encode import pillow_image  # the image libraries, only when used

    image = pillow_image(largest)
    factor = math.ceil(max(image.width, image.height) / PLACEHOLDER_MAX_SIDE)
    if factor > 1:
        # Clamped per axis: a 400x1 thumbnail of a 6000x12 strip cannot shrink vertically.
        image = image.reduce((min(factor, image.width), min(factor, image.height)))
    tiny = image.convert("RGBA")
    return thumbhash_base64(tiny.width, tiny.height, tiny.tobytes())
