"""The viewer on a throttled link: the preview at once, the original behind it with progress;
previous/next by keys, buttons and swipe; details; download; delete."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    ConsoleWatch,
    api_sign_in,
    noisy_jpeg,
    tile,
    upload_row,
    wait_thumbnail_loaded,
)

pytestmark = pytest.mark.browser
SLOW_LINK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 150 * 1024,
    "uploadThroughput": -1,
}


def upload_three(page: Page, tmp_path: Path) -> list[Path]:
    """Three big noisy photos, uploaded and thumbnailed (newest first: c, b, a)."""
    photos = []
    for i, name in enumerate(("a.jpg", "b.jpg", "c.jpg")):
        photos.append(noisy_jpeg(tmp_path / name, 1800, 1200, seed=i))
        page.locator("#file-input").set_input_files([photos[-1]])
        expect(upload_row(page, name).locator(".upload-state")).to_have_text(
            "Ready", timeout=60_000
        )
    for photo in photos:
        wait_thumbnail_loaded(page, photo.name)
    return photos


def test_viewer_shows_a_preview_at_once_on_a_slow_link(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    watch = ConsoleWatch(page)
    api_sign_in(page, server_url, "vic")
    photos = upload_three(page, tmp_path)
    assert all(p.stat().st_size > 500_000 for p in photos)  # several seconds at 150 KB/s
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_LINK)

    started = time.monotonic()
    tile(page, "b.jpg").locator("button.tile-open").click()
    viewer = page.locator("#viewer")
    image = page.locator("#viewer-img")
    expect(viewer).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    shown_after = time.monotonic() - started
    assert image.get_attribute("data-stage") == "preview"
    assert shown_after < 2.0, f"the preview took {shown_after:.1f} s"
    expect(page.locator("#viewer-loading")).to_be_visible()
    expect(page.locator("#viewer-loading")).to_contain_text("Loading the original")
    expect(image).to_have_attribute("data-stage", "original", timeout=60_000)
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1800, 1200]
    expect(page.locator("#viewer-loading")).to_be_hidden()
    cdp.send(
        "Network.emulateNetworkConditions", {**SLOW_LINK, "latency": 0, "downloadThroughput": -1}
    )

    details = page.locator("#viewer-details")
    expect(details).to_contain_text("1800 × 1200 px")  # noqa: RUF001 - the page's own sign
    expect(details).to_contain_text("JPEG")
    expect(details).to_contain_text(re.compile(r"\d+(\.\d)? (KB|MB)"))
    download = page.get_by_role("link", name="Download original")
    assert "/_blobs/" in (download.get_attribute("href") or "")
    assert download.get_attribute("download") == "b.jpg"
    watch.assert_clean()


def test_previous_next_keys_swipe_and_delete(page: Page, server_url: str, tmp_path: Path) -> None:
    api_sign_in(page, server_url, "nia")
    upload_three(page, tmp_path)
    title = page.locator("#viewer-title")
    tile(page, "c.jpg").locator("button.tile-open").click()  # newest, first in the grid
    expect(title).to_have_text("c.jpg")
    expect(page.locator("#viewer-position")).to_have_text("1 of 3")
    expect(page.get_by_role("button", name="Previous photo")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(title).to_have_text("b.jpg")
    page.get_by_role("button", name="Next photo").click()
    expect(title).to_have_text("a.jpg")
    expect(page.get_by_role("button", name="Next photo")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    expect(title).to_have_text("b.jpg")
    # A swipe to the left (finger moves right to left) shows the next photo.
    box = page.locator("#viewer-stage").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.7, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=5)
    page.mouse.up()
    expect(title).to_have_text("a.jpg")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#viewer").get_by_role("button", name="Delete").click()
    expect(title).to_have_text("b.jpg")  # the viewer moves on to a neighbour
    expect(tile(page, "a.jpg")).to_have_count(0)
    expect(page.locator("#viewer-position")).to_have_text("2 of 2")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    expect(page.locator("#photo-count")).to_have_text("2 photos")
