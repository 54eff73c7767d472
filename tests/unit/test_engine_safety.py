"""The engine's guards: type by content, header pixel limit, frames, truncation, fuzzing."""

from __future__ import annotations

import contextlib
import io
import struct
import time
import warnings
import zlib

import pillow_heif
import psutil
import pytest
import pyvips
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from tests.fuzzing import fuzz_settings, mutate

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge, UnsupportedType
from imgdrop.engine.limits import Limits
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.probe import probe_header
from imgdrop.engine.sniff import sniff_type


def save(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def photo(width: int = 640, height: int = 480) -> Image.Image:
    return Image.radial_gradient("L").resize((width, height)).convert("RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR (valid CRC) claims a size, followed by one tiny IDAT and IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def heic(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, format="HEIF", quality=80)
    return buf.getvalue()


def test_pixel_bomb_is_refused_from_the_header_quickly_without_allocating():
    data = png_header_only(50_000, 50_000)
    rss_before = psutil.Process().memory_info().rss
    started = time.perf_counter()
    with pytest.raises(TooLarge, match="50000x50000"):
        make_thumbnails(data)
    assert time.perf_counter() - started < 1.0
    assert psutil.Process().memory_info().rss - rss_before < 50 * 1024 * 1024


def test_a_200_megapixel_header_passes_the_default_pixel_guard():
    # 16330x12250 = 200 MP (a phone's "200 MP" mode): not TooLarge; the fake IDAT then fails.
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(png_header_only(16330, 12250))
    assert not isinstance(caught.value, TooLarge)


def test_pixel_limit_is_configurable():
    with pytest.raises(TooLarge, match="pixels"):
        make_thumbnails(save(photo(), "JPEG"), limits=Limits(max_pixels=640 * 480 - 1))


def test_too_many_frames_are_refused():
    frames = [Image.new("RGB", (20, 20), (i * 40, 0, 0)) for i in range(5)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(TooLarge, match="5 frames"):
        make_thumbnails(data, limits=Limits(max_frames=4))


def test_too_many_bytes_and_empty_files_are_refused():
    with pytest.raises(TooLarge):
        make_thumbnails(save(photo(), "PNG"), limits=Limits(max_bytes=1000))
    with pytest.raises(InvalidImage, match="empty"):
        make_thumbnails(b"")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "SVG"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "PostScript"),
        (b"BM" + b"\0" * 60, "BMP"),
        (b"hello, I am a text file", "not a recognised image"),
    ],
)
def test_documents_and_unknown_bytes_are_refused_by_content(data, named):
    with pytest.raises(UnsupportedType, match=named):
        make_thumbnails(data)


def test_types_off_the_allow_list_are_refused_even_when_decodable():
    with pytest.raises(UnsupportedType, match="TIFF"):
        make_thumbnails(save(photo(), "TIFF"))
    with pytest.raises(UnsupportedType, match="JPEG"):
        make_thumbnails(save(photo(), "JPEG"), limits=Limits(allowed_types=("png",)))


def test_untrusted_libvips_loaders_are_blocked_for_the_process():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(svg, "")
    with pytest.raises(pyvips.Error):
        pyvips.Image.thumbnail_buffer(svg, 10)


@pytest.mark.parametrize("kind", ["jpeg", "progressive", "png", "webp", "heic"])
def test_truncated_files_raise_invalid_image_with_a_reason(kind):
    image = photo(800, 600)
    data = {
        "jpeg": lambda: save(image, "JPEG", quality=90),
        "progressive": lambda: save(image, "JPEG", quality=90, progressive=True),
        "png": lambda: save(image, "PNG"),
        "webp": lambda: save(image, "WEBP", quality=90),
        "heic": lambda: heic(image),
    }[kind]()
    with pytest.raises(InvalidImage) as caught:
        make_thumbnails(data[: len(data) * 6 // 10])
    assert len(caught.value.message) > 20


def test_sniffing_uses_bytes_not_names():
    assert sniff_type(save(photo(), "PNG")) == "png"
    assert sniff_type(heic(photo())) == "heic"
    assert sniff_type(save(photo(), "AVIF")) == "avif"
    assert sniff_type(b"GIF89a" + b"\0" * 10) == "gif"
    assert sniff_type(b"<svg/>") is None


_SEEDS = {
    "jpeg": save(photo(96, 64), "JPEG", quality=80, progressive=True),
    "png": save(photo(96, 64).convert("RGBA"), "PNG"),
    "gif": save(photo(96, 64), "GIF"),
    "webp": save(photo(96, 64), "WEBP"),
    "avif": save(photo(96, 64), "AVIF"),
    "heic": heic(photo(96, 64)),
}


@fuzz_settings(max_examples=200)
@given(kind=st.sampled_from(sorted(_SEEDS)), data=st.data())
def test_fuzzed_images_only_raise_imgdrop_errors(kind, data):
    fuzzed = mutate(data, _SEEDS[kind])
    with contextlib.suppress(ImgdropError):  # anything else fails the test
        make_thumbnails(fuzzed)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 16x16 baseline JPEG whose frame header claims another size."""
    data = bytearray(save(photo(16, 16), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_jpeg_pixel_bomb_is_refused_from_the_header_quickly():
    started = time.perf_counter()
    with pytest.raises(TooLarge, match="40000x40000"):
        make_thumbnails(jpeg_claiming(40000, 40000))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (12000, 8000),  # 96 MP: past Pillow's warning line, so libvips reads the header
        (16330, 12250),  # 200 MP: past Pillow's refusal line, so libvips reads the header
    ],
)
def test_big_jpeg_headers_are_read_without_pillow_bomb_warnings(width, height):
    data = jpeg_claiming(width, height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would raise here
        assert probe_header(data, "jpeg").width == width
    try:  # the 16x16 scan data may decode (grey beyond it, as libjpeg does) or fail
        make_thumbnails(data)
    except TooLarge:
        pytest.fail(f"{width}x{height} is under the default pixel limit")
    except InvalidImage:
        pass
