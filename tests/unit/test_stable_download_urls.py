"""Local download URLs stay the same within a window, so browsers reuse cached thumbnails."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from imgdrop.adapters.local import filesystem_blobs
from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore

KEY = "thumbnails/200/01KB0000000000000000000000-cat.jpg"


def url_at(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch, now: float) -> str:
    """The URL the store mints at time `now`."""
    monkeypatch.setattr(filesystem_blobs.time, "time", lambda: now)
    return store.download_url(KEY, 900, "image/jpeg")


def expiry(url: str) -> int:
    """The `exp` of a download URL."""
    return int(parse_qs(urlsplit(url).query)["exp"][0])


def test_same_url_within_a_window_and_always_valid_long_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs", b"secret", "http://testserver")
    start = 1_800_000_000 // 450 * 450  # the start of a 450 s window
    first = url_at(store, monkeypatch, start)
    assert url_at(store, monkeypatch, start + 449.9) == first
    assert url_at(store, monkeypatch, start + 450) != first
    for offset in range(0, 2000, 37):
        now = start + offset
        remaining = expiry(url_at(store, monkeypatch, now)) - now
        assert 450 <= remaining <= 900, (offset, remaining)


@pytest.mark.parametrize(("window", "effective"), [(60, 60), (450, 450), (5000, 450)])
def test_the_window_is_a_setting_capped_at_half_the_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int, effective: int
) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs", b"secret", "http://testserver", window_s=window)
    start = 1_800_000_000 // 9000 * 9000  # a multiple of every window here
    first = url_at(store, monkeypatch, start)
    assert url_at(store, monkeypatch, start + effective - 1) == first
    assert url_at(store, monkeypatch, start + effective) != first
    assert expiry(first) == start + 900
