"""The engine is one package; its pure parts (and the web app) load no image library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_IMAGE_LIBS = ("pyvips", "PIL", "pillow_heif")


def _loaded_after(statement: str) -> list[str]:
    """The image-library modules in sys.modules after `statement`, in a fresh interpreter."""
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {_IMAGE_LIBS!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import imgdrop",
        "from imgdrop import Limits, InvalidImage, Thumbnails",
        "from imgdrop.engine.limits import Limits, CONTENT_TYPES",
        "from imgdrop.engine import Limits, sniff_type",
        "import imgdrop.services",
        "import imgdrop.web.app",
        "import imgdrop.wiring",
    ],
)
def test_pure_imports_load_no_image_library(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_the_engine_itself_loads_them() -> None:
    # The check above can fail: the same probe sees the libraries once the engine is imported.
    loaded = _loaded_after("from imgdrop import make_thumbnails")
    assert "pyvips" in loaded and "PIL" in loaded


def test_library_entry_points_unchanged() -> None:
    import imgdrop
    from imgdrop import InvalidImage, make_thumbnails
    from imgdrop.engine.pipeline import make_thumbnails as engine

    assert make_thumbnails is engine
    assert issubclass(InvalidImage, imgdrop.ImgdropError)
    with pytest.raises(AttributeError):
        _ = imgdrop.no_such_name  # type: ignore[attr-defined]


def test_old_flat_modules_are_gone() -> None:
    import importlib.util

    for name in ("imaging", "decode", "sniff", "jpeg_scans", "placeholder"):
        assert importlib.util.find_spec(f"imgdrop.{name}") is None


@pytest.mark.parametrize("fmt", ["AVIF", "JPEG"])
def test_opening_an_image_loads_only_the_pillow_plugins_the_engine_uses(
    fmt: str, tmp_path: Path
) -> None:
    # Pillow's Image.init imports ~40 plugins (PDF, EPS, ICO, ...): ~0.35 s in a fresh process
    # without bytecode caches, inside the first image's time budget, and decoders never needed.
    from PIL import Image

    path = tmp_path / "image"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, fmt)
    loaded = _loaded_after(
        f"from imgdrop import make_thumbnails\nmake_thumbnails(open({str(path)!r}, 'rb').read())"
    )
    assert "PIL.JpegImagePlugin" in loaded  # the probe sees what was loaded
    unused = {
        "PIL.PdfImagePlugin",
        "PIL.EpsImagePlugin",
        "PIL.IcoImagePlugin",
        "PIL.PsdImagePlugin",
    }
    assert not unused & set(loaded), sorted(unused & set(loaded))
