"""The JSON API over HTTP against a real `imgdrop serve` process."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.conftest import ApiUser, ServerProcess, make_jpeg, make_png


def test_upload_to_done_with_thumbnails_and_signed_urls(alice: ApiUser) -> None:
    body = alice.upload(make_jpeg(1200, 800), "Holiday photo.jpg")
    assert body["originalKey"].startswith(f"uploads/{alice.user_id}/{body['imageId']}-")
    item = alice.wait_final(body["imageId"])
    assert item["status"] == "done", item
    assert item["thumb200Key"].startswith("thumbnails/200/")
    assert item["thumb400Key"].startswith("thumbnails/400/")
    assert item["filename"] == "Holiday photo.jpg"
    assert (item["width"], item["height"]) == (1200, 800)
    for name, width in (("thumb200", 200), ("thumb400", 400)):
        got = httpx.get(item["urls"][name])
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["x-content-type-options"] == "nosniff"
        got_w, got_h = Image.open(io.BytesIO(got.content)).size
        assert got_w == width and abs(got_h - width * 2 / 3) <= 1
    original = httpx.get(item["urls"]["original"])
    assert original.content == make_jpeg(1200, 800)


def test_png_keeps_format_and_alpha(alice: ApiUser) -> None:
    body = alice.upload(make_png(800, 400), "logo.png", "image/png")
    item = alice.wait_final(body["imageId"])
    assert item["status"] == "done"
    thumb = Image.open(io.BytesIO(httpx.get(item["urls"]["thumb400"]).content))
    assert thumb.format == "PNG" and thumb.mode == "RGBA"
    assert thumb.getpixel((10, 10))[3] == 0 and thumb.getpixel((390, 10))[3] == 255


def test_bad_image_ends_failed_with_reason_and_server_keeps_going(alice: ApiUser) -> None:
    bad = alice.upload(b"this is not a picture at all" * 10, "fake.jpg")
    good = alice.upload(make_jpeg(500, 500), "real.jpg")
    failed = alice.wait_final(bad["imageId"])
    assert failed["status"] == "failed"
    reason = failed["error"]
    # A readable sentence for the user, not a decoder's or Python's internals.
    assert isinstance(reason, str) and len(reason) > 10, reason
    assert "not a recognised image" in reason, reason
    for internal in ("Traceback", "UnsupportedType", "Error:", "vips", "\n"):
        assert internal.lower() not in reason.lower(), reason
    assert failed["urls"] is None
    assert alice.wait_final(good["imageId"])["status"] == "done"


def test_gallery_is_newest_first_and_paginated(alice: ApiUser) -> None:
    ids = [alice.upload(make_jpeg(300, 200, seed=i), f"p{i}.jpg")["imageId"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = alice.client.get("/api/images", params=params).json()
        seen += [i["imageId"] for i in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_other_users_images_are_404(alice: ApiUser, bob: ApiUser) -> None:
    image_id = alice.upload(make_jpeg(300, 200), "mine.jpg")["imageId"]
    assert bob.client.get(f"/api/images/{image_id}").status_code == 404
    assert bob.client.delete(f"/api/images/{image_id}").status_code == 404
    assert bob.client.get("/api/images").json()["items"] == []
    assert alice.client.get(f"/api/images/{image_id}").status_code == 200


def test_delete_removes_original_thumbnails_and_item(alice: ApiUser, server: ServerProcess) -> None:
    image_id = alice.upload(make_jpeg(640, 480), "gone.jpg")["imageId"]
    item = alice.wait_final(image_id)
    urls = item["urls"]
    assert set(urls) == {"original", "thumb200", "thumb400"}
    for name, url in urls.items():
        assert httpx.get(url).status_code == 200, name  # so the 404s below mean "deleted"
    assert alice.client.delete(f"/api/images/{image_id}").status_code == 204
    assert alice.client.get(f"/api/images/{image_id}").status_code == 404
    blobs = server.data_dir / "blobs"
    for key in (item["originalKey"], item["thumb200Key"], item["thumb400Key"]):
        assert not (blobs / key).exists()
    for name, url in urls.items():
        assert httpx.get(url).status_code == 404, name


def test_errors_have_the_documented_shape_and_status(server: ServerProcess, alice: ApiUser) -> None:
    with httpx.Client(base_url=server.url) as anon:
        check_error_cases(anon, alice)


def check_error_cases(anon: httpx.Client, alice: ApiUser) -> None:
    """Each wrong request gets its status and a {"error": {code, message}} body."""
    cases = [
        (anon.get("/api/images"), 401, "unauthorized"),
        (
            anon.post(
                "/api/signup", json={"username": "alice", "password": "whatever else entirely"}
            ),
            409,
            "conflict",
        ),
        (
            anon.post("/api/login", json={"username": "alice", "password": "wrong-one"}),
            401,
            "unauthorized",
        ),
        (
            anon.post("/api/login", json={"username": "nobody", "password": "wrong-one"}),
            401,
            "unauthorized",
        ),
        (anon.post("/api/signup", json={"username": "x"}), 400, "invalid_request"),
        (
            alice.client.post(
                "/api/uploads",
                json={"filename": "a.svg", "contentType": "image/svg+xml", "size": 10},
            ),
            415,
            "unsupported_type",
        ),
        (
            alice.client.post(
                "/api/uploads",
                json={"filename": "big.jpg", "contentType": "image/jpeg", "size": 10**10},
            ),
            413,
            "too_large",
        ),
        (alice.client.get("/api/images/not-an-id"), 404, "not_found"),
        (alice.client.get("/api/images", params={"cursor": "garbage!"}), 400, "invalid_request"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"]


def test_logout_ends_the_token(alice: ApiUser) -> None:
    assert alice.client.post("/api/logout").status_code == 204
    assert alice.client.get("/api/images").status_code == 401


def test_cookie_session_needs_csrf_for_changes(server: ServerProcess) -> None:
    ApiUser(server.url, "carol").client.close()
    with httpx.Client(base_url=server.url) as browser:
        check_csrf(browser)


def check_csrf(browser: httpx.Client) -> None:
    """Cookie sessions: changes need X-CSRF-Token, reads do not."""
    login = browser.post(
        "/api/login", json={"username": "carol", "password": "correct horse battery staple"}
    )
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    upload = {"filename": "a.jpg", "contentType": "image/jpeg", "size": 100}
    assert browser.post("/api/uploads", json=upload).status_code == 403
    csrf = login.json()["csrfToken"]
    ok = browser.post("/api/uploads", json=upload, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert browser.get("/api/images").status_code == 200  # reads need no token


def test_openapi_document_lists_the_routes(server: ServerProcess) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path in (
        "/api/signup",
        "/api/login",
        "/api/logout",
        "/api/uploads",
        "/api/images",
        "/api/images/{image_id}",
    ):
        assert path in paths


def test_restart_keeps_users_images_and_pending_jobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = ServerProcess(tmp_path / "data").start()
    user = ApiUser(first.url, "dave")
    image_id = user.upload(make_jpeg(800, 600), "keep.jpg")["imageId"]
    user.wait_final(image_id)
    first.stop()
    second = ServerProcess(tmp_path / "data").start()
    user.client.close()
    try:
        with httpx.Client(base_url=second.url) as again:
            login = again.post(
                "/api/login", json={"username": "dave", "password": "correct horse battery staple"}
            )
            assert login.status_code == 200
            again.headers["Authorization"] = f"Bearer {login.json()['token']}"
            assert again.get(f"/api/images/{image_id}").json()["status"] == "done"
    finally:
        second.stop()


def test_form_admits_no_more_than_the_declared_size(alice: ApiUser) -> None:
    data = make_jpeg(400, 300)
    created = alice.client.post(
        "/api/uploads",
        json={"filename": "a.jpg", "contentType": "image/jpeg", "size": len(data) - 1},
    ).json()
    form = created["upload"]
    posted = httpx.post(
        form["url"], data=form["fields"], files={"file": ("a.jpg", data, "image/jpeg")}
    )
    assert posted.status_code == 413, posted.text
    assert posted.json()["error"]["code"] == "too_large"


def test_me_names_the_signed_in_user_for_bearer_and_cookie(server: ServerProcess) -> None:
    password = "correct horse battery staple"
    grace = ApiUser(server.url, "Grace_H", password)
    me = grace.client.get("/api/me")
    assert me.status_code == 200
    body = me.json()
    assert body["userId"] == grace.user_id and body["username"] == "Grace_H"
    assert set(body) == {"userId", "username", "csrfToken"}  # the old fields stay
    with httpx.Client(base_url=server.url) as browser:  # a session cookie, as the pages use
        signed_in = browser.post("/api/login", json={"username": "grace_h", "password": password})
        assert signed_in.status_code == 200
        cookie_me = browser.get("/api/me").json()
        assert cookie_me["username"] == "Grace_H"  # as signed up, whatever case signed in
        assert cookie_me["csrfToken"] == signed_in.json()["csrfToken"]
        browser.post("/api/logout", headers={"X-CSRF-Token": cookie_me["csrfToken"]})
        assert browser.get("/api/me").status_code == 401
    grace.client.close()
