"""The thumbnail engine on images made here (seeded): geometry, orientation, formats, alpha."""

from __future__ import annotations

import io
import random

import pillow_heif
import pytest
from PIL import Image, ImageOps

from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails

RED, GREEN, BLUE, YELLOW = (230, 20, 20), (20, 200, 30), (20, 40, 230), (240, 230, 20)


def save(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def open_thumb(thumbs: Thumbnails, index: int = 0) -> Image.Image:
    image = Image.open(io.BytesIO(thumbs[index].data))
    image.load()
    return image


def near(actual, expected, tolerance: int = 30) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def quadrants(width: int = 600, height: int = 400) -> Image.Image:
    """Stored pixels: red top-left, green top-right, blue bottom-left, yellow bottom-right."""
    image = Image.new("RGB", (width, height))
    for colour, box in (
        (RED, (0, 0, 0.5, 0.5)),
        (GREEN, (0.5, 0, 1, 0.5)),
        (BLUE, (0, 0.5, 0.5, 1)),
        (YELLOW, (0.5, 0.5, 1, 1)),
    ):
        x0, y0, x1, y1 = box
        image.paste(colour, (int(x0 * width), int(y0 * height), int(x1 * width), int(y1 * height)))
    return image


def corners(image: Image.Image) -> list[tuple[int, ...]]:
    w, h = image.size
    rgb = image.convert("RGB")
    return [
        rgb.getpixel((int(fx * w), int(fy * h)))
        for fx, fy in ((0.15, 0.15), (0.85, 0.15), (0.15, 0.85), (0.85, 0.85))
    ]


def noise(width: int, height: int, seed: int = 7) -> Image.Image:
    rnd = random.Random(seed)
    small = Image.new("RGB", (16, 16))
    small.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(256)])
    return small.resize((width, height), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_including_mirrored(orientation):
    stored = quadrants()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(stored, "JPEG", quality=95, exif=exif.tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))  # Pillow as the reference

    thumbs = make_thumbnails(data)

    big = open_thumb(thumbs, 1)
    assert (thumbs.source_width, thumbs.source_height) == expected.size
    assert big.width == 400
    assert big.height == round(400 * expected.height / expected.width)
    for got, want in zip(corners(big), corners(expected), strict=True):
        assert near(got, want), (orientation, corners(big), corners(expected))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 700), [(200, 140), (400, 280)]),
        ((300, 200), [(200, 133), (300, 200)]),
        ((50, 30), [(50, 30), (50, 30)]),
        ((6000, 12), [(200, 1), (400, 1)]),
        ((12, 3000), [(12, 3000), (12, 3000)]),
    ],
)
def test_width_is_requested_or_source_and_never_upscaled(size, expected):
    thumbs = make_thumbnails(save(noise(*size), "PNG"))
    assert [(t.width, t.height) for t in thumbs] == expected
    assert [open_thumb(thumbs, i).size for i in range(2)] == expected


def test_widths_are_returned_in_the_order_asked():
    thumbs = make_thumbnails(save(noise(900, 600), "JPEG"), widths=(400, 100, 200))
    assert [t.width for t in thumbs] == [400, 100, 200]


@pytest.mark.parametrize(
    ("fmt", "params", "out"),
    [
        ("JPEG", {"quality": 90}, "jpeg"),
        ("JPEG", {"quality": 90, "progressive": True}, "jpeg"),
        ("PNG", {}, "png"),
        ("WEBP", {"quality": 90}, "webp"),
        ("GIF", {}, "gif"),
        ("AVIF", {"quality": 90}, "jpeg"),
    ],
)
def test_output_format_follows_the_source_or_is_jpeg(fmt, params, out):
    thumbs = make_thumbnails(save(quadrants(), fmt, **params))
    assert [t.format for t in thumbs] == [out, out]
    assert open_thumb(thumbs).format == out.upper()
    for got, want in zip(corners(open_thumb(thumbs, 1)), corners(quadrants()), strict=True):
        assert near(got, want), fmt


def test_tiff_becomes_jpeg_when_allowed():
    from imgdrop.engine.limits import Limits

    data = save(quadrants(), "TIFF")
    thumbs = make_thumbnails(data, limits=Limits(allowed_types=("tiff",)))
    assert thumbs.source_format == "tiff"
    assert [t.content_type for t in thumbs] == ["image/jpeg", "image/jpeg"]


def test_heic_from_a_phone_is_decoded_with_pillow_heif_and_becomes_jpeg():
    buf = io.BytesIO()
    pillow_heif.from_pillow(quadrants(800, 600)).save(buf, format="HEIF", quality=90)
    thumbs = make_thumbnails(buf.getvalue())
    assert thumbs.source_format == "heic"
    assert (thumbs.source_width, thumbs.source_height) == (800, 600)
    assert [(t.width, t.height, t.format) for t in thumbs] == [
        (200, 150, "jpeg"),
        (400, 300, "jpeg"),
    ]
    for got, want in zip(corners(open_thumb(thumbs, 1)), corners(quadrants()), strict=True):
        assert near(got, want)


def test_greyscale_jpeg_keeps_its_grey():
    grey = Image.new("L", (500, 300), 90)
    thumbs = make_thumbnails(save(grey, "JPEG"))
    pixel = open_thumb(thumbs).convert("L").getpixel((100, 60))
    assert abs(pixel - 90) <= 3


def test_16_bit_png_becomes_8_bit_with_the_same_colour():
    import pyvips

    image = pyvips.Image.black(300, 200, bands=3).linear(1, [65535, 32768, 0]).cast("ushort")
    data = image.copy(interpretation="rgb16").pngsave_buffer(bitdepth=16)
    assert data[24] == 16  # IHDR bit depth: really a 16-bit PNG
    thumbs = make_thumbnails(data)
    out = open_thumb(thumbs)
    assert out.mode == "RGB"
    assert near(out.getpixel((50, 50)), (255, 128, 0), 2)


def test_rgba_png_and_webp_keep_alpha():
    image = quadrants().convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 300, 400))  # left half fully transparent
    for fmt in ("PNG", "WEBP"):
        out = open_thumb(make_thumbnails(save(image, fmt, lossless=True)), 1)
        assert out.mode == "RGBA", fmt
        assert out.getpixel((50, 150))[3] == 0
        assert out.getpixel((350, 250))[3] == 255
        assert near(out.getpixel((350, 250))[:3], YELLOW)


def test_palette_png_with_transparency_keeps_alpha():
    image = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent = image.getpixel((10, 10))
    data = save(image, "PNG", transparency=transparent)
    out = open_thumb(make_thumbnails(data), 1).convert("RGBA")
    assert out.getpixel((40, 40))[3] == 0
    assert out.getpixel((350, 250))[3] == 255


def test_animated_gif_and_webp_use_the_first_frame():
    frames = [Image.new("RGB", (300, 200), c) for c in (RED, GREEN, BLUE)]
    for fmt in ("GIF", "WEBP"):
        data = save(
            frames[0],
            fmt,
            save_all=True,
            append_images=frames[1:],
            duration=100,
            loop=0,
            lossless=True,
        )
        thumbs = make_thumbnails(data)
        assert near(open_thumb(thumbs).convert("RGB").getpixel((100, 60)), RED, 12), fmt
        assert any("3 frames" in note for note in thumbs.notes), fmt
        assert (thumbs.source_width, thumbs.source_height) == (300, 200)


def test_source_facts_and_placeholder_are_reported():
    thumbs = make_thumbnails(save(noise(1200, 800), "JPEG"))
    assert (thumbs.source_format, thumbs.source_width, thumbs.source_height) == ("jpeg", 1200, 800)
    assert thumbs.placeholder and len(thumbs.placeholder) < 60
    assert [t.content_type for t in thumbs] == ["image/jpeg", "image/jpeg"]
    assert thumbs[0].ext == "jpg"
