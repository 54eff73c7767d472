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
