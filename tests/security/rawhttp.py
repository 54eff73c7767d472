"""A raw HTTP/1.1 client for bodies httpx will not send: chunked streams that a server should
refuse part-way, and uploads cut off mid-file."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResult:
    """What came back, and how much of the body was sent before it did."""

    status: int
    body: dict[str, Any] | None
    sent: int
    seconds: float


def _answer(sock: socket.socket) -> tuple[int, dict[str, Any] | None]:
    data = b""
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + _length(data):
            got = sock.recv(65536)
            if not got:
                break
            data += got
    except (TimeoutError, ConnectionResetError):
        pass
    if not data:
        return 0, None
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(rest[: _length(data)] or b"null")
    except ValueError:
        return status, None


def _length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def send_chunked(
    url: str, content_type: str, chunks: Iterable[bytes], max_seconds: float = 60
) -> RawResult:
    """POST `chunks` with Transfer-Encoding: chunked (no Content-Length) until the server
    answers or closes; returns the answer and how many body bytes went out."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    start = time.monotonic()
    sent = 0
    try:
        sock.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}"
            "\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0] or time.monotonic() - start > max_seconds:
                break  # the server has answered (or closed): stop sending
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = _answer(sock)
    finally:
        sock.close()
    return RawResult(status, body, sent, time.monotonic() - start)


def send_cut_off(url: str, content_type: str, body: bytes, keep: int) -> None:
    """Declare the whole body's Content-Length, send only `keep` bytes, then hang up."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.sendall(body[:keep])
        time.sleep(0.3)
