"""The ISO-BMFF container of AVIF and HEIF, read before any decoder runs. Loads no image library.

Decoders are lenient with a cut-off HEIF: libheif fills the missing tiles of a grid with green
and returns a "picture". So the container is checked first: every box, and every byte range
the item locations (`iloc`) point at, must lie inside the file. It also reads the nclx colour
(primaries, transfer, matrix) that AVIF/HEIF signal instead of an ICC profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from imgdrop.core.errors import InvalidImage

_MAX_BOXES = 10_000  # far more than any real file has; bounds the walk over hostile input
# Box type -> bytes of header before its child boxes.
_CONTAINERS = {
    b"meta": 4,
    b"iprp": 0,
    b"ipco": 0,
    b"moov": 0,
    b"trak": 0,
    b"mdia": 0,
    b"minf": 0,
    b"stbl": 0,
    b"stsd": 8,
}
_VISUAL_SAMPLE_ENTRIES = {b"av01", b"hvc1", b"hev1"}


class Box(NamedTuple):
    type: bytes
    start: int  # offset of the payload
    end: int


class Nclx(NamedTuple):
    """Coding-independent code points (ITU-T H.273) from a `colr` box of type nclx."""

    primaries: int
    transfer: int
    matrix: int


def _boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    """The boxes between `start` and `end`; InvalidImage if one runs past `end`."""
    pos, count = start, 0
    while pos + 8 <= end:
        count += 1
        if count > _MAX_BOXES:
            raise InvalidImage("the HEIF/AVIF container has too many boxes")
        size, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:  # "extends to the end of the file"
            size = end - pos
        if size < header or pos + size > end:
            raise InvalidImage(
                f"the file is cut short or corrupt: its '{_name(kind)}' box needs "
                f"{size:,} bytes at offset {pos:,}, the file has {end - pos:,} left"
            )
        yield Box(kind, pos + header, pos + size)
        pos += size
    if pos != end and end - pos < 8 and any(data[pos:end]):
        raise InvalidImage("the file is cut short or corrupt: it ends inside a box header")


def _name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isascii() and kind.isalnum() else kind.hex()


def _find(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> Box | None:
    """The first box along `path` (e.g. meta/iprp/ipco), or None."""
    for box in _boxes(data, start, end):
        if box.type == path[0]:
            if len(path) == 1:
                return box
            skip = _CONTAINERS.get(box.type, 0)
            return _find(data, box.start + skip, box.end, path[1:])
    return None


def check_container(data: bytes) -> None:
    """Refuse a HEIF/AVIF whose boxes or item data run past the end of the file."""
    meta = _find(data, 0, len(data), (b"meta",))
    if meta is None:
        raise InvalidImage("the HEIF/AVIF file has no 'meta' box: it is not a still image")
    _check_grids(data, meta)
    iloc = _find(data, meta.start + 4, meta.end, (b"iloc",))
    if iloc is not None:
        for item, last_byte in _iloc_extents(data[iloc.start : iloc.end]):
            if last_byte > len(data):
                raise InvalidImage(
                    f"the file is cut short: image item {item} needs bytes up to "
                    f"{last_byte:,}, the file has {len(data):,}"
                )


def _check_grids(data: bytes, meta: Box) -> None:
    """Refuse a grid that uses one tile twice: libheif would draw the repeat where the missing
    tile belongs (libavif refuses it as an invalid grid)."""
    grids = {item for item, kind in _item_types(data, meta) if kind == b"grid"}
    iref = _find(data, meta.start + 4, meta.end, (b"iref",))
    if not grids or iref is None:
        return
    wide = 4 if data[iref.start] == 1 else 2  # iref version 1 has 32-bit item ids
    for ref in _boxes(data, iref.start + 4, iref.end):
        if ref.type != b"dimg":
            continue
        payload = data[ref.start : ref.end]
        item, pos = _uint(payload, 0, wide)
        count, pos = _uint(payload, pos, 2)
        tiles = [_uint(payload, pos + i * wide, wide)[0] for i in range(count)]
        if item in grids and len(set(tiles)) != len(tiles):
            raise InvalidImage(
                f"the file is corrupt: its image grid (item {item}) uses the same tile more "
                "than once"
            )


def _item_types(data: bytes, meta: Box) -> Iterator[tuple[int, bytes]]:
    """(item id, item type) of every `infe` entry (versions 2 and 3) in meta/iinf."""
    iinf = _find(data, meta.start + 4, meta.end, (b"iinf",))
    if iinf is None:
        return
    skip = 4 + (2 if data[iinf.start] == 0 else 4)  # FullBox header, then the entry count
    for infe in _boxes(data, iinf.start + skip, iinf.end):
        version, p = data[infe.start], infe.start + 4
        wide = 4 if version == 3 else 2
        if infe.type != b"infe" or version < 2 or infe.end - p < wide + 6:
            continue
        yield int.from_bytes(data[p : p + wide], "big"), data[p + wide + 2 : p + wide + 6]


def _iloc_extents(box: bytes) -> Iterator[tuple[int, int]]:
    """(item id, end offset) of every file-offset extent in an `iloc` payload."""
    version = box[0]
    sizes = int.from_bytes(box[4:6], "big")
    off_size, len_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    idx_size = sizes & 15 if version in (1, 2) else 0
    pos = 6
    count_size = 4 if version == 2 else 2
    items, pos = _uint(box, pos, count_size)
    for _ in range(min(items, _MAX_BOXES)):
        item, pos = _uint(box, pos, count_size)
        method = 0
        if version in (1, 2):
            method, pos = _uint(box, pos, 2)
            method &= 15
        pos += 2  # data_reference_index
        base, pos = _uint(box, pos, base_size)
        extents, pos = _uint(box, pos, 2)
        for _ in range(extents):
            pos += idx_size
            offset, pos = _uint(box, pos, off_size)
            length, pos = _uint(box, pos, len_size)
            if method == 0:  # 1 and 2 point into idat or other items, not into the file
                yield item, base + offset + length


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    if pos + size > len(data):
        raise InvalidImage("the HEIF/AVIF item locations ('iloc' box) are cut short")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def nclx(data: bytes) -> Nclx | None:
    """The first nclx colour property (meta/iprp/ipco/colr), or None when there is none."""
    ipco = _find(data, 0, len(data), (b"meta", b"iprp", b"ipco"))
    if ipco is None:
        return None
    for box in _boxes(data, ipco.start, ipco.end):
        if box.type == b"colr" and data[box.start : box.start + 4] == b"nclx":
            p = box.start + 4
            return Nclx(*(int.from_bytes(data[p + i : p + i + 2], "big") for i in (0, 2, 4)))
    return None


def _walk(data: bytes, start: int, end: int, depth: int = 0) -> Iterator[Box]:
    """Every box under the containers the size is read from (item properties, tracks)."""
    for box in _boxes(data, start, end):
        yield box
        if box.type in _CONTAINERS and depth < 8:
            yield from _walk(data, box.start + _CONTAINERS[box.type], box.end, depth + 1)


def largest_size(data: bytes) -> tuple[int, int] | None:
    """The largest width x height the file declares for any image item (`ispe`) or track
    sample (`av01`/`hvc1` entries): what a decoder may allocate, read before it runs."""
    sizes = []
    for box in _walk(data, 0, len(data)):
        p = box.start
        if box.type == b"ispe" and box.end - p >= 12:
            sizes.append((_u32(data, p + 4), _u32(data, p + 8)))
        elif box.type in _VISUAL_SAMPLE_ENTRIES and box.end - p >= 28:
            sizes.append((_u16(data, p + 24), _u16(data, p + 26)))
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "big")


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


_TRANSFORMS = {b"irot", b"imir", b"clap"}


def check_transforms_essential(data: bytes) -> None:
    """Refuse a transform (rotation, mirror, crop) not marked essential: HEIF requires the mark,
    and a reader that skips the property would show the picture turned or uncropped."""
    ipco = _find(data, 0, len(data), (b"meta", b"iprp", b"ipco"))
    ipma = _find(data, 0, len(data), (b"meta", b"iprp", b"ipma"))
    if ipco is None or ipma is None:
        return
    kinds = [box.type for box in _boxes(data, ipco.start, ipco.end)]
    for index, essential in _associations(data[ipma.start : ipma.end]):
        if 0 < index <= len(kinds) and kinds[index - 1] in _TRANSFORMS and not essential:
            raise InvalidImage(
                f"the file's '{_name(kinds[index - 1])}' transform is not marked essential, "
                "which HEIF requires; refused"
            )


def _associations(box: bytes) -> Iterator[tuple[int, bool]]:
    """(1-based property index, essential) of every association in an `ipma` payload."""
    version, wide = box[0], box[3] & 1
    count, pos = _uint(box, 4, 4)
    for _ in range(min(count, _MAX_BOXES)):
        pos += 4 if version >= 1 else 2  # item id
        n, pos = _uint(box, pos, 1)
        for _ in range(n):
            value, pos = _uint(box, pos, 2 if wide else 1)
            top = 0x8000 if wide else 0x80
            yield value & (top - 1), bool(value & top)
