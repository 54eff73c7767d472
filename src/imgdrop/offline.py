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
from imgdrop.services import WIDTHS, limits_from
from imgdrop.settings import Settings


def thumbnail_one(path: Path, out: Path, settings: Settings) -> dict[str, Any]:
    """Thumbnails of one file as a result row {file, ok, error, outputs}."""
    row: dict[str, Any] = {"file": str(path), "ok": False, "error": None, "outputs": []}
    try:
        data = path.read_bytes()  # the engine refuses more than settings.max_upload_bytes
        thumbs = make_thumbnails(data, WIDTHS, limits_from(settings))
    except OSError as exc:
        row["error"] = f"cannot read the file: {exc.strerror or exc}"
        return row
    except ImgdropError as exc:
        row["error"] = exc.message
        return row
    for width, thumb in zip(WIDTHS, thumbs, strict=True):
        target = out / str(width) / f"{path.stem}.{thumb.ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(thumb.data)
        row["outputs"].append(
            {
                "width": thumb.width,
                "height": thumb.height,
                "format": thumb.format,
                "bytes": len(thumb.data),
                "path": str(target),
            }
        )
    row["ok"] = True
    return row


def thumbnail_files(files: list[Path], out: Path, as_json: bool, settings: Settings) -> int:
    """Process `files` on every core; prints a line per file; returns how many failed."""
    console = Console(stderr=True)
    failed = 0
    with (
        ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool,
        Progress(console=console, transient=True, disable=as_json or len(files) < 2) as progress,
    ):
        task = progress.add_task("thumbnails", total=len(files))
        for row in pool.map(lambda p: thumbnail_one(p, out, settings), files):
            progress.advance(task)
            failed += not row["ok"]
            if as_json:
                print(json.dumps(row), flush=True)
            elif row["ok"]:
                sizes = ", ".join(f"{o['width']}x{o['height']}" for o in row["outputs"])
                progress.console.print(
                    f"[green]ok[/]     {row['file']} -> {sizes}", highlight=False
                )
            else:
                progress.console.print(
                    f"[red]failed[/] {row['file']}: {row['error']}", highlight=False
                )
    return failed
