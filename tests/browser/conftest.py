"""Browser tests: a real `imgdrop serve` process and Debian's headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_S = 30


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use the system Chromium (never `playwright install`), quiet and sandbox-free."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def base_url() -> None:
    """Shadow pytest-base-url's fixture, which trips a pytest deprecation warning (an error
    here); each test gets its own server URL from `server_url` instead."""
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base_url: str, server: subprocess.Popen[bytes]) -> None:
    """Poll GET /api/config until the server answers (or fail with its output)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            out = server.stdout.read().decode() if server.stdout else ""
            pytest.fail(f"imgdrop serve exited with {server.returncode}:\n{out}")
        try:
            if httpx.get(f"{base_url}/api/config", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"imgdrop serve did not answer within {START_TIMEOUT_S} s")


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """Start a real `imgdrop serve` on a free port with its data in tmp_path; yield its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGDROP_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgdrop.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, server)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()
