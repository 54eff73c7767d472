"""On AWS too, a gallery reload downloads no thumbnail again: real Chromium, the app in AWS
mode on uvicorn, thumbnails from S3 (moto) through windowed presigned URLs."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from awsstack import AwsStack, make_jpeg
from playwright.sync_api import Page
from test_http_api_aws import api  # noqa: F401  # the uvicorn fixture, AWS mode
from tests.browser.helpers import PASSWORD, wait_thumbnail_loaded
from tests.browser.test_gallery_basics_browser import thumbnail_bytes_during, without_cache

from imgdrop import aws_lambda
from imgdrop.core.links import link_window
from imgdrop.wiring import Runtime

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The system Chromium, as in tests/browser."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


@pytest.fixture(scope="session")
def base_url() -> None:
    """Shadow pytest-base-url's fixture (its deprecation warning is an error here)."""


def upload_processed(api_url: str, stack: AwsStack, names: list[str]) -> None:
    """Sign up, upload `names` through the API and let the Lambda handler make thumbnails."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        creds = {"username": "sky", "password": PASSWORD}
        assert http.post("/api/signup", json=creds).status_code == 201
        auth = {"Authorization": f"Bearer {http.post('/api/login', json=creds).json()['token']}"}
        for i, name in enumerate(names):
            photo = make_jpeg(500, 320, seed=30 + i)
            body = {"filename": name, "contentType": "image/jpeg", "size": len(photo)}
            form = http.post("/api/uploads", headers=auth, json=body).json()["upload"]
            httpx.post(form["url"], data=form["fields"], files={"file": (name, photo)})
    for event in stack.s3_events():
        aws_lambda.handler(event, None)


def test_reload_serves_s3_thumbnails_from_the_browser_cache(
    page: Page,
    stack: AwsStack,
    api: str,  # noqa: F811
    lambda_runtime: Runtime,
) -> None:
    names = [f"s3-{i}.jpg" for i in range(3)]
    upload_processed(api, stack, names)
    body = {"username": "sky", "password": PASSWORD}
    assert page.request.post(f"{api}/api/login", data=body).ok  # the page's cookie jar
    # The page may load images from the custom (plain http) S3 endpoint, and only from there.
    csp = page.request.get(f"{api}/signin").headers["content-security-policy"]
    assert f"img-src 'self' data: blob: https: {stack.url};" in csp
    page.goto(f"{api}/")
    for name in names:
        wait_thumbnail_loaded(page, name)
    src = page.locator("li.tile img").first.get_attribute("src") or ""
    assert src.startswith(stack.url) and "X-Amz-Signature=" in src  # straight from S3

    def reload_and_wait() -> None:
        page.reload()
        for name in names:
            wait_thumbnail_loaded(page, name)

    settings = stack.settings()
    for _ in range(2):  # a reload across a window boundary gets new URLs once: try again
        before = link_window(time.time(), settings.download_expires_s, settings.download_window_s)
        count, downloaded = thumbnail_bytes_during(page, reload_and_wait)
        after = link_window(time.time(), settings.download_expires_s, settings.download_window_s)
        if after == before:
            break
    assert count >= 3, "the reload asked for no thumbnail at all"
    assert downloaded == 0, f"{downloaded} thumbnail bytes downloaded again on reload"

    # The check can fail: with the cache off they are downloaded.
    _, uncached = thumbnail_bytes_during(page, lambda: without_cache(page, reload_and_wait))
    assert uncached > 0
