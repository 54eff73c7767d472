"""Each failure shape the peer suites found, made here in code (new files nobody has seen).

Truncated HEIC/AVIF at any cut, broken HEIC and AVIF grids, nclx colour without ICC, animated AVIF,
GIF/WebP first frames smaller than the canvas, CMYK without a profile, lossless WebP, a HEIC
over the decode budget, and JPEGs with too many scans. Sizes, cut points and colours vary.
"""

from __future__ import annotations

import io
import itertools
import random
import struct
from functools import cache
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import pyvips
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from tests.fuzzing import fuzz_settings
from tests.isobmff_write import Tile, av1_tiles, avif_grid, grid_file
from tests.unit.test_engine_bombs import run_isolated, scan_bomb

from imgdrop.core.errors import InvalidImage, TooLarge
from imgdrop.engine.limits import MIB, Limits
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails


def save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def heic(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, format="HEIF", quality=85, **params)
    return buf.getvalue()


def textured(width: int, height: int, seed: int = 1) -> Image.Image:
    """Smooth colour blobs (so a missing part of the picture would be visible)."""
    rnd = random.Random(seed)
    small = Image.new("RGB", (6, 5))
    small.putdata([tuple(rnd.randrange(30, 226) for _ in range(3)) for _ in range(30)])
    return small.resize((width, height), Image.Resampling.BICUBIC)


def thumb(thumbs: Thumbnails, index: int = -1) -> Image.Image:
    image = Image.open(io.BytesIO(thumbs[index].data))
    image.load()
    return image


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple), value
    return value


def readable(exc: InvalidImage) -> bool:
    """A sentence for a person: some words, no traceback or bare exception name."""
    text = str(exc)
    return len(text.split()) >= 4 and "Traceback" not in text and not text.startswith("<")


@cache
def seeds() -> dict[str, bytes]:
    photo = textured(320, 240)
    return {"heic": heic(photo), "avif": save(photo, "AVIF", quality=70, speed=8)}


# -- truncation and broken grids -------------------------------------------------------------


KINDS = ["heic", "avif", "heic grid", "avif grid", "avif grid, mdat to the end"]


@fuzz_settings(max_examples=100)
@given(kind=st.sampled_from(KINDS), fraction=st.floats(0.02, 0.999))
@example(kind="avif grid", fraction=0.7)  # the peer suites' trunc70_sofa_grid1x5_420.avif
def test_heic_and_avif_cut_anywhere_are_refused_with_a_reason(kind: str, fraction: float) -> None:
    # A grid is the dangerous case: libheif draws the tiles a cut file lacks in solid green.
    data = {
        "heic grid": heic_grid,
        "avif grid": lambda: avif_grid_of(5, 1),
        "avif grid, mdat to the end": lambda: mdat_to_the_end(avif_grid_of(5, 1)),
    }.get(kind, lambda: seeds()[kind])()
    cut = max(1, min(len(data) - 1, int(len(data) * fraction)))
    with pytest.raises(InvalidImage) as caught:  # never thumbnails of half a picture
        make_thumbnails(data[:cut])
    assert readable(caught.value), caught.value


@cache
def heic_grid() -> bytes:
    """A 2x2 grid HEIC (four 64 px tiles), as phones write them, via pillow-heif's tiling."""
    return heic(textured(128, 128, seed=5), tile_size=64)


def _dimg(data: bytes) -> tuple[int, list[int]]:
    """Offset of the grid's dimg reference list and its tile item ids (16-bit ids, iref v0)."""
    at = data.index(b"dimg")
    count = int.from_bytes(data[at + 6 : at + 8], "big")
    ids = [int.from_bytes(data[at + 8 + 2 * i : at + 10 + 2 * i], "big") for i in range(count)]
    return at + 8, ids


def test_a_real_heic_grid_decodes_whole() -> None:
    data = heic_grid()
    assert len(_dimg(data)[1]) == 4
    out = thumb(make_thumbnails(data, (128,))).convert("RGB")
    want = textured(128, 128, seed=5)
    diff = np.abs(np.asarray(out, dtype=int) - np.asarray(want, dtype=int)).mean()
    assert diff < 8, diff


@pytest.mark.parametrize("repeat", [(1, 0), (3, 1), (2, 0)])
def test_a_heic_grid_whose_tile_references_repeat_is_refused(repeat: tuple[int, int]) -> None:
    data = bytearray(heic_grid())
    start, ids = _dimg(bytes(data))
    into, source = repeat
    data[start + 2 * into : start + 2 * into + 2] = ids[source].to_bytes(2, "big")
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(bytes(data))
    assert readable(caught.value), caught.value


def test_a_heic_grid_with_fewer_tiles_than_it_declares_is_refused() -> None:
    # The grid says 3 rows of 2 (192 px high) over its four tiles: the last row has no image.
    data = bytearray(heic_grid())
    grid = _grid_descriptor(bytes(data))
    data[grid + 2] = 2  # rows_minus_one
    data[grid + 6 : grid + 8] = (192).to_bytes(2, "big")  # output_height (16-bit fields)
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(bytes(data))
    assert readable(caught.value), caught.value


def _grid_descriptor(data: bytes) -> int:
    """Offset of the ImageGrid payload (version, flags, rows-1, columns-1, width, height)."""
    for at in range(len(data) - 8):
        if data[at : at + 4] == bytes([0, 0, 1, 1]) and data[at + 4 : at + 8] == struct.pack(
            ">HH", 128, 128
        ):
            return at
    raise AssertionError("no 2x2 128x128 ImageGrid found")


# The same shapes in AVIF, whose grids no library here writes: tests/isobmff_write.py builds
# them from distinct AV1 tiles. "1x5" is five strips stacked, as libavif's sofa_grid1x5_420.
AVIF_GRIDS = {"2x2": (2, 2), "1x5": (5, 1)}  # (rows, columns)


def grid_picture(rows: int) -> Image.Image:
    """128 px wide, 64 px per row: 64 x 64 tiles for 2x2, 128 x 64 strips for 1x5."""
    return textured(128, 64 * rows, seed=rows)


@cache
def avif_grid_of(rows: int, cols: int) -> bytes:
    return avif_grid(grid_picture(rows), rows, cols)


@cache
def avif_tiles_of(rows: int, cols: int) -> list[Tile]:
    return av1_tiles(grid_picture(rows), rows, cols)


def mdat_to_the_end(data: bytes) -> bytes:
    """`data` with its last `mdat` box sized 0 ("to the end of the file"): a cut inside it no
    longer shows in the box sizes, only in the item locations."""
    at = data.rindex(b"mdat") - 4
    return data[:at] + bytes(4) + data[at + 4 :]


def cut(image: Image.Image, rows: int, cols: int) -> list[np.ndarray]:
    """The tiles of `image`, row by row."""
    a = np.asarray(image.convert("RGB"), dtype=int)
    th, tw = a.shape[0] // rows, a.shape[1] // cols
    return [
        a[r * th : (r + 1) * th, c * tw : (c + 1) * tw] for r in range(rows) for c in range(cols)
    ]


def tile_diffs(out: Image.Image, want: Image.Image, rows: int, cols: int) -> list[float]:
    """Mean absolute difference of each tile of `out` from the same tile of `want`."""
    pairs = zip(cut(out, rows, cols), cut(want, rows, cols), strict=True)
    return [float(np.abs(a - b).mean()) for a, b in pairs]


@pytest.mark.parametrize("shape", AVIF_GRIDS)
def test_the_generated_avif_grid_is_one_libavif_and_libheif_decode_whole(shape: str) -> None:
    rows, cols = AVIF_GRIDS[shape]
    data, want = avif_grid_of(rows, cols), grid_picture(rows)
    tiles = _dimg(data)[1]
    assert len(set(tiles)) == len(tiles) == rows * cols  # distinct tiles, none repeated
    with Image.open(io.BytesIO(data), formats=["AVIF"]) as by_libavif:
        assert max(tile_diffs(by_libavif, want, rows, cols)) < 4
    by_libheif = pyvips.Image.new_from_buffer(data, "")
    assert by_libheif.get("heif-compression") == "av1"
    libheif = Image.fromarray(by_libheif.numpy()[..., :3])
    assert max(tile_diffs(libheif, want, rows, cols)) < 4


@pytest.mark.parametrize("shape", AVIF_GRIDS)
def test_a_real_avif_grid_decodes_whole(shape: str) -> None:
    rows, cols = AVIF_GRIDS[shape]
    want = grid_picture(rows)
    parts = cut(want, rows, cols)
    # Each tile is far (> 8) from every other, so one drawn as another (a repeated strip)
    # fails the check below, as would one left green.
    assert min(np.abs(a - b).mean() for a, b in itertools.combinations(parts, 2)) > 8
    out = thumb(make_thumbnails(avif_grid_of(rows, cols), (want.width,)))
    assert out.size == want.size
    diffs = tile_diffs(out, want, rows, cols)
    assert max(diffs) < 8, diffs


@pytest.mark.parametrize(
    ("shape", "refs"),
    [
        ("1x5", (0, 1, 2, 3, 3)),  # libavif's sofa_grid1x5_420_dimg_repeat: strip 4 twice
        ("1x5", (0, 1, 2, 3, 0)),
        ("1x5", (4, 1, 2, 3, 4)),
        ("2x2", (0, 0, 2, 3)),
        ("2x2", (0, 1, 2, 1)),
        ("2x2", (0, 1, 0, 3)),
    ],
)
def test_an_avif_grid_whose_tile_references_repeat_is_refused(
    shape: str, refs: tuple[int, ...]
) -> None:
    rows, cols = AVIF_GRIDS[shape]
    data = grid_file(avif_tiles_of(rows, cols), rows, cols, (128, 64 * rows), refs)
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(data)
    assert readable(caught.value), caught.value


@pytest.mark.parametrize(
    ("shape", "rows", "refs"),
    [
        ("2x2", 3, None),  # 3 rows of 2 (192 px high) over four tiles: the last row has none
        ("1x5", 6, None),  # a sixth strip that is not there
        ("1x5", 5, (0, 1, 2, 3)),  # five strips declared, four named
    ],
)
def test_an_avif_grid_with_fewer_tiles_than_it_declares_is_refused(
    shape: str, rows: int, refs: tuple[int, ...] | None
) -> None:
    cols = AVIF_GRIDS[shape][1]
    tiles = avif_tiles_of(*AVIF_GRIDS[shape])
    data = grid_file(tiles, rows, cols, (128, 64 * rows), refs)
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(data)
    assert readable(caught.value), caught.value


# -- colour signalled by nclx code points, no ICC --------------------------------------------

SRGB_XY = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
PRIMARIES = {  # H.273 colour_primaries -> red, green, blue xy (white D65 for all three)
    9: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),  # BT.2020
    12: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # Display P3
}
D65 = (0.3127, 0.3290)


def _rgb_to_xyz(primaries) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The RGB -> XYZ matrix of a colour space from its primaries' and white's xy (SMPTE RP 177)."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    white = np.array([D65[0] / D65[1], 1.0, (1 - D65[0] - D65[1]) / D65[1]])
    return columns * np.linalg.solve(columns, white)


def reference_from_nclx(rgb: np.ndarray, primaries: int) -> np.ndarray:
    """sRGB of 8-bit values in the nclx primaries with the sRGB transfer curve (transfer 13)."""
    v = rgb / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    convert = np.linalg.inv(_rgb_to_xyz(SRGB_XY)) @ _rgb_to_xyz(PRIMARIES[primaries])
    out = np.clip(linear @ convert.T, 0, 1)
    encoded = np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)
    return encoded * 255


def with_primaries(data: bytes, primaries: int) -> bytes:
    """The file with its nclx colour box saying other primaries (same pixels, same size)."""
    at = data.index(b"colrnclx") + 8
    assert data[at : at + 6] == bytes([0, 1, 0, 13, 0, 6]), data[at : at + 7].hex()  # BT.709/sRGB
    return data[:at] + primaries.to_bytes(2, "big") + data[at + 2 :]


@fuzz_settings(max_examples=12)
@given(
    fmt=st.sampled_from(["avif", "heic"]),
    primaries=st.sampled_from(sorted(PRIMARIES)),
    colours=st.lists(st.tuples(*[st.integers(20, 235)] * 3), min_size=2, max_size=2),
)
def test_nclx_wide_gamut_without_icc_is_converted_to_srgb(
    fmt: str, primaries: int, colours: list[tuple[int, int, int]]
) -> None:
    # Two flat halves; each half's centre is compared with a conversion computed here.
    image = Image.new("RGB", (160, 80), colours[0])
    image.paste(colours[1], (80, 0, 160, 80))
    plain = save(image, "AVIF", quality=95, speed=8) if fmt == "avif" else heic(image)
    stored = np.asarray(thumb(make_thumbnails(plain, (160,))).convert("RGB"), dtype=float)
    out = np.asarray(
        thumb(make_thumbnails(with_primaries(plain, primaries), (160,))).convert("RGB"),
        dtype=float,
    )
    for x in (40, 120):  # the decoded values, converted by the reference, against the engine
        want = reference_from_nclx(stored[40, x], primaries)
        assert np.abs(out[40, x] - want).max() <= 6, (fmt, primaries, out[40, x], want)


def test_nclx_conversion_is_visible_on_a_saturated_colour() -> None:
    # Guard for the test above: BT.2020 green is far outside sRGB, so copying is caught.
    plain = save(Image.new("RGB", (64, 64), (40, 200, 60)), "AVIF", quality=95)
    out = pixel(thumb(make_thumbnails(with_primaries(plain, 9))).convert("RGB"), (32, 32))
    assert out[0] < 20 and out[1] > 205 and out[2] < 45, out  # as stored: (40, 200, 60)
    assert "colour converted to sRGB" in " ".join(make_thumbnails(with_primaries(plain, 9)).notes)


# -- animation and canvases ------------------------------------------------------------------


@pytest.mark.parametrize("frames", [2, 5])
def test_animated_avif_gives_its_first_frame(frames: int) -> None:
    colours = [(230, 30, 30), (30, 30, 230), (30, 200, 30)]
    images = [Image.new("RGB", (300, 200), colours[i % 3]) for i in range(frames)]
    data = save(images[0], "AVIF", save_all=True, append_images=images[1:], duration=80)
    thumbs = make_thumbnails(data)
    assert [(t.width, t.height, t.format) for t in thumbs] == [
        (200, 133, "jpeg"),
        (300, 200, "jpeg"),
    ]
    r, g, b = pixel(thumb(thumbs).convert("RGB"), (150, 100))
    assert r > 200 and g < 60 and b < 60, (r, g, b)
    assert f"AVIF with {frames} frames" in thumbs.notes[0]


def gif_with_small_first_frame(canvas: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """A GIF whose logical screen is `canvas` and whose first (only) frame covers `box`
    (left, top, width, height): Pillow's frame, with its screen and position rewritten."""
    left, top, width, height = box
    data = bytearray(save(Image.new("RGB", (width, height), (200, 40, 40)), "GIF"))
    data[6:10] = struct.pack("<HH", *canvas)
    at = data.index(b"\x2c" + struct.pack("<HHHH", 0, 0, width, height))
    data[at + 1 : at + 5] = struct.pack("<HH", left, top)
    return bytes(data)


def webp_with_small_first_frame(canvas: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """An animated WebP (VP8X + ANIM + one ANMF) whose first frame covers `box` of `canvas`."""
    left, top, width, height = box  # WebP frame offsets are stored halved: keep them even
    frame = save(Image.new("RGBA", (width, height), (200, 40, 40, 255)), "WEBP", lossless=True)
    vp8l = frame[12:]  # the VP8L chunk of a simple lossless file
    anmf_body = (
        struct.pack("<I", left // 2)[:3]
        + struct.pack("<I", top // 2)[:3]
        + struct.pack("<I", width - 1)[:3]
        + struct.pack("<I", height - 1)[:3]
        + struct.pack("<I", 100)[:3]
        + b"\x00"
        + vp8l
    )
    chunks = (
        b"VP8X"
        + struct.pack("<I", 10)
        + bytes([0x12, 0, 0, 0])  # animation + alpha
        + struct.pack("<I", canvas[0] - 1)[:3]
        + struct.pack("<I", canvas[1] - 1)[:3]
        + b"ANIM"
        + struct.pack("<I", 6)
        + bytes([255, 255, 255, 0])  # background: transparent white
        + struct.pack("<H", 0)
        + b"ANMF"
        + struct.pack("<I", len(anmf_body))
        + anmf_body
        + (b"\0" if len(anmf_body) % 2 else b"")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


@fuzz_settings(max_examples=10)
@given(
    maker=st.sampled_from([gif_with_small_first_frame, webp_with_small_first_frame]),
    left=st.integers(0, 40).map(lambda v: v * 2),
    top=st.integers(0, 30).map(lambda v: v * 2),
)
def test_canvas_the_first_frame_leaves_uncovered_is_transparent(maker, left: int, top: int) -> None:  # type: ignore[no-untyped-def]
    canvas, box = (200, 150), (left, top, 100, 70)
    thumbs = make_thumbnails(maker(canvas, box), (200,))
    out = thumb(thumbs).convert("RGBA")
    assert out.size == canvas
    inside = pixel(out, (left + 50, top + 35))
    assert inside[3] == 255 and inside[0] > 150 and inside[1] < 90, inside
    for x, y in ((left + 100 + 20, top + 35), (left + 50, top + 70 + 20), (left - 10, top - 10)):
        if 0 <= x < canvas[0] and 0 <= y < canvas[1]:
            assert pixel(out, (x, y))[3] == 0, (x, y, pixel(out, (x, y)))


# -- CMYK without a profile, lossless WebP ---------------------------------------------------


@pytest.mark.parametrize(
    ("ink", "darkest"),
    [
        ((255, 255, 255, 255), 24),  # registration / full rich black
        ((160, 120, 120, 255), 25),  # a typical rich black
        ((0, 0, 0, 255), 45),  # black ink alone is a little lighter in print
    ],
)
def test_cmyk_black_without_a_profile_stays_black(ink: tuple[int, ...], darkest: int) -> None:
    image = Image.new("CMYK", (300, 200), (0, 0, 0, 0))
    image.paste(ink, (0, 0, 150, 200))
    thumbs = make_thumbnails(save(image, "JPEG", quality=95))
    out = thumb(thumbs).convert("RGB")
    black, paper = pixel(out, (out.width // 4, 50)), pixel(out, (3 * out.width // 4, 50))
    assert max(black) <= darkest, black
    assert min(paper) >= 240, paper  # no ink is white paper
    assert "CMYK converted to sRGB" in thumbs.notes


@fuzz_settings(max_examples=15)
@given(
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    seed=st.integers(0, 2**16),
    alpha=st.booleans(),
)
def test_lossless_webp_pixel_art_stays_exact(size: tuple[int, int], seed: int, alpha: bool) -> None:
    rnd = random.Random(seed)
    palette = [tuple(rnd.randrange(256) for _ in range(4)) for _ in range(6)]
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, size)
    image.putdata([palette[rnd.randrange(6)][: len(mode)] for _ in range(size[0] * size[1])])
    thumbs = make_thumbnails(save(image, "WEBP", lossless=True))
    assert all(b"VP8L" in t.data[12:16] for t in thumbs)  # lossless out
    out = thumb(thumbs).convert(mode)  # no wider than 200 px: never resized
    if alpha:  # colour under full transparency carries no information
        want = np.asarray(image, dtype=int)
        got = np.asarray(out, dtype=int)
        shown = want[..., 3] > 0
        assert (got[..., 3] == want[..., 3]).all()
        assert (got[shown] == want[shown]).all()
    else:
        assert out.tobytes() == image.tobytes()


def test_large_lossless_webp_is_resized_and_stays_lossless() -> None:
    thumbs = make_thumbnails(save(textured(900, 600), "WEBP", lossless=True, method=0))
    assert [t.width for t in thumbs] == [200, 400]
    assert all(t.data[12:16] == b"VP8L" for t in thumbs)


# -- decode budget: a big HEIC, its preview ---------------------------------------------------


def test_a_heic_over_the_budget_is_made_from_its_preview_within_it(tmp_path: Path) -> None:
    # 2000x1500 needs ~14 MB to decode; the budget is 8 MB; the 512 px preview fits.
    data = heic(textured(2000, 1500, seed=9), thumbnails=[512])
    limits = Limits(decode_budget_bytes=8 * MIB)
    thumbs = make_thumbnails(data, limits=limits)
    assert [(t.width, t.height) for t in thumbs] == [(200, 150), (400, 300)]
    assert any("512x384 preview" in note for note in thumbs.notes), thumbs.notes
    want = textured(2000, 1500, seed=9).resize((400, 300), Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(thumb(thumbs).convert("RGB"), int) - np.asarray(want, int)).mean()
    assert diff < 8, diff
    measured = run_isolated(tmp_path, data, decode_budget_bytes=8 * MIB)  # its own process
    assert measured["outcome"] == "ok 400x300", measured
    assert float(measured["growth_mb"]) < 8 + 16, measured  # type: ignore[arg-type]
    with pytest.raises(TooLarge, match="decode memory limit is 8 MB"):  # no usable preview
        make_thumbnails(heic(textured(2000, 1500, seed=9), thumbnails=[300]), limits=limits)


# -- progressive JPEGs with too many scans ---------------------------------------------------


def scans_in(data: bytes) -> int:
    """Start-of-scan markers: entropy-coded data escapes every 0xFF, so this count is exact."""
    return data.count(b"\xff\xda")


@fuzz_settings(max_examples=12)
@given(limit=st.integers(12, 60), extra=st.integers(-8, 8))
def test_jpegs_with_more_scans_than_the_limit_are_refused(limit: int, extra: int) -> None:
    base = scans_in(scan_bomb(scans=0, side=64))
    data = scan_bomb(scans=max(0, limit - base + extra), side=64)
    limits = Limits(max_jpeg_scans=limit)
    if scans_in(data) > limit:
        with pytest.raises(TooLarge, match=f"more than {limit} scans"):
            make_thumbnails(data, limits=limits)
    else:
        assert make_thumbnails(data, limits=limits)[0].width == 64
