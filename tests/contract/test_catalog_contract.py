"""Catalog contract: SqliteCatalog and DynamoCatalog behave the same."""

from __future__ import annotations

from typing import Any

import pytest

from imgdrop.core import keys
from imgdrop.core.errors import AlreadyDone, Conflict, InvalidRequest, NotFound
from imgdrop.core.records import DoneUpdate, ImageItem

T0 = 1_700_000_000_000


def new_item(user: str = "u1", at: int = T0, n: int = 0) -> ImageItem:
    """A processing item created at `at` ms."""
    image_id = keys.new_image_id(at + n)
    return ImageItem(
        userId=user,
        imageId=image_id,
        status="processing",
        createdAt=at + n,
        originalKey=keys.original_key(user, image_id, "cat.jpg"),
        filename="Cat é.jpg",
        contentType="image/jpeg",
        bytes=1234,
        updatedAt=at + n,
    )


def done_update(item: ImageItem, placeholder: str | None = "abc") -> DoneUpdate:
    """What the worker writes for `item`."""
    return DoneUpdate(
        thumb200Key=keys.thumbnail_key(200, item.originalKey, "jpg"),
        thumb400Key=keys.thumbnail_key(400, item.originalKey, "jpg"),
        width=4000,
        height=3000,
        format="jpeg",
        placeholder=placeholder,
        updatedAt=item.createdAt + 5,
    )


def test_create_then_get_round_trips(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    assert catalog.get_item("u1", item.imageId) == item


def test_create_twice_is_conflict(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    with pytest.raises(Conflict):
        catalog.create_item(item)


def test_another_users_item_is_not_found(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    with pytest.raises(NotFound):
        catalog.get_item("u2", item.imageId)


def test_list_is_newest_first_and_pages_with_cursor(catalog: Any) -> None:
    made = [new_item(n=i) for i in range(5)]
    for item in made:
        catalog.create_item(item)
    catalog.create_item(new_item("u2", n=9))
    first = catalog.list_items("u1", 2, None)
    second = catalog.list_items("u1", 2, first.next_cursor)
    last = catalog.list_items("u1", 2, second.next_cursor)
    ids = [i.imageId for page in (first, second, last) for i in page.items]
    assert ids == [i.imageId for i in reversed(made)]
    assert first.next_cursor and second.next_cursor
    assert last.next_cursor is None


def test_exact_page_has_no_cursor(catalog: Any) -> None:
    for i in range(3):
        catalog.create_item(new_item(n=i))
    page = catalog.list_items("u1", 3, None)
    assert len(page.items) == 3 and page.next_cursor is None
    assert catalog.list_items("nobody", 3, None).items == []


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWEtdWxpZA", "eyJ1c2VySWQiOiJ1MiJ9"])
def test_bad_cursor_is_invalid_request(catalog: Any, cursor: str) -> None:
    with pytest.raises(InvalidRequest):
        catalog.list_items("u1", 2, cursor)


def test_mark_done_once(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    update = done_update(item)
    catalog.mark_done("u1", item.imageId, update)
    got = catalog.get_item("u1", item.imageId)
    assert (got.status, got.thumb200Key, got.thumb400Key) == (
        "done",
        update.thumb200Key,
        update.thumb400Key,
    )
    assert (got.width, got.height, got.format, got.placeholder, got.updatedAt) == (
        4000,
        3000,
        "jpeg",
        "abc",
        item.createdAt + 5,
    )
    with pytest.raises(AlreadyDone):
        catalog.mark_done("u1", item.imageId, update)
    with pytest.raises(AlreadyDone):
        catalog.mark_failed("u1", item.imageId, "late", T0 + 9)
    assert catalog.get_item("u1", item.imageId).status == "done"


def test_mark_done_without_placeholder(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    catalog.mark_done("u1", item.imageId, done_update(item, placeholder=None))
    assert catalog.get_item("u1", item.imageId).placeholder is None


def test_mark_failed_keeps_reason(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    catalog.mark_failed("u1", item.imageId, "not an image", T0 + 7)
    got = catalog.get_item("u1", item.imageId)
    assert (got.status, got.error, got.updatedAt) == ("failed", "not an image", T0 + 7)
    with pytest.raises(AlreadyDone):
        catalog.mark_done("u1", item.imageId, done_update(item))


def test_transitions_of_missing_item_are_not_found(catalog: Any) -> None:
    item = new_item()
    with pytest.raises(NotFound):
        catalog.mark_done("u1", item.imageId, done_update(item))
    with pytest.raises(NotFound):
        catalog.mark_failed("u1", item.imageId, "x", T0)
    with pytest.raises(NotFound):
        catalog.add_attempt("u1", item.imageId, T0)


def test_add_attempt_counts(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    assert catalog.add_attempt("u1", item.imageId, T0 + 1) == 1
    assert catalog.add_attempt("u1", item.imageId, T0 + 2) == 2
    assert catalog.get_item("u1", item.imageId).attempts == 2


def test_delete_is_idempotent(catalog: Any) -> None:
    item = new_item()
    catalog.create_item(item)
    catalog.delete_item("u1", item.imageId)
    catalog.delete_item("u1", item.imageId)
    with pytest.raises(NotFound):
        catalog.get_item("u1", item.imageId)


def test_stale_processing_lists_only_old_processing_items(catalog: Any) -> None:
    old = [new_item("u1", n=i) for i in range(3)]
    for item in old:
        catalog.create_item(item)
    catalog.create_item(new_item("u2", at=T0 + 60_000))
    finished = new_item("u3", n=5)
    catalog.create_item(finished)
    catalog.mark_failed("u3", finished.imageId, "bad", T0 + 1)
    stale = catalog.list_stale_processing(T0 + 30_000, limit=2)
    assert [i.imageId for i in stale] == [old[0].imageId, old[1].imageId]
    assert len(catalog.list_stale_processing(T0 + 30_000, limit=10)) == 3
