"""Keys, ids and filename sanitising (ARCHITECTURE.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgdrop.core import keys
from imgdrop.core.errors import InvalidRequest

SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def test_same_millisecond_same_name_gives_distinct_sortable_keys() -> None:
    ids = [keys.new_image_id(1_700_000_000_000) for _ in range(1000)]
    assert len(set(ids)) == 1000
    a = keys.original_key("userA", ids[0], "cat.jpg")
    b = keys.original_key("userB", ids[1], "cat.jpg")
    assert keys.thumbnail_key(200, a, "jpg") != keys.thumbnail_key(200, b, "jpg")
    later = keys.new_image_id(1_700_000_000_001)
    assert all(later > i for i in ids), "ids must sort by time"
    assert keys.image_id_time_ms(later) == 1_700_000_000_001


def test_layout_matches_the_seed() -> None:
    image_id = keys.new_image_id(1_700_000_000_000)
    original = keys.original_key("u1", image_id, "cat.jpg")
    assert original == f"uploads/u1/{image_id}-cat.jpg"
    assert keys.thumbnail_key(400, original, "jpg") == f"thumbnails/400/{image_id}-cat.jpg"
    # HEIC originals get JPEG thumbnails: the extension follows the output format.
    heic = keys.original_key("u1", image_id, "phone.heic")
    assert keys.thumbnail_key(200, heic, "jpg") == f"thumbnails/200/{image_id}-phone.jpg"
    parsed = keys.parse_original_key(original)
    assert (parsed.user_id, parsed.image_id, parsed.filename) == ("u1", image_id, "cat.jpg")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd.jpg"),
        ("My Holiday Photo.JPG", "My-Holiday-Photo.jpg"),
        ("café\x00\x07.png", "cafe.jpg"),
        ("日本の写真.jpeg", "image.jpg"),
        ("..", "image.jpg"),
        ("C:\\Users\\me\\pic.jpg", "pic.jpg"),
    ],
)
def test_safe_filename_examples(name: str, expected: str) -> None:
    assert keys.safe_filename(name, "image/jpeg") == expected


@given(st.text(max_size=1000))
def test_any_filename_gives_a_safe_bounded_key(name: str) -> None:
    safe = keys.safe_filename(name, "image/png")
    assert set(safe) <= SAFE and safe.endswith(".png") and len(safe) <= keys.MAX_STEM_CHARS + 4
    assert not safe.startswith(".")
    key = keys.original_key("u1", keys.new_image_id(0), safe)
    assert keys.parse_original_key(key).filename == safe


@pytest.mark.parametrize(
    "key",
    [
        "thumbnails/200/x.jpg",
        "uploads/u1/no-ulid.jpg",
        "uploads/../x/01ARZ3NDEKTSV4RRFFQ69G5FAV-a.jpg",
        "uploads/u1/sub/01ARZ3NDEKTSV4RRFFQ69G5FAV-a.jpg",
    ],
)
def test_parse_refuses_foreign_keys(key: str) -> None:
    with pytest.raises(InvalidRequest):
        keys.parse_original_key(key)


def test_event_keys_are_url_decoded() -> None:
    assert keys.decode_event_key("uploads/u1/ID-my+cat%281%29.jpg") == "uploads/u1/ID-my cat(1).jpg"
