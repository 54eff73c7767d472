"""Colour management and metadata stripping, judged against Pillow's ImageCms (LittleCMS)."""

from __future__ import annotations

import io
import struct

import pytest
import pyvips
import thumbhash
from PIL import Image, ImageCms

from imgdrop.engine.colour import icc_is_srgb
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.placeholder import rgba_to_thumbhash

D50 = (0.9642, 1.0, 0.8249)
# D50-adapted primaries (rXYZ, gXYZ, bXYZ) and gamma of two wide-gamut RGB spaces.
ADOBE_RGB = (
    (0.60974, 0.31111, 0.01947),
    (0.20528, 0.62567, 0.06087),
    (0.14919, 0.06322, 0.74457),
    2.2,
)
PROPHOTO = ((0.7977, 0.2880, 0.0), (0.1352, 0.7119, 0.0), (0.0313, 0.0001, 0.8249), 1.8)


def _s15(values) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def matrix_icc(name: str, space) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile, built byte by byte."""
    red, green, blue, gamma = space
    ascii_name = name.encode() + b"\0"
    desc = (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_name))
        + ascii_name
        + b"\0" * 8
        + b"\0\0\0"
        + b"\0" * 67
    )
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", b"XYZ \0\0\0\0" + _s15(D50)),
        (b"rXYZ", b"XYZ \0\0\0\0" + _s15(red)),
        (b"gXYZ", b"XYZ \0\0\0\0" + _s15(green)),
        (b"bXYZ", b"XYZ \0\0\0\0" + _s15(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0test\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + _s15(D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def reference_srgb(colour, icc: bytes, mode: str = "RGB") -> tuple[int, ...]:
    """What LittleCMS (through Pillow) says `colour` in profile `icc` is in sRGB."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.createProfile("sRGB")
    pixel = Image.new(mode, (1, 1), colour)
    return ImageCms.profileToProfile(pixel, source, srgb, outputMode="RGB").getpixel((0, 0))


def centre(data: bytes) -> tuple[int, ...]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return image.getpixel((image.width // 2, image.height // 2))


def close(a, b, tolerance: int) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("name", "space", "colour"),
    [
        ("Adobe RGB (test)", ADOBE_RGB, (40, 180, 90)),
        ("ProPhoto RGB (test)", PROPHOTO, (180, 90, 60)),
    ],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_wide_gamut_profiles_are_converted_to_srgb(name, space, colour, fmt):
    icc = matrix_icc(name, space)
    want = reference_srgb(colour, icc)
    assert not close(want, colour, 15)  # the conversion must visibly matter for this test
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(buf, fmt, icc_profile=icc, quality=95)
    thumbs = make_thumbnails(buf.getvalue())
    assert close(centre(thumbs[0].data), want, 6), (centre(thumbs[0].data), want)


def _cmyk_jpeg(colour, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    params = {"icc_profile": icc} if icc else {}
    Image.new("CMYK", (300, 200), colour).save(buf, "JPEG", quality=95, **params)
    return buf.getvalue()


def test_cmyk_jpeg_with_profile_is_converted_with_that_profile():
    # libvips ships a CMYK profile; it rides along on any image transformed to it.
    cmyk_icc = pyvips.Image.black(1, 1, bands=3).icc_transform("cmyk").get("icc-profile-data")
    colour = (200, 30, 0, 20)  # strong cyan, a touch of magenta and black
    want = reference_srgb(colour, cmyk_icc, "CMYK")
    thumbs = make_thumbnails(_cmyk_jpeg(colour, cmyk_icc))
    assert close(centre(thumbs[0].data), want, 8), (centre(thumbs[0].data), want)
    assert "CMYK converted to sRGB" in thumbs.notes


def test_cmyk_jpeg_without_profile_still_looks_right():
    thumbs = make_thumbnails(_cmyk_jpeg((255, 0, 0, 0), None))  # pure cyan ink
    r, g, b = centre(thumbs[0].data)
    assert r < 60 and g > 130 and b > 190, (r, g, b)
    assert thumbs[0].format == "jpeg"


def _secret_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 1
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>SecretXMP</rdf:RDF></x:xmpmeta>'
    buf = io.BytesIO()
    Image.new("RGB", (600, 400), (90, 120, 150)).save(
        buf, "JPEG", exif=exif.tobytes(), comment=b"SecretComment", xmp=xmp
    )
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_thumbnails_carry_no_exif_gps_xmp_or_comments(fmt):
    source = Image.open(io.BytesIO(_secret_jpeg()))
    assert source.getexif()[0x010F] == "SecretCam"  # the source really has the metadata
    buf = io.BytesIO()
    source.save(
        buf,
        fmt,
        exif=source.getexif().tobytes(),
        xmp=source.info["xmp"],
        **({"comment": b"SecretComment"} if fmt == "JPEG" else {}),
    )
    for thumb in make_thumbnails(buf.getvalue()):
        for secret in (b"Secret", b"Exif", b"eXIf", b"XMP", b"xmpmeta", b"GPS"):
            assert secret not in thumb.data, (fmt, secret)
        parsed = Image.open(io.BytesIO(thumb.data))
        assert len(parsed.getexif()) == 0
        assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & set(parsed.info)


def test_placeholder_encoder_agrees_with_the_thumbhash_package_on_opaque_images():
    image = Image.new("RGB", (32, 21))
    image.putdata(
        [((x * 8) % 256, (y * 12) % 256, (x * y) % 256) for y in range(21) for x in range(32)]
    )
    rgba = image.convert("RGBA").tobytes()
    ours = rgba_to_thumbhash(32, 21, rgba)
    theirs = bytes(thumbhash.rgba_to_thumb_hash(32, 21, list(rgba)))
    assert ours[:5] == theirs[:5]  # header: DC terms, scales, shape
    # AC nibbles may differ by one where JS rounding (half up) and Python's (half even) part.
    assert len(ours) == len(theirs)
    assert all(
        abs((a & 15) - (b & 15)) <= 1 and abs((a >> 4) - (b >> 4)) <= 1
        for a, b in zip(ours[5:], theirs[5:], strict=True)
    )


def test_placeholder_encodes_transparency():
    rgba = bytes([200, 30, 40, 128] * (32 * 21))
    hashed = rgba_to_thumbhash(32, 21, rgba)
    assert hashed[2] & 0x80  # the has-alpha bit
    with pytest.raises(ValueError):
        rgba_to_thumbhash(101, 10, bytes(101 * 10 * 4))


def _builtin_profile(name: str) -> bytes:
    return pyvips.Image.black(1, 1, bands=3).icc_transform(name).get("icc-profile-data")


def test_srgb_profiles_are_recognised_so_no_needless_transform_runs():
    assert icc_is_srgb(_builtin_profile("srgb"))
    assert not icc_is_srgb(_builtin_profile("p3"))
    assert not icc_is_srgb(matrix_icc("Adobe RGB (test)", ADOBE_RGB))
    assert not icc_is_srgb(b"")


def test_display_p3_from_phones_is_converted_to_srgb():
    p3 = _builtin_profile("p3")
    colour = (60, 200, 80)
    want = reference_srgb(colour, p3)
    assert not close(want, colour, 15)
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(buf, "PNG", icc_profile=p3)
    assert close(centre(make_thumbnails(buf.getvalue())[0].data), want, 6)
