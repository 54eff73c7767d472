"""The web pages in a real headless Chromium against a real `imgdrop serve` process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, Route, expect

from tests.browser.helpers import (
    ConsoleWatch,
    assert_no_horizontal_scroll,
    decode_placeholder,
    landscape_jpeg,
    rotated_jpeg,
    sign_up_and_in,
    tile,
    wait_thumbnail_loaded,
)

pytestmark = pytest.mark.browser
SCREENSHOT = Path("/tmp/imgdrop-gallery.png")
PHONE_SCREENSHOT = Path("/tmp/imgdrop-gallery-phone.png")
LIGHTBOX_SCREENSHOT = Path("/tmp/imgdrop-lightbox.png")
SIGNIN_SCREENSHOT = Path("/tmp/imgdrop-signin-phone.png")


def upload_through_page(page: Page, tmp_path: Path) -> None:
    """Pick four files: two good photos, a fake JPEG (fails on the server), a text file."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a JPEG at all" * 40)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    files = [
        landscape_jpeg(tmp_path / "landscape.jpg"),
        rotated_jpeg(tmp_path / "rotated.jpg"),
        broken,
        notes,
    ]
    page.locator("#file-input").set_input_files(files)
    rows = page.locator("#uploads li.upload")
    expect(rows).to_have_count(4)
    # Refused in the browser before any request: the server does not accept text/plain.
    refused = rows.filter(has_text="notes.txt")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".upload-state")).to_have_text(
        re.compile(r"^Failed — A text file is not a photo imgdrop can use\.")
    )
    for name in ("landscape.jpg", "rotated.jpg"):
        row = rows.filter(has_text=name)
        expect(row.locator(".upload-state")).to_have_text("Ready", timeout=30_000)
    # Stored, then refused by the worker: the row follows the item to its real end.
    broken_row = rows.filter(has_text="broken.jpg")
    failed_text = re.compile(r"^Failed — \w")
    expect(broken_row.locator(".upload-state")).to_have_text(failed_text, timeout=30_000)


def assert_newest_first(page: Page) -> None:
    """Tiles are in newest-first order (imageIds are time-ordered), as after a reload."""
    ids = page.locator("li.tile").evaluate_all("tiles => tiles.map(t => t.dataset.id)")
    assert ids == sorted(ids, reverse=True)


def check_lightbox(page: Page) -> None:
    """Clicking a thumbnail shows the original, full size, in the lightbox."""
    tile(page, "landscape.jpg").locator("button.tile-open").click()
    dialog = page.locator("#viewer")
    expect(dialog).to_be_visible()
    expect(page.locator("#viewer-title")).to_have_text("landscape.jpg")
    original = page.locator("#viewer-img")
    expect(original).to_have_attribute("data-stage", "original", timeout=15_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=original.element_handle()
    )
    assert original.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [640, 400]
    page.screenshot(path=str(LIGHTBOX_SCREENSHOT))
    page.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def delete_through_page(page: Page, filename: str) -> None:
    """Delete with the confirm dialog accepted; the tile goes, and stays gone after reload."""
    messages: list[str] = []

    def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    tile(page, filename).get_by_role("button", name=f"Delete {filename}").click()
    expect(tile(page, filename)).to_have_count(0)
    assert messages and filename in messages[0]
    page.reload()
    expect(page.locator("li.tile")).to_have_count(2)
    expect(tile(page, filename)).to_have_count(0)


def test_sign_up_upload_view_and_delete(page: Page, server_url: str, tmp_path: Path) -> None:
    """The whole journey a user takes, with no CSP violation on the way."""
    watch = ConsoleWatch(page)
    page.goto(f"{server_url}/")
    page.wait_for_url(f"{server_url}/signin")
    sign_up_and_in(page, server_url, "ada")
    expect(page.locator("#empty")).to_be_visible()

    upload_through_page(page, tmp_path)
    landscape = wait_thumbnail_loaded(page, "landscape.jpg")
    rotated = wait_thumbnail_loaded(page, "rotated.jpg")
    assert landscape["w"] > landscape["h"]
    assert rotated["h"] > rotated["w"], f"EXIF orientation not applied: {rotated}"
    # The placeholder decoder gives a portrait blur whose bottom is the image's orange-red.
    hint = decode_placeholder(page, "rotated.jpg")
    assert hint["h"] > hint["w"], hint  # type: ignore[operator]
    red, green, blue = hint["bottom"]  # type: ignore[misc]
    assert red > 180 and green < 140 and blue < 120, hint
    failed = tile(page, "broken.jpg")
    expect(failed).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(failed.locator(".badge")).to_have_text("Failed")
    expect(failed.locator(".tile-error")).not_to_be_empty()
    srcset = tile(page, "rotated.jpg").locator("img").get_attribute("srcset") or ""
    assert " 200w," in srcset and srcset.endswith(" 400w")
    assert_newest_first(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    check_lightbox(page)
    delete_through_page(page, "landscape.jpg")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server_url}/signin?signedout=1")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{server_url}/")
    page.wait_for_url(f"{server_url}/signin")
    watch.assert_clean()


def fake_processing_once(page: Page) -> list[str]:
    """Answer the first GET /api/images/{id} of each item with status "processing", so the
    tile can only reach "done" by the page polling again (no reload)."""
    faked: list[str] = []

    def handle(route: Route) -> None:
        response = route.fetch()
        item = response.json()
        if item["imageId"] in faked:
            route.fulfill(response=response)
            return
        faked.append(item["imageId"])
        route.fulfill(response=response, json={**item, "status": "processing", "urls": None})

    page.route(re.compile(r"/api/images/[0-9A-Z]{26}$"), handle)
    return faked


def test_phone_width_live_status_and_escaping(page: Page, server_url: str, tmp_path: Path) -> None:
    """At 390x844 the pages fit the screen; tiles go processing -> done by polling; a
    filename full of markup is shown as text."""
    watch = ConsoleWatch(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server_url}/signin")
    assert_no_horizontal_scroll(page, 390)
    page.screenshot(path=str(SIGNIN_SCREENSHOT))
    sign_up_and_in(page, server_url, "grace")
    faked = fake_processing_once(page)
    long_names = [f"a-very-long-file-name-for-a-phone-{i}.jpg" for i in range(2)]
    markup = '<img src=x onerror=alert(1)> & "quotes".jpg'
    page.locator("#file-input").set_input_files(
        [landscape_jpeg(tmp_path / name, seed=i) for i, name in enumerate([*long_names, markup])]
        + [rotated_jpeg(tmp_path / "rotated.jpg")]
    )
    for name in [*long_names, markup, "rotated.jpg"]:
        wait_thumbnail_loaded(page, name)
    assert len(faked) == 4, faked
    expect(page.locator("li.tile .tile-name img")).to_have_count(0)
    expect(tile(page, markup).locator("img")).to_have_attribute("alt", markup)
    assert_no_horizontal_scroll(page, 390)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)
    watch.assert_clean()


def test_console_watch_catches_csp_violations(page: Page, server_url: str) -> None:
    """The CSP check above can fail: an inline style attribute is reported and caught."""
    watch = ConsoleWatch(page)
    page.goto(f"{server_url}/signin")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color:red\">x</p>')")
    page.wait_for_timeout(300)
    with pytest.raises(AssertionError, match="CSP violations"):
        watch.assert_clean()
