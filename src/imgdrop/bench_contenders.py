"""What `imgdrop.bench` times: the engine, naive Pillow, the decode floors, the polyglot scan;
and its corpus.

Each contender takes the original bytes and returns the bytes of thumbnails it wrote (0 for a
decode floor or the scan, which write none), or None when it does not apply to that image.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pyvips
from PIL import Image, ImageOps
from PIL import _avif as pillow_libavif  # Pillow's libavif binding, the one the engine uses

from imgdrop.engine.jpeg_scans import for_eighth_scale
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.engine.sniff import has_appended_markup, has_embedded_markup, sniff_type

WIDTHS = (400, 200)
pillow_heif.register_heif_opener()  # so naive Pillow can open HEIC, as a Pillow user would


def engine(data: bytes) -> int:
    """The engine under test."""
    return sum(len(t.data) for t in make_thumbnails(data))


def pillow_naive(data: bytes) -> int:
    """Full decode, EXIF transpose, LANCZOS resize per width: what most Python code does."""
    source = Image.open(io.BytesIO(data))
    fmt = source.format if source.format in ("JPEG", "PNG", "WEBP", "GIF") else "JPEG"
    image = ImageOps.exif_transpose(source)
    image = image.convert("RGBA" if "A" in image.getbands() and fmt != "JPEG" else "RGB")
    total = 0
    for width in WIDTHS:
        height = max(1, round(image.height * width / image.width))
        small = (
            image
            if width >= image.width
            else image.resize((width, height), Image.Resampling.LANCZOS)
        )
        buf = io.BytesIO()
        small.save(buf, fmt, quality=80)
        total += buf.tell()
    return total


def floor_pillow_draft(data: bytes) -> int | None:
    """JPEG only: libjpeg-turbo DCT-domain decode at 1/8 scale, no resize, no encode."""
    if sniff_type(data) != "jpeg":
        return None
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (image.width // 8, image.height // 8))
    image.load()
    return 0


def floor_djpeg(data: bytes) -> int | None:
    """JPEG only: `djpeg -scale 1/8` (wall time includes starting the process, ~1 ms)."""
    if sniff_type(data) != "jpeg" or not shutil.which("djpeg"):
        return None
    subprocess.run(
        ["djpeg", "-scale", "1/8", "-outfile", "/dev/null"],
        input=data,
        check=True,
        capture_output=True,
    )
    return 0


def floor_libheif(data: bytes) -> int | None:
    """HEIC only: libheif (libde265) decodes the primary image, full size, to an 8-bit RGB
    buffer, one decode thread; no resize, no encode."""
    if sniff_type(data) != "heic":
        return None
    pillow_heif.options.DECODE_THREADS = 1
    heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
    _ = heif[heif.primary_index].data  # the decode runs here
    return 0


def floor_libavif(data: bytes) -> int | None:
    """AVIF only: libavif (dav1d, the engine's decoder stack) decodes the first frame, full
    size, and converts it to one RGB(A) buffer, one thread; no resize, no encode."""
    if sniff_type(data) != "avif":
        return None
    pillow_libavif.AvifDecoder(data, "auto", 1).get_frame(0)
    return 0


def polyglot_scan(data: bytes) -> int | None:
    """The engine's image/HTML polyglot checks alone (the end-marker tail and the whole file)."""
    fmt = sniff_type(data)
    if fmt is None:
        return None
    has_appended_markup(data, fmt)
    has_embedded_markup(data)
    return 0


CONTENDERS: dict[str, Callable[[bytes], int | None]] = {
    "engine": engine,
    "pillow_naive": pillow_naive,
    "floor_pillow_draft": floor_pillow_draft,
    "floor_djpeg": floor_djpeg,
    "floor_libheif": floor_libheif,
    "floor_libavif": floor_libavif,
    "polyglot_scan": polyglot_scan,
}


def is_progressive_jpeg(data: bytes) -> bool:
    """Whether `data` is a progressive JPEG (header only)."""
    if sniff_type(data) != "jpeg":
        return False
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
        return bool(image.info.get("progressive"))


def eighth_scale_rewrite_matches(data: bytes) -> bool | None:
    """For a progressive JPEG the engine rewrites (jpeg_scans): do the rewritten and the
    original stream decode to the same pixels at 1/8 scale? None when it is not rewritten."""
    reduced = for_eighth_scale(data) if is_progressive_jpeg(data) else None
    if reduced is None:
        return None
    decoded = []
    for stream in (data, reduced):
        with Image.open(io.BytesIO(stream), formats=["JPEG"]) as image:
            if image.width < 8 or image.height < 8:
                return None
            image.draft(image.mode, (image.width // 8, image.height // 8))
            decoded.append((image.mode, image.size, image.tobytes()))
    return decoded[0] == decoded[1]


def pixel_count(data: bytes) -> int:
    """Stored pixels of an image (header only)."""
    if sniff_type(data) == "heic":
        width, height = pillow_heif.open_heif(data).size
        return width * height
    with Image.open(io.BytesIO(data)) as image:
        return image.width * image.height


def corpus_files(folder: Path) -> list[Path]:
    """The images in a folder, decided by content, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and sniff_type(p.read_bytes()[:64]) is not None
    )


def _photo(width: int, height: int, seed: int, grain: float = 12) -> pyvips.Image:
    """A photo-like seeded image: smooth colour fields plus fine grain."""
    fields = pyvips.Image.gaussnoise(
        width // 64 + 2, height // 64 + 2, sigma=60, mean=128, seed=seed
    )
    fields = fields.bandjoin([fields.rot180(), fields.fliphor()]).resize(64, kernel="cubic")
    grain = pyvips.Image.gaussnoise(width, height, sigma=grain, mean=0, seed=seed + 1)
    image = (fields.crop(0, 0, width, height) + grain).cast("uchar")
    return image.copy(interpretation="srgb")


def _oriented(image: pyvips.Image, orientation: int) -> pyvips.Image:
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image


def _heic(image: pyvips.Image, quality: int = 80, **enc_params: str) -> bytes:
    pil = Image.frombytes("RGB", (image.width, image.height), image.write_to_memory())
    buf = io.BytesIO()
    pillow_heif.from_pillow(pil).save(buf, format="HEIF", quality=quality, enc_params=enc_params)
    return buf.getvalue()


def _avif(image: pyvips.Image, **params: object) -> bytes:
    pil = Image.frombytes("RGB", (image.width, image.height), image.write_to_memory())
    buf = io.BytesIO()
    pil.save(buf, "AVIF", quality=60, speed=8, **params)
    return buf.getvalue()


def generate_heif_corpus(folder: Path) -> list[Path]:
    """Write seeded phone-sized (12 MP) HEIC and AVIF photos into `folder`: what the engine is
    timed on against the libheif and libavif decode floors."""
    photo = _photo(4032, 3024, 31, grain=3)
    made = {
        # x265's default preset takes ~2 minutes for 12 MP here; ultrafast ~13 s.
        "gen-12mp.heic": _heic(photo, quality=50, preset="ultrafast"),
        "gen-12mp-420.avif": _avif(photo),
        "gen-12mp-444.avif": _avif(photo, subsampling="4:4:4"),
        "gen-portrait-6mp.avif": _avif(_photo(2000, 3000, 32, grain=3)),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return sorted(folder / name for name in made)


def generate_corpus(folder: Path) -> list[Path]:
    """Write a seeded dozen images of varied types and sizes into `folder`."""
    alpha = _photo(2000, 1500, 9).bandjoin(
        pyvips.Image.gaussnoise(2000, 1500, seed=3).cast("uchar")
    )
    made = {
        "large-baseline-12mp.jpg": _photo(4000, 3000, 1).jpegsave_buffer(Q=90),
        "large-progressive-24mp.jpg": _photo(6000, 4000, 2).jpegsave_buffer(Q=75, interlace=True),
        "orient6-6mp.jpg": _oriented(_photo(3000, 2000, 3), 6).jpegsave_buffer(Q=90),
        "cmyk.jpg": _photo(800, 600, 4).icc_transform("cmyk").jpegsave_buffer(Q=90),
        "grey.jpg": _photo(1200, 800, 5).colourspace("b-w").jpegsave_buffer(Q=85),
        "rgba.png": alpha.pngsave_buffer(),
        "16bit.png": _photo(1000, 700, 6).colourspace("rgb16").pngsave_buffer(bitdepth=16),
        "palette.png": _photo(600, 400, 7).pngsave_buffer(palette=True),
        "photo.webp": _photo(3000, 2000, 8).webpsave_buffer(Q=80),
        "alpha.webp": alpha.resize(0.25).webpsave_buffer(Q=80),
        "photo.gif": _photo(800, 533, 10).gifsave_buffer(),
        "photo.avif": _photo(1000, 750, 11).heifsave_buffer(compression="av1", Q=60),
        "phone.heic": _heic(_photo(1200, 900, 12)),
        "tiny.png": _photo(100, 80, 13).pngsave_buffer(),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return sorted(folder / name for name in made)
