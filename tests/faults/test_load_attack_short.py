"""A short attack run of bench/load.py against its own `imgdrop serve` on loopback.

Ten honest users for 15 s while a light attacker sends an oversized sign-in body (declared and
chunked), a chunked form flood to the blob route, 90 wrong-password guesses for an honest
user's name, a scan bomb, an AVIF decode bomb and a form flood. One run, three verdicts: the
tool ends by itself and reports every attack; honest users see no error; every attack is
answered as designed. No timing ratios here (see docs/benchmarks.md for the full run).
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pyvips
from PIL import Image

LOAD = Path(__file__).resolve().parents[2] / "bench" / "load.py"
ATTACKS = [
    "login_body_declared",
    "login_body_chunked",
    "blob_form_chunked",
    "signin_flood",
    "scan_bomb",
    "avif_bomb",
    "form_flood",
]
LIGHT = {
    "--users": 10,
    "--duration": 15,
    "--min-mp": 0.1,
    "--max-mp": 0.6,
    "--think": 0.3,
    "--sample-s": 1,
    "--relogin-s": 5,  # the flooded user's second device signs in again twice in the flood
    "--oversize-mib": 256,
    "--oversize-rounds": 1,
    "--flood-bursts": 3,  # 3 x 30 parallel guesses
    "--bomb-mp": 4,  # 60,000 scans of a 4 MP JPEG
    "--bomb-count": 1,
    "--forms-rate": 100,
    "--forms-max": 200,
    "--rss-cap-mb": 3000,
}


def bench_load() -> ModuleType:
    """bench/load.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("bench_load", LOAD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_scan_bomb_is_a_valid_progressive_jpeg_with_that_many_scans() -> None:
    bomb = bench_load().scan_bomb(1, 2000)
    assert bomb.count(b"\xff\xda") >= 2000 and len(bomb) < 100_000
    with Image.open(io.BytesIO(bomb)) as img:
        img.load()  # every scan decoded, no error
        assert img.size == (992, 992)
        pixel = img.getpixel((500, 500))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 3 for a, b in zip(pixel, (90, 120, 150), strict=True))


def test_the_avif_bomb_decodes_as_one_grid_whose_tiles_share_their_bytes() -> None:
    load = bench_load()
    small = pyvips.Image.new_from_buffer(load.avif_bomb(3, tile_px=64), "")
    assert (small.width, small.height) == (192, 192)
    assert abs(small.avg() - 120) < 3  # every tile decoded: the flat (90, 120, 150)
    bomb = load.avif_bomb(15)
    header = pyvips.Image.new_from_buffer(bomb, "")  # the header only: no decode
    assert (header.width, header.height) == (15360, 15360) and len(bomb) < 20_000


def test_oversized_bodies_are_generated_not_held() -> None:
    load = bench_load()
    body = load.login_body(8 * 2**20 + 5)
    assert iter(body) is body  # a generator: no part exists before it is sent
    assert max(map(len, body)) <= load.CHUNK
    assert b"".join(load.login_body(10)) == b'{"username": "aaaaaaaaaa", "password": "x"}'
    chunks = list(load.many_fields(3 * 2**20, "b0und"))
    assert sum(map(len, chunks)) >= 3 * 2**20 and chunks[-1] == b"--b0und--\r\n"
    names = {line for c in chunks[:2] for line in c.split(b"\r\n") if b"name=" in line}
    assert len(names) == 20_000  # every field has a new name


@pytest.fixture(scope="module")
def attack_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the attack mode once; its figures (the run must end by itself well within 270 s)."""
    out = tmp_path_factory.mktemp("attack") / "figures.json"
    options = [str(v) for pair in LIGHT.items() for v in pair]
    result = subprocess.run(
        [sys.executable, str(LOAD), "--attack", *options, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=270,
        check=False,
    )
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.read_text())
    figures["returncode"] = result.returncode
    return figures


@pytest.mark.slow
def test_the_attack_run_ends_by_itself_and_reports_every_attack(attack_run: dict[str, Any]) -> None:
    assert not attack_run["stopped_early"], attack_run["stopped_early"]
    assert attack_run["mode"] == "attack" and attack_run["rss_peak_mb"] > 0
    assert "setup_errors" not in attack_run["attacks"], attack_run["attacks"]["setup_errors"]
    for kind in ATTACKS:
        assert sum(attack_run["attacks"][kind]["answers"].values()) > 0, kind
    assert sum(attack_run["attacks"]["signin_flood"]["answers"].values()) == 90
    for kind in ("login_body_declared", "login_body_chunked", "blob_form_chunked"):
        assert max(attack_run["attacks"][kind]["sent_mib"]) <= LIGHT["--oversize-mib"]


@pytest.mark.slow
def test_honest_users_see_no_errors_under_attack(attack_run: dict[str, Any]) -> None:
    assert attack_run["errors"] == 0, attack_run["first_errors"]
    assert attack_run["uploads"] >= 10 and attack_run["done"] == attack_run["uploads"]
    # The flooded user's second device signs in before the flood, then at 5 s (and 10 s)
    # into it: honest sign-ins that must not be throttled.
    assert attack_run["signins"] == 10 + 1
    assert attack_run["resignins"] >= 1, "the flooded user signs in again in the flood"


@pytest.mark.slow
def test_each_attack_is_refused_as_designed(attack_run: dict[str, Any]) -> None:
    attacks = attack_run["attacks"]
    for kind in ATTACKS:
        answers = attacks[kind]["answers"]
        refusals = {a for a in answers if a != "201" or kind != "form_flood"}
        assert all(a == "failed" or (a.isdigit() and int(a) >= 400) for a in refusals), (
            kind,
            attacks[kind],
        )
    wrong = {k: v for k, v in attacks.items() if k in ATTACKS and not v["as_designed"]}
    assert not wrong, json.dumps(wrong, indent=1)
    assert attack_run["returncode"] == 0
