"""Bomb files built in code: a progressive JPEG of 60,000 scans, an AVIF that decodes huge."""

from __future__ import annotations

import io
import struct

import pyvips

from tests.isobmff_write import av1_tile, grid_file

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


def avif_decode_bomb(tiles: int = 15, side: int = 1024) -> bytes:
    """A ~10 KB AVIF whose grid names one coded tile tiles x tiles times: it decodes to
    (tiles * side)^2 pixels, 236 MP by default (under the 250 MP pixel guard; libheif
    allows at most 256 items)."""
    tile = av1_tile(pyvips.Image.black(side, side, bands=3) + 128)  # grey
    full = tiles * side
    return grid_file([tile] * (tiles * tiles), tiles, tiles, (full, full))
