"""axe-core finds nothing on any page in light and dark mode; a phone gets touch wording,
44 px tap targets and a layout that fits (checked on a screenshot)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import (
    api_sign_in,
    assert_no_horizontal_scroll,
    landscape_jpeg,
    rotated_jpeg,
    sign_up_and_in,
    upload_row,
    wait_thumbnail_loaded,
)

pytestmark = pytest.mark.browser
AXE = Axe()
PHONE_SCREENSHOT = Path("/tmp/imgdrop-phone-checked.png")


def assert_axe_clean(page: Page, where: str) -> None:
    """No axe-core violation of any impact on the page as it is now."""
    results = AXE.run(page)
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


def fill_gallery(page: Page, tmp_path: Path) -> None:
    """A ready photo, a failed one and a refused row in the upload panel (list shown)."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"not a JPEG" * 100)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.locator("#file-input").set_input_files(
        [landscape_jpeg(tmp_path / "sky.jpg"), rotated_jpeg(tmp_path / "tall.jpg"), broken, notes]
    )
    for name in ("sky.jpg", "tall.jpg"):
        expect(upload_row(page, name).locator(".upload-state")).to_have_text(
            "Ready", timeout=30_000
        )
        wait_thumbnail_loaded(page, name)
    expect(page.locator('li.tile[data-status="failed"]')).to_have_count(1, timeout=30_000)
    page.get_by_role("button", name="Show list").click()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_any_page(
    page: Page, server_url: str, tmp_path: Path, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{server_url}/signin")
    assert_axe_clean(page, f"sign-in ({scheme})")
    page.goto(f"{server_url}/signup")
    page.get_by_label("Username").fill("x")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#username-error")).to_be_visible()
    expect(page.locator("#password-error")).to_be_visible()  # both at once, beside their fields
    assert_axe_clean(page, f"sign-up with errors ({scheme})")

    api_sign_in(page, server_url, f"axe-{scheme}")
    assert_axe_clean(page, f"empty gallery ({scheme})")
    fill_gallery(page, tmp_path)
    page.get_by_role("button", name="Select", exact=True).click()
    page.get_by_label("Select sky.jpg").check()
    assert_axe_clean(page, f"gallery with uploads, selecting ({scheme})")
    # Leave select mode: a tap opens a photo again.
    page.get_by_role("button", name="Select", exact=True).click()
    page.get_by_role("button", name="Open sky.jpg").click()
    expect(page.locator("#viewer-img")).to_have_attribute("data-stage", "original")
    assert_axe_clean(page, f"viewer ({scheme})")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A 390x844 touch phone at 2x density."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield context.new_page()
    context.close()


def small_targets(page: Page) -> list[str]:
    """Visible buttons, links and checkbox labels less than 44 px high (or wide)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('button, a, label.button, .tile-select')]
          .filter((el) => el.offsetParent !== null && !el.closest('.skip'))
          .map((el) => [el, el.getBoundingClientRect()])
          .filter(([el, r]) => r.height < 44 || r.width < 44)
          .map(([el, r]) => `${el.outerHTML.slice(0, 80)} ${r.width}x${r.height}`)"""
    )
    return found


def test_phone_wording_targets_and_screenshot(phone: Page, server_url: str, tmp_path: Path) -> None:
    page = phone
    sign_up_and_in(page, server_url, "pip")
    expect(page.locator("#who")).to_have_text("Signed in as pip")
    heading = page.locator("#upload-title")
    expect(heading).to_have_text(re.compile("Choose photos to upload"))
    expect(page.get_by_text("Drop photos here")).to_be_hidden()
    fill_gallery(page, tmp_path)
    page.get_by_role("button", name="Select", exact=True).click()
    assert small_targets(page) == []
    assert_no_horizontal_scroll(page, 390)

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(PHONE_SCREENSHOT))
    shot = Image.open(PHONE_SCREENSHOT).convert("RGB")
    assert shot.size == (780, 1688)
    # The primary button is drawn where the page says it is, in the accent colour (#4f46e5).
    box = page.locator("label[for=file-input]").bounding_box()
    assert box and box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    r, g, b = shot.getpixel((int(2 * (box["x"] + 6)), int(2 * (box["y"] + box["height"] / 2))))
    assert abs(r - 0x4F) < 20 and abs(g - 0x46) < 20 and abs(b - 0xE5) < 20, (r, g, b)
