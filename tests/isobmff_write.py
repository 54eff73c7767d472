"""AVIF files written box by box: AV1 tiles coded by libvips, put together as an image grid.

Pillow and pillow-heif cannot write an AVIF grid, so the tests build one here: the grid item
(primary) names its tiles in a `dimg` reference, every tile is a hidden `av01` item with its
own `ispe` and its codec's `av1C`/`pixi`/`colr`, and `iloc` points each item into one `mdat`.
Tiles whose coded bytes are equal share them (that is how the decode bomb is small).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyvips
from PIL import Image


class Tile(NamedTuple):
    """One coded AV1 image: its bytes and its property boxes (av1C first, then pixi, colr)."""

    data: bytes
    props: tuple[bytes, ...]
    width: int
    height: int


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + kind + body


def full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + body)


def children(data: bytes) -> dict[bytes, bytes]:
    """Top-level boxes of `data` by type (whole boxes, headers included)."""
    found: dict[bytes, bytes] = {}
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        found.setdefault(kind, data[at : at + size])
        at += size
    return found


def av1_tile(image: pyvips.Image, quality: int = 30) -> Tile:
    """`image` coded by libvips as a one-item AVIF, taken apart into a grid tile."""
    avif = image.heifsave_buffer(compression="av1", Q=quality)
    top = children(avif)
    meta = children(top[b"meta"][12:])  # a FullBox: 4 bytes of version and flags first
    ipco = children(children(meta[b"iprp"][8:])[b"ipco"][8:])
    props = tuple(ipco[k] for k in (b"av1C", b"pixi", b"colr") if k in ipco)
    # iloc v0 with 4-byte offsets and lengths: the first item is the image (Exif follows).
    iloc = meta[b"iloc"]
    assert iloc[8] == 0 and iloc[12:14] == b"\x44\x40", iloc[:16].hex()
    _item, _ref, base, extents, offset, length = struct.unpack(">HHIHII", iloc[16:34])
    assert extents == 1
    return Tile(avif[base + offset : base + offset + length], props, image.width, image.height)


def grid_file(
    tiles: Sequence[Tile],
    rows: int,
    cols: int,
    size: tuple[int, int],
    refs: Sequence[int] | None = None,
) -> bytes:
    """An AVIF whose primary item is a `rows` x `cols` grid of output `size` (width, height).

    Tile i is item i + 2; the grid's `dimg` lists the tiles by their index in `tiles`, in
    order unless `refs` says otherwise (a broken file may repeat one or list too few).
    """
    refs = range(len(tiles)) if refs is None else refs
    ids = [i + 2 for i in range(len(tiles))]
    width, height = size
    grid = struct.pack(">BBBBHH", 0, 0, rows - 1, cols - 1, width, height)
    # Property boxes, each once: the codecs' (av1C, pixi, colr), then every size (ispe).
    codec = list(dict.fromkeys(p for t in tiles for p in t.props))
    sizes = list(dict.fromkeys([*((t.width, t.height) for t in tiles), size]))
    ispe = [full_box(b"ispe", 0, 0, struct.pack(">II", w, h)) for w, h in sizes]
    ipco = box(b"ipco", b"".join([*codec, *ispe]))

    def index(prop: bytes) -> int:  # 1-based; 0x80 marks av1C essential
        return codec.index(prop) + 1 | (0x80 if prop[4:8] == b"av1C" else 0)

    assoc = [struct.pack(">HB", 1, 1) + bytes([len(codec) + sizes.index(size) + 1])]
    for i, t in zip(ids, tiles, strict=True):
        own = [len(codec) + sizes.index((t.width, t.height)) + 1, *map(index, t.props)]
        assoc.append(struct.pack(">HB", i, len(own)) + bytes(own))
    ipma = full_box(b"ipma", 0, 0, struct.pack(">I", len(tiles) + 1) + b"".join(assoc))
    infe = [full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + b"grid\x00")]
    infe += [full_box(b"infe", 2, 1, struct.pack(">HH", i, 0) + b"av01\x00") for i in ids]
    iinf = full_box(b"iinf", 0, 0, struct.pack(">H", len(tiles) + 1) + b"".join(infe))
    named = b"".join(struct.pack(">H", ids[r]) for r in refs)
    iref = full_box(b"iref", 0, 0, box(b"dimg", struct.pack(">HH", 1, len(refs)) + named))
    head = [
        full_box(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 13),
        full_box(b"pitm", 0, 0, struct.pack(">H", 1)),
    ]
    ftyp = box(b"ftyp", b"avif" + b"\x00" * 4 + b"mif1avifmiaf")
    coded: dict[bytes, int] = {}  # each distinct tile's bytes -> where it starts in mdat
    for t in tiles:  # equal tiles share their bytes
        coded.setdefault(t.data, len(grid) + sum(map(len, coded)))
    mdat = grid + b"".join(coded)

    def layout(mdat_at: int) -> bytes:
        body = mdat_at + 8
        entries = [struct.pack(">HHIHII", 1, 0, 0, 1, body, len(grid))]
        entries += [
            struct.pack(">HHIHII", i, 0, 0, 1, body + coded[t.data], len(t.data))
            for i, t in zip(ids, tiles, strict=True)
        ]
        count = struct.pack(">H", len(entries))
        iloc = full_box(b"iloc", 0, 0, bytes([0x44, 0x40]) + count + b"".join(entries))
        return full_box(
            b"meta", 0, 0, b"".join([*head, iloc, iinf, iref, box(b"iprp", ipco + ipma)])
        )

    meta = layout(0)  # the offsets do not change the size
    return ftyp + layout(len(ftyp) + len(meta)) + box(b"mdat", mdat)


def av1_tiles(image: Image.Image, rows: int, cols: int, quality: int = 80) -> list[Tile]:
    """`image` cut into `rows` x `cols` equal tiles (row by row), each coded as its own AV1
    image. The sides must divide into tiles of at least 64 px, even (AVIF's 4:2:0)."""
    width, height = image.size
    tw, th = width // cols, height // rows
    assert tw * cols == width and th * rows == height, (image.size, rows, cols)
    whole = pyvips.Image.new_from_array(np.asarray(image.convert("RGB")))
    return [
        av1_tile(whole.crop(c * tw, r * th, tw, th), quality)
        for r in range(rows)
        for c in range(cols)
    ]


def avif_grid(image: Image.Image, rows: int, cols: int, quality: int = 80) -> bytes:
    """`image` as a valid AVIF grid of `rows` x `cols` distinct tiles (libavif and libheif
    decode it whole)."""
    return grid_file(av1_tiles(image, rows, cols, quality), rows, cols, image.size)
