"""Issue 5.2: one upload form stores at most one object, even when two POSTs of it race."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore
from imgdrop.core.errors import Forbidden

KEY = "uploads/user_1/01J00000000000000000000000-x.jpg"


def test_two_posts_of_one_form_store_only_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[object] = []
    store = FilesystemBlobStore(tmp_path, b"k" * 32, "http://127.0.0.1:1", listener=events.append)
    fields = store.upload_form(KEY, "image/jpeg", 1000, 60).fields
    first, second = store.begin_post(fields), store.begin_post(fields)  # both before any commit
    first.write(b"first")
    second.write(b"second")
    first.commit()
    # The second POST checked for the object before the first one stored it: the race window.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    with pytest.raises(Forbidden, match="already used"):
        second.commit()
    monkeypatch.undo()
    assert store.get(KEY) == b"first"
    assert len(events) == 1
    assert list(store.tmp.iterdir()) == []
