"""Load test: many simulated users sign up, upload photos, wait for thumbnails, browse galleries.

    uv run python bench/load.py --users 50 --duration 120 --photos ../shared/corpus
    uv run python bench/load.py --users 10 --duration 10 --server http://127.0.0.1:8000

Without --server it starts its own `imgdrop serve` on a free loopback port with a temporary data
dir. Photos are only read from --photos (never copied); by default JPEGs of 1-12 MP are made.
It samples the server's process-tree RSS, prints p50/p95 gallery and upload-to-done latency, and
exits 1 on any error or any upload that did not end `done`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".avif": "image/avif",
}
PASSWORD = "load-test password"
POLL_S = 0.3
Photo = tuple[str, bytes, str]


@dataclass
class Stats:
    """What every simulated user records."""

    uploads: int = 0
    done: int = 0
    errors: list[str] = field(default_factory=list)
    gallery_s: list[float] = field(default_factory=list)
    to_done_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    load_from: int = 0  # first RSS sample of the upload phase (after the sign-up burst)

    def error(self, what: str) -> None:
        """Count one error (the first few are kept verbatim)."""
        self.errors.append(what)


def read_photos(folder: Path) -> list[Photo]:
    """Every image file of `folder` (by extension), read into memory."""
    photos = [
        (p.name, p.read_bytes(), TYPES[p.suffix.lower()])
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in TYPES and p.is_file()
    ]
    if not photos:
        raise SystemExit(f"no photos in {folder}")
    return photos


def generate_photos(count: int, min_mp: float, max_mp: float, seed: int = 7) -> list[Photo]:
    """Seeded photo-like JPEGs (noise over gradients) from `min_mp` to `max_mp` megapixels."""
    rng = random.Random(seed)
    photos = []
    for n in range(count):
        mp = min_mp * (max_mp / min_mp) ** (n / max(1, count - 1))
        width = int((mp * 1e6 * 4 / 3) ** 0.5)
        height = int(width * 3 / 4)
        noise = Image.effect_noise((width, height), rng.uniform(30, 80))
        ramp = Image.linear_gradient("L").resize((width, height))
        img = Image.merge("RGB", (noise, ramp, ramp.transpose(Image.Transpose.ROTATE_180)))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        photos.append((f"generated-{width}x{height}.jpg", buf.getvalue(), "image/jpeg"))
    return photos


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def own_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """`imgdrop serve` on a free loopback port with a fresh data dir; yields (url, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(workdir / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imgdrop.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(workdir / "data"),
            ],
            # Every simulated user signs up from this one loopback address: lift the per-address
            # sign-up/sign-in limits (they are tested in tests/security) for the load run.
            env={
                **os.environ,
                "IMGDROP_SIGNUP_ADDRESS_LIMIT": "100000/minute",
                "IMGDROP_SIGNIN_ADDRESS_LIMIT": "100000/minute",
            },
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {workdir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/config", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def listening_pid(url: str) -> int | None:
    """The pid that listens on `url`'s port (for --server), if it can be seen."""
    port = httpx.URL(url).port
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                return conn.pid
    return None


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its children, MiB."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


async def sample_memory(pid: int | None, stats: Stats, every_s: float) -> None:
    """Append the server's tree RSS to `stats` every `every_s` seconds until cancelled."""
    while pid is not None:
        with contextlib.suppress(psutil.Error):
            stats.rss_mb.append(tree_rss_mb(pid))
        await asyncio.sleep(every_s)


async def sign_up(client: httpx.AsyncClient, username: str) -> None:
    """Create the account and use its bearer token from now on."""
    body = {"username": username, "password": PASSWORD}
    signup = await client.post("/api/signup", json=body)
    if signup.status_code != 201:
        raise RuntimeError(f"signup {signup.status_code}: {signup.text[:200]}")
    login = await client.post("/api/login", json=body)
    if login.status_code != 200:
        raise RuntimeError(f"login {login.status_code}: {login.text[:200]}")
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"


async def upload_one(
    client: httpx.AsyncClient, photo: Photo, stats: Stats, drain_by: float
) -> None:
    """Create the upload, POST the bytes to its form, poll until it leaves `processing`."""
    name, data, content_type = photo
    started = time.monotonic()
    created = await client.post(
        "/api/uploads", json={"filename": name, "contentType": content_type, "size": len(data)}
    )
    if created.status_code != 201:
        raise RuntimeError(f"create {created.status_code}: {created.text[:200]}")
    form = created.json()["upload"]
    posted = await client.post(
        form["url"], data=form["fields"], files={"file": (name, data, content_type)}
    )
    if posted.status_code != 204:
        raise RuntimeError(f"form POST {posted.status_code}: {posted.text[:200]}")
    stats.uploads += 1
    image_id = created.json()["imageId"]
    while time.monotonic() < drain_by:
        item = (await client.get(f"/api/images/{image_id}")).raise_for_status().json()
        if item["status"] == "done":
            stats.done += 1
            stats.to_done_s.append(time.monotonic() - started)
            return
        if item["status"] != "processing":
            raise RuntimeError(f"{name} ended {item['status']}: {item.get('error')}")
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{name} still processing at the end")


async def browse(client: httpx.AsyncClient, stats: Stats) -> None:
    """Load the first gallery page, timed."""
    started = time.monotonic()
    page = await client.get("/api/images", params={"limit": 24})
    stats.gallery_s.append(time.monotonic() - started)
    if page.status_code != 200 or not isinstance(page.json().get("items"), list):
        raise RuntimeError(f"gallery {page.status_code}: {page.text[:200]}")


async def user(
    n: int,
    client: httpx.AsyncClient,
    photos: list[Photo],
    stats: Stats,
    until: float,
    think_s: float,
) -> None:
    """One signed-in person: upload, wait for the thumbnails and browse until the time is up."""
    rng = random.Random(n)
    while time.monotonic() < until:
        try:
            await upload_one(client, rng.choice(photos), stats, until + 300)
            await browse(client, stats)
        except (RuntimeError, httpx.HTTPError, ValueError) as exc:
            stats.error(f"user {n}: {exc!r}")
        await asyncio.sleep(rng.uniform(0, 2 * think_s))


async def run(url: str, pid: int | None, photos: list[Photo], args: argparse.Namespace) -> Stats:
    """Sign every user up at once, then load for `args.duration` s; RSS sampled throughout."""
    stats = Stats()
    sampler = asyncio.create_task(sample_memory(pid, stats, args.sample_s))
    run_id = format(int(time.time() * 1000) % 10**8, "x")
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=120))
            for _ in range(args.users)
        ]
        signed = await asyncio.gather(
            *(sign_up(c, f"load{run_id}u{n}") for n, c in enumerate(clients)),
            return_exceptions=True,
        )
        stats.errors += [f"user {n}: {e!r}" for n, e in enumerate(signed) if e is not None]
        await asyncio.sleep(args.sample_s)
        stats.load_from = len(stats.rss_mb)
        until = time.monotonic() + args.duration
        await asyncio.gather(
            *(
                user(n, c, photos, stats, until, args.think)
                for n, c in enumerate(clients)
                if signed[n] is None
            )
        )
    await asyncio.sleep(args.sample_s)  # one sample after the last upload settled
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    return stats


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(stats: Stats, args: argparse.Namespace, wall_s: float) -> dict[str, Any]:
    """The figures, as a dict (also written with --json)."""
    rss = stats.rss_mb or [float("nan")]
    signup, load = rss[: stats.load_from] or rss, rss[stats.load_from :] or rss
    third = max(1, len(load) // 3)
    return {
        "users": args.users,
        "duration_s": args.duration,
        "wall_s": round(wall_s, 1),
        "uploads": stats.uploads,
        "done": stats.done,
        "errors": len(stats.errors),
        "first_errors": stats.errors[:10],
        "gallery_p50_ms": round(pct(stats.gallery_s, 50) * 1000, 1),
        "gallery_p95_ms": round(pct(stats.gallery_s, 95) * 1000, 1),
        "upload_to_done_p50_s": round(pct(stats.to_done_s, 50), 2),
        "upload_to_done_p95_s": round(pct(stats.to_done_s, 95), 2),
        "rss_idle_mb": round(rss[0], 1),
        "rss_signup_peak_mb": round(max(signup), 1),
        "rss_load_start_mb": round(load[0], 1),
        "rss_load_peak_mb": round(max(load), 1),
        "rss_first_third_max_mb": round(max(load[:third]), 1),
        "rss_last_third_max_mb": round(max(load[-third:]), 1),
        "rss_end_mb": round(rss[-1], 1),
        "rss_samples": len(stats.rss_mb),
        "rss_series_mb": [round(v) for v in stats.rss_mb],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="simulated users at once")
    parser.add_argument("--duration", type=float, default=120, help="seconds of load")
    parser.add_argument("--server", help="URL of a running server (default: start one)")
    parser.add_argument("--photos", type=Path, help="folder of photos (default: generated)")
    parser.add_argument("--min-mp", type=float, default=1, help="smallest generated photo, MP")
    parser.add_argument("--max-mp", type=float, default=12, help="largest generated photo, MP")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between actions, s")
    parser.add_argument("--sample-s", type=float, default=2.0, help="RSS sampling period, s")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when there were no errors and every upload ended done."""
    args = parse_args(argv)
    photos = (
        read_photos(args.photos) if args.photos else generate_photos(8, args.min_mp, args.max_mp)
    )
    with tempfile.TemporaryDirectory(prefix="imgdrop-load-") as tmp, contextlib.ExitStack() as st:
        url, pid = (
            (args.server.rstrip("/"), listening_pid(args.server))
            if args.server
            else st.enter_context(own_server(Path(tmp)))
        )
        started = time.monotonic()
        stats = asyncio.run(run(url, pid, photos, args))
        figures = summary(stats, args, time.monotonic() - started)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if not stats.errors and stats.done == stats.uploads > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
