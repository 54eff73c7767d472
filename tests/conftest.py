"""Shared fixtures: generated images, and a real `imgdrop serve` process on loopback."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that drive a browser last.

    pytest-playwright's session-scoped sync API keeps an asyncio loop running on the main
    thread from the first browser test to the end of the session; in-process code that runs
    its own loop there (Mangum in the Lambda web handler, `asyncio.run`) would then fail with
    "event loop is already running". Ordering keeps every other test on a clean main thread;
    tests that need a loop also use `tests.aio.run_async`, which does not depend on order.
    """
    items.sort(key=lambda item: "playwright" in getattr(item, "fixturenames", ()))


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_jpeg(
    width: int = 640,
    height: int = 480,
    orientation: int | None = None,
    seed: int = 1,
    quality: int = 90,
) -> bytes:
    """A seeded JPEG of four coloured quadrants (so orientation can be judged by corners)."""
    img = Image.new("RGB", (width, height))
    w2, h2 = width // 2, height // 2
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 230, 30)]
    boxes = [(0, 0, w2, h2), (w2, 0, width, h2), (0, h2, w2, height), (w2, h2, width, height)]
    for colour, box in zip(colours, boxes, strict=True):
        img.paste(tuple((c + seed * 7) % 256 for c in colour), box)
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def make_png(width: int = 300, height: int = 200, alpha: bool = True) -> bytes:
    """A PNG, with a transparent half when `alpha`."""
    img = Image.new(
        "RGBA" if alpha else "RGB", (width, height), (10, 120, 200, 255)[: 4 if alpha else 3]
    )
    if alpha:
        img.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class ServerProcess:
    """`python -m imgdrop.cli serve` in a subprocess, on a free loopback port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "IMGDROP_LOG_LEVEL": "info", **(env or {})}
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The server's command line (subclasses wrap or replace it)."""
        serve = [sys.executable, "-m", "imgdrop.cli", "serve", "--port", str(self.port)]
        return [*serve, "--data-dir", str(self.data_dir)]

    def start(self, timeout_s: float = 60) -> ServerProcess:
        """Start and wait until the API answers."""
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/config", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        """What the server printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server and its whole process group's children we know of."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Ctrl+C-like stop; SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


class ApiUser:
    """A signed-up, signed-in API client (bearer token)."""

    def __init__(
        self, base_url: str, username: str, password: str = "correct horse battery staple"
    ) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=30)
        signup = self.client.post("/api/signup", json={"username": username, "password": password})
        assert signup.status_code == 201, signup.text
        login = self.client.post("/api/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        self.user_id = login.json()["userId"]
        self.token = login.json()["token"]
        self.client.cookies.clear()  # bearer only: no CSRF needed
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def upload(
        self, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"
    ) -> dict[str, Any]:
        """Create the upload and POST the bytes to its form; returns the create response."""
        created = self.client.post(
            "/api/uploads",
            json={"filename": filename, "contentType": content_type, "size": len(data)},
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        form = body["upload"]
        posted = httpx.post(
            form["url"],
            data=form["fields"],
            files={"file": (filename, data, content_type)},
            timeout=30,
        )
        assert posted.status_code == 204, posted.text
        return body

    def wait_final(self, image_id: str, timeout_s: float = 60) -> dict[str, Any]:
        """Poll until the item leaves `processing`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            item: dict[str, Any] = self.client.get(f"/api/images/{image_id}").json()
            if item["status"] != "processing":
                return item
            time.sleep(0.1)
        raise AssertionError(f"{image_id} still processing after {timeout_s} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server with its own data dir."""
    proc = ServerProcess(tmp_path / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def alice(server: ServerProcess) -> Iterator[ApiUser]:
    """User alice on `server`."""
    user = ApiUser(server.url, "alice")
    yield user
    user.client.close()


@pytest.fixture
def bob(server: ServerProcess) -> Iterator[ApiUser]:
    """User bob on `server`."""
    user = ApiUser(server.url, "bob")
    yield user
    user.client.close()
