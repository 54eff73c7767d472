"""Progressive JPEGs rewritten for a 1/8-scale decode must decode to exactly the same pixels."""

from __future__ import annotations

import contextlib
import io

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from tests.fuzzing import fuzz_settings, mutate

from imgdrop.core.errors import ImgdropError
from imgdrop.engine import decode
from imgdrop.engine.jpeg_scans import for_eighth_scale
from imgdrop.engine.pipeline import make_thumbnails


def textured(width: int, height: int, seed: int, grey: bool = False) -> pyvips.Image:
    """Smooth colour fields plus grain, so every DCT coefficient band carries data."""
    fields = pyvips.Image.gaussnoise(
        width // 16 + 2, height // 16 + 2, sigma=60, mean=128, seed=seed
    )
    fields = fields.bandjoin([fields.rot180(), fields.fliphor()]).resize(16, kernel="cubic")
    grain = pyvips.Image.gaussnoise(width, height, sigma=25, mean=0, seed=seed + 1)
    image = (fields.crop(0, 0, width, height) + grain).cast("uchar").copy(interpretation="srgb")
    return image.colourspace("b-w") if grey else image


def eighth(data: bytes) -> Image.Image:
    """Pillow's 1/8-scale decode, as the engine asks for it."""
    image = Image.open(io.BytesIO(data), formats=["JPEG"])
    image.draft(image.mode, (image.width // 8, image.height // 8))  # at least 8x8 px
    image.load()
    return image


ENCODERS = {
    # Pillow's libjpeg-turbo, its standard progressive script
    "pillow-420": lambda im: pillow_save(im, subsampling=2),
    "pillow-422": lambda im: pillow_save(im, subsampling=1),
    "pillow-444": lambda im: pillow_save(im, subsampling=0),
    # libvips (pyvips-binary's mozjpeg): other scan scripts, restart markers, optimised scans
    "vips": lambda im: im.jpegsave_buffer(Q=85, interlace=True),
    "vips-444-restarts": lambda im: im.jpegsave_buffer(
        Q=90, interlace=True, subsample_mode="off", restart_interval=3
    ),
    "vips-optimize-scans": lambda im: im.jpegsave_buffer(
        Q=75, interlace=True, optimize_scans=True, optimize_coding=True
    ),
}


def pillow_save(image: pyvips.Image, subsampling: int) -> bytes:
    mode = "L" if image.bands == 1 else "RGB"
    pil = Image.frombytes(mode, (image.width, image.height), image.write_to_memory())
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=88, progressive=True, subsampling=subsampling)
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoder=st.sampled_from(sorted(ENCODERS)),
    width=st.integers(8, 700),
    height=st.integers(8, 300),
    grey=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_rewritten_stream_decodes_to_the_same_pixels_at_one_eighth(
    encoder, width, height, grey, seed
):
    data = ENCODERS[encoder](textured(width, height, seed, grey))
    reduced = for_eighth_scale(data)
    assert reduced is not None, "a progressive JPEG from a common encoder should be rewritten"
    original, rewritten = eighth(data), eighth(reduced)
    assert rewritten.mode == original.mode
    assert rewritten.size == original.size
    assert rewritten.tobytes() == original.tobytes()


def test_most_of_a_4_2_0_photo_is_luma_ac_that_one_eighth_scale_never_reads():
    data = ENCODERS["pillow-420"](textured(1600, 1200, 7))
    reduced = for_eighth_scale(data)
    assert reduced is not None
    assert len(reduced) < len(data) / 2


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(textured(64, 64, 1).jpegsave_buffer(Q=85), id="baseline"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xd8\xff", id="only-soi"),
        pytest.param(textured(8, 8, 2).pngsave_buffer(), id="png"),
    ],
)
def test_streams_it_does_not_rewrite_give_none(data):
    assert for_eighth_scale(data) is None


def test_a_truncated_progressive_jpeg_is_not_rewritten():
    data = ENCODERS["pillow-420"](textured(800, 600, 3))
    for cut in (len(data) // 5, len(data) // 2, len(data) - 3):
        assert for_eighth_scale(data[:cut]) is None


_SEED = ENCODERS["pillow-420"](textured(120, 80, 4))


@fuzz_settings(max_examples=300)
@given(data=st.data())
def test_fuzzed_streams_never_raise(data):
    result = for_eighth_scale(mutate(data, _SEED))
    assert result is None or result.startswith(b"\xff\xd8")


@pytest.mark.parametrize("orientation", [1, 6])
def test_engine_output_is_the_same_with_and_without_the_rewrite(monkeypatch, orientation):
    # 3300 px on the side that becomes the width: the engine decodes at 1/8 (412 px).
    size = (3300, 700) if orientation == 1 else (700, 3300)
    image = textured(*size, seed=5).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data = image.jpegsave_buffer(Q=85, interlace=True)
    assert for_eighth_scale(data) is not None
    fast = make_thumbnails(data)
    monkeypatch.setattr(decode, "for_eighth_scale", lambda _data: None)
    slow = make_thumbnails(data)
    assert [t.data for t in fast] == [t.data for t in slow]
    assert fast.placeholder == slow.placeholder


_STRIP = ENCODERS["pillow-420"](textured(3300, 24, 6))  # wide enough for a 1/8 decode


@fuzz_settings(max_examples=150)
@given(data=st.data())
def test_fuzzed_progressive_uploads_only_raise_imgdrop_errors(data):
    fuzzed = mutate(data, _STRIP)
    with contextlib.suppress(ImgdropError):  # anything else fails the test
        make_thumbnails(fuzzed)
