"""Page helpers for the browser tests: test images, sign-up/in through the forms, waits."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

# Long and random-looking, so it passes any password-strength rule the server applies.
PASSWORD = "Plum-kettle-Orbit-93-lantern"


def landscape_jpeg(path: Path, seed: int = 0) -> Path:
    """A 640x400 JPEG: sky gradient, a sun and a hill (no EXIF orientation). A different
    `seed` moves the sun, so the bytes differ (the server treats equal bytes as duplicates)."""
    img = Image.new("RGB", (640, 400))
    draw = ImageDraw.Draw(img)
    for y in range(400):
        draw.line([(0, y), (640, y)], fill=(40 + y // 4, 110 + y // 5, 220 - y // 6))
    sun_x = 460 - 37 * (seed % 12)
    draw.ellipse((sun_x, 60, sun_x + 100, 160), fill=(255, 200, 60))
    draw.polygon([(0, 400), (0, 300), (220, 220), (640, 330), (640, 400)], fill=(40, 140, 70))
    img.save(path, "JPEG", quality=90)
    return path


def rotated_jpeg(path: Path) -> Path:
    """300x200 pixels stored landscape with EXIF Orientation=6, so it displays 200x300."""
    img = Image.new("RGB", (300, 200), (235, 90, 60))
    ImageDraw.Draw(img).rectangle((0, 0, 150, 100), fill=(250, 230, 80))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, "JPEG", quality=90, exif=exif)
    return path


class ConsoleWatch:
    """Collects CSP violations and uncaught page errors while a page is in use."""

    def __init__(self, page: Page) -> None:
        self.csp: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def assert_clean(self) -> None:
        """Fail on any CSP violation or uncaught script error seen so far."""
        assert self.csp == [], f"CSP violations: {self.csp}"
        assert self.errors == [], f"uncaught page errors: {self.errors}"


def sign_up_and_in(page: Page, base_url: str, username: str) -> None:
    """Create an account with the sign-up form, then sign in with the sign-in form."""
    page.goto(f"{base_url}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#password-error")).to_contain_text("Use at least")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/signin\?created="))
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#form-error")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    expect(page.locator('meta[name="csrf-token"]')).to_have_count(1)


def tile(page: Page, filename: str) -> Locator:
    """The gallery tile showing `filename`."""
    return page.locator("li.tile").filter(
        has=page.locator(".tile-name", has_text=re.compile(f"^{re.escape(filename)}$"))
    )


def wait_thumbnail_loaded(page: Page, filename: str) -> dict[str, int]:
    """Wait until the tile is done and its <img> has decoded; return the natural size."""
    img = tile(page, filename).locator("img")
    expect(tile(page, filename)).to_have_attribute("data-status", "done", timeout=30_000)
    img.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    size: dict[str, int] = img.evaluate("img => ({w: img.naturalWidth, h: img.naturalHeight})")
    return size


def assert_no_horizontal_scroll(page: Page, width: int) -> None:
    """The page fits the viewport width (nothing sticks out sideways)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide at a {width}px viewport"


DECODE_PLACEHOLDER = """async (filename) => {
  const { placeholderURL } = await import("/static/thumbhash.js");
  const listing = await (await fetch("/api/images")).json();
  const item = listing.items.find((i) => i.filename === filename);
  const img = new Image();
  img.src = placeholderURL(item.placeholder);
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const [r, g, b] = ctx.getImageData(img.naturalWidth / 2, img.naturalHeight - 2, 1, 1).data;
  return { w: img.naturalWidth, h: img.naturalHeight, bottom: [r, g, b] };
}"""


def decode_placeholder(page: Page, filename: str) -> dict[str, object]:
    """Decode an item's ThumbHash with the page's own decoder: size and a bottom pixel."""
    result: dict[str, object] = page.evaluate(DECODE_PLACEHOLDER, filename)
    return result


def api_sign_in(page: Page, base_url: str, username: str) -> None:
    """Sign up and in through the API with the page's own cookie jar (faster than the forms)."""
    body = {"username": username, "password": PASSWORD}
    assert page.request.post(f"{base_url}/api/signup", data=body).status == 201
    assert page.request.post(f"{base_url}/api/login", data=body).status == 200
    page.goto(f"{base_url}/")
    expect(page.locator('meta[name="csrf-token"]')).to_have_count(1)


def noisy_jpeg(path: Path, width: int, height: int, seed: int = 1) -> Path:
    """A JPEG that compresses badly (so it is big, as real photos are)."""
    noise = Image.effect_noise((width, height), 80 + seed).convert("RGB")
    tint = Image.new("RGB", (width, height), ((seed * 53) % 256, 120, (seed * 97) % 256))
    Image.blend(noise, tint, 0.4).save(path, "JPEG", quality=92)
    return path


DROP = """([files, target]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const zone = document.querySelector(target);
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    zone.dispatchEvent(new DragEvent(type, init));
  }
  return transfer.files.length;
}"""


def drop_files(page: Page, files: list[tuple[Path, str]], target: str = "#dropzone") -> None:
    """Drop (path, content type) files on `target` with a real DataTransfer, as a drag from
    the desktop does."""
    payload = [
        {"name": p.name, "type": kind, "data": base64.b64encode(p.read_bytes()).decode()}
        for p, kind in files
    ]
    assert page.evaluate(DROP, [payload, target]) == len(files)


def upload_row(page: Page, filename: str) -> Locator:
    """The upload panel's row for `filename`."""
    return page.locator("#uploads li.upload").filter(
        has=page.locator(".upload-name", has_text=re.compile(f"^{re.escape(filename)}$"))
    )
