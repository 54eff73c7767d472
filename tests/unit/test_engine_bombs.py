"""Decode bombs end in a refusal, fast and small: scan bombs, and decodes over the memory budget.

Each bomb runs in a fresh interpreter so its time and peak memory are its own.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from imgdrop.core.errors import TooLarge
from imgdrop.engine import jpeg_scans
from imgdrop.engine.limits import MIB, Limits, decode_bytes_per_pixel, decode_memory
from imgdrop.engine.pipeline import make_thumbnails

# Runs the engine on a file, reporting the outcome, the time and the growth of peak RSS.
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
_RUNNER = r"""
import json, sys, time
from imgdrop import make_thumbnails, InvalidImage, Limits
import imgdrop.engine.pipeline  # load every library before the baseline
def hwm_kb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
data = open(sys.argv[1], "rb").read()
limits = Limits(**json.loads(sys.argv[2]))
base = hwm_kb()
start = time.monotonic()
try:
    thumbs = make_thumbnails(data, (200, 400), limits)
    outcome = "ok %dx%d" % (thumbs[1].width, thumbs[1].height)
except InvalidImage as exc:
    outcome = "%s: %s" % (type(exc).__name__, exc)
elapsed = time.monotonic() - start
peak = hwm_kb()
print(json.dumps({"outcome": outcome, "s": elapsed, "peak_mb": peak / 1024,
                  "growth_mb": (peak - base) / 1024}))
"""


def run_isolated(tmp_path: Path, data: bytes, **limits: int) -> dict[str, object]:
    """make_thumbnails in a fresh interpreter: outcome, seconds, peak and growth of RSS (MB)."""
    path = tmp_path / "input"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(path), json.dumps(limits)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def scan_bomb(scans: int = 60_000, side: int = 2000) -> bytes:
    """A progressive JPEG followed by `scans` more scans, each a few bytes that every decoder
    must still run over the whole image (an AC band of zeros sent again and again)."""
    base = save(Image.linear_gradient("L").resize((side, side)), "JPEG", progressive=True)
    blocks = ((side + 7) // 8) ** 2
    extra = jpeg_scans._ZERO_AC_DHT + jpeg_scans._zero_ac_scan(1, blocks) * scans
    return base[:-2] + extra + b"\xff\xd9"


@pytest.fixture(scope="module")
def avif_bomb() -> bytes:
    """A few KB of AVIF that decodes to 67 MP (a flat picture compresses to almost nothing)."""
    return save(Image.new("RGB", (8192, 8192), (40, 120, 200)), "AVIF", speed=10, quality=10)


def test_scan_bomb_is_refused_within_2s_under_150mb(tmp_path: Path) -> None:
    bomb = scan_bomb()
    assert 0.5 * MIB < len(bomb) < 5 * MIB
    result = run_isolated(tmp_path, bomb)
    assert str(result["outcome"]).startswith("TooLarge: the JPEG has more than 100 scans")
    assert float(result["s"]) < 2.0  # type: ignore[arg-type]
    assert float(result["peak_mb"]) < 150  # type: ignore[arg-type]


def test_real_progressive_jpegs_are_not_refused() -> None:
    photo = Image.radial_gradient("L").resize((900, 700)).convert("RGB")
    for subsampling in (0, 2):
        data = save(photo, "JPEG", progressive=True, subsampling=subsampling)
        assert make_thumbnails(data)[1].width == 400
    # A bomb of 150 scans passes with the limit raised: the limit is the setting, not a constant.
    assert make_thumbnails(scan_bomb(150, 64), (32,), Limits(max_jpeg_scans=200))[0].width == 32
    with pytest.raises(TooLarge, match="more than 100 scans"):
        make_thumbnails(scan_bomb(150, 64), (32,))


def test_avif_bomb_is_refused_within_2s_under_150mb(tmp_path: Path, avif_bomb: bytes) -> None:
    assert len(avif_bomb) < 20_000
    result = run_isolated(tmp_path, avif_bomb)
    outcome = str(result["outcome"])
    assert outcome.startswith("TooLarge: decoding this 8192x8192 AVIF would take about"), outcome
    assert "the decode memory limit is 512 MB" in outcome
    assert float(result["s"]) < 2.0  # type: ignore[arg-type]
    assert float(result["peak_mb"]) < 150  # type: ignore[arg-type]


def test_the_budget_is_a_setting(avif_bomb: bytes) -> None:
    need = decode_memory(avif_bomb, "avif", 8192, 8192)
    small = save(Image.new("RGB", (600, 600)), "AVIF")
    with pytest.raises(TooLarge, match="limit is 2 MB"):
        make_thumbnails(small, limits=Limits(decode_budget_bytes=2 * MIB))
    assert need > 512 * MIB


def _heic(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, format="HEIF", quality=60)
    return buf.getvalue()


def _textured(width: int, height: int) -> Image.Image:
    return Image.effect_noise((width, height), 40).convert("RGB")


@pytest.mark.parametrize(
    ("fmt", "make"),
    [
        ("avif", lambda im: save(im, "AVIF", speed=10)),
        ("heic", _heic),
        ("jpeg", lambda im: save(im, "JPEG", progressive=True, subsampling=0)),
        ("gif", lambda im: save(im, "GIF")),
        ("webp", lambda im: save(im, "WEBP", lossless=True, method=0)),
        ("png", lambda im: save(im, "PNG")),  # streamed
    ],
)
def test_an_accepted_image_decodes_within_the_budget(tmp_path: Path, fmt: str, make) -> None:  # type: ignore[no-untyped-def]
    # The largest image of a format the budget admits, measured: its peak RSS growth stays in
    # the budget (plus 16 MB for the thumbnails and allocator slack).
    budget = 16 * MIB
    per_pixel = decode_bytes_per_pixel(make(_textured(64, 64)), fmt)
    side = min(2000, int((budget / per_pixel) ** 0.5 * 0.95))
    data = make(_textured(side, side))
    assert decode_memory(data, fmt, side, side) <= budget
    result = run_isolated(tmp_path, data, decode_budget_bytes=budget)
    assert str(result["outcome"]).startswith("ok"), result
    assert float(result["growth_mb"]) < budget / MIB + 16, result  # type: ignore[arg-type]
