"""Image/HTML polyglots are refused; legitimate data after the image is not."""

from __future__ import annotations

import pytest
from tests.conftest import make_jpeg, make_png

from imgdrop import InvalidImage, make_thumbnails
from imgdrop.engine.sniff import has_appended_markup

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.mark.parametrize(
    "tail",
    [
        HTML,
        b"<script src=//evil.example/x.js></script>",
        b"<svg onload=alert(1)>",
        b"<?php system($_GET['c']); ?>",
        HTML + b"\xff\xd9",
        HTML + b"\x00" * 300_000,
    ],
)
def test_jpeg_with_markup_appended_is_refused(tail: bytes) -> None:
    data = make_jpeg(400, 300) + tail
    if len(tail) > 256 * 1024:  # the markup sits right after the real EOI: found there
        assert has_appended_markup(data, "jpeg")
    with pytest.raises(InvalidImage, match="HTML or script appended"):
        make_thumbnails(data)


def test_png_with_html_appended_is_refused() -> None:
    with pytest.raises(InvalidImage, match="polyglot"):
        make_thumbnails(make_png() + HTML)


def test_binary_trailer_and_a_second_jpeg_are_fine() -> None:
    # Phones append data after EOI (e.g. an UltraHDR gain map is a second JPEG).
    for data in (make_jpeg(400, 300) + b"\x00\x01 trailer", make_jpeg(400, 300) + make_jpeg()):
        assert make_thumbnails(data)[1].width == 400


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The JPEG with a COM segment holding `text` right after SOI."""
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def _noisy_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((1200, 900), 80).convert("RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.parametrize(
    "markup",
    [
        b"<script>alert(document.domain)</script>",
        b"<html><body>hi</body></html>",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"<?php echo 1; ?>",
    ],
)
def test_markup_near_the_start_of_a_large_jpeg_is_refused(markup: bytes) -> None:
    # Finding L7: over 256 KB, with the markup far from the end, used to reach `done`.
    data = _with_comment(_noisy_jpeg(), markup)
    assert len(data) > 256 * 1024
    assert not has_appended_markup(data, "jpeg")  # the tail scan alone misses it
    with pytest.raises(InvalidImage, match="HTML or script inside its data"):
        make_thumbnails(data)


def test_large_photos_and_harmless_text_are_not_refused() -> None:
    # Compressed data spells "<svg " now and then by chance; XMP is XML but not HTML.
    text = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><svg width=3> a < b </x:xmpmeta>"
    data = _with_comment(_noisy_jpeg(), text)
    assert len(data) > 256 * 1024
    assert make_thumbnails(data)[1].width == 400
