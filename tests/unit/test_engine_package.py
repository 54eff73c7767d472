"""The engine is one package; its pure parts (and the web app) load no image library."""

from __future__ import annotations

import json
import subprocess
import sys

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
