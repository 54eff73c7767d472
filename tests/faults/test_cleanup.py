"""Issue 9 L2: a job that fails half-way (disk full) or whose item is deleted while it works
leaves no thumbnail and no temp file behind; a failed write leaves no temp file."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgdrop.engine.pipeline import make_thumbnails
from tests.conftest import make_jpeg
from tests.faults.faultlib import local_runtime, post_upload
from tests.tmpfs import mounted_tmpfs


def blob_files(data_dir: Path) -> set[str]:
    """Every file under the blob root (temp files included)."""
    root = data_dir / "blobs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Any]:
    """A local runtime without the worker (the test calls process_upload itself)."""
    rt = local_runtime(tmp_path / "data", start_worker=False)
    yield rt
    rt.close()


def test_disk_full_half_way_through_thumbnails_leaves_none(
    runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = post_upload(runtime, "u1", "cat.jpg", make_jpeg(900, 600))
    item = runtime.images.get_image("u1", image_id)
    real_put = runtime.blobs.put

    def put(key: str, data: bytes, content_type: str) -> None:
        if key.startswith("thumbnails/400/"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_put(key, data, content_type)

    monkeypatch.setattr(runtime.blobs, "put", put)
    with pytest.raises(OSError):
        runtime.images.process_upload(item.originalKey)
    assert blob_files(tmp_path / "data") == {item.originalKey}
    runtime.images.delete_image("u1", image_id)
    assert blob_files(tmp_path / "data") == set()


def test_a_job_whose_item_is_deleted_meanwhile_keeps_no_thumbnail(
    runtime: Any, tmp_path: Path
) -> None:
    image_id = post_upload(runtime, "u1", "dog.jpg", make_jpeg(900, 600, seed=2))
    key = runtime.images.get_image("u1", image_id).originalKey

    def deleting_engine(data: bytes, widths: Any, limits: Any) -> Any:
        runtime.images.delete_image("u1", image_id)  # the owner deletes while we work
        return make_thumbnails(data, widths, limits)

    runtime.images.engine = deleting_engine
    assert runtime.images.process_upload(key) is None
    assert blob_files(tmp_path / "data") == set()


def test_a_write_that_runs_out_of_space_leaves_no_temp_file(tmp_path: Path) -> None:
    """On a real 1 MiB tmpfs (CI runs as root)."""
    from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore

    with mounted_tmpfs(tmp_path / "tiny", "1m") as mount:
        store = FilesystemBlobStore(mount / "blobs", b"k", "http://x")
        with pytest.raises(OSError) as raised:
            store.put("thumbnails/200/a.jpg", b"\1" * (2 * 2**20), "image/jpeg")
        assert raised.value.errno == errno.ENOSPC
        assert list(store.tmp.iterdir()) == []
        assert not store.exists("thumbnails/200/a.jpg")
