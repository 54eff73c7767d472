"""Issue 5.4: password hashing, sessions, CSRF, Origin checks, sign-in throttling and security
headers, against a real `imgdrop serve` process."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A cookie-keeping client with no credentials yet."""
    with httpx.Client(base_url=shared_server.url, timeout=30) as client:
        yield client


def signup(server: ServerProcess, username: str) -> None:
    """Create an account (password PASSWORD)."""
    with httpx.Client(base_url=server.url) as anon:
        got = anon.post("/api/signup", json={"username": username, "password": PASSWORD})
        assert got.status_code == 201, got.text


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """POST /api/login."""
    return client.post("/api/login", json={"username": username, "password": password})


def test_passwords_are_argon2id_with_at_least_owasp_parameters(
    shared_server: ServerProcess,
) -> None:
    signup(shared_server, "hashed")
    with closing(sqlite3.connect(shared_server.data_dir / "catalog.db")) as db:
        (phc,) = db.execute("SELECT passwordHash FROM users WHERE username = 'hashed'").fetchone()
    match = re.fullmatch(r"\$(argon2\w+)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[\w+/]+\$[\w+/]+", phc)
    assert match, phc
    kind, memory, time_cost, lanes = match.groups()
    assert kind == "argon2id"
    assert int(memory) >= 19456 and int(time_cost) >= 2 and int(lanes) >= 1
    assert PASSWORD not in phc


def test_each_sign_in_gets_a_new_session(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "fixated")
    browser.cookies.set("imgdrop_session", "attacker-chosen-value")
    first, second = login(browser, "fixated"), login(browser, "fixated")
    assert first.json()["token"] != second.json()["token"]
    assert first.json()["csrfToken"] != second.json()["csrfToken"]
    cookies = [r.headers["set-cookie"].split(";")[0] for r in (first, second)]
    assert cookies[0] != cookies[1] and "attacker-chosen-value" not in "".join(cookies)


def test_sign_out_ends_the_session_on_the_server(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "leaving")
    answer = login(browser, "leaving").json()
    old_cookie = browser.cookies["imgdrop_session"]
    out = browser.post("/api/logout", headers={"X-CSRF-Token": answer["csrfToken"]})
    assert out.status_code == 204
    with httpx.Client(base_url=shared_server.url) as replay:
        replay.cookies.set("imgdrop_session", old_cookie)
        assert replay.get("/api/images").status_code == 401
        assert replay.get("/api/me").status_code == 401
        assert replay.get("/", follow_redirects=False).headers["location"] == "/signin"
        bearer = {"Authorization": f"Bearer {answer['token']}"}
        assert replay.get("/api/images", headers=bearer).status_code == 401


def test_cookie_changes_need_the_csrf_token(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "surfer")
    csrf = login(browser, "surfer").json()["csrfToken"]
    with httpx.Client(base_url=shared_server.url) as elsewhere:
        other_csrf = login(elsewhere, "surfer").json()["csrfToken"]  # another session's token
    upload = {"filename": "a.jpg", "contentType": "image/jpeg", "size": 100}
    created = browser.post("/api/uploads", json=upload, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    image_id = created.json()["imageId"]
    for bad in (
        {},
        {"X-CSRF-Token": ""},
        {"X-CSRF-Token": csrf[:-1]},
        {"X-CSRF-Token": other_csrf},
    ):
        for response in (
            browser.post("/api/uploads", json=upload, headers=bad),
            browser.delete(f"/api/images/{image_id}", headers=bad),
            browser.post("/api/logout", headers=bad),
        ):
            assert response.status_code == 403, (response.request.url, bad, response.text)
            assert "CSRF" in response.json()["error"]["message"]
    assert browser.get(f"/api/images/{image_id}").status_code == 200  # nothing was deleted
    assert len(browser.get("/api/images").json()["items"]) == 1  # nor created
    ok = browser.delete(f"/api/images/{image_id}", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 204


def test_cross_site_origin_is_refused_on_signup_and_login(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "origin_ok")
    for origin in ("https://evil.example", "null", f"{shared_server.url}.evil.example"):
        headers = {"Origin": origin}
        creds = {"username": "origin_new", "password": PASSWORD}
        for path, body in (
            ("/api/signup", creds),
            ("/api/login", {"username": "origin_ok", "password": PASSWORD}),
        ):
            got = browser.post(path, json=body, headers=headers)
            assert got.status_code == 403, (path, origin, got.text)
            assert "set-cookie" not in got.headers
    same = browser.post(
        "/api/login",
        headers={"Origin": shared_server.url},
        json={"username": "origin_ok", "password": PASSWORD},
    )
    assert same.status_code == 200
    assert login(browser, "origin_new").status_code == 401  # the refused signup made nothing


def test_sign_in_is_throttled_per_account_with_backoff(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "guessed")
    signup(shared_server, "bystander")
    for _ in range(5):
        assert login(browser, "guessed", "wrong password").status_code == 401
    locked = login(browser, "guessed")  # the right password, while locked
    assert locked.status_code == 429, locked.text
    assert "too many failed sign-ins" in locked.json()["error"]["message"]
    assert "token" not in locked.json() and "set-cookie" not in locked.headers
    wait_s = int(locked.headers["retry-after"])
    assert wait_s >= 1
    assert login(browser, "bystander").status_code == 200  # per account, not global
    time.sleep(wait_s)
    assert login(browser, "guessed", "wrong again").status_code == 401
    longer = login(browser, "Guessed")  # usernames are throttled case-insensitively
    assert longer.status_code == 429
    assert int(longer.headers["retry-after"]) > wait_s  # the lock doubles
    time.sleep(int(longer.headers["retry-after"]))
    assert login(browser, "guessed").status_code == 200
    assert login(browser, "guessed", "one slip").status_code == 401  # success reset the count


def test_unknown_user_and_wrong_password_get_the_same_answer(
    shared_server: ServerProcess, browser: httpx.Client
) -> None:
    signup(shared_server, "known")
    timings: dict[str, list[float]] = {"known": [], "nobody_here": []}
    answers = set()
    for _ in range(3):
        for name, times in timings.items():
            start = time.monotonic()
            got = login(browser, name, "not the password")
            times.append(time.monotonic() - start)
            answers.add((got.status_code, got.text, got.headers.get("retry-after")))
    assert len(answers) == 1, answers
    assert answers.pop()[0] == 401
    # The unknown user's answer is not measurably faster (a dummy hash is verified).
    assert sorted(timings["nobody_here"])[1] > 0.5 * sorted(timings["known"])[1], timings


def assert_security_headers(response: httpx.Response) -> None:
    """CSP without unsafe-inline and with frame-ancestors 'none', nosniff, a Referrer-Policy."""
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    csp = response.headers.get("content-security-policy", "")
    assert csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, (where, csp)
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in {
        "same-origin",
        "no-referrer",
        "strict-origin-when-cross-origin",
    }, where


@pytest.fixture(scope="module")
def owner(shared_server: ServerProcess) -> Iterator[ApiUser]:
    """A user with one done image."""
    user = new_user(shared_server, "headers")
    yield user
    user.client.close()


def test_security_headers_on_every_kind_of_response(
    shared_server: ServerProcess, owner: ApiUser
) -> None:
    item = owner.wait_final(owner.upload(make_jpeg(300, 200), "h.jpg")["imageId"])
    with httpx.Client(base_url=shared_server.url) as anon:
        responses = [
            anon.get(p)
            for p in (
                "/",
                "/signin",
                "/signup",
                "/api/config",
                "/api/images",
                "/no/such/page",
                "/openapi.json",
                "/static/gallery.js",
            )
        ]
        responses.append(anon.delete("/api/config"))  # 405
        responses.append(anon.post("/api/login", json={}))  # 400
        assert login(anon, "headers").status_code == 200
        responses.append(anon.get("/"))  # the signed-in gallery
    responses += [
        owner.client.get("/api/images"),
        httpx.get(item["urls"]["original"]),
        httpx.get(item["urls"]["thumb200"]),
        httpx.get(item["urls"]["original"].replace("sig=", "sig=0")),
    ]
    assert {r.status_code for r in responses} >= {200, 303, 401, 404, 405, 400, 403}
    for response in responses:
        assert_security_headers(response)


def signed_url(server: ServerProcess, key: str, content_type: str) -> str:
    """A download URL signed with the server's own key (the API only links done items)."""
    from imgdrop.adapters.local.signing import sign_download

    secret = (server.data_dir / "secret.key").read_text().strip().encode()
    exp = int(time.time()) + 300
    sig = sign_download(secret, key, exp, content_type)
    query = httpx.QueryParams({"exp": exp, "ct": content_type, "sig": sig})
    return f"{server.url}/_blobs/local/{key}?{query}"


def test_stored_html_is_only_ever_served_as_the_pinned_image_type(
    shared_server: ServerProcess, owner: ApiUser
) -> None:
    html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
    body = owner.upload(html, "trap.jpg", "image/jpeg")
    assert owner.wait_final(body["imageId"])["status"] == "failed"
    url = signed_url(shared_server, body["originalKey"], "image/jpeg")
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == html
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert_security_headers(got)
    bent = httpx.get(url.replace("ct=image%2Fjpeg", "ct=text%2Fhtml"))
    assert bent.status_code == 403 and b"<script" not in bent.content
    for ctype in ("text/html", "image/svg+xml", "application/xhtml+xml"):
        # Even a correctly signed URL never serves a type a browser would run.
        refused = httpx.get(signed_url(shared_server, body["originalKey"], ctype))
        assert refused.status_code == 403 and b"<script" not in refused.content, ctype
