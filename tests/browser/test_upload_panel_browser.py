"""The upload panel in Chromium against a real server: drop, refusals, processing to the end,
interruptions with retry, cancel, duplicates, folding and the leave warning."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, Request, Route, expect

from tests.browser.helpers import (
    ConsoleWatch,
    api_sign_in,
    drop_files,
    landscape_jpeg,
    rotated_jpeg,
    tile,
    upload_row,
)

pytestmark = pytest.mark.browser
STORE_POST = re.compile(r"/_blobs/[^/?]+$")


def state_of(page: Page, filename: str):  # type: ignore[no-untyped-def]
    """The visible state text of a file's upload row."""
    return upload_row(page, filename).locator(".upload-state")


def processing_items(page: Page, base_url: str) -> list[str]:
    """Filenames of the user's items still `processing`, straight from the API."""
    listing = page.request.get(f"{base_url}/api/images?limit=100").json()
    return [i["filename"] for i in listing["items"] if i["status"] == "processing"]


def test_drop_refusal_processing_and_folding(page: Page, server_url: str, tmp_path: Path) -> None:
    """A real DataTransfer drop of four files: every row ends in its true state (a file the
    worker refuses says Failed with the reason, not Uploaded); the overall line counts; the
    panel folds when all are settled."""
    watch = ConsoleWatch(page)
    api_sign_in(page, server_url, "uma")
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 2000)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"not really a JPEG" * 80)
    files = [
        (landscape_jpeg(tmp_path / "landscape.jpg"), "image/jpeg"),
        (rotated_jpeg(tmp_path / "rotated.jpg"), "image/jpeg"),
        (broken, "image/jpeg"),
        (pdf, "application/pdf"),
    ]
    drop_files(page, files)
    expect(page.locator("#uploads li.upload")).to_have_count(4)
    expect(state_of(page, "invoice.pdf")).to_have_text(
        "Failed — A PDF document is not a photo imgdrop can use. "
        "Choose JPEG, PNG, WEBP, GIF, AVIF, HEIC files."
    )
    for name in ("landscape.jpg", "rotated.jpg"):
        expect(state_of(page, name)).to_have_text("Ready", timeout=30_000)
    expect(state_of(page, "broken.jpg")).to_have_text(
        re.compile(r"^Failed — [A-Z]"), timeout=30_000
    )
    summary = page.locator("#uploads-summary")
    expect(summary).to_have_text(re.compile(r"^4 of 4 · [\d.]+ of [\d.]+ KB · 2 failed$"))
    # Settled: the list folds away behind the overall line, and opens again on demand.
    expect(page.locator("#uploads")).to_be_hidden()
    toggle = page.get_by_role("button", name="Show list")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(page.locator("#uploads")).to_be_visible()
    page.get_by_role("button", name="Clear finished").click()
    expect(page.locator("#uploads li.upload")).to_have_count(0)
    expect(page.locator("#uploads-bar")).to_be_hidden()
    watch.assert_clean()


def hold_store_posts(page: Page) -> list[Route]:
    """Keep every POST to the blob store waiting (a stalled link) until released."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(STORE_POST, hold)
    return held


def test_network_errors_retry_then_interrupted_with_retry(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    """The store connection fails every time: the row retries with back-off, ends
    Interrupted with Retry, and leaves nothing processing; Retry later succeeds."""
    api_sign_in(page, server_url, "ivy")
    attempts: list[str] = []

    def fail(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        attempts.append(route.request.url)
        route.abort("connectionreset")

    page.route(STORE_POST, fail)
    photo = landscape_jpeg(tmp_path / "train.jpg")
    page.locator("#file-input").set_input_files([photo])
    expect(state_of(page, "train.jpg")).to_have_text("Interrupted", timeout=30_000)
    assert len(attempts) == 4, attempts  # the first try and three retries
    expect(
        upload_row(page, "train.jpg").get_by_role("button", name="Retry train.jpg")
    ).to_be_visible()
    assert processing_items(page, server_url) == []
    expect(
        tile(page, "train.jpg").filter(has=page.locator('[data-status="processing"]'))
    ).to_have_count(0)
    # The automatic retries were the client's own: they leave no "Cancelled" tile behind.
    expect(tile(page, "train.jpg")).to_have_count(0)
    page.unroute(STORE_POST)
    upload_row(page, "train.jpg").get_by_role("button", name="Retry train.jpg").click()
    expect(state_of(page, "train.jpg")).to_have_text("Ready", timeout=30_000)
    expect(tile(page, "train.jpg")).to_have_attribute("data-status", "done")


def test_cancel_one_and_all_leaves_nothing_processing(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    api_sign_in(page, server_url, "cal")
    held = hold_store_posts(page)
    photos = [landscape_jpeg(tmp_path / f"p{i}.jpg", seed=i) for i in range(3)]
    page.locator("#file-input").set_input_files(photos)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-state=\"uploading\"]').length === 3"
    )
    upload_row(page, "p0.jpg").get_by_role("button", name="Cancel p0.jpg").click()
    expect(state_of(page, "p0.jpg")).to_have_text("Cancelled")
    page.get_by_role("button", name="Cancel all").click()
    for name in ("p1.jpg", "p2.jpg"):
        expect(state_of(page, name)).to_have_text("Cancelled")
    expect(page.locator("#uploads-summary")).to_contain_text("3 of 3")
    page.wait_for_timeout(500)  # the settle requests are in flight
    assert processing_items(page, server_url) == []
    assert len(held) == 3
    for route in held:
        route.abort("aborted")


def test_leaving_during_an_upload_warns(page: Page, server_url: str, tmp_path: Path) -> None:
    api_sign_in(page, server_url, "lea")
    hold_store_posts(page)
    page.locator("#gallery-title").click()  # a user gesture: browsers only warn after one
    page.locator("#file-input").set_input_files([landscape_jpeg(tmp_path / "late.jpg")])
    expect(state_of(page, "late.jpg")).to_have_text(re.compile("^Uploading"))
    dialogs: list[str] = []

    def answer(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    context = page.context
    page.close(run_before_unload=True)
    context.new_page().wait_for_timeout(1000)
    assert dialogs == ["beforeunload"]


def test_pagehide_tells_the_server_the_bytes_will_not_come(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    api_sign_in(page, server_url, "pat")
    hold_store_posts(page)
    page.locator("#file-input").set_input_files([landscape_jpeg(tmp_path / "gone.jpg")])
    expect(state_of(page, "gone.jpg")).to_have_text(re.compile("^Uploading"))
    image_id = page.request.get(f"{server_url}/api/images").json()["items"][0]["imageId"]
    # The event a closing tab sends (Playwright does not report requests of a page that is
    # already gone, so the event is raised in place and the page stays to watch).
    with page.expect_request(lambda r: r.url.endswith(f"/api/uploads/{image_id}/cancel")) as sent:
        page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    assert sent.value.method == "POST" and sent.value.headers.get("x-csrf-token")


def test_client_sends_the_files_sha256(page: Page, server_url: str, tmp_path: Path) -> None:
    api_sign_in(page, server_url, "sha")
    photo = rotated_jpeg(tmp_path / "hash-me.jpg")
    with page.expect_request(
        lambda r: r.url.endswith("/api/uploads") and r.method == "POST"
    ) as req:
        page.locator("#file-input").set_input_files([photo])
    body = json.loads(req.value.post_data or "{}")
    assert body["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert "allowDuplicate" not in body
    expect(state_of(page, "hash-me.jpg")).to_have_text("Ready", timeout=30_000)


def upload_bodies(page: Page) -> list[dict[str, object]]:
    """Record the JSON bodies of every POST /api/uploads the page sends (not changed)."""
    bodies: list[dict[str, object]] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and re.search(r"/api/uploads$", request.url):
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", seen)
    return bodies


def test_duplicate_row_and_upload_anyway(page: Page, server_url: str, tmp_path: Path) -> None:
    api_sign_in(page, server_url, "dup")
    photo = landscape_jpeg(tmp_path / "twice.jpg")
    page.locator("#file-input").set_input_files([photo])
    expect(state_of(page, "twice.jpg")).to_have_text("Ready", timeout=30_000)
    page.get_by_role("button", name="Clear finished").click()
    bodies = upload_bodies(page)
    # The same bytes again: the real server answers with the existing item as a duplicate.
    page.locator("#file-input").set_input_files([photo])
    expect(state_of(page, "twice.jpg")).to_have_text("Duplicate")
    expect(page.locator("#uploads-summary")).to_have_text(re.compile(r"· 1 duplicate$"))
    expect(page.locator("li.tile")).to_have_count(1)  # the existing item, not a second one
    page.get_by_role("button", name="Show list").click()
    page.get_by_role("button", name="Upload twice.jpg anyway").click()
    expect(state_of(page, "twice.jpg")).to_have_text("Ready", timeout=30_000)
    assert len(bodies) == 2, bodies
    assert "allowDuplicate" not in bodies[0]
    assert bodies[-1]["allowDuplicate"] is True
    assert bodies[-1]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    expect(page.locator("li.tile")).to_have_count(2)
