"""Load test: simulated users sign up, upload photos, wait for thumbnails, browse; an attacker too.

    uv run python bench/load.py --users 50 --duration 120 --photos ../shared/corpus
    uv run python bench/load.py --attack --photos ../shared/corpus     # the same, under attack
    uv run python bench/load.py --compare --photos ../shared/corpus    # calm run, then attack run
    uv run python bench/load.py --users 10 --duration 10 --server http://127.0.0.1:8000

Without --server it starts its own `imgdrop serve` on a free loopback port with a temporary data
dir (a fresh one per run, so --compare's two runs start alike). Photos are only read from
--photos (never copied); by default JPEGs of 1-12 MP are made. Each honest user has a strong
random password and its own loopback source address (127.0.2.x), so per-address throttling
sees them as different people; the attacker sends from 127.0.66.6. It samples the server's
process-tree RSS, prints p50/p95 gallery, sign-in and upload-to-done latency and, under
attack, how the server answered each attack. Exit status 1 on any honest error, an upload
that did not end `done`, an attack not answered as designed, or (--compare) an attack-run
upload-to-done p95 over 1.5x the calm run's.

Every attack is bounded in rate, count and bytes, and stops with the run. Oversized bodies
are generated while they are sent, never held in memory, and a safety cap (--rss-cap-mb)
stops them, and kills a server this script started, if the server tree's RSS passes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import io
import json
import math
import random
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
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
POLL_S = 0.3
ATTACKER_ADDRESS = "127.0.66.6"
CHUNK = 1 << 20  # bytes per write of a streamed attack body
ANSWER_WAIT_S = 30.0  # how long an attack waits for the server's answer once it stops sending
STALL_S = 10.0  # a server that stops reading for this long is left alone
TARGET_P95_RATIO = 1.5
BUSY_PATIENCE_S = 90  # how long a person retries a sign-up or sign-in the server is too busy for


@dataclass(frozen=True)
class Photo:
    """One upload: name, bytes, content type and SHA-256 (hex), computed once."""

    name: str
    data: bytes
    content_type: str
    sha256: str

    @classmethod
    def of(cls, name: str, data: bytes, content_type: str) -> Photo:
        """A photo with its digest."""
        return cls(name, data, content_type, hashlib.sha256(data).hexdigest())


@dataclass
class Window:
    """The load window: honest users and the attacker act until `until` or an early stop."""

    until: float
    stopped: str = ""  # why the run was ended early ("" while it runs)

    def open(self) -> bool:
        """True while the time is not up and nothing stopped the run."""
        return not self.stopped and time.monotonic() < self.until


@dataclass
class Stats:
    """What every simulated user records."""

    uploads: int = 0
    done: int = 0
    errors: list[str] = field(default_factory=list)
    gallery_s: list[float] = field(default_factory=list)
    to_done_s: list[float] = field(default_factory=list)
    signin_s: list[float] = field(default_factory=list)  # before the window (the burst)
    resignin_s: list[float] = field(default_factory=list)  # second devices, in the window
    create_s: list[float] = field(default_factory=list)  # POST /api/uploads
    post_s: list[float] = field(default_factory=list)  # the bytes to the form
    polls: int = 0  # GET /api/images/{id} while waiting for `done`
    busy_waits: int = 0  # 503 + Retry-After on sign-up or sign-in, waited out as told
    rss_mb: list[float] = field(default_factory=list)
    load_from: int = 0  # first RSS sample of the upload phase (after the sign-up burst)

    def error(self, what: str) -> None:
        """Count one error (the first few are shown verbatim)."""
        self.errors.append(what)


@dataclass
class Guard:
    """Watches the server tree's RSS (peak) and stops the attack, or the server, at a cap."""

    pid: int | None
    cap_mb: float
    server: subprocess.Popen[bytes] | None = None  # only a server this script started
    peak_mb: float = 0.0
    tripped: bool = False


# ---------------------------------------------------------------- photos and bombs


def read_photos(folder: Path) -> list[Photo]:
    """Every image file of `folder` (by extension), read into memory."""
    photos = [
        Photo.of(p.name, p.read_bytes(), TYPES[p.suffix.lower()])
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
        photos.append(Photo.of(f"generated-{width}x{height}.jpg", buf.getvalue(), "image/jpeg"))
    return photos


def scan_bomb(megapixels: float, scans: int) -> bytes:
    """A flat progressive JPEG followed by `scans` chroma AC scans that each say "all zero".

    Every scan makes the decoder visit every chroma block again, and each costs ~25 bytes
    (end-of-band runs of 32767 blocks). Chroma, because a 1/8-scale decode still reads it.
    """
    side = int(math.sqrt(megapixels * 1e6)) // 16 * 16
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 150)).save(
        buf, "JPEG", quality=80, progressive=True, subsampling=2
    )
    blocks = (side // 16) ** 2  # 8x8 blocks of one 4:2:0 chroma component
    bits = ("0" + "1" * 14) * math.ceil(blocks / 32767)  # code "0" = EOB14, 14 one-bits: 32767
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    # AC table 3: one code, "0" -> symbol 0xE0 (EOB14); scans: Cb or Cr, coefficients 1-63.
    table = b"\xff\xc4\x00\x14" + bytes([0x13, 1] + [0] * 15) + b"\xe0"
    pair = b"".join(b"\xff\xda\x00\x08" + bytes([1, c, 0x03, 1, 63, 0]) + data for c in (2, 3))
    return buf.getvalue()[:-2] + table + pair * (scans // 2) + b"\xff\xd9"


def _box(kind: bytes, payload: bytes, version: int | None = None, flags: int = 0) -> bytes:
    """An ISO-BMFF box (a full box when `version` is given)."""
    if version is not None:
        payload = bytes([version]) + flags.to_bytes(3, "big") + payload
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _boxes(data: bytes) -> dict[bytes, bytes]:
    """The payloads of the boxes at one level, by type."""
    found, pos = {}, 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        found[data[pos + 4 : pos + 8]] = data[pos + 8 : pos + size]
        pos += max(size, 8)
    return found


def _flat_av1_tile(tile_px: int) -> tuple[bytes, bytes]:
    """The av1C property and the coded bytes of one flat AVIF tile (encoded by Pillow)."""
    buf = io.BytesIO()
    Image.new("RGB", (tile_px, tile_px), (90, 120, 150)).save(buf, "AVIF", quality=30, speed=10)
    top = _boxes(buf.getvalue())
    av1c = _boxes(_boxes(_boxes(top[b"meta"][4:])[b"iprp"])[b"ipco"])[b"av1C"]
    return av1c, top[b"mdat"]


def _grid_items(tiles: int, tile_px: int, av1c: bytes) -> bytes:
    """iinf, iref and iprp: a grid (item 1) of tiles x tiles hidden av01 items (2, 3, ...)."""
    count, side = tiles * tiles, tiles * tile_px
    ids = range(2, count + 2)
    infe = [_box(b"infe", struct.pack(">HH", 1, 0) + b"grid\0", 2)]
    infe += [_box(b"infe", struct.pack(">HH", i, 0) + b"av01\0", 2, flags=1) for i in ids]
    refs = struct.pack(">HH", 1, count) + b"".join(struct.pack(">H", i) for i in ids)
    properties = (  # 1: tile size, 2: codec, 3: grid size, 4: bit depth
        _box(b"ispe", struct.pack(">II", tile_px, tile_px), 0)
        + _box(b"av1C", av1c)
        + _box(b"ispe", struct.pack(">II", side, side), 0)
        + _box(b"pixi", bytes([3, 8, 8, 8]), 0)
    )
    tile_props = b"".join(struct.pack(">HB", i, 3) + bytes([0x82, 1, 4]) for i in ids)
    ipma = struct.pack(">IHB", count + 1, 1, 2) + bytes([3, 4]) + tile_props
    return (
        _box(b"iinf", struct.pack(">H", count + 1) + b"".join(infe), 0)
        + _box(b"iref", _box(b"dimg", refs), 0)
        + _box(b"iprp", _box(b"ipco", properties) + _box(b"ipma", ipma, 0))
    )


def avif_bomb(tiles: int, tile_px: int = 1024) -> bytes:
    """A ~10 KB AVIF grid of tiles x tiles flat tiles that all point at the same coded bytes.

    Its header is honest (15360 x 15360 = 236 MP for 15 x 15, under the default 250 MP), so
    only a decode-memory budget can refuse it; decoding it takes ~1.2 GB. libheif refuses
    more than 256 items, hence the large tiles.
    """
    av1c, coded = _flat_av1_tile(tile_px)
    count, side = tiles * tiles, tiles * tile_px
    grid = bytes([0, 0, tiles - 1, tiles - 1]) + struct.pack(">HH", side, side)
    head = _box(b"hdlr", b"\0" * 4 + b"pict" + b"\0" * 13, 0) + _box(b"pitm", b"\0\1", 0)
    items = _grid_items(tiles, tile_px, av1c)
    ftyp = _box(b"ftyp", b"avif\0\0\0\0avifmif1miaf")

    def meta(mdat_at: int) -> bytes:  # iloc: the grid's 8 bytes, then one tile for all
        grid_at, tile_at = mdat_at + 8, mdat_at + 8 + len(grid)
        rows = struct.pack(">HHHII", 1, 0, 1, grid_at, len(grid)) + b"".join(
            struct.pack(">HHHII", i, 0, 1, tile_at, len(coded)) for i in range(2, count + 2)
        )
        iloc = _box(b"iloc", bytes([0x44, 0]) + struct.pack(">H", count + 1) + rows, 0)
        return _box(b"meta", head + iloc + items, 0)

    mdat_at = len(ftyp) + len(meta(0))  # the offsets do not change the size
    return ftyp + meta(mdat_at) + _box(b"mdat", grid + coded)


# ---------------------------------------------------------------- the server and its memory


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def own_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`imgdrop serve` on a free loopback port with a fresh data dir; yields (url, process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "imgdrop.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(workdir / "data")]
    with open(workdir / "server.log", "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {workdir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/config", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield url, proc
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


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its children, MiB."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def tree_cpu_s(pid: int | None) -> dict[str, float]:
    """CPU seconds so far: the server process itself, and its thumbnail processes."""
    if pid is None:
        return {"server": math.nan, "thumbnail_processes": math.nan}
    own = children = 0.0
    with contextlib.suppress(psutil.Error):
        for n, proc in enumerate(tree(pid)):
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()  # children_*: processes already exited and reaped
                own += (t.user + t.system) if n == 0 else 0.0
                children += t.children_user + t.children_system
                children += (t.user + t.system) if n else 0.0
    return {"server": own, "thumbnail_processes": children}


async def sample_memory(pid: int | None, stats: Stats, every_s: float) -> None:
    """Append the server's tree RSS to `stats` every `every_s` seconds until cancelled."""
    while pid is not None:
        with contextlib.suppress(psutil.Error):
            stats.rss_mb.append(tree_rss_mb(pid))
        await asyncio.sleep(every_s)


async def watch(guard: Guard, window: Window, every_s: float = 0.5) -> None:
    """Track the RSS peak; over the cap, stop the attack and kill our own server's tree."""
    while guard.pid is not None:
        with contextlib.suppress(psutil.Error):
            rss = tree_rss_mb(guard.pid)
            guard.peak_mb = max(guard.peak_mb, rss)
            if rss > guard.cap_mb and not guard.tripped:
                guard.tripped = True
                window.stopped = f"server tree RSS {rss:.0f} MB passed --rss-cap-mb"
                if guard.server is not None:  # ours: never let it take the machine down
                    for proc in reversed(tree(guard.server.pid)):
                        with contextlib.suppress(psutil.Error):
                            proc.kill()
        await asyncio.sleep(every_s)


# ---------------------------------------------------------------- honest users


def honest_address(n: int) -> str:
    """User n's own loopback source address (127.0.2.1, 127.0.2.2, ...)."""
    return f"127.0.{2 + n // 250}.{1 + n % 250}"


def client_for(url: str, address: str, connections: int = 10) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `address`."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address, limits=httpx.Limits(max_connections=connections)
    )
    return httpx.AsyncClient(base_url=url, timeout=120, transport=transport)


@dataclass
class Person:
    """An account: number, name, password, how often its second device signs in again (s, or
    0), and the known-device token of its last sign-in (sent back, like the CLI does)."""

    n: int
    username: str
    password: str
    relogin_s: float = 0.0
    device_token: str = ""


async def post_patiently(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], stats: Stats
) -> httpx.Response:
    """POST; on 503 with Retry-After (the server's hashing pool is full) wait as told, plus a
    random share so a crowd spreads out, and try again for up to BUSY_PATIENCE_S. Every wait
    is counted. Any other answer is returned."""
    give_up = time.monotonic() + BUSY_PATIENCE_S
    while True:
        response = await client.post(path, json=body)
        retry = response.headers.get("retry-after", "")
        if response.status_code != 503 or not retry.isdigit() or time.monotonic() > give_up:
            return response
        stats.busy_waits += 1
        wait_s = min(int(retry), 10)
        await asyncio.sleep(wait_s + random.uniform(0, wait_s + 1))


async def sign_in(client: httpx.AsyncClient, person: Person, stats: Stats) -> float:
    """Sign in and use the new bearer token from now on; returns the seconds it took.

    The cookie jar is kept, and the last device token sent back: a known device is what lets
    the owner in while strangers' guesses are throttled. A 429 (with Retry-After) is an
    error: the design must let the owner in.
    """
    started = time.monotonic()
    body = {"username": person.username, "password": person.password}
    if person.device_token:
        body["deviceToken"] = person.device_token
    login = await post_patiently(client, "/api/login", body, stats)
    if login.status_code != 200:
        retry = login.headers.get("retry-after")
        shown = f" (Retry-After: {retry})" if retry else ""
        raise RuntimeError(f"sign-in {login.status_code}{shown}: {login.text[:200]}")
    elapsed = time.monotonic() - started
    person.device_token = str(login.json().get("deviceToken") or "")
    old = client.headers.get("Authorization")
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    if old:  # end the previous session, as a person signing in again would leave it
        ended = await client.post("/api/logout", headers={"Authorization": old})
        if ended.status_code != 204:
            raise RuntimeError(f"sign-out {ended.status_code}: {ended.text[:200]}")
    return elapsed


async def sign_up(client: httpx.AsyncClient, person: Person, stats: Stats) -> float:
    """Create the account and sign in; returns the sign-in seconds."""
    body = {"username": person.username, "password": person.password}
    signup = await post_patiently(client, "/api/signup", body, stats)
    if signup.status_code != 201:
        raise RuntimeError(f"signup {signup.status_code}: {signup.text[:200]}")
    return await sign_in(client, person, stats)


async def create_upload(
    client: httpx.AsyncClient, name: str, content_type: str, size: int, sha256: str | None
) -> httpx.Response:
    """POST /api/uploads (a known duplicate is uploaded again: every upload is timed)."""
    body: dict[str, Any] = {"filename": name, "contentType": content_type, "size": size}
    if sha256:
        body |= {"sha256": sha256, "allowDuplicate": True}
    return await client.post("/api/uploads", json=body)


async def upload_one(
    client: httpx.AsyncClient, photo: Photo, stats: Stats, drain_by: float
) -> None:
    """Create the upload, POST the bytes to its form, poll until it leaves `processing`."""
    started = time.monotonic()
    created = await create_upload(
        client, photo.name, photo.content_type, len(photo.data), photo.sha256
    )
    if created.status_code != 201:
        raise RuntimeError(f"create {created.status_code}: {created.text[:200]}")
    stats.create_s.append(time.monotonic() - started)
    form = created.json()["upload"]
    posting = time.monotonic()
    posted = await client.post(
        form["url"],
        data=form["fields"],
        files={"file": (photo.name, photo.data, photo.content_type)},
    )
    if posted.status_code != 204:
        raise RuntimeError(f"form POST {posted.status_code}: {posted.text[:200]}")
    stats.post_s.append(time.monotonic() - posting)
    stats.uploads += 1
    image_id = created.json()["imageId"]
    while time.monotonic() < drain_by:
        stats.polls += 1
        item = (await client.get(f"/api/images/{image_id}")).raise_for_status().json()
        if item["status"] == "done":
            stats.done += 1
            stats.to_done_s.append(time.monotonic() - started)
            return
        if item["status"] != "processing":
            raise RuntimeError(f"{photo.name} ended {item['status']}: {item.get('error')}")
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{photo.name} still processing at the end")


async def browse(client: httpx.AsyncClient, stats: Stats) -> None:
    """Load the first gallery page, timed."""
    started = time.monotonic()
    page = await client.get("/api/images", params={"limit": 24})
    stats.gallery_s.append(time.monotonic() - started)
    if page.status_code != 200 or not isinstance(page.json().get("items"), list):
        raise RuntimeError(f"gallery {page.status_code}: {page.text[:200]}")


async def user(
    person: Person,
    client: httpx.AsyncClient,
    photos: list[Photo],
    stats: Stats,
    window: Window,
    think_s: float,
) -> None:
    """One signed-in person: upload, wait for the thumbnails and browse until the time is up."""
    rng = random.Random(person.n)
    while window.open():
        try:
            await upload_one(client, rng.choice(photos), stats, window.until + 300)
            await browse(client, stats)
        except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
            stats.error(f"user {person.n}: {exc!r}")
        await asyncio.sleep(rng.uniform(0, 2 * think_s))


async def second_device(
    person: Person, client: httpx.AsyncClient, stats: Stats, window: Window
) -> None:
    """The person's other device (own cookies and device token, signed in once before the
    window): signs in again every `relogin_s`, whatever the uploads are doing."""
    while window.open():
        await pause_until(window, time.monotonic() + person.relogin_s)
        if not window.open():
            return
        try:
            stats.resignin_s.append(await sign_in(client, person, stats))
        except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
            stats.error(f"user {person.n}, signing in again: {exc!r}")


# ---------------------------------------------------------------- the attacker


@dataclass
class AttackLog:
    """How the server answered each attack: status counts and a few of its messages."""

    answers: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    messages: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent_mib: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    settle_s: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    guesses: int = 0
    verdicts_first_90: int = 0  # 401s (a password was checked) among the first 90 guesses

    def record(self, kind: str, answer: str, message: str = "") -> None:
        """Count one answer; keep the first three distinct messages."""
        self.answers[kind][answer] += 1
        kept = self.messages[kind]
        if message and len(kept) < 3 and message[:200] not in kept:
            kept.append(message[:200])


def error_message(body: bytes) -> str:
    """The `error.message` of an imgdrop error body, else the start of the body."""
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") if body[:1] != b"{" else ""


async def answer_of(request: Awaitable[httpx.Response]) -> tuple[str, str]:
    """(status code, message) of a request; an exception is an answer too, never a crash."""
    try:
        response = await request
    except httpx.HTTPError as exc:
        return f"error {type(exc).__name__}", str(exc)[:200]
    message = error_message(response.content)
    if "retry-after" in response.headers:
        message += f" (Retry-After: {response.headers['retry-after']})"
    return str(response.status_code), message


async def pause_until(window: Window, when: float) -> None:
    """Sleep until `when`, or until the window closes."""
    while window.open() and time.monotonic() < when:
        await asyncio.sleep(min(0.5, when - time.monotonic()))


async def read_answer(reader: asyncio.StreamReader) -> tuple[str, str]:
    """Status code and error message of a raw HTTP response ("closed" when there is none)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except ConnectionResetError:  # a close with unread input sends a reset, which can drop
        return "reset", "the connection was reset before an answer could be read"
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        return "closed", "the server closed the connection without an answer"
    lines = head.decode("latin-1").split("\r\n")
    status = [*lines[0].split(" "), "?", "?"][1]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    length = min(int(headers.get("content-length", "0") or 0), 65536)
    body = b""
    with contextlib.suppress(asyncio.IncompleteReadError, OSError, TimeoutError, ValueError):
        body = await asyncio.wait_for(reader.readexactly(length), 5)
    return status, error_message(body)


async def drained(writer: asyncio.StreamWriter, answer: asyncio.Future[Any]) -> bool:
    """Wait until the socket takes more; False once the server answered or stopped reading."""
    drain = asyncio.ensure_future(writer.drain())
    done, _ = await asyncio.wait({drain, answer}, timeout=STALL_S, return_when="FIRST_COMPLETED")
    if drain not in done:
        drain.cancel()
        return False
    drain.result()  # raises if the server closed the connection
    return not answer.done()


async def send_body(
    writer: asyncio.StreamWriter,
    body: Iterator[bytes],
    chunked: bool,
    answer: asyncio.Future[Any],
    rate_mib_s: float,
    window: Window,
) -> int:
    """Write `body`, paced; stop when the server answers, stalls or closes the connection, or
    the window closes (the run is over, or the RSS cap was passed). Returns the bytes sent."""
    sent, started = 0, time.monotonic()
    try:
        for chunk in body:
            if not window.open():
                return sent
            writer.writelines([b"%x\r\n" % len(chunk), chunk, b"\r\n"] if chunked else [chunk])
            sent += len(chunk)
            if not await drained(writer, answer):
                return sent
            await asyncio.sleep(
                max(0.0, sent / (rate_mib_s * 2**20) - (time.monotonic() - started))
            )
        if chunked:
            writer.write(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection: its answer, if it sent one, is read next
    return sent


async def stream_post(
    url: httpx.URL,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
    rate_mib_s: float,
    window: Window,
) -> tuple[str, str, float]:
    """POST a generated body from the attacker's address until the server answers (chunked
    when `headers` has no Content-Length). Returns (status, message, MiB sent)."""
    reader, writer = await asyncio.open_connection(
        url.host, url.port, local_addr=(ATTACKER_ADDRESS, 0)
    )
    chunked = "Content-Length" not in headers
    headers = {"Host": f"{url.host}:{url.port}", **headers}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    answer = asyncio.ensure_future(read_answer(reader))
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode() + b"\r\n")
    sent = await send_body(writer, body, chunked, answer, rate_mib_s, window)
    try:
        status, message = await asyncio.wait_for(answer, ANSWER_WAIT_S)
    except TimeoutError:
        status, message = "no answer", f"none {ANSWER_WAIT_S:.0f} s after the attacker stopped"
    finally:
        answer.cancel()
        writer.close()
    return status, message, sent / 2**20


def login_body(total: int) -> Iterator[bytes]:
    """A JSON sign-in whose username is `total` bytes long, made while it is sent."""
    filler = b"a" * CHUNK
    yield b'{"username": "'
    for start in range(0, total, CHUNK):
        yield filler[: min(CHUNK, total - start)]
    yield b'", "password": "x"}'


def many_fields(total: int, boundary: str) -> Iterator[bytes]:
    """About `total` bytes of multipart form made of tiny fields, each with a new name."""
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="fXXXXXXXX-%04d"\r\n\r\nx\r\n'
    template = b"".join(part.encode() % i for i in range(10_000))
    for n in range(math.ceil(total / len(template))):
        yield template.replace(b"XXXXXXXX", b"%08d" % n)
    yield f"--{boundary}--\r\n".encode()


def oversized_kinds(total: int, form_path: str | None) -> dict[str, Any]:
    """Per oversized attack: (path, headers, a maker of its generated body)."""
    boundary = "attack" + secrets.token_hex(8)
    kinds = {
        "login_body_declared": (
            "/api/login",
            {"Content-Type": "application/json", "Content-Length": str(total + 33)},
            lambda: login_body(total),
        ),
        "login_body_chunked": (
            "/api/login",
            {"Content-Type": "application/json"},
            lambda: login_body(total),
        ),
    }
    if form_path:  # anonymous: the route is public, the attacker only needs its address
        kinds["blob_form_chunked"] = (
            form_path,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            lambda: many_fields(total, boundary),
        )
    return kinds


async def oversized(
    url: str, kind: str, attempt: Any, log: AttackLog, window: Window, args: Any
) -> None:
    """One oversized body of a kind every --oversize-every s, at most --oversize-rounds."""
    path, headers, make_body = attempt
    for _ in range(args.oversize_rounds):
        started = time.monotonic()
        try:
            status, message, sent = await stream_post(
                httpx.URL(url), path, headers, make_body(), args.attack_mib_s, window
            )
        except OSError as exc:
            status, message, sent = f"error {type(exc).__name__}", str(exc), 0.0
        log.record(kind, status, message)
        log.sent_mib[kind].append(round(sent, 1))
        await pause_until(window, started + args.oversize_every)
        if not window.open():
            return


async def guess_burst(client: httpx.AsyncClient, target: str, count: int) -> list[tuple[str, str]]:
    """`count` wrong-password sign-ins for `target`, all at once."""
    wrong = [{"username": target, "password": secrets.token_urlsafe(12)} for _ in range(count)]
    return await asyncio.gather(*(answer_of(client.post("/api/login", json=w)) for w in wrong))


async def signin_flood(
    client: httpx.AsyncClient, target: str, log: AttackLog, window: Window, args: Any
) -> None:
    """Bursts of parallel wrong-password sign-ins for an honest user's name: three bursts a
    second apart (90 guesses at the default 30), then one every --flood-every s. A burst
    starts on time whether or not the earlier ones were answered (at most three unanswered)."""
    bursts: list[asyncio.Task[list[tuple[str, str]]]] = []
    first = time.monotonic()
    for n in range(args.flood_bursts):
        while sum(not b.done() for b in bursts) >= 3:
            await asyncio.wait([b for b in bursts if not b.done()], return_when="FIRST_COMPLETED")
        bursts.append(asyncio.create_task(guess_burst(client, target, args.flood_parallel)))
        await pause_until(window, first + (n + 1 if n < 2 else 2 + (n - 1) * args.flood_every))
        if not window.open():
            break
    for burst in bursts:  # in the order they were sent: the first 90 guesses come first
        for status, message in await burst:
            log.record("signin_flood", status, message)
            log.verdicts_first_90 += status == "401" and log.guesses < 90
            log.guesses += 1


async def upload_bomb(
    client: httpx.AsyncClient, bomb: Photo, window: Window
) -> tuple[str, str, float | None]:
    """Upload one bomb; wait (bounded) until its item settles. (answer, message, seconds)."""
    started = time.monotonic()
    try:
        created = await create_upload(client, bomb.name, bomb.content_type, len(bomb.data), None)
        if created.status_code != 201:
            return str(created.status_code), error_message(created.content), None
        form = created.json()["upload"]
        files = {"file": (bomb.name, bomb.data, bomb.content_type)}
        posted = await client.post(form["url"], data=form["fields"], files=files)
        if posted.status_code != 204:
            return str(posted.status_code), error_message(posted.content), None
        deadline = min(started + 150, window.until + 30)
        while time.monotonic() < deadline and not window.stopped:
            item = (await client.get(f"/api/images/{created.json()['imageId']}")).json()
            if item.get("status") != "processing":
                return str(item.get("status")), item.get("error") or "", time.monotonic() - started
            await asyncio.sleep(0.5)
        return "still processing", f"after {time.monotonic() - started:.0f} s", None
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return f"error {type(exc).__name__}", str(exc)[:200], None


async def bombs(
    client: httpx.AsyncClient, kind: str, bomb: Photo, log: AttackLog, window: Window, args: Any
) -> None:
    """One bomb of a kind at a time, every --bomb-every s, at most --bomb-count."""
    for _ in range(args.bomb_count):
        started = time.monotonic()
        answer, message, seconds = await upload_bomb(client, bomb, window)
        log.record(kind, answer, message)
        if seconds is not None:
            log.settle_s[kind].append(round(seconds, 1))
        await pause_until(window, started + args.bomb_every)
        if not window.open():
            return


async def form_flood(
    client: httpx.AsyncClient, size: int, log: AttackLog, window: Window, args: Any
) -> None:
    """Ask for upload forms of `size` bytes as fast as answered (4 at a time), at most
    --forms-rate per second and --forms-max in all."""
    issued, started = 0, time.monotonic()

    async def asker() -> None:
        nonlocal issued
        while window.open() and issued < args.forms_max:
            issued += 1
            await asyncio.sleep(max(0.0, started + issued / args.forms_rate - time.monotonic()))
            request = create_upload(client, f"flood-{issued}.jpg", "image/jpeg", size, None)
            log.record("form_flood", *await answer_of(request))

    await asyncio.gather(*(asker() for _ in range(4)))


@dataclass
class Attacker:
    """The attacker's signed-in clients and what it learnt before the window opened."""

    crowd: httpx.AsyncClient  # sign-in floods and oversized bodies, no account
    bomber: httpx.AsyncClient  # its own account: uploads bombs
    flooder: httpx.AsyncClient  # a second account: requests forms (its quota is its own)
    form_path: str | None  # /_blobs/<bucket>, learnt from one of its own forms
    max_upload_bytes: int


async def attacker_ready(url: str, run_id: str, log: AttackLog) -> Attacker:
    """Sign up the attacker's two accounts; learn the form route and the upload limit."""
    crowd, bomber, flooder = (client_for(url, ATTACKER_ADDRESS, n) for n in (64, 8, 8))
    attacker = Attacker(crowd, bomber, flooder, form_path=None, max_upload_bytes=50 * 2**20)
    try:
        for who, client in (("bomber", attacker.bomber), ("flooder", attacker.flooder)):
            account = Person(-1, f"{who}{run_id}", secrets.token_urlsafe(18))
            await sign_up(client, account, Stats())
        config = (await attacker.crowd.get("/api/config")).json()
        attacker.max_upload_bytes = int(config["maxUploadBytes"])
        probe = await create_upload(attacker.bomber, "probe.jpg", "image/jpeg", 1000, None)
        if probe.status_code == 201 and "/_blobs/" in probe.json()["upload"]["url"]:
            attacker.form_path = httpx.URL(probe.json()["upload"]["url"]).path
    except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
        log.record("setup", f"error {type(exc).__name__}", str(exc))
    return attacker


async def attack(
    url: str,
    attacker: Attacker,
    target: str,
    bomb_files: dict[str, Photo],
    log: AttackLog,
    window: Window,
    args: Any,
) -> None:
    """Every attack at once until the window closes (each also bounded by its own count)."""
    kinds = oversized_kinds(int(args.oversize_mib * 2**20), attacker.form_path)
    jobs = [
        *(oversized(url, kind, attempt, log, window, args) for kind, attempt in kinds.items()),
        signin_flood(attacker.crowd, target, log, window, args),
        form_flood(attacker.flooder, attacker.max_upload_bytes, log, window, args),
        *(bombs(attacker.bomber, k, b, log, window, args) for k, b in bomb_files.items()),
    ]
    await asyncio.gather(*jobs)
    for client in (attacker.crowd, attacker.bomber, attacker.flooder):
        await client.aclose()


def make_bombs(args: Any) -> dict[str, Photo]:
    """The two engine bombs, made in code (a few seconds, before the run)."""
    return {
        "scan_bomb": Photo.of("scans.jpg", scan_bomb(args.bomb_mp, args.bomb_scans), "image/jpeg"),
        "avif_bomb": Photo.of("grid.avif", avif_bomb(args.avif_tiles), "image/avif"),
    }


# ---------------------------------------------------------------- one run


@dataclass
class Result:
    """Everything one run measured."""

    stats: Stats
    guard: Guard
    log: AttackLog | None
    window: Window
    cpu_s: dict[str, float]
    wall_s: float


async def sign_up_everyone(
    url: str, run_id: str, args: Any, stats: Stats, stack: contextlib.AsyncExitStack
) -> list[tuple[Person, httpx.AsyncClient]]:
    """Every honest user signs up and in at once; returns those who made it."""
    people = [
        Person(
            n, f"load{run_id}u{n}", secrets.token_urlsafe(18), args.relogin_s * (n < args.targets)
        )
        for n in range(args.users)
    ]
    clients = [
        await stack.enter_async_context(client_for(url, honest_address(p.n))) for p in people
    ]
    signed = await asyncio.gather(
        *(sign_up(c, p, stats) for p, c in zip(people, clients, strict=True)),
        return_exceptions=True,
    )
    ready = []
    for person, client, outcome in zip(people, clients, signed, strict=True):
        if isinstance(outcome, BaseException):
            stats.error(f"user {person.n}: {outcome!r}")
        else:
            stats.signin_s.append(outcome)
            ready.append((person, client))
    return ready


async def second_devices(
    url: str,
    ready: list[tuple[Person, httpx.AsyncClient]],
    stats: Stats,
    stack: contextlib.AsyncExitStack,
) -> list[tuple[Person, httpx.AsyncClient]]:
    """A second device for each person who signs in again, signed in once (so it is known)."""
    devices = []
    for person, _ in ready:
        if person.relogin_s:
            device = dataclasses.replace(person, device_token="")
            client = await stack.enter_async_context(client_for(url, honest_address(person.n)))
            try:
                stats.signin_s.append(await sign_in(client, device, stats))
                devices.append((device, client))
            except (RuntimeError, httpx.HTTPError, ValueError, KeyError) as exc:
                stats.error(f"user {person.n}, second device: {exc!r}")
    return devices


async def run(
    url: str, guard: Guard, photos: list[Photo], bomb_files: dict[str, Photo] | None, args: Any
) -> Result:
    """Sign everyone up, then load (and attack) for `args.duration` s; RSS sampled throughout."""
    stats, log = Stats(), AttackLog() if bomb_files is not None else None
    window = Window(until=math.inf)
    sampler = asyncio.create_task(sample_memory(guard.pid, stats, args.sample_s))
    watcher = asyncio.create_task(watch(guard, window))
    run_id = format(int(time.time() * 1000) % 10**8, "x")
    async with contextlib.AsyncExitStack() as stack:
        ready = await sign_up_everyone(url, run_id, args, stats, stack)
        devices = await second_devices(url, ready, stats, stack)
        attacker = await attacker_ready(url, run_id, log) if log is not None else None
        await asyncio.sleep(args.sample_s)
        stats.load_from = len(stats.rss_mb)
        cpu_before, client_before = tree_cpu_s(guard.pid), time.process_time()
        started = time.monotonic()
        window.until = started + args.duration
        jobs = [user(p, c, photos, stats, window, args.think) for p, c in ready]
        jobs += [second_device(p, c, stats, window) for p, c in devices]
        if attacker is not None and log is not None and bomb_files is not None:
            target = ready[0][0].username if ready else "nobody"
            jobs.append(attack(url, attacker, target, bomb_files, log, window, args))
        try:  # a hard stop, whatever the server does
            await asyncio.wait_for(asyncio.gather(*jobs), args.duration + 420)
        except TimeoutError:
            window.stopped = window.stopped or "hard time limit reached"
        wall_s = time.monotonic() - started
        cpu = tree_cpu_s(guard.pid)
    cpu_s = {k: round(cpu[k] - cpu_before[k], 1) for k in cpu}
    cpu_s["load_client"] = round(time.process_time() - client_before, 1)
    await asyncio.sleep(args.sample_s)  # one sample after the last upload settled
    for task in (sampler, watcher):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return Result(stats, guard, log, window, cpu_s, wall_s)


# ---------------------------------------------------------------- figures and verdicts


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def mean(values: list[float]) -> float:
    """The mean; NaN when empty."""
    return sum(values) / len(values) if values else float("nan")


def _client_error(answer: str) -> bool:
    return answer.isdigit() and 400 <= int(answer) < 500


Check = Callable[[AttackLog, str, Any], bool]


def _refused_early(codes: set[str]) -> Check:
    def check(log: AttackLog, kind: str, args: Any) -> bool:
        answers = log.answers.get(kind, Counter())
        sent = max(log.sent_mib.get(kind, []), default=math.inf)
        return bool(answers) and set(answers) <= codes and sent < args.oversize_mib

    return check


def _throttled(log: AttackLog, kind: str, args: Any) -> bool:
    answers = log.answers.get(kind, Counter())
    return (
        set(answers) <= {"401", "429", "503"}
        and answers["429"] + answers["503"] > 0
        and log.verdicts_first_90 <= 10
    )


def _bomb_refused(log: AttackLog, kind: str, args: Any) -> bool:
    answers = log.answers.get(kind, Counter())
    settled = max(log.settle_s.get(kind, []), default=0.0)
    return (
        bool(answers)
        and all(a == "failed" or _client_error(a) for a in answers)
        and (settled <= 20)
    )


def _quota(log: AttackLog, kind: str, args: Any) -> bool:
    answers = log.answers.get(kind, Counter())
    return all(a == "201" or _client_error(a) for a in answers) and any(map(_client_error, answers))


DESIGNED: dict[str, tuple[str, Check]] = {
    "login_body_declared": (
        "413 before the whole sign-in body (declared length) is read",
        _refused_early({"413"}),
    ),
    "login_body_chunked": (
        "413 before the whole chunked sign-in body is read",
        _refused_early({"413"}),
    ),
    "blob_form_chunked": (
        "400 or 413 before the whole chunked form of tiny fields is read",
        _refused_early({"400", "413"}),
    ),
    "signin_flood": (
        "only 401/429/503, some 429/503, at most 10 password verdicts in the first 90 guesses",
        _throttled,
    ),
    "scan_bomb": ("the item ends failed (or a 4xx) within 20 s", _bomb_refused),
    "avif_bomb": ("the item ends failed (or a 4xx) within 20 s", _bomb_refused),
    "form_flood": ("201s, then a 4xx naming the per-user limit; never a 5xx", _quota),
}


def attack_figures(log: AttackLog, args: Any) -> dict[str, Any]:
    """Per attack: what was designed, how the server answered, and whether that matches."""
    figures: dict[str, Any] = {}
    for kind, (designed, check) in DESIGNED.items():
        figures[kind] = {
            "designed": designed,
            "as_designed": check(log, kind, args),
            "answers": dict(log.answers.get(kind, {})),
            "messages": log.messages.get(kind, []),
        }
        if kind in log.sent_mib:
            figures[kind]["sent_mib"] = log.sent_mib[kind]
        if kind in log.settle_s:
            figures[kind]["settled_s"] = log.settle_s[kind]
    figures["signin_flood"]["verdicts_in_first_90"] = log.verdicts_first_90
    if "setup" in log.answers:
        figures["setup_errors"] = log.messages["setup"]
    return figures


def summary(result: Result, args: Any, mode: str) -> dict[str, Any]:
    """The figures, as a dict (also written with --json)."""
    stats = result.stats
    rss = stats.rss_mb or [float("nan")]
    signup, load = rss[: stats.load_from] or rss, rss[stats.load_from :] or rss
    third = max(1, len(load) // 3)
    figures = {
        "mode": mode,
        "users": args.users,
        "duration_s": args.duration,
        "wall_s": round(result.wall_s, 1),
        "stopped_early": result.window.stopped,
        "uploads": stats.uploads,
        "done": stats.done,
        "uploads_per_s": round(stats.done / args.duration, 2),
        "errors": len(stats.errors),
        "first_errors": stats.errors[:10],
        "gallery_p50_ms": round(pct(stats.gallery_s, 50) * 1000, 1),
        "gallery_p95_ms": round(pct(stats.gallery_s, 95) * 1000, 1),
        "upload_to_done_p50_s": round(pct(stats.to_done_s, 50), 2),
        "upload_to_done_p95_s": round(pct(stats.to_done_s, 95), 2),
        "upload_to_done_mean_s": round(mean(stats.to_done_s), 2),
        "create_mean_ms": round(mean(stats.create_s) * 1000, 1),
        "form_post_mean_ms": round(mean(stats.post_s) * 1000, 1),
        "gallery_mean_ms": round(mean(stats.gallery_s) * 1000, 1),
        "polls_per_upload": round(stats.polls / stats.uploads, 1) if stats.uploads else None,
        # Each user loops: upload until done, gallery, think (mean --think): a closed loop, so
        # uploads/s is users / this cycle, whether or not the server is busy.
        "user_cycle_s": round(args.users * args.duration / stats.done, 2) if stats.done else None,
        "signins": len(stats.signin_s),
        "signin_p95_ms": round(pct(stats.signin_s, 95) * 1000, 1),
        "resignins": len(stats.resignin_s),
        "resignin_p95_ms": round(pct(stats.resignin_s, 95) * 1000, 1),
        "signin_busy_waits": stats.busy_waits,
        "cpu_s": result.cpu_s,
        "cpu_cores_used": round(sum(result.cpu_s.values()) / result.wall_s, 2),
        "rss_peak_mb": round(result.guard.peak_mb, 1),
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
    if result.log is not None:
        figures["attacks"] = attack_figures(result.log, args)
    return figures


def honest_ok(figures: dict[str, Any]) -> bool:
    """No honest error, every upload done, the run not stopped early."""
    clean = not figures["errors"] and not figures["stopped_early"]
    return clean and figures["done"] == figures["uploads"] > 0


def attacks_ok(figures: dict[str, Any]) -> bool:
    """Every attack answered as designed (True for a calm run)."""
    attacks = figures.get("attacks", {})
    return all(v["as_designed"] for k, v in attacks.items() if k in DESIGNED)


ROWS = [
    ("honest errors", "errors"),
    ("uploads done", "done"),
    ("uploads/s", "uploads_per_s"),
    ("upload to done p50, s", "upload_to_done_p50_s"),
    ("upload to done p95, s", "upload_to_done_p95_s"),
    ("gallery p95, ms", "gallery_p95_ms"),
    ("sign-in again (second device) p95, ms", "resignin_p95_ms"),
    ("server tree RSS peak, MB", "rss_peak_mb"),
]


def comparison(calm: dict[str, Any], attacked: dict[str, Any]) -> dict[str, Any]:
    """The attack run against the calm one."""
    calm_p95 = calm["upload_to_done_p95_s"]
    ratio = attacked["upload_to_done_p95_s"] / calm_p95 if calm_p95 else math.nan
    return {
        "upload_to_done_p95_ratio": round(ratio, 2),
        "target_ratio": TARGET_P95_RATIO,
        "target_met": ratio <= TARGET_P95_RATIO,
        "calm_uploads_per_s": calm["uploads_per_s"],
    }


def table(calm: dict[str, Any], attacked: dict[str, Any]) -> str:
    """Both runs side by side, as Markdown."""
    lines = ["| figure | calm | attack | attack / calm |", "|---|---:|---:|---:|"]
    for label, key in ROWS:
        a, b = calm[key], attacked[key]
        ratio = f"{b / a:.2f}x" if a and not math.isnan(a) and not math.isnan(b) else "-"
        lines.append(f"| {label} | {a} | {b} | {ratio} |")
    lines += ["", "| attack | answers | as designed |", "|---|---|---|"]
    for kind, v in attacked.get("attacks", {}).items():
        if kind in DESIGNED:
            shown = ", ".join(f"{k}: {n}" for k, n in sorted(v["answers"].items())) or "none"
            lines.append(f"| {kind} | {shown} | {'yes' if v['as_designed'] else 'NO'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--users", type=int, default=50, help="honest users at once")
    add("--duration", type=float, default=120, help="seconds of load")
    add("--server", help="URL of a running loopback server (default: start one per run)")
    add("--photos", type=Path, help="folder of photos (default: generated)")
    add("--min-mp", type=float, default=1, help="smallest generated photo, MP")
    add("--max-mp", type=float, default=12, help="largest generated photo, MP")
    add("--think", type=float, default=1.0, help="mean pause between actions, s")
    add("--sample-s", type=float, default=2.0, help="RSS sampling period, s")
    add("--targets", type=int, default=1, help="honest users who sign in again and again")
    add("--relogin-s", type=float, default=10, help="how often those users sign in again, s")
    add("--json", type=Path, help="also write the figures here")
    add("--attack", action="store_true", help="an attacker acts during the load")
    add("--compare", action="store_true", help="a calm run, then an attack run, side by side")
    add("--rss-cap-mb", type=float, default=4000, help="safety: stop at this server tree RSS")
    attack = parser.add_argument_group("attack (bounded: rate, count, bytes)")
    add = attack.add_argument
    add("--oversize-mib", type=float, default=2048, help="size of each oversized body, MiB")
    add("--oversize-every", type=float, default=30, help="one round of oversized bodies per s")
    add("--oversize-rounds", type=int, default=4, help="most rounds of oversized bodies")
    add("--attack-mib-s", type=float, default=256, help="most MiB/s an oversized body is sent at")
    add("--flood-parallel", type=int, default=30, help="wrong-password sign-ins per burst")
    add("--flood-every", type=float, default=10, help="seconds between bursts after the third")
    add("--flood-bursts", type=int, default=14, help="most sign-in bursts")
    add("--bomb-mp", type=float, default=48, help="scan bomb's size, MP")
    add("--bomb-scans", type=int, default=60_000, help="scan bomb's scans")
    add("--avif-tiles", type=int, default=15, help="AVIF bomb: tiles per side (1024 px each)")
    add("--bomb-every", type=float, default=30, help="one bomb of each kind per s")
    add("--bomb-count", type=int, default=4, help="most bombs of each kind")
    add("--forms-rate", type=float, default=150, help="most upload forms requested per s")
    add("--forms-max", type=int, default=3000, help="most upload forms requested")
    args = parser.parse_args(argv)
    if args.server and (args.attack or args.compare):
        host = httpx.URL(args.server).host
        if not host.startswith("127."):
            parser.error("attacks target loopback servers only (127.x.x.x)")
    return args


def one_run(
    args: argparse.Namespace, photos: list[Photo], bomb_files: dict[str, Photo] | None
) -> dict[str, Any]:
    """One run against --server, or against a fresh server of our own."""
    with tempfile.TemporaryDirectory(prefix="imgdrop-load-") as tmp, contextlib.ExitStack() as st:
        if args.server:
            url, server = args.server.rstrip("/"), None
            guard = Guard(listening_pid(url), args.rss_cap_mb)
        else:
            url, server = st.enter_context(own_server(Path(tmp)))
            guard = Guard(server.pid, args.rss_cap_mb, server)
        result = asyncio.run(run(url, guard, photos, bomb_files, args))
    return summary(result, args, "calm" if bomb_files is None else "attack")


def main(argv: list[str] | None = None) -> int:
    """Run the load test(s); 0 when every check passed (see the module docstring)."""
    args = parse_args(argv)
    photos = (
        read_photos(args.photos) if args.photos else generate_photos(8, args.min_mp, args.max_mp)
    )
    bomb_files = make_bombs(args) if args.attack or args.compare else None
    if not args.compare:
        figures = one_run(args, photos, bomb_files)
        ok = honest_ok(figures) and attacks_ok(figures)
    else:
        calm = one_run(args, photos, None)
        attacked = one_run(args, photos, bomb_files)
        figures = {"calm": calm, "attack": attacked, "comparison": comparison(calm, attacked)}
        print(table(calm, attacked), file=sys.stderr)
        ok = honest_ok(calm) and honest_ok(attacked) and attacks_ok(attacked)
        ok = ok and figures["comparison"]["target_met"]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
