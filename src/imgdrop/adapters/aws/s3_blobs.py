"""S3BlobStore: the BlobStore port on a private S3 bucket, with presigned POST and GET."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from imgdrop.adapters.aws import fixed_time_signing
from imgdrop.adapters.aws.clients import domain_errors, set_up_client
from imgdrop.core.errors import InvalidRequest, NotFound
from imgdrop.core.links import DEFAULT_WINDOW_S, link_window
from imgdrop.ports import UploadForm
from imgdrop.settings import LIMITS

# Hard ceilings whatever the caller asks (forms <= 10 min, downloads <= 15 min): the same
# table that validates the settings.
MAX_UPLOAD_EXPIRES_S = LIMITS["upload_expires_s"]
MAX_DOWNLOAD_EXPIRES_S = LIMITS["download_expires_s"]


class S3BlobStore:
    """The BlobStore port on bucket `bucket`, through an injected boto3 S3 client."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        window_s: int = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.window_s = window_s
        self.clock = clock
        set_up_client(s3, fixed_time_signing.install)
        # The ETag of the bytes the last `get` of each key returned (what was processed).
        self.read_etags: dict[str, str] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """PutObject (S3 writes are atomic: readers see the whole object or none)."""
        with domain_errors("object"):
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        """GetObject's bytes; NotFound for a missing key."""
        with domain_errors(f"object {key!r}"):
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            data = bytes(response["Body"].read())
        if len(self.read_etags) > 1000:  # one key per event in practice: stay bounded
            self.read_etags.clear()
        self.read_etags[key] = str(response.get("ETag", "")).strip('"')
        return data

    def etag(self, key: str) -> str | None:
        """HeadObject's ETag (unquoted), or None for a missing key."""
        try:
            with domain_errors("object"):
                head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return str(head.get("ETag", "")).strip('"')

    def exists(self, key: str) -> bool:
        """HeadObject: True if stored."""
        try:
            with domain_errors("object"):
                self.s3.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """DeleteObject (S3 answers 204 for a missing key too)."""
        with domain_errors("object"):
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def upload_form(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_s: int,
        sha256: str | None = None,
    ) -> UploadForm:
        """A presigned POST for exactly this key and Content-Type, 1..max_bytes, <= 10 min.

        With `sha256` (64 hex digits) the policy also pins the content: S3 computes the
        SHA-256 of what is posted and refuses bytes whose digest differs from the form's
        x-amz-checksum-sha256 field, which the signed policy fixes, so a replayed form can
        only ever store the same bytes again.
        """
        fields = {"Content-Type": content_type}
        conditions: list[Any] = [
            ["eq", "$Content-Type", content_type],
            ["content-length-range", 1, max_bytes],
        ]
        if sha256 is not None:
            fields.update(checksum_fields(sha256))
            conditions += [{k: v} for k, v in checksum_fields(sha256).items()]
        with domain_errors("upload form"):
            post = self.s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=min(expires_s, MAX_UPLOAD_EXPIRES_S),
            )
        return UploadForm(post["url"], {k: str(v) for k, v in post["fields"].items()})

    def download_url(self, key: str, expires_s: int, content_type: str) -> str:
        """A presigned GET (<= 15 min) that serves the object inline with `content_type`.

        Signed as of the start of the current window (core.links), so every call within a
        window returns the same URL and browsers reuse the bytes they cached; S3 answers it
        with a Cache-Control that ends before the URL does.
        """
        lifetime = min(expires_s, MAX_DOWNLOAD_EXPIRES_S)
        window = link_window(self.clock(), lifetime, self.window_s)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentType": content_type,
            "ResponseContentDisposition": "inline",
            # Keys are never reused, so the bytes behind a URL never change.
            "ResponseCacheControl": f"private, max-age={window.max_age}, immutable",
        }
        with domain_errors("download URL"), fixed_time_signing.signing_at(window.signed_at):
            url = self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=lifetime)
        return str(url)


def checksum_fields(sha256: str) -> dict[str, str]:
    """The POST fields that make S3 verify the content: algorithm, and base64 of the digest."""
    try:
        digest = bytes.fromhex(sha256)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise InvalidRequest("sha256 must be 64 hexadecimal characters")
    return {
        "x-amz-checksum-algorithm": "SHA256",
        "x-amz-checksum-sha256": base64.b64encode(digest).decode(),
    }
