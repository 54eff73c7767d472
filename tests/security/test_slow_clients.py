"""Slow clients end (issue 9, point 1): header and body read timeouts and a connection cap.

Raw sockets against a real `imgdrop serve` with short timeouts; every socket is bounded in
count and time, and all of them target the loopback server the test started.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess

HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2
MIN_RATE = 200  # bytes per second
SLACK_S = 3.0  # scheduling noise on a shared 2-core machine
SLOW = 100


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose header and body timeouts are 2 s."""
    env = {
        "IMGDROP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "IMGDROP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "IMGDROP_BODY_MIN_RATE": str(MIN_RATE),
    }
    proc = ServerProcess(tmp_path_factory.mktemp("slow") / "data", env=env).start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log()


def connect(server: ServerProcess) -> socket.socket:
    """A TCP connection to the server."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def wait_closed(socks: list[socket.socket], within_s: float) -> dict[socket.socket, bytes]:
    """What each socket received until the server closed it; fails if any stays open."""
    received = {s: b"" for s in socks}
    open_ = set(socks)
    deadline = time.monotonic() + within_s
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    data = b""
                received[s] += data
                if not data:
                    open_.discard(s)
                    sel.unregister(s)
    assert not open_, f"{len(open_)} of {len(socks)} connections still open after {within_s} s"
    return received


def assert_408(raw: bytes, about: str) -> None:
    """A readable JSON 408 that closes the connection."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), raw[:200]
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert about in error["message"]


def quick_request_works(server: ServerProcess) -> float:
    """An ordinary request, answered; returns how long it took."""
    started = time.monotonic()
    response = httpx.get(f"{server.url}/api/config", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def test_connections_stuck_in_their_headers_are_closed_within_the_timeout(
    slow_server: ServerProcess,
) -> None:
    socks = [connect(slow_server) for _ in range(SLOW)]
    try:
        started = time.monotonic()
        for s in socks:
            s.sendall(b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        assert quick_request_works(slow_server) < 1.0  # meanwhile, everyone else is served
        received = wait_closed(socks, HEADER_TIMEOUT_S + SLACK_S)
        took = time.monotonic() - started
        assert took >= HEADER_TIMEOUT_S - 0.5  # closed by the deadline, not at once
        for raw in received.values():
            assert_408(raw, "headers arrived too slowly")
    finally:
        close_all(socks)
    quick_request_works(slow_server)


def test_connections_that_send_nothing_are_closed(slow_server: ServerProcess) -> None:
    socks = [connect(slow_server) for _ in range(20)]
    try:
        received = wait_closed(socks, HEADER_TIMEOUT_S + SLACK_S)
        assert all(raw.startswith(b"HTTP/1.1 408") for raw in received.values())
    finally:
        close_all(socks)


def test_headers_trickled_a_byte_at_a_time_still_end_at_the_deadline(
    slow_server: ServerProcess,
) -> None:
    socks = [connect(slow_server) for _ in range(10)]
    request = b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 1000
    try:
        started = time.monotonic()
        sent = 0
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S and not closed:
            for s in socks:
                try:
                    s.send(request[sent : sent + 1])
                except OSError:
                    closed = True
            sent += 1
            time.sleep(0.2)
        # Activity does not extend the deadline: the connections end around 2 s.
        wait_closed(socks, HEADER_TIMEOUT_S + SLACK_S - (time.monotonic() - started) + 1)
        assert time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S + 1
    finally:
        close_all(socks)


def body_request(length: int) -> bytes:
    return (
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def test_a_body_that_stops_arriving_is_refused_408(slow_server: ServerProcess) -> None:
    socks = [connect(slow_server) for _ in range(SLOW)]
    try:
        started = time.monotonic()
        for s in socks:
            s.sendall(body_request(1000) + b'{"username": "al')
        assert quick_request_works(slow_server) < 1.0
        received = wait_closed(socks, BODY_TIMEOUT_S + SLACK_S)
        assert time.monotonic() - started >= BODY_TIMEOUT_S - 0.5
        for raw in received.values():
            assert_408(raw, "body arrived too slowly")
    finally:
        close_all(socks)
    quick_request_works(slow_server)


def test_a_body_trickled_slower_than_the_minimum_rate_is_refused(
    slow_server: ServerProcess,
) -> None:
    # One byte every 0.5 s never pauses for the 2 s idle limit, but averages 2 bytes/s,
    # far under 200 bytes/s: after the 2 s grace it is refused.
    socks = [connect(slow_server) for _ in range(20)]
    try:
        for s in socks:
            s.sendall(body_request(10_000))
        started = time.monotonic()
        while time.monotonic() - started < BODY_TIMEOUT_S + SLACK_S + 2:
            if all(_readable(s) for s in socks):
                break  # every one has been answered
            for s in socks:
                with contextlib.suppress(OSError):  # already refused and closed
                    s.send(b" ")
            time.sleep(0.5)
        received = wait_closed(socks, SLACK_S)
        assert time.monotonic() - started < BODY_TIMEOUT_S + 2 * SLACK_S
        for raw in received.values():
            assert_408(raw, "body arrived too slowly")
    finally:
        close_all(socks)


def _readable(s: socket.socket) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(s, selectors.EVENT_READ)
        return bool(sel.select(timeout=0))


def test_a_kept_alive_idle_connection_is_not_cut_by_the_header_deadline(
    slow_server: ServerProcess,
) -> None:
    request = b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(slow_server) as s:
        s.sendall(request)
        assert read_response(s).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT_S + 1)  # idle between requests: keep-alive's business
        s.sendall(request)
        assert read_response(s).startswith(b"HTTP/1.1 200")


def read_response(s: socket.socket) -> bytes:
    """One whole response (headers, then Content-Length bytes of body) from a blocking socket."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = s.recv(65536)
        assert chunk, f"closed after {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def test_connections_over_the_cap_are_refused_503_at_once(tmp_path: Path) -> None:
    env = {"IMGDROP_MAX_CONNECTIONS": "20", "IMGDROP_HEADER_TIMEOUT_S": "30"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    holders: list[socket.socket] = []
    try:
        time.sleep(0.5)  # the start-up probe's connection is gone
        holders = [connect(server) for _ in range(20)]
        time.sleep(0.3)
        extra = connect(server)
        raw = wait_closed([extra], 2.0)[extra]
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), raw[:200]
        assert b"retry-after: 5" in head.lower()
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        extra.close()
        close_all(holders)
        time.sleep(0.5)
        quick_request_works(server)
    finally:
        close_all(holders)
        server.stop()
    assert "Traceback" not in server.log()
