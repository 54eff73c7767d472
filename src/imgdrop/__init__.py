"""imgdrop: photo uploads with 200/400 px thumbnails, locally or on AWS.

The library entry points are the engine and its errors:

    from imgdrop import make_thumbnails, InvalidImage
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge, UnsupportedType
from imgdrop.engine.limits import Limits
from imgdrop.engine.results import Thumbnail, Thumbnails

if TYPE_CHECKING:
    from imgdrop.engine.pipeline import make_thumbnails

__all__ = [
    "ImgdropError",
    "InvalidImage",
    "Limits",
    "Thumbnail",
    "Thumbnails",
    "TooLarge",
    "UnsupportedType",
    "make_thumbnails",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so `import imgdrop.<anything>` loads pyvips and Pillow only where the engine runs.
    if name == "make_thumbnails":
        from imgdrop.engine.pipeline import make_thumbnails

        return make_thumbnails
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
