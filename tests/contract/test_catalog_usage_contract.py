"""Catalog contract, issue 9: quotas checked atomically with the insert, usage that follows
every transition, received/unreceived settling, and the sha256 lookup (SQLite and DynamoDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tests.contract.test_catalog_contract import T0, new_item

from imgdrop.core.errors import AlreadyDone, PendingQuotaExceeded, QuotaExceeded
from imgdrop.core.records import ImageItem, UploadQuota, Usage

ROOMY = UploadQuota(max_pending=100, max_pending_bytes=10**9, max_items=100, max_bytes=10**9)


def item_n(n: int, user: str = "u1", size: int = 1234, sha: str | None = None) -> ImageItem:
    """The n-th processing item of `user`."""
    item = new_item(user, n=n)
    item.bytes, item.sha256 = size, sha
    return item


def test_parallel_creates_cannot_walk_past_the_pending_limit(catalog: Any) -> None:
    """DynamoDB serialises conditional writes to one item; moto's server does not (measured:
    5-6 of 12 parallel conditional ADDs passed a limit of 4), so there the same limit is
    checked one request at a time by the next test."""
    if type(catalog).__name__ == "DynamoCatalog":
        pytest.skip("moto does not serialise concurrent conditional writes to one item")
    quota = UploadQuota(max_pending=4, max_pending_bytes=10**9, max_items=100, max_bytes=10**9)

    def attempt(n: int) -> str:
        try:
            catalog.create_item(item_n(n), quota)
        except PendingQuotaExceeded as exc:
            assert "limit is 4" in exc.message
            return "refused"
        return "created"

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count("created") == 4, results
    assert catalog.usage("u1") == Usage(pending=4, pending_bytes=4 * 1234, items=4, bytes=4 * 1234)
    catalog.create_item(item_n(50, user="u2"), quota)  # another user is not affected
    assert catalog.usage("u2").pending == 1


def test_creates_one_by_one_stop_at_the_pending_limit(catalog: Any) -> None:
    quota = UploadQuota(max_pending=4, max_pending_bytes=10**9, max_items=100, max_bytes=10**9)
    for n in range(4):
        catalog.create_item(item_n(n), quota)
    with pytest.raises(PendingQuotaExceeded):
        catalog.create_item(item_n(4), quota)
    assert catalog.usage("u1").pending == 4


def test_each_limit_is_named(catalog: Any) -> None:
    catalog.create_item(item_n(0, size=600), ROOMY)
    cases = [
        (UploadQuota(1, 10**9, 100, 10**9), PendingQuotaExceeded, "limit is 1"),
        (UploadQuota(100, 1000, 100, 10**9), PendingQuotaExceeded, "limit is 1000 bytes"),
        (UploadQuota(100, 10**9, 1, 10**9), QuotaExceeded, "limit is 1 per account"),
        (UploadQuota(100, 10**9, 100, 1000), QuotaExceeded, "storage limit is 1000 bytes"),
    ]
    for quota, error, words in cases:
        with pytest.raises(error) as raised:
            catalog.create_item(item_n(1, size=600), quota)
        assert words in raised.value.message
    assert catalog.usage("u1").items == 1


def test_usage_follows_received_done_cancelled_and_deleted(catalog: Any) -> None:
    a, b, c = item_n(0, size=100), item_n(1, size=200), item_n(2, size=400)
    for item in (a, b, c):
        catalog.create_item(item, ROOMY)
    assert catalog.usage("u1") == Usage(3, 700, 3, 700)
    catalog.mark_received("u1", a.imageId, T0 + 10)
    assert catalog.usage("u1") == Usage(2, 600, 3, 700)
    with pytest.raises(AlreadyDone):
        catalog.mark_received("u1", a.imageId, T0 + 11)  # once only
    with pytest.raises(AlreadyDone):
        catalog.settle_unreceived("u1", a.imageId, "gone", "cancelled", T0 + 12)
    catalog.settle_unreceived("u1", b.imageId, "The upload was cancelled.", "cancelled", T0 + 13)
    got = catalog.get_item("u1", b.imageId)
    assert (got.status, got.errorCode, got.error) == (
        "failed",
        "cancelled",
        "The upload was cancelled.",
    )
    assert catalog.usage("u1") == Usage(1, 400, 2, 500)  # nothing of b is stored
    catalog.mark_failed("u1", c.imageId, "bad", T0 + 14, "invalid_image")
    assert catalog.get_item("u1", c.imageId).errorCode == "invalid_image"
    assert catalog.usage("u1") == Usage(0, 0, 2, 500)  # c's original is still kept
    for item in (a, b, c):
        catalog.delete_item("u1", item.imageId)
    catalog.delete_item("u1", a.imageId)  # idempotent, counts given back once
    assert catalog.usage("u1") == Usage()


def test_mark_failed_defaults_to_processing_failed(catalog: Any) -> None:
    item = item_n(0)
    catalog.create_item(item)
    catalog.mark_failed("u1", item.imageId, "retries ran out", T0 + 1)
    assert catalog.get_item("u1", item.imageId).errorCode == "processing_failed"


def test_find_by_sha256_is_per_user_and_skips_failed_items(catalog: Any) -> None:
    sha = "ab" * 32
    old, new, failed = item_n(0, sha=sha), item_n(1, sha=sha), item_n(2, sha="cd" * 32)
    for item in (old, new, failed):
        catalog.create_item(item, ROOMY)
    catalog.create_item(item_n(3, user="u2", sha=sha))
    catalog.mark_failed("u1", failed.imageId, "bad", T0 + 5, "invalid_image")
    found = catalog.find_by_sha256("u1", sha)
    assert found is not None and found.imageId == new.imageId and found.sha256 == sha
    assert catalog.find_by_sha256("u1", "cd" * 32) is None
    assert catalog.find_by_sha256("u3", sha) is None
