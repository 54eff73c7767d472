"""Hostile files made by code: bombs, disguises, corrupt and truncated images."""

from __future__ import annotations

import random
import struct
import zlib

from tests.conftest import make_jpeg, make_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims `width` x `height` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)  # far fewer rows than claimed
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A small JPEG with its SOF0 frame header patched to claim `width` x `height`."""
    data = bytearray(make_jpeg(64, 64))
    sof = data.index(b"\xff\xc0")
    # FFC0, length (2), precision (1), then height and width, big-endian.
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_with_frames(frames: int) -> bytes:
    """A 1x1 GIF with `frames` frames, written by hand (encoders merge identical frames)."""
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x44\x01\x00"
    )  # LZW: clear, index 0, end
    return head + loop + frame * frames + b"\x3b"


def png_bad_crc() -> bytes:
    """A valid PNG whose IDAT CRC is wrong."""
    data = bytearray(make_png(64, 64, alpha=False))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # first CRC byte
    return bytes(data)


def random_bytes(size: int = 20_000, seed: int = 5) -> bytes:
    """Seeded noise."""
    return random.Random(seed).randbytes(size)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
    b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
POSTSCRIPT = b"%!PS-Adobe-3.0\n/Helvetica findfont 12 scalefont setfont\n(hi) show\nshowpage\n"

# name -> (bytes, filename, declared content type); all must end refused or `failed`.
HOSTILE: dict[str, tuple[bytes, str, str]] = {
    "truncated_jpeg": (make_jpeg(800, 600)[:6000], "cut.jpg", "image/jpeg"),
    "truncated_png": (make_png(400, 300)[:300], "cut.png", "image/png"),
    "random_bytes": (random_bytes(), "noise.jpg", "image/jpeg"),
    "text": (b"just some text, not a picture\n" * 20, "notes.jpg", "image/jpeg"),
    "html": (HTML, "page.jpg", "image/jpeg"),
    "svg": (SVG, "vector.png", "image/png"),
    "pdf": (PDF, "doc.jpg", "image/jpeg"),
    "postscript": (POSTSCRIPT, "print.png", "image/png"),
    "png_bomb": (png_bomb(), "bomb.png", "image/png"),
    "jpeg_bomb": (jpeg_bomb(), "bomb.jpg", "image/jpeg"),
    "gif_3000_frames": (gif_with_frames(3000), "frames.gif", "image/gif"),
    "png_bad_crc": (png_bad_crc(), "crc.png", "image/png"),
    "jpeg_with_html": (make_jpeg(400, 300, seed=5) + HTML, "polyglot.jpg", "image/jpeg"),
}
