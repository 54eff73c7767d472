"""`imgdrop upload`: concurrent bulk upload through the JSON API and presigned forms."""

from __future__ import annotations

import getpass
import json
import mimetypes
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from imgdrop.core.errors import ImgdropError, Unauthorized
from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.engine.sniff import sniff_type

TIMEOUT = httpx.Timeout(30.0, read=120.0)


def api_error(response: httpx.Response) -> str:
    """The readable message of an API error response."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def get_token(client: httpx.Client) -> str:
    """IMGDROP_TOKEN, or sign in at a prompt."""
    token = os.environ.get("IMGDROP_TOKEN")
    if token:
        return token
    if not sys.stdin.isatty():
        raise Unauthorized("set IMGDROP_TOKEN (no terminal to ask for a password)")
    username = input("username: ")
    password = getpass.getpass("password: ")
    response = client.post("/api/login", json={"username": username, "password": password})
    if response.status_code != 200:
        raise Unauthorized(api_error(response))
    return str(response.json()["token"])


def content_type_of(path: Path, data: bytes) -> str:
    """Decided from the bytes when we can, else from the name."""
    sniffed = sniff_type(data)
    if sniffed in CONTENT_TYPES:
        return CONTENT_TYPES[sniffed]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def upload_one(client: httpx.Client, path: Path, wait: bool) -> dict[str, Any]:
    """Create the item, POST the bytes to the form, optionally wait for thumbnails."""
    row: dict[str, Any] = {
        "file": str(path),
        "ok": False,
        "imageId": None,
        "status": None,
        "error": None,
    }
    try:
        data = path.read_bytes()
    except OSError as exc:
        row["error"] = f"cannot read the file: {exc.strerror or exc}"
        return row
    created = client.post(
        "/api/uploads",
        json={
            "filename": path.name,
            "contentType": content_type_of(path, data),
            "size": len(data),
        },
    )
    if created.status_code != 201:
        row["error"] = api_error(created)
        return row
    body = created.json()
    row["imageId"] = body["imageId"]
    form = body["upload"]
    posted = httpx.post(
        form["url"],
        data=form["fields"],
        timeout=TIMEOUT,
        files={"file": (path.name, data, form["fields"]["Content-Type"])},
    )
    if posted.status_code not in (200, 201, 204):
        row["error"] = api_error(posted)
        return row
    row["status"] = "processing"
    if wait:
        row["status"], row["error"] = wait_done(client, body["imageId"])
    row["ok"] = row["status"] != "failed"
    return row


def wait_done(client: httpx.Client, image_id: str, timeout_s: float = 300) -> tuple[str, Any]:
    """Poll until the item leaves `processing` ("failed" with the reason if the API refuses)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/api/images/{image_id}")
        if response.status_code != 200:  # signed out, or the image was deleted meanwhile
            return "failed", api_error(response)
        item = response.json()
        if item.get("status") != "processing":
            return item["status"], item.get("error")
        time.sleep(0.5)
    return "processing", f"still processing after {timeout_s:g} s"


def upload_files(
    files: list[Path], server: str, concurrency: int, wait: bool, as_json: bool
) -> int:
    """Upload all files; prints a result line per file; returns how many failed."""
    console = Console(stderr=True)
    with httpx.Client(base_url=server.rstrip("/"), timeout=TIMEOUT) as client:
        try:
            token = get_token(client)
        except httpx.HTTPError as exc:
            raise ImgdropError(f"cannot reach {server}: {exc}") from None
        client.headers["Authorization"] = f"Bearer {token}"
        total = sum(p.stat().st_size for p in files if p.is_file())
        columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        failed = 0
        with (
            Progress(*columns, console=console, transient=True, disable=as_json) as progress,
            ThreadPoolExecutor(max(1, concurrency)) as pool,
        ):
            task = progress.add_task("upload", total=total)
            futures = {pool.submit(upload_one, client, p, wait): p for p in files}
            for future in as_completed(futures):
                path = futures[future]
                try:
                    row = future.result()
                except httpx.HTTPError as exc:
                    row = {"file": str(path), "ok": False, "error": f"network error: {exc}"}
                progress.advance(task, path.stat().st_size if path.is_file() else 0)
                failed += not row["ok"]
                report(progress.console, row, as_json)
    return failed


def report(console: Console, row: dict[str, Any], as_json: bool) -> None:
    """One result line."""
    if as_json:
        print(json.dumps(row), flush=True)
    elif row["ok"]:
        console.print(
            f"[green]ok[/]     {row['file']} ({row['status']}, id {row['imageId']})",
            highlight=False,
        )
    else:
        console.print(f"[red]failed[/] {row['file']}: {row['error']}", highlight=False)
