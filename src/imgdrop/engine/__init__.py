"""The thumbnail engine: bytes in, 200 and 400 px thumbnails out. Pure: no I/O.

The pipeline, in order (one module per stage):

1. `sniff`       the type from the bytes (magic numbers), and the image/HTML polyglot scan;
2. `limits`      guards before any decoder runs: bytes, type, pixels and frames (`Limits`);
   `probe`       the header (size, frames, orientation, colour) read without decoding pixels;
3. `decode`      one decode, shrinking on load to the largest width (libvips; Pillow's
                 libjpeg-turbo for JPEG, pillow-heif for HEIC, libavif for AVIF: `heif`);
   `jpeg_scans`  a progressive JPEG rewritten without the scans a 1/8-scale decode never reads;
   `isobmff`     HEIF/AVIF container checks (truncation, grids, transforms) before a decoder;
   `libavif`     an AVIF's YUV planes scaled down before their conversion to RGB;
4. `colour`      to 8-bit sRGB (ICC profiles);
5. `encode`      Lanczos resize to each width and encode without metadata;
6. `placeholder` a ThumbHash of the largest thumbnail.

`pipeline.make_thumbnails` runs them. `limits`, `results` and `sniff` load neither pyvips nor
Pillow, so the web app can import `Limits`, the type tables and the result types cheaply; the
names below that need the image libraries load them on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgdrop.engine.limits import CONTENT_TYPES, Limits
from imgdrop.engine.results import Thumbnail, Thumbnails
from imgdrop.engine.sniff import sniff_type

if TYPE_CHECKING:
    from imgdrop.engine.pipeline import make_thumbnails

__all__ = ["CONTENT_TYPES", "Limits", "Thumbnail", "Thumbnails", "make_thumbnails", "sniff_type"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the package (or its pure modules) never loads pyvips or Pillow.
    if name == "make_thumbnails":
        from imgdrop.engine.pipeline import make_thumbnails

        return make_thumbnails
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
