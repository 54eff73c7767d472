"""`imgdrop login/logout/upload` against a real `imgdrop serve`, as scripts would run them."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, free_port, make_jpeg, make_png


def strong_password() -> str:
    """A long random password (whatever strength rules the server applies, this passes)."""
    return f"{secrets.token_urlsafe(18)}-Vq7!"


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """`imgdrop ARGS…` as a subprocess (config dir and env from the autouse fixture)."""
    return subprocess.run(
        [sys.executable, "-m", "imgdrop.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def signed_up(server: ServerProcess) -> Iterator[Callable[[str], tuple[ApiUser, str]]]:
    """Make users on `server` (user, password); their clients close after the test."""
    users: list[ApiUser] = []

    def make(name: str) -> tuple[ApiUser, str]:
        password = strong_password()
        users.append(ApiUser(server.url, name, password))
        return users[-1], password

    yield make
    for user in users:
        user.client.close()


def photo_folder(root: Path) -> list[Path]:
    """photos/ with two JPEGs (one nested, one without an image extension), a PNG, a text
    file and a hidden folder: the walk must pick exactly the three images."""
    (root / "trip" / "day2").mkdir(parents=True)
    (root / ".thumbs").mkdir()
    images = [root / "trip" / "a.jpg", root / "trip" / "day2" / "b.dat", root / "logo.png"]
    images[0].write_bytes(make_jpeg(500, 300, seed=3))
    images[1].write_bytes(make_jpeg(300, 500, seed=4))
    images[2].write_bytes(make_png(120, 80))
    (root / "trip" / "notes.txt").write_text("not an image")
    (root / ".thumbs" / "c.jpg").write_bytes(make_jpeg(100, 100, seed=5))
    return images


def test_login_saves_a_private_token_upload_uses_it_logout_ends_it(
    signed_up: Callable[[str], tuple[ApiUser, str]],
    server: ServerProcess,
    tmp_path: Path,
    own_config_dir: Path,
) -> None:
    user, password = signed_up("ada")
    login = run(
        "login",
        "--server",
        server.url + "/",
        "--username",
        "ada",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert login.returncode == 0, login.stderr
    saved = own_config_dir / "imgdrop" / "hosts.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    token = json.loads(saved.read_text())["servers"][server.url]["token"]
    assert str(saved) in login.stderr and password not in login.stderr + saved.read_text()

    images = photo_folder(tmp_path / "photos")
    up = run("upload", str(tmp_path / "photos"), "--wait")  # server from the saved login
    assert up.returncode == 0, up.stderr
    assert up.stdout == "3 uploaded, 0 duplicates skipped, 0 failed\n"
    listing = user.client.get("/api/images").json()["items"]
    assert sorted(i["filename"] for i in listing) == sorted(p.name for p in images)
    assert all(i["status"] == "done" for i in listing)

    logout = run("logout", "--server", server.url)
    assert logout.returncode == 0, logout.stderr
    assert not saved.exists()
    assert (
        httpx.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    again = run("logout", "--server", server.url)
    assert again.returncode == 1 and "not signed in" in again.stderr


def test_wrong_password_and_no_terminal_are_one_readable_line(
    signed_up: Callable[[str], tuple[ApiUser, str]], server: ServerProcess
) -> None:
    signed_up("bea")
    wrong = run(
        "login",
        "--server",
        server.url,
        "--username",
        "bea",
        "--password-stdin",
        stdin="not the password\n",
    )
    assert wrong.returncode == 2
    assert wrong.stderr.count("\n") == 1 and "did not sign you in" in wrong.stderr
    no_tty = run("login", "--server", server.url, "--username", "bea")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert "Traceback" not in wrong.stderr + no_tty.stderr


def test_failure_sets_exit_1_and_the_summary_counts_it(
    signed_up: Callable[[str], tuple[ApiUser, str]], server: ServerProcess, tmp_path: Path
) -> None:
    user, _ = signed_up("cyd")
    good = [tmp_path / "g1.jpg", tmp_path / "g2.jpg"]
    for i, path in enumerate(good):
        path.write_bytes(make_jpeg(400, 300, seed=10 + i))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    result = run(
        "upload",
        *map(str, [*good, bad]),
        "--server",
        server.url,
        "--wait",
        env={"IMGDROP_TOKEN": user.token},
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == "2 uploaded, 0 duplicates skipped, 1 failed\n"
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert len(failures) == 1 and "bad.png" in failures[0]
    # One line per failure, never wrapped at 80 columns however long the reason.
    assert len(failures[0]) > 40


def test_rejected_token_is_said_once_with_what_to_do(server: ServerProcess, tmp_path: Path) -> None:
    files = []
    for i in range(4):
        path = tmp_path / f"p{i}.jpg"
        path.write_bytes(make_jpeg(200, 200, seed=i))
        files.append(str(path))
    result = run("upload", *files, "--server", server.url, env={"IMGDROP_TOKEN": "forged"})
    assert result.returncode == 2
    assert result.stderr.count("refused the token") == 1, result.stderr
    assert "imgdrop login --server" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_server_is_said_once(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"p{i}.jpg"
        path.write_bytes(make_jpeg(200, 200, seed=i))
        files.append(str(path))
    nobody = f"http://127.0.0.1:{free_port()}"
    result = run("upload", *files, "--server", nobody, env={"IMGDROP_TOKEN": "whatever"})
    assert result.returncode == 2
    assert result.stderr.count("Cannot reach") == 1, result.stderr
    assert "imgdrop serve" in result.stderr and "Traceback" not in result.stderr


def test_no_token_at_all_points_at_login(server: ServerProcess, tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(make_jpeg(100, 100))
    result = run("upload", str(photo), "--server", server.url)
    assert result.returncode == 2
    assert "imgdrop login" in result.stderr and "IMGDROP_TOKEN" in result.stderr


def test_json_rows_name_every_file_including_missing_ones(
    signed_up: Callable[[str], tuple[ApiUser, str]], server: ServerProcess, tmp_path: Path
) -> None:
    user, _ = signed_up("deb")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(make_jpeg(300, 200))
    result = run(
        "upload",
        str(photo),
        str(tmp_path / "missing.jpg"),
        "--server",
        server.url,
        "--json",
        env={"IMGDROP_TOKEN": user.token},
    )
    assert result.returncode == 1
    rows = {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["a.jpg"]["ok"] and rows["a.jpg"]["imageId"] and not rows["a.jpg"]["duplicate"]
    assert not rows["missing.jpg"]["ok"] and rows["missing.jpg"]["error"]


def test_help_shows_plain_metavars() -> None:
    # (serve is left to its owners: its options still show typer type labels)
    for command in ("upload", "thumbnail", "login", "logout", "bench", "config"):
        result = run(command, "--help")
        assert result.returncode == 0
        assert not re.search(r"<\w+(\[\w+\])?>", result.stdout), (command, result.stdout)
    assert "upload [OPTIONS] PATH...\n" in run("upload", "--help").stdout
    assert "--out DIR" in run("thumbnail", "--help").stdout


def test_a_rerun_uploads_only_what_is_missing(
    signed_up: Callable[[str], tuple[ApiUser, str]], server: ServerProcess, tmp_path: Path
) -> None:
    user, _ = signed_up("eve")
    env = {"IMGDROP_TOKEN": user.token}
    folder = tmp_path / "photos"
    (folder / "old").mkdir(parents=True)
    n, m = 5, 3
    for i in range(n):  # distinct seeds: distinct bytes, so no duplicates among them
        (folder / "old" / f"p{i}.jpg").write_bytes(make_jpeg(240, 160, seed=20 + i))

    first = run("upload", str(folder), "--server", server.url, "--json", env=env)
    assert first.returncode == 0, first.stderr
    first_rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(first_rows) == n and not any(r["duplicate"] for r in first_rows)
    first_ids = {Path(r["file"]).name: r["imageId"] for r in first_rows}

    for i in range(m):
        (folder / f"new{i}.jpg").write_bytes(make_jpeg(240, 160, seed=40 + i))
    again = run("upload", str(folder), "--server", server.url, "--wait", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{m} uploaded, {n} duplicates skipped, 0 failed\n"

    third = run("upload", str(folder), "--server", server.url, "--json", env=env)
    assert third.returncode == 0, third.stderr
    rows = {Path(r["file"]).name: r for r in map(json.loads, third.stdout.splitlines())}
    assert len(rows) == n + m
    assert all(r["ok"] and r["duplicate"] and r["status"] == "duplicate" for r in rows.values())
    for name, image_id in first_ids.items():  # each duplicate names the copy already stored
        assert rows[name]["imageId"] == image_id

    listing = user.client.get("/api/images", params={"limit": 50}).json()["items"]
    assert len(listing) == n + m
    assert {i["imageId"] for i in listing} == {r["imageId"] for r in rows.values()}
    assert user.client.get("/api/images/count").json()["total"] == n + m
