"""Issue 9 point 5 (disk): on a real small filesystem (a 64 MiB tmpfs as the data dir), new
uploads are refused with 507 before free space drops under the reserve; sign-up, sign-in,
the gallery and delete keep working; a form posted when the disk is full is 507, not errno."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import ApiUser, ServerProcess
from tests.security.conftest import post_form
from tests.tmpfs import mounted_tmpfs

MIB = 2**20
RESERVE = 16 * MIB


def noisy_jpeg(side: int = 900) -> bytes:
    """A JPEG that does not compress well (about 1 MB)."""
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for this test (CI runs as root)."""
    with mounted_tmpfs(tmp_path / "disk", "64m") as mount:
        yield mount


def fill(path: Path, leave: int) -> None:
    """Grow `path` until only `leave` bytes stay free (or the disk is full)."""
    with open(path, "ab") as filler:
        while (free := shutil.disk_usage(path.parent).free) > leave:
            try:
                filler.write(b"\0" * min(MIB, free - leave))
                filler.flush()
            except OSError:
                break


def test_uploads_stop_at_the_reserve_and_everything_else_keeps_working(
    small_disk: Path,
) -> None:
    data_dir = small_disk / "data"
    server = ServerProcess(data_dir, env={"IMGDROP_DISK_RESERVE_BYTES": str(RESERVE)}).start()
    try:
        kim = ApiUser(server.url, "kim")
        photo = noisy_jpeg()
        early = kim.client.post(
            "/api/uploads",
            json={"filename": "late.jpg", "contentType": "image/jpeg", "size": len(photo)},
        ).json()
        kept = kim.upload(photo, "first.jpg")
        assert kim.wait_final(kept["imageId"], 60)["status"] == "done"
        fill(small_disk / "filler", RESERVE + 3 * len(photo))
        codes = []
        for n in range(8):
            answer = kim.client.post(
                "/api/uploads",
                json={"filename": f"{n}.jpg", "contentType": "image/jpeg", "size": len(photo)},
            )
            codes.append(answer.status_code)
            if answer.status_code == 507:
                break
            assert answer.status_code == 201, answer.text
            assert post_form(answer.json()["upload"], photo).status_code == 204
        assert codes[-1] == 507, codes
        error = answer.json()["error"]
        assert error["code"] == "insufficient_storage"
        assert "Errno" not in error["message"] and "storage space" in error["message"]
        assert shutil.disk_usage(small_disk).free > RESERVE // 2  # the reserve held
        assert_accounts_gallery_and_delete_work(server, kim, kept["imageId"])
        # Truly full (someone else filled it): a form posted now is refused cleanly.
        fill(small_disk / "filler", 0)
        late = post_form(early["upload"], photo)
        assert late.status_code == 507, late.text
        assert "Errno" not in late.text
        assert kim.client.get("/api/images").status_code == 200
        assert not list((data_dir / "blobs" / ".tmp").iterdir())
        # Room again: uploads work again.
        (small_disk / "filler").unlink()
        again = kim.upload(photo, "again.jpg")
        assert kim.wait_final(again["imageId"], 60)["status"] == "done"
        kim.client.close()
    finally:
        server.stop()


def assert_accounts_gallery_and_delete_work(
    server: ServerProcess, kim: ApiUser, image_id: str
) -> None:
    """Sign-up, sign-in, the gallery and delete while uploads are refused for space."""
    newcomer = ApiUser(server.url, "newcomer")  # sign-up and sign-in
    assert newcomer.client.get("/api/images").status_code == 200
    newcomer.client.close()
    with httpx.Client(base_url=server.url) as client:
        login = client.post(
            "/api/login", json={"username": "kim", "password": "correct horse battery staple"}
        )
        assert login.status_code == 200
    page = kim.client.get("/api/images")
    assert page.status_code == 200 and page.json()["items"]
    assert kim.client.delete(f"/api/images/{image_id}").status_code == 204
