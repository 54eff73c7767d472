"""SIGKILL the real `imgdrop serve` at random (seeded) moments while users upload; after each
restart every accepted upload settles, nothing is duplicated, and no child process lingers."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.faults.faultlib import assert_thumbnail, snapshot

ROUNDS = 8
UPLOADERS = 3
PASSWORD = "correct horse battery staple"


def upload_until_killed(url: str, token: str, seed: int, accepted: list[str]) -> None:
    """Upload photos one after another until the server goes away; keep the accepted ids."""
    with httpx.Client(
        base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for n in range(8):
            data = make_jpeg(2000, 1500, seed=seed * 100 + n, quality=85)
            try:
                created = client.post(
                    "/api/uploads",
                    json={
                        "filename": f"r{seed}-{n}.jpg",
                        "contentType": "image/jpeg",
                        "size": len(data),
                    },
                ).json()
                form = created["upload"]
                posted = client.post(
                    form["url"], data=form["fields"], files={"file": ("p.jpg", data, "image/jpeg")}
                )
            except httpx.HTTPError:
                return
            if posted.status_code == 204:
                accepted.append(created["imageId"])


def login(url: str, username: str) -> str:
    """A bearer token for an existing user."""
    with httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])


def wait_settled(url: str, token: str, ids: list[str], timeout_s: float = 90) -> None:
    """Poll until none of `ids` is processing."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(
        base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        pending = list(ids)
        while pending and time.monotonic() < deadline:
            pending = [
                i
                for i in pending
                if client.get(f"/api/images/{i}").json()["status"] == "processing"
            ]
            time.sleep(0.2)
    assert not pending, f"{len(pending)} accepted upload(s) still processing"


def check_data_dir(data_dir: Path, accepted: list[str]) -> None:
    """Accepted uploads are done with decodable thumbnails; only uploads whose bytes never
    arrived may still be processing (the sweep fails them when their form expires)."""
    snap = snapshot(data_dir)
    assert set(accepted) <= set(snap.items)
    for item in snap.items.values():
        if item["status"] == "processing":
            assert item["imageId"] not in accepted
            assert not (data_dir / "blobs" / item["originalKey"]).exists(), item
            continue
        assert item["status"] == "done", item
        assert_thumbnail(data_dir, item["thumb200Key"], 200)
        assert_thumbnail(data_dir, item["thumb400Key"], 400)
    done = sorted(i["thumb400Key"] for i in snap.items.values() if i["status"] == "done")
    assert snap.thumbs[400] == done, "stray or duplicate thumbnails"
    assert len(snap.thumbs[200]) == len(done)


def in_flight_at_kill(data_dir: Path) -> list[str]:
    """Uploads stored but not yet processed when the server died (some were never answered
    204: the kill came between storing the file and the answer; they must settle too)."""
    snap = snapshot(data_dir)
    return [
        i["imageId"]
        for i in snap.items.values()
        if i["status"] == "processing" and (data_dir / "blobs" / i["originalKey"]).exists()
    ]


def kill_and_check_children(server: ServerProcess) -> None:
    """SIGKILL the server; its thumbnail processes must not outlive it for long."""
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children(recursive=True)
    server.kill()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphaned processes after SIGKILL: {alive}"


def test_random_sigkills_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir).start()
    ApiUser(server.url, "kim").client.close()
    accepted: list[str] = []
    in_flight = 0
    try:
        for round_no in range(ROUNDS):
            token = login(server.url, "kim")
            uploaders = [
                threading.Thread(
                    target=upload_until_killed,
                    args=(server.url, token, round_no * 10 + n, accepted),
                )
                for n in range(UPLOADERS)
            ]
            for uploader in uploaders:
                uploader.start()
            time.sleep(rng.uniform(0.2, 2.0))
            kill_and_check_children(server)
            for uploader in uploaders:
                uploader.join(30)
            stored = in_flight_at_kill(data_dir)
            in_flight += len(stored)
            server = ServerProcess(data_dir).start()
            wait_settled(server.url, login(server.url, "kim"), accepted + stored)
            check_data_dir(data_dir, accepted)
        assert len(accepted) >= ROUNDS, "too few uploads were accepted to prove anything"
        assert in_flight, "no kill landed while uploads were being processed"
    finally:
        server.stop()
