"""FilesystemBlobStore: objects as files under a directory, with S3-style signed forms and URLs.

Upload forms enforce the same policy as an S3 presigned POST (exact key, exact Content-Type,
content-length-range, expiry, signature) and, once an object is stored, the store calls its
listener with the S3 ObjectCreated event JSON, so the worker sees what Lambda would see.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, quote_plus, urlencode

from imgdrop.adapters.local import signing
from imgdrop.core.errors import Forbidden, InvalidRequest, NotFound, TooLarge
from imgdrop.core.links import DEFAULT_WINDOW_S, link_window
from imgdrop.ports import ObjectCreatedListener, UploadForm


def s3_event(
    bucket: str, key: str, size: int, event_name: str = "ObjectCreated:Post"
) -> dict[str, Any]:
    """The JSON S3 sends for one new object (the key URL-encoded, as S3 does)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "imgdrop:local",
                "eventName": event_name,
                "eventTime": signing.iso(time.time()),
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {"key": quote_plus(key), "size": size},
                },
            }
        ]
    }


class FilesystemBlobStore:
    """The BlobStore port on a directory. `base_url` is where the app serves `/_blobs/`."""

    def __init__(
        self,
        root: Path,
        secret: bytes,
        base_url: str,
        bucket: str = "local",
        listener: ObjectCreatedListener | None = None,
        window_s: int = DEFAULT_WINDOW_S,
    ) -> None:
        self.root = root.resolve()
        self.tmp = self.root / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.bucket = bucket
        self.listener = listener
        self.window_s = window_s

    def remove_partial_files(self) -> int:
        """Delete temp files a crash left mid-write (call only while holding the data dir)."""
        leftovers = list(self.tmp.iterdir())
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def path_of(self, key: str) -> Path:
        """The file for `key`; refuses anything that could leave the root."""
        parts = key.split("/")
        if not key or any(p in {"", ".", ".."} or "\x00" in p for p in parts):
            raise InvalidRequest(f"bad key {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path.is_relative_to(self.tmp):
            raise InvalidRequest(f"bad key {key!r}")
        return path

    def free_bytes(self) -> int:
        """Free space on the filesystem that holds the blobs (for the disk reserve)."""
        return shutil.disk_usage(self.root).free

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically (temp file, fsync, rename); a failed write leaves no temp file."""
        path = self.path_of(key)
        writer = self._writer()
        try:
            writer.write(data)
            self._commit(writer, path)
        except BaseException:
            _discard(writer)
            raise

    def _writer(self) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(dir=self.tmp, delete=False)

    def _commit(self, writer: IO[bytes], path: Path, replace: bool = True) -> None:
        writer.flush()
        os.fsync(writer.fileno())
        writer.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        if replace:
            os.replace(writer.name, path)
            return
        # link() fails if the path exists: two POSTs of one form cannot both store (no TOCTOU).
        try:
            os.link(writer.name, path)
        except FileExistsError:
            raise Forbidden("this upload form was already used") from None
        finally:
            os.unlink(writer.name)

    def get(self, key: str) -> bytes:
        """The bytes; NotFound if absent."""
        try:
            return self.path_of(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no object {key!r}") from None

    def exists(self, key: str) -> bool:
        """Whether the object is stored."""
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        """Remove; missing is fine."""
        self.path_of(key).unlink(missing_ok=True)

    def upload_form(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_s: int,
        sha256: str | None = None,
    ) -> UploadForm:
        """Fields to POST before `file`, to `<base>/_blobs/<bucket>`; a `sha256` (hex) is
        pinned in the policy as S3's base64 `x-amz-checksum-sha256`."""
        self.path_of(key)
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode() if sha256 else None
        policy, signature = signing.make_policy(
            self.secret,
            self.bucket,
            key,
            content_type,
            max_bytes,
            time.time() + expires_s,
            checksum,
        )
        fields = {"key": key, "Content-Type": content_type}
        if checksum is not None:
            fields[signing.CHECKSUM_FIELD] = checksum
        return UploadForm(
            f"{self.base_url}/_blobs/{self.bucket}",
            {**fields, "policy": policy, "signature": signature},
        )

    def download_url(self, key: str, expires_s: int, content_type: str) -> str:
        """Signed GET URL, the same for every call within a window (core.links), so browsers
        reuse what they cached; valid for `expires_s` from the window's start."""
        expires_at = link_window(time.time(), expires_s, self.window_s).expires_at
        sig = signing.sign_download(self.secret, key, expires_at, content_type)
        query = urlencode({"exp": expires_at, "ct": content_type, "sig": sig})
        return f"{self.base_url}/_blobs/{self.bucket}/{quote(key)}?{query}"

    def open_download(self, key: str, expires_at: int, content_type: str, signature: str) -> Path:
        """Check a download URL and return the file to send; Forbidden or NotFound."""
        signing.verify_download(self.secret, key, expires_at, content_type, signature, time.time())
        path = self.path_of(key)
        if not path.is_file():
            raise NotFound("no such object")
        return path

    def begin_post(self, fields: dict[str, str]) -> PostedObject:
        """Check a form's policy before any byte is stored; returns the receiver of the file."""
        policy = signing.verify_policy(self.secret, fields, self.bucket, time.time())
        path = self.path_of(policy.key)
        if path.exists():
            raise Forbidden("this upload form was already used")
        return PostedObject(self, policy, path)


class PostedObject:
    """The file part of one form POST, streamed to a temp file within the policy's size range."""

    def __init__(self, store: FilesystemBlobStore, policy: signing.Policy, path: Path) -> None:
        self.store = store
        self.policy = policy
        self.path = path
        self.size = 0
        self.digest = hashlib.sha256()
        self.file = store._writer()

    def write(self, chunk: bytes) -> None:
        """Append; TooLarge (and nothing kept) past the policy's maximum."""
        self.size += len(chunk)
        if self.size > self.policy.max_bytes:
            self.abort()
            raise TooLarge(f"the file is over the {self.policy.max_bytes}-byte limit")
        self.digest.update(chunk)
        try:
            self.file.write(chunk)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the partial file (idempotent)."""
        _discard(self.file)

    def commit(
        self, content_type: str | None = None, on_stored: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Store the object, run `on_stored` (if it raises, the object is removed again), then
        emit (and return) the S3 ObjectCreated event."""
        try:
            self._check_complete(content_type)
            self.store._commit(self.file, self.path, replace=False)  # a used form refuses
        except BaseException:
            self.abort()
            raise
        if on_stored is not None:
            try:
                on_stored()
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise
        event = s3_event(self.store.bucket, self.policy.key, self.size)
        if self.store.listener is not None:
            self.store.listener(event)
        return event

    def _check_complete(self, content_type: str | None) -> None:
        if self.size < self.policy.min_bytes:
            raise InvalidRequest("the file is empty")
        if content_type is not None and content_type != self.policy.content_type:
            raise Forbidden("the file's Content-Type does not match the signed policy")
        pinned = self.policy.checksum
        if pinned is not None and base64.b64encode(self.digest.digest()).decode() != pinned:
            raise InvalidRequest(
                "The file's SHA-256 does not match the one given when the upload was "
                "requested; the file was not kept."
            )


def _discard(writer: IO[bytes]) -> None:
    """Close and remove a temp file, whatever state it is in."""
    with contextlib.suppress(OSError):
        writer.close()
    Path(writer.name).unlink(missing_ok=True)
