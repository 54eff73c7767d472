"""`imgdrop upload`: concurrent bulk upload through the JSON API and presigned forms."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from imgdrop.core.errors import ImgdropError
from imgdrop.file_walk import image_type, sha256_of

TIMEOUT = httpx.Timeout(30.0, read=120.0)
RETRIES = 3  # network errors and 5xx answers are retried this often, with back-off
BACKOFF_S = 0.5


class Fatal(ImgdropError):
    """A problem every remaining file would hit too (server gone, token refused): said once."""


def api_error(response: httpx.Response) -> str:
    """The readable message of an API error response."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"The server answered HTTP {response.status_code}."


def unreachable(server: str, exc: Exception) -> Fatal:
    """What to say when nothing answers at `server`."""
    return Fatal(
        f"Cannot reach {server} ({type(exc).__name__}). Is `imgdrop serve` running there? "
        "Check --server or IMGDROP_SERVER."
    )


def refused_token(server: str, source: str) -> Fatal:
    """What to say when the server does not take the token."""
    return Fatal(
        f"{server} refused the token {source}. Sign in again with "
        f"`imgdrop login --server {server}` (or set IMGDROP_TOKEN to a fresh token)."
    )


@dataclass
class Job:
    """Everything the workers share: the signed-in client, limits, options and the stop flag."""

    client: httpx.Client
    server: str
    token_source: str
    config: dict[str, Any]
    wait: bool = False
    allow_duplicates: bool = False
    on_bytes: Callable[[int], None] = lambda n: None
    stop: threading.Event = field(default_factory=threading.Event)
    fatal: Fatal | None = None


class CountingFile(io.FileIO):
    """A file that reports how many bytes were read from it (the progress bar's feed)."""

    def __init__(self, path: Path, on_bytes: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self.on_bytes = on_bytes

    def read(self, size: int | None = -1, /) -> bytes:
        """Read and report."""
        data = super().read(size)
        self.on_bytes(len(data) if data else 0)
        return data or b""


def request(job: Job, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One API call with retries on network errors and 5xx; refusals raise Fatal."""
    for attempt in range(RETRIES + 1):
        try:
            response = job.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if attempt == RETRIES:
                raise unreachable(job.server, exc) from None
        else:
            if response.status_code == 401:
                raise refused_token(job.server, job.token_source)
            if response.status_code < 500 or attempt == RETRIES:
                return response
        time.sleep(BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")  # the loop always returns or raises


def local_problem(path: Path, size: int, content_type: str | None, config: dict[str, Any]) -> str:
    """Why the server would refuse this file, said before sending it ("" when it looks fine)."""
    if size == 0:
        return "The file is empty."
    limit = int(config.get("maxUploadBytes", 0))
    if limit and size > limit:
        return f"The file is {size:,} bytes; the limit is {limit:,} bytes."
    if content_type is None:
        return "This is not a photo imgdrop accepts (JPEG, PNG, WebP, GIF, AVIF or HEIC)."
    accepted = config.get("acceptedTypes") or []
    if accepted and content_type not in accepted:
        return f"This server does not accept {content_type} files."
    return ""


def post_form(job: Job, path: Path, form: dict[str, Any]) -> httpx.Response:
    """Multipart POST of the signed fields then the file, streamed from disk."""
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n
        job.on_bytes(n)

    with CountingFile(path, count) as handle:
        try:
            return httpx.post(
                form["url"],
                data=form["fields"],
                files={"file": (path.name, handle, form["fields"].get("Content-Type"))},
                timeout=TIMEOUT,
            )
        finally:
            job.on_bytes(-sent)  # the caller counts the file once it is settled


def upload_one(job: Job, path: Path) -> dict[str, Any]:
    """Create the item, POST the bytes (retrying network errors), optionally wait."""
    row: dict[str, Any] = {"file": str(path), "ok": False, "status": "failed"}
    row.update(imageId=None, error=None, duplicate=False)
    try:
        size = path.stat().st_size
        content_type = image_type(path)
        problem = local_problem(path, size, content_type, job.config)
        if problem:
            row["error"] = problem
            return row
        body = {"filename": path.name, "contentType": content_type, "size": size}
        body["sha256"] = sha256_of(path)
    except OSError as exc:
        row["error"] = f"Cannot read the file: {exc.strerror or exc}."
        return row
    if job.allow_duplicates:
        body["allowDuplicate"] = True
    for attempt in range(RETRIES + 1):
        outcome = attempt_upload(job, path, body, row)
        if outcome != "retry":
            break
        time.sleep(BACKOFF_S * 2**attempt)
    else:
        row["error"] = "The upload kept failing on network errors."
    if row["status"] == "processing" and job.wait:
        row["status"], row["error"] = wait_done(job, row["imageId"])
    row["ok"] = row["status"] in ("processing", "done", "duplicate")
    return row


def attempt_upload(job: Job, path: Path, body: dict[str, Any], row: dict[str, Any]) -> str:
    """One try: "done" (row filled in) or "retry" after a network error sending the bytes."""
    created = request(job, "POST", "/api/uploads", json=body)
    answer = created.json() if created.status_code in (200, 201) else None
    if answer is None:
        row["error"] = api_error(created)
        return "done"
    row["imageId"] = answer["imageId"]
    if answer.get("duplicate"):
        row.update(status="duplicate", duplicate=True)
        return "done"
    try:
        posted = post_form(job, path, answer["upload"])
    except httpx.TransportError:
        cancel(job, answer["imageId"])
        return "retry"
    if posted.status_code >= 500:
        cancel(job, answer["imageId"])
        return "retry"
    if posted.status_code not in (200, 201, 204):
        row["error"] = api_error(posted)
        return "done"
    row["status"] = "processing"
    return "done"


def cancel(job: Job, image_id: str) -> None:
    """Settle an item whose bytes never arrived (best effort: older servers lack the route)."""
    with contextlib.suppress(httpx.HTTPError):  # the server also settles it at form expiry
        job.client.post(f"/api/uploads/{image_id}/cancel")


def wait_done(job: Job, image_id: str, timeout_s: float = 300) -> tuple[str, Any]:
    """Poll until the item leaves `processing` ("failed" with the reason if the API refuses)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = request(job, "GET", f"/api/images/{image_id}")
        if response.status_code != 200:  # deleted meanwhile
            return "failed", api_error(response)
        item = response.json()
        if item.get("status") != "processing":
            return item["status"], item.get("error")
        time.sleep(0.5)
    return "processing", f"Still processing after {timeout_s:g} s."
