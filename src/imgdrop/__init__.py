"""imgdrop: photo uploads with 200/400 px thumbnails, locally or on AWS.

The library entry points are the engine and its errors:

    from imgdrop import make_thumbnails, InvalidImage
"""

from imgdrop.core.errors import ImgdropError, InvalidImage, TooLarge, UnsupportedType
from imgdrop.imaging import Limits, Thumbnail, Thumbnails, make_thumbnails

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
