"""The header names who is signed in, from the server (GET /api/me), on every signed-in page
and after a reload; signing out says so; axe finds nothing, in light and dark mode."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.helpers import PASSWORD, ConsoleWatch, assert_no_horizontal_scroll

pytestmark = pytest.mark.browser
AXE = Axe()


def assert_axe_clean(page: Page, where: str) -> None:
    """No axe-core violation of any impact on the page as it is now."""
    results = AXE.run(page)
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


def sign_in_with_form(page: Page, server_url: str, typed_name: str) -> None:
    """Sign in through the sign-in form, typing the name as `typed_name`."""
    page.goto(f"{server_url}/signin")
    page.get_by_label("Username").fill(typed_name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server_url}/")


def expect_signed_in_as(page: Page, name: str) -> None:
    """The header shows exactly "Signed in as <name>", and a Sign out button."""
    expect(page.locator("header #who")).to_have_text(f"Signed in as {name}")
    expect(page.locator("header #who")).to_be_visible()
    sign_out = page.locator("header").get_by_role("button", name="Sign out", exact=True)
    expect(sign_out).to_be_visible()


def expect_signed_out_header(page: Page) -> None:
    """Nobody is named in the header and there is nothing to sign out of."""
    expect(page.locator("header")).not_to_contain_text("Signed in as")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_header_names_the_user_from_the_server_on_every_page(
    page: Page, server_url: str, scheme: str
) -> None:
    watch = ConsoleWatch(page)
    page.emulate_media(color_scheme=scheme)
    name = f"Ada_{scheme.title()}"
    assert page.request.post(
        f"{server_url}/api/signup", data={"username": name, "password": PASSWORD}
    ).ok
    # Typed in lower case: the header still spells the name as the server has it, so it can
    # only come from the server, not from what the form remembers.
    sign_in_with_form(page, server_url, name.lower())
    expect_signed_in_as(page, name)
    assert_axe_clean(page, f"gallery with the header ({scheme})")

    page.evaluate("localStorage.clear(); sessionStorage.clear()")
    page.reload()
    expect_signed_in_as(page, name)

    page.get_by_role("link", name="Account").click()
    page.wait_for_url(f"{server_url}/account")
    expect_signed_in_as(page, name)
    assert_axe_clean(page, f"account page with the header ({scheme})")

    second_tab = page.context.new_page()  # another tab opened straight on a page
    second_tab.goto(f"{server_url}/account")
    expect_signed_in_as(second_tab, name)
    second_tab.close()

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{server_url}/signin?signedout=1")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect_signed_out_header(page)
    assert_axe_clean(page, f"signed out ({scheme})")
    assert page.request.get(f"{server_url}/api/me").status == 401
    page.goto(f"{server_url}/account")
    page.wait_for_url(f"{server_url}/signin")
    watch.assert_clean()


def test_another_user_on_the_same_browser_is_named_and_sign_out_everywhere_says_so(
    page: Page, server_url: str
) -> None:
    long_name = "Cleopatra_the_Seventh_of_Egypt"
    for name in ("Brook", long_name):
        assert page.request.post(
            f"{server_url}/api/signup", data={"username": name, "password": PASSWORD}
        ).ok
    sign_in_with_form(page, server_url, "brook")
    expect_signed_in_as(page, "Brook")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(re.compile(r"/signin\?signedout=1$"))

    sign_in_with_form(page, server_url, long_name.lower())  # nothing of Brook's is left
    expect_signed_in_as(page, long_name)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: a long name still fits
    assert_no_horizontal_scroll(page, 390)
    page.get_by_role("link", name="Account").click()
    page.wait_for_url(f"{server_url}/account")
    expect_signed_in_as(page, long_name)
    assert_no_horizontal_scroll(page, 390)
    for control in page.locator("header a.button, header button").all():
        box = control.bounding_box()
        assert box and box["height"] >= 44, (control.inner_text(), box)
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url(f"{server_url}/signin?signedout=everywhere")
    expect(page.get_by_role("status")).to_have_text("You are signed out on every device.")
    expect_signed_out_header(page)
