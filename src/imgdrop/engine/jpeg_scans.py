"""Progressive JPEGs: leave out the scans that a 1/8-scale decode never reads.

At 1/8 scale libjpeg-turbo rebuilds each 8x8 block of a full-resolution component (the luma
of a 4:2:0 photo; every component of a 4:4:4 or greyscale one) from its DC coefficient alone.
In a progressive JPEG the AC coefficients of such a component travel in scans of their own,
typically half of the file or more, which the decoder would still Huffman-decode and buffer.
`for_eighth_scale` rewrites the stream without those scans. In their place it appends, per
such component, one scan of a few bytes saying "all AC coefficients are zero" (runs of
end-of-band codes). Without it libjpeg-turbo would treat the coefficients as never sent and
smooth the blocks (it estimates AC terms and adjusts DC from the neighbours), which changes
pixels. With it, the 1/8 decode of the rewritten stream is bit-identical to the 1/8 decode of
the whole file: tests/unit/test_jpeg_scans.py checks this on seeded images, as does
`imgdrop bench` on the corpus.

Subsampled (chroma) components keep every scan: at 1/8 libjpeg-turbo reconstructs them with a
2x2 or larger IDCT, which reads AC coefficients.

`frame_size` reads a JPEG's dimensions from its frame header, before anything else touches it.

The input is untrusted. Anything this does not recognise returns None and the caller decodes
the original bytes, so a surprise here costs speed, never correctness. The output goes to the
same libjpeg-turbo decoder as the original would have.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

_SOI, _EOI, _SOS, _SOF2 = 0xD8, 0xD9, 0xDA, 0xC2
# Start-of-frame markers are C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Entropy-coded data ends at the first 0xFF that is neither byte stuffing (FF 00), a restart
# marker (FF D0-D7) nor a fill byte (FF FF).
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_ALL_AC = frozenset(range(1, 64))

# The appended scans: no restart interval, then an AC Huffman table (id 3, defined after every
# original scan so no original scan can see it) whose only code, "0", is symbol 0xE0: an
# end-of-band run of 2^14 + (the next 14 bits) blocks. 15 one-bits after it make a run of
# 32767 blocks, the longest a symbol can say.
_NO_RESTARTS = b"\xff\xdd\x00\x04\x00\x00"
_ZERO_AC_TABLE = 3
_ZERO_AC_DHT = b"\xff\xc4\x00\x14" + bytes([0x10 | _ZERO_AC_TABLE, 1] + [0] * 15) + b"\xe0"
_EOB_RUN_BLOCKS = 32767
_EOB_RUN_BITS = "0" + "1" * 14


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    full_resolution: frozenset[int]  # ids of components with the largest sampling factors

    @classmethod
    def parse(cls, body: bytes) -> _Frame | None:
        precision, count = body[0], body[5]
        height, width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
        if precision != 8 or not width or not height or not 1 <= count <= 4:
            return None
        sampling = {body[6 + 3 * i]: body[7 + 3 * i] for i in range(count)}
        if len(sampling) != count:
            return None
        h_max = max(f >> 4 for f in sampling.values())
        v_max = max(f & 15 for f in sampling.values())
        full = frozenset(c for c, f in sampling.items() if (f >> 4, f & 15) == (h_max, v_max))
        return cls(width, height, full)

    @property
    def blocks(self) -> int:
        """8x8 blocks of a full-resolution component in a single-component scan."""
        return math.ceil(self.width / 8) * math.ceil(self.height / 8)


def _zero_ac_scan(component: int, blocks: int) -> bytes:
    """A first-pass scan of coefficients 1-63 of `component`, all zero."""
    header = b"\xff\xda\x00\x08" + bytes([1, component, _ZERO_AC_TABLE, 1, 63, 0])
    bits = _EOB_RUN_BITS * math.ceil(blocks / _EOB_RUN_BLOCKS)
    bits += "1" * (-len(bits) % 8)  # pad the last byte with ones, as the standard says
    data = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    return header + data


class _Segment(NamedTuple):
    marker: int
    start: int  # offset of the marker's 0xFF
    end: int  # offset just after the segment, or after its entropy-coded data for a scan
    body: bytes  # the parameters: what follows the marker and the length


def _segments(data: bytes, through_scans: bool = True) -> Iterator[_Segment]:
    """The marker segments from SOI to EOI, or to the first scan when not `through_scans`.

    Raises ValueError or IndexError on anything that is not a well-formed JPEG stream.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("no start-of-image marker")
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise ValueError("expected a marker")
        while data[pos] == 0xFF:  # a marker may be preceded by fill bytes
            pos += 1
        marker, start = data[pos], pos - 1
        if marker == _EOI:
            yield _Segment(marker, start, pos + 1, b"")
            return
        if marker == _SOI or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            raise ValueError("a marker without a length between segments")
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        end = pos + 1 + length
        if length < 2 or end > len(data):
            raise ValueError("a segment runs past the end")
        body = data[pos + 3 : end]
        if marker == _SOS:
            if not through_scans:
                yield _Segment(marker, start, end, body)
                return
            match = _END_OF_SCAN.search(data, end)
            if match is None:
                raise ValueError("no marker after a scan: truncated")
            end = match.start()
        yield _Segment(marker, start, end, body)
        pos = end


def frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the frame header, read up to the first scan; None when there is
    not exactly one frame header before it (or the stream is malformed)."""
    sizes = []
    try:
        for segment in _segments(data, through_scans=False):
            if segment.marker in _SOF_MARKERS:
                body = segment.body
                sizes.append((int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big")))
    except (IndexError, ValueError):
        return None
    return sizes[0] if len(sizes) == 1 else None


_SOS_MARKER = re.compile(b"\xff\xda")


def count_scans(data: bytes, limit: int) -> int:
    """How many scans the JPEG's first image has (up to EOI), counting no further than `limit`+1.

    A count of SOS markers in the bytes is the fast path; only when it says more than `limit`
    are the segments walked, since an EXIF thumbnail or a gain map after EOI carries scans of
    its own. A stream this cannot walk counts its markers. The count is a regular expression:
    `bytes.count` is slow on JPEG data, where 0xFF is common (2.5 vs 1.5 ms for 2.3 MB).
    """
    markers = len(_SOS_MARKER.findall(data))
    if markers <= limit:
        return markers
    scans = 0
    try:
        for segment in _segments(data):
            scans += segment.marker == _SOS
            if scans > limit:
                break
    except (IndexError, ValueError):  # malformed: the decoder will say so; count the markers
        return markers
    return scans


def coefficient_planes(data: bytes) -> float | None:
    """For a progressive JPEG, the full-size planes of coefficients its decoder keeps in memory
    (1.5 for 4:2:0 colour, 3 for 4:4:4); None for a sequential JPEG, which streams."""
    try:
        for segment in _segments(data, through_scans=False):
            if segment.marker in _SOF_MARKERS:
                if segment.marker not in (_SOF2, 0xC6, 0xCA, 0xCE):
                    return None
                body = segment.body
                count = body[5]
                factors = [body[7 + 3 * i] for i in range(count)]
                h_max = max(f >> 4 for f in factors) or 1
                v_max = max(f & 15 for f in factors) or 1
                return sum((f >> 4) * (f & 15) for f in factors) / (h_max * v_max)
    except (IndexError, ValueError):
        return None
    return None


def for_eighth_scale(data: bytes) -> bytes | None:
    """The stream a 1/8-scale decode needs, or None to decode `data` itself.

    None unless `data` is a Huffman-coded progressive JPEG whose full-resolution components
    each send all of their AC coefficients in scans of their own (what encoders produce).
    """
    try:
        return _rewrite(data)
    except (IndexError, KeyError, ValueError):  # cut short or malformed: not ours to judge
        return None


def _rewrite(data: bytes) -> bytes | None:
    view = memoryview(data)
    kept: list[bytes | memoryview] = [b"\xff\xd8"]
    frame: _Frame | None = None
    dropped: dict[int, set[int]] = {}  # component -> AC coefficients its dropped scans sent
    for marker, start, end, body in _segments(data):
        if marker == _EOI:
            break
        if marker in _SOF_MARKERS:
            if marker != _SOF2 or frame is not None:
                return None  # baseline, arithmetic-coded, lossless, or a second frame
            frame = _Frame.parse(body)
            if frame is None:
                return None
        if marker != _SOS:
            kept.append(view[start:end])
            continue
        if frame is None:
            return None
        count = body[0]
        components = [body[1 + 2 * i] for i in range(count)]
        first, last, approximation = body[1 + 2 * count : 4 + 2 * count]
        if first > 0 and all(c in frame.full_resolution for c in components):
            if approximation >> 4 == 0:  # a first pass (not a refinement) sends these
                for c in components:
                    dropped.setdefault(c, set()).update(range(first, last + 1))
        else:
            kept.append(view[start:end])
    if frame is None or not dropped:
        return None
    if not all(sent.issuperset(_ALL_AC) for sent in dropped.values()):
        return None  # the file leaves some AC unsent: the decoder would smooth; keep its way
    kept.append(_NO_RESTARTS + _ZERO_AC_DHT)
    kept.extend(_zero_ac_scan(c, frame.blocks) for c in sorted(dropped))
    kept.append(b"\xff\xd9")
    return b"".join(kept)
