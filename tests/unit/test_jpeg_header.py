"""JPEG headers are read by Pillow (faster); they must say what libvips' reading says."""

from __future__ import annotations

import io

import pytest
import pyvips
from PIL import Image

from imgdrop.engine.jpeg_scans import frame_size
from imgdrop.engine.probe import probe_header, vips_header


def jpeg(mode: str = "RGB", size=(64, 48), **params) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "white" if mode != "CMYK" else (0, 0, 0, 0)).save(buf, "JPEG", **params)
    return buf.getvalue()


def with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return jpeg(exif=exif.tobytes())


CMYK_PROFILE = pyvips.Image.black(1, 1, bands=3).icc_transform("cmyk").get("icc-profile-data")
SRGB = pyvips.Image.black(1, 1, bands=3).icc_transform("srgb").get("icc-profile-data")

CASES = {
    **{f"orientation-{n}": with_orientation(n) for n in range(1, 9)},
    "orientation-out-of-range": with_orientation(9),
    "orientation-zero": with_orientation(0),
    "grey": jpeg("L"),
    "cmyk": jpeg("CMYK"),
    "cmyk-with-profile": jpeg("CMYK", icc_profile=CMYK_PROFILE),
    "srgb-profile": jpeg(icc_profile=SRGB),
    "progressive": jpeg(progressive=True, size=(3000, 20)),
    "no-exif": jpeg(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pillow_and_libvips_read_the_same_jpeg_header(name):
    data = CASES[name]
    assert probe_header(data, "jpeg") == vips_header(data, "jpeg")


def test_corrupt_exif_reads_as_upright_like_libvips():
    data = bytearray(with_orientation(6))
    ifd = data.index(b"MM\x00*") if b"MM\x00*" in data else data.index(b"II*\x00")
    data[ifd + 4 : ifd + 8] = b"\xff\xff\xff\x00"  # IFD0 offset far past the end
    header = probe_header(bytes(data), "jpeg")
    assert header.orientation == 1
    assert header == vips_header(bytes(data), "jpeg")


def test_frame_size_reads_the_frame_header_only():
    data = jpeg(size=(321, 123))
    assert frame_size(data) == (321, 123)
    assert frame_size(data[:40]) is None  # cut before the frame header
    assert frame_size(b"\xff\xd8\xff\xd9") is None  # no frame at all
    assert frame_size(b"GIF89a") is None
