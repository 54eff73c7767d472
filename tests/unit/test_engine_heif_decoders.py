"""The HEIF-family decoders (`imgdrop.engine.heif`): AVIF through libavif's C API
(`imgdrop.engine.libavif`: YUV planes scaled before the RGB conversion, with Pillow's binding
as the fallback; both must give the same thumbnails, sizes exactly and pixels closely, and the
fallback must take over when the struct layout the module reads is not the one it checked),
and libheif's rows as libvips images."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgdrop.core.errors import InvalidImage
from imgdrop.engine import libavif
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails


def textured(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Smooth colour fields with fine detail, so scaling errors show."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [
        128 + 100 * np.sin(x / 37.0 + k) * np.cos(y / 23.0 - k) + 20 * np.sin((x + 3 * y) / 2.1)
        for k in range(3)
    ]
    if mode == "RGBA":
        planes.append(
            np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (width / 3) ** 2, 255, 0)
        )
    return Image.fromarray(np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8), mode)


def avif(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "AVIF", quality=80, speed=8, **params)
    return buf.getvalue()


def oriented(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return avif(image, exif=exif.tobytes())


@pytest.fixture
def through_pillow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine with the C-API path switched off: Pillow's binding decodes."""
    monkeypatch.setattr(libavif, "available", lambda: False)
    yield


def pixels(thumbs: Thumbnails, index: int) -> np.ndarray:
    with Image.open(io.BytesIO(thumbs[index].data)) as im:
        return np.asarray(im.convert("RGBA"), dtype=float)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def test_the_c_api_path_is_usable_here() -> None:
    # The engine's speed on AVIF rests on it; CI must not quietly fall back.
    assert libavif.available(), libavif._loaded_library()


CASES = {
    "12 MP-like 4:2:0 landscape": lambda: avif(textured(2400, 1800)),
    "4:4:4": lambda: avif(textured(1800, 1200), subsampling="4:4:4"),
    "odd-sized portrait": lambda: avif(textured(1001, 1999)),
    "alpha": lambda: avif(textured(1600, 1200, "RGBA")),
    "orientation 6": lambda: oriented(textured(1600, 1201), 6),
    "orientation 3": lambda: oriented(textured(1300, 900), 3),
    "orientation 8": lambda: oriented(textured(900, 1300), 8),
    "smaller than the thumbnail": lambda: avif(textured(300, 200)),
}


@pytest.fixture(scope="module")
def both_paths() -> dict[str, tuple[Thumbnails, Thumbnails]]:
    made = {}
    for name, make in CASES.items():
        data = make()
        fast = make_thumbnails(data)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(libavif, "available", lambda: False)
            slow = make_thumbnails(data)
        made[name] = (fast, slow)
    return made


@pytest.mark.parametrize("case", CASES)
def test_both_paths_give_the_same_thumbnails(
    both_paths: dict[str, tuple[Thumbnails, Thumbnails]], case: str
) -> None:
    fast, slow = both_paths[case]
    assert [(t.width, t.height, t.format) for t in fast] == [
        (t.width, t.height, t.format) for t in slow
    ]
    assert (fast.source_width, fast.source_height) == (slow.source_width, slow.source_height)
    for index in range(len(fast)):
        # Both box-scale from the full size (YUV planes here, RGB there) before one Lanczos
        # resize; measured 35-45 dB apart on photos, identical when nothing is scaled.
        assert psnr(pixels(fast, index), pixels(slow, index)) > 32, (case, index)


def test_orientation_is_applied_on_the_c_api_path() -> None:
    # A bright left edge that EXIF orientation 6 (rotate 90 clockwise) puts at the top.
    image = Image.new("RGB", (800, 600), (20, 20, 20))
    image.paste((240, 240, 240), (0, 0, 80, 600))
    thumbs = make_thumbnails(oriented(image, 6))
    assert (thumbs[1].width, thumbs[1].height) == (400, 533)
    rgb = pixels(thumbs, 1)[..., :3]
    top, bottom = rgb[:20].mean(), rgb[-20:].mean()
    assert top > 200 > 60 > bottom, (top, bottom)


def test_thumbnail_heights_keep_the_originals_proportion() -> None:
    # 1512x2016 scaled to 3x400 wide rounds its sides, and so does the 400 px thumbnail that
    # the 200 px one is made from (266.5 px): both heights still come from the original's.
    thumbs = make_thumbnails(avif(textured(1512, 2016)))
    assert [(t.width, t.height) for t in thumbs] == [(200, 267), (400, 533)]


def test_alpha_survives_the_c_api_path() -> None:
    thumbs = make_thumbnails(avif(textured(1600, 1200, "RGBA")))
    assert thumbs[1].format == "jpeg"  # AVIF in, JPEG out: transparency is flattened to white
    with Image.open(io.BytesIO(thumbs[1].data)) as im:
        corner, centre = im.convert("RGB").getpixel((2, 2)), im.convert("RGB").getpixel((200, 150))
    assert min(corner) > 240, corner  # transparent corner: white, not the colour beneath
    assert corner != centre


def test_an_undecodable_payload_is_refused_with_libavifs_reason() -> None:
    data = bytearray(avif(textured(640, 480)))
    mdat = data.rindex(b"mdat") + 4
    data[mdat + 10 : mdat + 400] = bytes(390)  # the AV1 sequence header and frame zeroed
    with pytest.raises(InvalidImage) as caught:
        libavif.decode_scaled(bytes(data), (300, 200), False, 1)
    assert "could not be decoded" in str(caught.value)


def test_a_layout_other_than_the_checked_one_falls_back_to_pillow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = avif(textured(1200, 900))
    want = [(t.width, t.height) for t in make_thumbnails(data)]
    libavif._lib.cache_clear()
    monkeypatch.setattr(libavif, "_DECODER_DEFAULTS", (1, *libavif._DECODER_DEFAULTS[1:]))
    try:
        assert not libavif.available()
        assert [(t.width, t.height) for t in make_thumbnails(data)] == want
    finally:
        libavif._lib.cache_clear()


def test_many_decodes_free_what_they_allocate() -> None:
    data = avif(textured(2000, 1500))
    for _ in range(5):
        libavif.decode_scaled(data, (1200, 900), False, 1)
    before = resident_mb()
    for _ in range(60):  # each decode allocates ~4.5 MB of YUV and 3.2 MB of RGB
        libavif.decode_scaled(data, (1200, 900), False, 1)
    assert resident_mb() - before < 40, (before, resident_mb())


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("padding", [0, 6, 1, 5])
def test_libheif_rows_are_read_right_whatever_their_padding(padding: int) -> None:
    # libheif pads rows to its alignment: by whole pixels the rows are cropped from a wider
    # image, otherwise they go through bandfold; both must give the same pixels.
    from imgdrop.engine.heif import _wrap

    width, height = 7, 4
    want = np.arange(width * height * 3, dtype=np.uint8).reshape(height, width, 3)
    stride = width * 3 + padding
    rows = np.zeros((height, stride), dtype=np.uint8)
    rows[:, : width * 3] = want.reshape(height, width * 3)
    image = _wrap(rows.tobytes(), (width, height), stride, "RGB")
    got = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(height, width, 3))
    assert (image.width, image.height, image.bands) == (width, height, 3)
    assert (got == want).all()
