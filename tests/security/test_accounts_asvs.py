"""Issue 9.7 and 9.8 (findings M6, L3, L5): password rules, password change, sign out
everywhere, account deletion, the sign-up rate limit and non-ASCII tokens, against a real
`imgdrop serve` process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import stored_files

PASSWORD = "quiet otter lantern 42"
NEW_PASSWORD = "seven purple kites at dawn"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test has its own users)."""
    data: Path = tmp_path_factory.mktemp("asvs") / "data"
    proc = ServerProcess(data, env={"IMGDROP_SIGNIN_ADDRESS_LIMIT": "1000/minute"}).start()
    yield proc
    proc.stop()


def signup(http: httpx.Client, username: str, password: str) -> httpx.Response:
    """POST /api/signup."""
    return http.post("/api/signup", json={"username": username, "password": password})


def sign_in_browser(server: ServerProcess, username: str, password: str) -> httpx.Client:
    """A cookie-session client with its CSRF token in `.headers`-ready form."""
    browser = httpx.Client(base_url=server.url, timeout=60)
    got = browser.post("/api/login", json={"username": username, "password": password})
    assert got.status_code == 200, got.text
    browser.headers["X-CSRF-Token"] = got.json()["csrfToken"]
    return browser


@pytest.mark.parametrize(
    ("username", "password", "words"),
    [
        ("weak_1", "12345678", "too common"),
        ("weak_2", "password", "too common"),
        ("weak_3", " " * 8, "too easy to guess"),
        ("weak_4", "weak_4", "username"),
        ("Weak_5", "my weak_5 photos", "username"),
        ("weak_6", "qwertyuiop123", "too common"),
        ("weak_7", "Tr0ub4dor", "at least 12 characters"),
        ("weak_8", "x" * 257, "at most 256 characters"),
    ],
)
def test_weak_passwords_are_refused_in_plain_words(
    server: ServerProcess, username: str, password: str, words: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        got = signup(http, username, password)
        assert got.status_code == 400, got.text
        error = got.json()["error"]
        assert error["code"] == "weak_password"
        assert words in error["message"], error["message"]
        assert error["message"][0].isupper() and error["message"].endswith(".")
        if "username" in words:
            assert error["message"] == "Don't use your username in your password."
        login = http.post("/api/login", json={"username": username, "password": password})
        assert login.status_code == 401  # nothing was created


def test_password_change_needs_the_current_one_and_ends_other_sessions(
    server: ServerProcess,
) -> None:
    here = ApiUser(server.url, "changer", PASSWORD)
    with httpx.Client(base_url=server.url, timeout=60) as other:
        token = other.post("/api/login", json={"username": "changer", "password": PASSWORD}).json()[
            "token"
        ]
    elsewhere_auth = {"Authorization": f"Bearer {token}"}
    browser = sign_in_browser(server, "changer", PASSWORD)
    try:
        wrong = here.client.post(
            "/api/account/password",
            json={"currentPassword": "not my password", "newPassword": NEW_PASSWORD},
        )
        assert wrong.status_code == 403 and "current password" in wrong.json()["error"]["message"]
        weak = here.client.post(
            "/api/account/password",
            json={"currentPassword": PASSWORD, "newPassword": "password123"},
        )
        assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
        no_csrf = browser.post(
            "/api/account/password",
            json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
            headers={"X-CSRF-Token": ""},
        )
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]["message"]
        assert here.client.get("/api/me", headers=elsewhere_auth).status_code == 200
        done = here.client.post(
            "/api/account/password",
            json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        )
        assert done.status_code == 200, done.text
        assert done.json()["endedSessions"] == 2  # `other`'s token and the browser's cookie
        assert here.client.get("/api/me").status_code == 200  # this session goes on
        assert here.client.get("/api/me", headers=elsewhere_auth).status_code == 401
        assert browser.get("/api/me").status_code == 401
        with httpx.Client(base_url=server.url, timeout=60) as http:
            old = http.post("/api/login", json={"username": "changer", "password": PASSWORD})
            assert old.status_code == 401
            new = http.post("/api/login", json={"username": "changer", "password": NEW_PASSWORD})
            assert new.status_code == 200
    finally:
        here.client.close()
        browser.close()


def test_sign_out_everywhere_ends_every_session_and_token(server: ServerProcess) -> None:
    first = ApiUser(server.url, "everywhere", PASSWORD)
    browser = sign_in_browser(server, "everywhere", PASSWORD)
    try:
        refused = browser.post("/api/account/signout-all", headers={"X-CSRF-Token": "nope"})
        assert refused.status_code == 403
        assert first.client.get("/api/me").status_code == 200
        out = browser.post("/api/account/signout-all")
        assert out.status_code == 204
        assert "imgdrop_session" in out.headers.get("set-cookie", "")  # cleared
        assert browser.get("/api/me").status_code == 401
        assert first.client.get("/api/me").status_code == 401
    finally:
        first.client.close()
        browser.close()


def test_account_deletion_removes_every_file_item_and_session(server: ServerProcess) -> None:
    leaving = ApiUser(server.url, "leaving", PASSWORD)
    staying = ApiUser(server.url, "staying", PASSWORD)
    try:
        mine = [leaving.upload(make_jpeg(320, 240, seed=n), f"p{n}.jpg") for n in range(3)]
        for body in mine:
            assert leaving.wait_final(body["imageId"])["status"] == "done"
        theirs = staying.upload(make_jpeg(300, 200), "keep.jpg")
        assert staying.wait_final(theirs["imageId"])["status"] == "done"
        pending = leaving.client.post(
            "/api/uploads", json={"filename": "never.jpg", "contentType": "image/jpeg", "size": 9}
        )
        assert pending.status_code == 201  # a `processing` item without bytes goes too
        before = stored_files(server.data_dir)
        assert any(leaving.user_id in f for f in before)

        wrong = leaving.client.request("DELETE", "/api/account", json={"password": "guess"})
        assert wrong.status_code == 403
        assert len(leaving.client.get("/api/images").json()["items"]) == 4

        gone = leaving.client.request("DELETE", "/api/account", json={"password": PASSWORD})
        assert gone.status_code == 204, gone.text
        assert leaving.client.get("/api/me").status_code == 401
        after = stored_files(server.data_dir)
        assert not any(leaving.user_id in f for f in after), after
        thumbs = {f for f in before - after if f.startswith("thumbnails/")}
        assert len(thumbs) == 6  # 3 images x 200 and 400 px
        assert after == {f for f in before if leaving.user_id not in f} - thumbs
        with closing(sqlite3.connect(server.data_dir / "catalog.db")) as db:
            for table in ("images", "sessions", "users"):
                (count,) = db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE userId = ?", (leaving.user_id,)
                ).fetchone()
                assert count == 0, table
        item = staying.client.get(f"/api/images/{theirs['imageId']}").json()
        assert item["status"] == "done" and httpx.get(item["urls"]["original"]).status_code == 200
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert (
                http.post(
                    "/api/login", json={"username": "leaving", "password": PASSWORD}
                ).status_code
                == 401
            )
            assert signup(http, "leaving", PASSWORD).status_code == 201  # the name is free
    finally:
        leaving.client.close()
        staying.client.close()


def test_non_ascii_tokens_get_403_or_401_never_500(server: ServerProcess) -> None:
    browser = sign_in_browser(server, *_new_account(server, "unicode_csrf"))
    try:
        for value in ("é" * 32, "токен", "\u00ff\u00fe"):
            got = browser.post(
                "/api/uploads",
                json={"filename": "a.jpg", "contentType": "image/jpeg", "size": 10},
                headers={"X-CSRF-Token": value.encode("utf-8")},
            )
            assert got.status_code == 403, got.text
            assert "CSRF" in got.json()["error"]["message"]
        latin = browser.post("/api/logout", headers={"X-CSRF-Token": b"\xe9\xe9"})
        assert latin.status_code == 403
        with httpx.Client(base_url=server.url, timeout=60) as anon:
            bearer = anon.get("/api/me", headers={"Authorization": "Bearer ééé".encode()})
            assert bearer.status_code == 401
            cookie = {"Cookie": "imgdrop_session=ééé".encode()}
            assert anon.get("/api/me", headers=cookie).status_code == 401
        assert "Traceback" not in server.log()
    finally:
        browser.close()


def _new_account(server: ServerProcess, username: str) -> tuple[str, str]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert signup(http, username, PASSWORD).status_code == 201
    return username, PASSWORD


def test_sign_up_is_rate_limited_per_client_address(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data: Path = tmp_path_factory.mktemp("signups") / "data"
    env = {
        "IMGDROP_SIGNUP_ADDRESS_LIMIT": "3/minute",
        "IMGDROP_TRUSTED_PROXIES": "127.0.0.1",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    proc = ServerProcess(data, env=env).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=60) as http:
            here = {"X-Forwarded-For": "192.0.2.10"}
            codes = [
                http.post(
                    "/api/signup",
                    json={"username": f"bulk_{n}", "password": PASSWORD},
                    headers=here,
                ).status_code
                for n in range(5)
            ]
            assert codes == [201, 201, 201, 429, 429], codes
            refused = http.post(
                "/api/signup", json={"username": "bulk_x", "password": PASSWORD}, headers=here
            )
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["code"] == "too_many_requests"
            other = http.post(
                "/api/signup",
                json={"username": "bulk_y", "password": PASSWORD},
                headers={"X-Forwarded-For": "192.0.2.11"},
            )
            assert other.status_code == 201
            login = http.post("/api/login", json={"username": "bulk_3", "password": PASSWORD})
            assert login.status_code == 401  # the refused sign-up made nothing
    finally:
        proc.stop()
