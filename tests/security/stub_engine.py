"""An engine stand-in for the worker backstop tests: it misbehaves on cue, like a bomb would
inside a C decoder, whatever refusals the real engine learns."""

from __future__ import annotations

import time
from collections.abc import Sequence

from imgdrop.engine.limits import Limits
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.results import Thumbnails

SLEEP = b"STUB-SLEEP"  # never returns (a scan bomb's endless decoding)
ALLOC = b"STUB-ALLOC"  # keeps allocating and touching memory (a decode bomb)
CHUNK = 32 * 2**20


def misbehaving_engine(data: bytes, widths: Sequence[int], limits: Limits) -> Thumbnails:
    """Sleep or allocate for bytes that start with a cue; the real engine otherwise."""
    if data.startswith(SLEEP):
        time.sleep(3600)
    if data.startswith(ALLOC):
        hoard = []
        for _ in range(256):  # up to 8 GiB, touched so it is resident
            hoard.append(bytearray(b"\x01") * CHUNK)
            time.sleep(0.005)
        time.sleep(3600)
    return make_thumbnails(data, widths, limits)
