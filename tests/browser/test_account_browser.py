"""The account page in a real headless Chromium: change password, sign out everywhere and
delete the account, with errors beside their fields and no CSP violation."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.helpers import PASSWORD, ConsoleWatch, sign_up_and_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "seven purple kites at dawn"


def test_change_password_then_delete_the_account(page: Page, server_url: str) -> None:
    watch = ConsoleWatch(page)
    sign_up_and_in(page, server_url, "grace")
    with httpx.Client(base_url=server_url, timeout=60) as elsewhere:
        token = elsewhere.post(
            "/api/login", json={"username": "grace", "password": PASSWORD}
        ).json()["token"]
    page.get_by_role("link", name="Account").click()
    page.wait_for_url(f"{server_url}/account")
    expect(page.locator(".lede")).to_have_text("Signed in as grace.")
    expect(page.locator("#who")).to_have_text("Signed in as grace")

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current-password-error")).to_contain_text("current password")
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("password1234")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#new-password-error")).to_contain_text("too common")

    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-done")).to_contain_text("1 other session signed out")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server_url}/api/me", headers=auth).status_code == 401
    page.reload()  # this session goes on
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()

    page.once("dialog", lambda dialog: Dialog.accept(dialog))
    page.locator("#delete-password").fill(PASSWORD)  # the old one no longer works
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-password-error")).to_contain_text("current password")
    page.once("dialog", lambda dialog: Dialog.accept(dialog))
    page.locator("#delete-password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(re.compile(r"/signup$"))
    with httpx.Client(base_url=server_url, timeout=60) as anon:
        gone = anon.post("/api/login", json={"username": "grace", "password": NEW_PASSWORD})
        assert gone.status_code == 401
    watch.assert_clean()


def test_sign_out_everywhere_returns_to_sign_in(page: Page, server_url: str) -> None:
    watch = ConsoleWatch(page)
    sign_up_and_in(page, server_url, "hopper")
    page.goto(f"{server_url}/account")
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url(f"{server_url}/signin?signedout=everywhere")
    expect(page.get_by_role("status")).to_have_text("You are signed out on every device.")
    page.goto(f"{server_url}/account")
    page.wait_for_url(f"{server_url}/signin")  # the session really ended
    watch.assert_clean()
