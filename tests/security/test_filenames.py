"""Issue 5.2: hostile file names give safe keys and come back exactly, never as markup."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgdrop.core import keys
from tests.conftest import ApiUser, ServerProcess, make_jpeg
from tests.security.conftest import new_user, start_upload

XSS = "<script>alert(1)</script>.jpg"
HOSTILE_NAMES = [
    "../../../etc/passwd.jpg",
    "..\\..\\windows\\win.ini.jpg",
    "/absolute/path.jpg",
    "..",
    "a\x01b\x1bc\x7f\u0085\u2028d.jpg",
    "\r\nSet-Cookie: x=1.jpg",
    "x" * 996 + ".jpg",
    "фото отпуск.jpg",
    "写真🙂.jpg",
    "\u202egpj.exe",
    "e\u0301te\u0301.jpg",
    ".hidden",
    "...",
    "%2e%2e%2fetc.jpg",
    "con.jpg",
    XSS,
    '"><img src=x onerror=alert(1)>.jpg',
    "   spaced   .jpg",
]
KEY_RE = re.compile(
    r"^uploads/([A-Za-z0-9_-]{1,64})/([0-9A-HJKMNP-TV-Z]{26})-"
    r"([A-Za-z0-9][A-Za-z0-9._-]{0,79})?(image)?\.(jpg|png)$"
)


def assert_safe_key(key: str, user_id: str, content_type: str) -> None:
    """Server-made key: the user's prefix, a ULID, a short ASCII name, the type's extension."""
    match = KEY_RE.match(key)
    assert match, key
    assert match.group(1) == user_id
    assert match.group(5) == keys.EXTENSIONS[content_type]
    assert ".." not in key.split("/")[2].split(".")[0] and len(key) < 200
    thumb = keys.thumbnail_key(200, key, "jpg")
    assert thumb.count("/") == 2 and thumb.startswith("thumbnails/200/")


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(min_size=1, max_size=1000),
    content_type=st.sampled_from(["image/jpeg", "image/png"]),
)
def test_any_name_gives_a_safe_key(name: str, content_type: str) -> None:
    key = keys.original_key(
        "user_1", keys.new_image_id(1_700_000_000_000), keys.safe_filename(name, content_type)
    )
    assert_safe_key(key, "user_1", content_type)
    assert keys.parse_original_key(key).user_id == "user_1"


@pytest.fixture(scope="module")
def namer(shared_server: ServerProcess) -> Iterator[ApiUser]:
    """A user who uploads with awkward names."""
    user = new_user(shared_server, "namer")
    yield user
    user.client.close()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_name_is_kept_for_display_and_sanitised_in_the_key(
    namer: ApiUser, name: str
) -> None:
    created = start_upload(namer, b"x" * 100, name, "image/jpeg")
    assert created.status_code == 201, created.text
    body = created.json()
    assert_safe_key(body["originalKey"], namer.user_id, "image/jpeg")
    item = namer.client.get(f"/api/images/{body['imageId']}")
    assert item.headers["content-type"] == "application/json"
    assert item.json()["filename"] == name  # exactly, code point for code point
    listed = {
        i["imageId"]: i["filename"]
        for i in namer.client.get("/api/images", params={"limit": 100}).json()["items"]
    }
    assert listed[body["imageId"]] == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("nul\x00byte.jpg", "NUL"),
        ("x" * 1001 + ".jpg", "1000"),
        ("   ", "required"),
        ("lone\ud800surrogate.jpg", "unicode"),
    ],
)
def test_unstorable_names_are_refused_with_a_reason(namer: ApiUser, name: str, words: str) -> None:
    # ensure_ascii: a lone surrogate travels as the JSON escape \ud800, as a hostile client sends it
    created = namer.client.post(
        "/api/uploads",
        headers={"content-type": "application/json"},
        content=json.dumps({"filename": name, "size": 100, "contentType": "image/jpeg"}),
    )
    assert created.status_code == 400, created.text
    assert words in created.json()["error"]["message"]


def test_gallery_page_never_contains_a_raw_hostile_name(
    shared_server: ServerProcess, namer: ApiUser
) -> None:
    image_id = namer.upload(make_jpeg(300, 200), XSS)["imageId"]
    assert namer.wait_final(image_id)["status"] == "done"
    with httpx.Client(base_url=shared_server.url) as browser:
        login = browser.post(
            "/api/login", json={"username": "namer", "password": "correct horse battery staple"}
        )
        assert login.status_code == 200
        page = browser.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'id="grid"' in page.text  # the gallery itself, not a redirect
        for raw in ("<script>alert(1)</script>", "<img src=x onerror", XSS):
            assert raw not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
