"""S3 download URLs are signed as of a window's start: equal within a window, so a gallery
reload is served from the browser cache, and never valid longer than their stated lifetime."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import httpx
import pytest
from awsstack import AwsStack, make_jpeg

from imgdrop.adapters.aws.clients import aws_clients
from imgdrop.adapters.aws.s3_blobs import S3BlobStore

KEY = "thumbnails/400/01KB0000000000000000000000-cat.jpg"
LIFETIME = 900
START = 1_800_000_000 // 450 * 450  # the start of a 450 s window (the default)


class Clock:
    """A settable clock for a store."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def query(url: str) -> dict[str, str]:
    """A URL's query parameters."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def signed_at(url: str) -> int:
    """X-Amz-Date as epoch seconds."""
    stamp = datetime.strptime(query(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return int(stamp.timestamp())


def expires_at(url: str) -> int:
    """When S3 stops accepting the URL: X-Amz-Date + X-Amz-Expires."""
    return signed_at(url) + int(query(url)["X-Amz-Expires"])


@pytest.fixture
def s3(stack: AwsStack) -> Any:
    """The S3 client exactly as the app builds it (SigV4, path style for moto)."""
    client, _ = aws_clients(stack.settings())
    return client


def store_at(s3: Any, stack: AwsStack, now: float, **kwargs: Any) -> S3BlobStore:
    """An S3BlobStore on the stack's bucket whose clock reads `now`."""
    return S3BlobStore(s3, stack.bucket, clock=Clock(now), **kwargs)


def test_same_url_within_a_window_and_it_downloads_with_the_cache_header(
    s3: Any, stack: AwsStack
) -> None:
    photo = make_jpeg(120, 80, seed=3)
    store = store_at(s3, stack, START + 1)
    store.put(KEY, photo, "image/jpeg")
    first = store.download_url(KEY, LIFETIME, "image/jpeg")
    store.clock = Clock(START + 449.9)
    assert store.download_url(KEY, LIFETIME, "image/jpeg") == first
    assert signed_at(first) == START and query(first)["X-Amz-Expires"] == str(LIFETIME)

    got = httpx.get(first)  # moto checks no expiry, so a URL signed in 2027 still downloads
    assert got.status_code == 200, got.text
    assert got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    # The least validity left at hand-out (900 - 450), so a cached copy never outlives its URL.
    assert got.headers["cache-control"] == "private, max-age=450, immutable"
    assert got.headers["content-disposition"] == "inline"


def test_the_next_window_gives_a_new_url(s3: Any, stack: AwsStack) -> None:
    store = store_at(s3, stack, START + 449)
    first = store.download_url(KEY, LIFETIME, "image/jpeg")
    store.clock = Clock(START + 450)
    second = store.download_url(KEY, LIFETIME, "image/jpeg")
    assert second != first
    assert signed_at(second) - signed_at(first) == 450


@pytest.mark.parametrize(("window", "lifetime"), [(450, 900), (60, 900), (5000, 300), (1, 1)])
def test_a_url_never_lives_past_its_stated_lifetime(
    s3: Any, stack: AwsStack, window: int, lifetime: int
) -> None:
    effective = max(1, min(window, lifetime // 2))  # the window is at most half the lifetime
    for offset in range(0, 2000, 37):
        now = START + offset
        store = store_at(s3, stack, now, window_s=window)
        url = store.download_url(KEY, lifetime, "image/png")
        remaining = expires_at(url) - now
        assert lifetime - effective <= remaining <= lifetime, (offset, remaining)
        assert signed_at(url) % effective == 0


def test_a_lifetime_over_the_ceiling_is_capped_at_15_minutes(s3: Any, stack: AwsStack) -> None:
    url = store_at(s3, stack, START + 10).download_url(KEY, 7 * 86_400, "image/jpeg")
    assert query(url)["X-Amz-Expires"] == "900"
    assert expires_at(url) - (START + 10) <= 900


def test_the_signature_is_botocore_s_own_for_that_instant(
    s3: Any, stack: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = store_at(s3, stack, START + 123).download_url(KEY, LIFETIME, "image/jpeg")
    # botocore itself, with its clock frozen at the window's start, on a client we never touched.
    plain, _ = aws_clients(stack.settings())
    instant = datetime.fromtimestamp(START, UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: instant)
    theirs = plain.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": stack.bucket,
            "Key": KEY,
            "ResponseContentType": "image/jpeg",
            "ResponseContentDisposition": "inline",
            "ResponseCacheControl": "private, max-age=450, immutable",
        },
        ExpiresIn=LIFETIME,
    )
    assert ours == theirs


def test_parallel_calls_each_sign_at_their_own_window(s3: Any, stack: AwsStack) -> None:
    # Stores sharing one client, each in another window, plus plain presigns on that client:
    # under contention every call must still get its own signing time.
    stores = [store_at(s3, stack, START + i * 450 + 7) for i in range(6)]
    expected = [store.download_url(KEY, LIFETIME, "image/jpeg") for store in stores]
    barrier = threading.Barrier(len(stores) + 2)
    failures: list[str] = []

    def windowed(i: int) -> None:
        barrier.wait()
        for _ in range(40):
            got = stores[i].download_url(KEY, LIFETIME, "image/jpeg")
            if got != expected[i]:
                failures.append(f"store {i}: {query(got)['X-Amz-Date']}")

    def plain() -> None:
        barrier.wait()
        for _ in range(40):
            url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": KEY})
            if abs(signed_at(url) - datetime.now(UTC).timestamp()) > 60:
                failures.append(f"plain presign signed at {query(url)['X-Amz-Date']}")

    threads = [threading.Thread(target=windowed, args=(i,)) for i in range(len(stores))]
    threads += [threading.Thread(target=plain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[:5]
    assert len({signed_at(url) for url in expected}) == len(stores)
