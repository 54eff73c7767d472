"""The `imgdrop` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pillow_heif
from PIL import Image

from tests.conftest import ApiUser, ServerProcess, make_jpeg, make_png


def imgdrop(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `imgdrop ARGS…` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "imgdrop.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def test_thumbnail_json_reports_each_file_and_exits_1_on_failure(tmp_path: Path) -> None:
    good = tmp_path / "beach.jpg"
    good.write_bytes(make_jpeg(1000, 500))
    logo = tmp_path / "logo.png"
    logo.write_bytes(make_png(150, 100))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    out = tmp_path / "out"
    result = imgdrop("thumbnail", str(good), str(logo), str(bad), "--out", str(out), "--json")
    assert result.returncode == 1, result.stderr
    rows = {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["beach.jpg"]["ok"] and rows["logo.png"]["ok"]
    assert not rows["notes.jpg"]["ok"] and rows["notes.jpg"]["error"]
    assert size_of(out / "200" / "beach.jpg") == (200, 100)
    assert size_of(out / "400" / "beach.jpg") == (400, 200)
    # Smaller than 200 px: never upscaled; PNG stays PNG.
    assert size_of(out / "400" / "logo.png") == (150, 100)


def size_of(path: Path) -> tuple[int, int]:
    """An image file's (width, height)."""
    with Image.open(path) as img:
        return img.size


def test_thumbnail_plain_output_and_success_exit(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(make_jpeg(800, 600))
    result = imgdrop("thumbnail", str(photo), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stderr and "200x150" in result.stderr


def test_thumbnail_never_overwrites_mirrors_folders_and_defaults_out(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(make_jpeg(800, 400, seed=1))
    (tmp_path / "b" / "x.jpg").write_bytes(make_jpeg(400, 800, seed=2))
    first = imgdrop("thumbnail", "a/x.jpg", "b/x.jpg", cwd=tmp_path)  # no --out
    assert first.returncode == 0, first.stderr
    out = tmp_path / "thumbnails"
    assert size_of(out / "200" / "a" / "x.jpg") == (200, 100)
    assert size_of(out / "200" / "b" / "x.jpg") == (200, 400)
    assert first.stdout == "4 thumbnails of 2 files in thumbnails, 0 failed\n"
    before = (out / "400" / "a" / "x.jpg").read_bytes()
    again = imgdrop("thumbnail", "a", "--out", str(out), cwd=tmp_path)  # a folder, walked
    assert again.returncode == 0, again.stderr
    assert (out / "400" / "a" / "x.jpg").read_bytes() == before
    # The folder is the only input now, so its files land at the top, next to a/ and b/.
    assert size_of(out / "200" / "x.jpg") == (200, 100)
    third = imgdrop("thumbnail", "a/x.jpg", "--out", str(out), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert size_of(out / "200" / "x-1.jpg") == (200, 100)
    assert sorted(p.name for p in (out / "200").iterdir()) == ["a", "b", "x-1.jpg", "x.jpg"]


def test_missing_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = imgdrop("thumbnail", str(tmp_path / "nope.jpg"), "--out", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "No such file or folder" in result.stderr


def test_upload_bulk_with_token_waits_for_thumbnails(server: ServerProcess, tmp_path: Path) -> None:
    user = ApiUser(server.url, "frank", f"{secrets.token_urlsafe(18)}-Vq7!")
    user.client.close()
    files = []
    for i in range(3):
        path = tmp_path / f"p{i}.jpg"
        path.write_bytes(make_jpeg(900, 600, seed=i))
        files.append(str(path))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    result = imgdrop(
        "upload",
        *files,
        str(bad),
        "--server",
        server.url,
        "--wait",
        "--json",
        env={"IMGDROP_TOKEN": user.token},
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(r["file"]).name: r for r in rows}
    assert result.returncode == 1, result.stderr
    assert all(by_name[f"p{i}.jpg"]["status"] == "done" for i in range(3)), rows
    assert by_name["bad.png"]["status"] == "failed" and by_name["bad.png"]["error"]


def test_upload_without_token_or_terminal_says_what_to_do(
    server: ServerProcess, tmp_path: Path
) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(make_jpeg(100, 100))
    env = {k: v for k, v in os.environ.items() if k != "IMGDROP_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "imgdrop.cli", "upload", str(photo), "--server", server.url],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 2
    assert "IMGDROP_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_bad_setting_naming_it(tmp_path: Path) -> None:
    result = imgdrop("serve", "--data-dir", str(tmp_path), env={"IMGDROP_MAX_PIXELS": "lots"})
    assert result.returncode == 2
    assert "IMGDROP_MAX_PIXELS" in result.stderr and "Traceback" not in result.stderr


def test_library_api_is_importable_from_the_package() -> None:
    from imgdrop import InvalidImage, make_thumbnails

    small, large = make_thumbnails(make_jpeg(1000, 800), widths=(200, 400))
    assert (small.width, large.width) == (200, 400)
    assert small.content_type == "image/jpeg" and small.data[:2] == b"\xff\xd8"
    try:
        make_thumbnails(b"nope")
    except InvalidImage as exc:
        assert str(exc)
    else:
        raise AssertionError("InvalidImage expected")


def test_bench_reports_every_contender_on_a_small_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    strip = Image.effect_noise((3300, 160), 60).convert("RGB")  # 1/8-scale decode: 413 px wide
    strip.save(corpus / "strip-progressive.jpg", quality=85, progressive=True)
    (corpus / "beach.jpg").write_bytes(make_jpeg(800, 600))
    (corpus / "logo.png").write_bytes(make_png(150, 100))
    (corpus / "notes.txt").write_text("not an image, so not in the corpus")
    report_file = tmp_path / "report.md"
    photo = Image.effect_noise((640, 480), 40).convert("RGB")
    pillow_heif.from_pillow(photo).save(tmp_path / "small.heic", quality=60)
    photo.save(tmp_path / "small.avif", quality=60)  # Pillow's libavif encoder
    result = imgdrop(
        "bench",
        *("--corpus", str(corpus), "--repeat", "1", "--out", str(report_file)),
        *("--heif", str(tmp_path / "small.heic"), "--heif", str(tmp_path / "small.avif")),
        "--no-generated-heif",
    )
    assert result.returncode == 0, result.stderr
    report = report_file.read_text()
    assert report in result.stdout
    for name in ("strip-progressive.jpg", "beach.jpg", "logo.png"):
        assert f"| {name} |" in report
    assert "notes.txt" not in report
    assert "| engine |" in report and "| pillow_naive |" in report
    assert "images/s on one core" in report
    assert "rewritten for 1/8-scale decoding (jpeg_scans): 1; " in report
    assert "identical to decoding the whole file: 1 of 1" in report
    for row in ("engine / libheif decode floor", "engine / libavif decode floor"):
        assert row in report, report
    assert "| small.heic |" in report and "| small.avif |" in report


def test_bad_settings_are_one_line_not_a_traceback_in_every_command(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(make_jpeg(300, 200))
    for args in (
        ["thumbnail", str(image), "--out", str(tmp_path / "out")],
        ["config"],
        ["serve", "--data-dir", str(tmp_path / "data")],
    ):
        result = imgdrop(*args, env={"IMGDROP_MAX_PIXELS": "lots"})
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "imgdrop: IMGDROP_MAX_PIXELS='lots': invalid literal for int() with base 10: 'lots'"
        ]


def test_bench_without_djpeg_reports_it_missing_instead_of_crashing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "beach.jpg").write_bytes(make_jpeg(800, 600))
    # A PATH with only what bench needs besides djpeg (taskset pins the throughput workers).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    taskset = shutil.which("taskset")
    assert taskset, "taskset (util-linux) is part of every Debian install"
    (bin_dir / "taskset").symlink_to(taskset)
    result = imgdrop(
        "bench",
        *("--corpus", str(corpus), "--repeat", "1", "--no-generated-heif"),
        env={"PATH": str(bin_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "| floor_djpeg | not run: djpeg not found" in result.stdout
    assert "| engine |" in result.stdout
