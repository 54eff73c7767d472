"""`imgdrop thumbnail`: the engine over local files, no server needed."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from imgdrop.core.errors import ImgdropError
from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.file_walk import collect, mirrored
from imgdrop.services import WIDTHS, limits_from
from imgdrop.settings import Settings

MAX_SUFFIX = 999  # x-1.jpg … x-999.jpg; past that something is wrong with the folder


def write_new(folder: Path, relative: Path, data: bytes) -> Path:
    """Write `data` at folder/relative, or at a -1, -2… suffixed name: never over a file."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    for n in range(MAX_SUFFIX + 1):
        candidate = target if n == 0 else target.with_name(f"{target.stem}-{n}{target.suffix}")
        try:
            with candidate.open("xb") as handle:  # O_EXCL: a file created meanwhile is kept
                handle.write(data)
            return candidate
        except FileExistsError:
            continue
    raise ImgdropError(f"{target} and {MAX_SUFFIX} suffixed names are all taken.")


def thumbnail_one(path: Path, relative: Path, out: Path, settings: Settings) -> dict[str, Any]:
    """Thumbnails of one file as a result row {file, ok, error, outputs}."""
    row: dict[str, Any] = {"file": str(path), "ok": False, "error": None, "outputs": []}
    try:
        data = path.read_bytes()  # the engine refuses more than settings.max_upload_bytes
        thumbs = make_thumbnails(data, WIDTHS, limits_from(settings))
        for width, thumb in zip(WIDTHS, thumbs, strict=True):
            name = relative.with_name(f"{relative.stem}.{thumb.ext}")
            target = write_new(out / str(width), name, thumb.data)
            row["outputs"].append(
                {
                    "width": thumb.width,
                    "height": thumb.height,
                    "format": thumb.format,
                    "bytes": len(thumb.data),
                    "path": str(target),
                }
            )
    except OSError as exc:
        row["error"] = f"Cannot read or write the file: {exc.strerror or exc}."
        return row
    except ImgdropError as exc:
        row["error"] = exc.message
        return row
    row["ok"] = True
    return row


def thumbnail_paths(paths: list[Path], out: Path, as_json: bool, settings: Settings) -> int:
    """Thumbnails of every image under `paths` into `out`; a summary on stdout; failures."""
    found = collect(paths)
    files = [f.path for f in found if not f.problem]
    rows: list[dict[str, Any]] = [
        {"file": str(f.path), "ok": False, "error": f.problem} for f in found if f.problem
    ]
    relative = mirrored(files)
    console = Console(stderr=True, soft_wrap=True)
    for row in rows:
        show(console, row, as_json)
    with (
        ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool,
        Progress(console=console, transient=True, disable=as_json or len(files) < 2) as progress,
    ):
        task = progress.add_task("thumbnails", total=len(files))
        # One at a time per name: pool.map keeps input order, and write_new never overwrites.
        for row in pool.map(lambda p: thumbnail_one(p, relative[p], out, settings), files):
            progress.advance(task)
            rows.append(row)
            show(progress.console, row, as_json)
    failed = sum(not r["ok"] for r in rows)
    if not as_json:
        made = sum(len(r.get("outputs", [])) for r in rows)
        print(f"{made} thumbnails of {len(rows) - failed} files in {out}, {failed} failed")
    return failed


def show(console: Console, row: dict[str, Any], as_json: bool) -> None:
    """One line per file: JSON on stdout, else ok/failed on stderr."""
    if as_json:
        row.setdefault("outputs", [])
        print(json.dumps(row), flush=True)
    elif row["ok"]:
        sizes = ", ".join(f"{o['width']}x{o['height']}" for o in row["outputs"])
        console.print(f"[green]ok[/]     {row['file']} -> {sizes}", highlight=False)
    else:
        console.print(f"[red]failed[/] {row['file']}: {row['error']}", highlight=False)
