"""`imgdrop upload` as a whole: sign-in check, a worker pool, a progress bar, one summary."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from imgdrop import credentials
from imgdrop.core.errors import ImgdropError
from imgdrop.file_walk import collect
from imgdrop.uploader import TIMEOUT, Fatal, Job, api_error, request, unreachable, upload_one


def resolve_token(server: str) -> tuple[str, str]:
    """(token, where it came from): IMGDROP_TOKEN first, else the `imgdrop login` one."""
    token = os.environ.get("IMGDROP_TOKEN", "").strip()
    if token:
        return token, "from IMGDROP_TOKEN"
    saved = credentials.saved_token(server)
    if saved:
        return saved, f"saved by `imgdrop login` in {credentials.credentials_path()}"
    raise ImgdropError(
        f"Not signed in to {server}. Run `imgdrop login --server {server}` "
        "(or set IMGDROP_TOKEN to a token from POST /api/login)."
    )


def preflight(job: Job) -> None:
    """Fail once, before any file, when the server is unreachable or refuses the token."""
    try:
        config = job.client.get("/api/config")
    except httpx.TransportError as exc:
        raise unreachable(job.server, exc) from None
    if config.status_code != 200:
        raise Fatal(f"{job.server} does not look like an imgdrop server: {api_error(config)}")
    job.config = config.json()
    me = request(job, "GET", "/api/me")  # 401 raises the "token refused" Fatal
    if me.status_code != 200:
        raise Fatal(f"{job.server} answered /api/me with: {api_error(me)}")


def summary_line(rows: list[dict[str, Any]]) -> str:
    """ "27 uploaded, 3 duplicates skipped, 1 failed"."""
    uploaded = sum(r["status"] in ("processing", "done") for r in rows)
    duplicates = sum(r["status"] == "duplicate" for r in rows)
    failed = sum(not r["ok"] for r in rows)
    plural = "" if duplicates == 1 else "s"
    return f"{uploaded} uploaded, {duplicates} duplicate{plural} skipped, {failed} failed"


def run_one(job: Job, path: Path) -> dict[str, Any]:
    """upload_one, or a "not tried" row once a Fatal problem has stopped the batch."""
    if job.stop.is_set():
        return {"file": str(path), "ok": False, "status": "failed", "error": "Not tried."}
    try:
        return upload_one(job, path)
    except Fatal as exc:
        if job.fatal is None:
            job.fatal = exc
        job.stop.set()
        return {"file": str(path), "ok": False, "status": "failed", "error": exc.message}


def report(console: Console, row: dict[str, Any], as_json: bool) -> None:
    """A line per file: JSON on stdout, or (text mode) only failures, on stderr."""
    row.setdefault("imageId", None)
    row.setdefault("duplicate", False)
    if as_json:
        print(json.dumps(row), flush=True)
    elif not row["ok"] and row.get("error") != "Not tried.":
        console.print(f"[red]failed[/] {row['file']}: {row['error']}", highlight=False)


def upload_paths(
    paths: list[Path], server: str, concurrency: int, wait: bool, as_json: bool, dupes: bool
) -> int:
    """Upload every image under `paths`; returns how many files failed."""
    console = Console(stderr=True, soft_wrap=True)
    token, source = resolve_token(server)
    found = collect(paths)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server, timeout=TIMEOUT, headers=headers) as client:
        job = Job(client, server, source, {}, wait=wait, allow_duplicates=dupes)
        preflight(job)
        rows = [
            {"file": str(f.path), "ok": False, "status": "failed", "error": f.problem}
            for f in found
            if f.problem
        ]
        for row in rows:
            report(console, row, as_json)
        files = [f.path for f in found if not f.problem]
        rows += run_pool(job, files, concurrency, console, as_json)
    if job.fatal is not None:
        console.print(f"imgdrop: {job.fatal.message}", highlight=False)
    if not as_json:
        print(summary_line(rows), flush=True)
    return sum(not r["ok"] for r in rows)


def run_pool(
    job: Job, files: list[Path], concurrency: int, console: Console, as_json: bool
) -> list[dict[str, Any]]:
    """Upload `files` `concurrency` at a time under one byte-counting progress bar."""
    sizes = {p: p.stat().st_size for p in files}
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    rows: list[dict[str, Any]] = []
    with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("upload", total=sum(sizes.values()))
        job.on_bytes = lambda n: progress.advance(task, n)

        def settle(path: Path) -> dict[str, Any]:
            row = run_one(job, path)
            progress.advance(task, sizes[path])
            return row

        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for row in pool.map(settle, files):
                rows.append(row)
                report(progress.console, row, as_json)
    return rows
