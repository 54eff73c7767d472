"""S3BlobStore: the BlobStore port on a private S3 bucket, with presigned POST and GET."""

from __future__ import annotations

from typing import Any

from imgdrop.adapters.aws.clients import domain_errors
from imgdrop.core.errors import NotFound
from imgdrop.ports import UploadForm
from imgdrop.settings import LIMITS

# Hard ceilings whatever the caller asks (forms <= 10 min, downloads <= 15 min): the same
# table that validates the settings.
MAX_UPLOAD_EXPIRES_S = LIMITS["upload_expires_s"]
MAX_DOWNLOAD_EXPIRES_S = LIMITS["download_expires_s"]


class S3BlobStore:
    """The BlobStore port on bucket `bucket`, through an injected boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """PutObject (S3 writes are atomic: readers see the whole object or none)."""
        with domain_errors("object"):
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        """GetObject's bytes; NotFound for a missing key."""
        with domain_errors(f"object {key!r}"):
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            return bytes(response["Body"].read())

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

        `sha256` is accepted for the port; pinning it in the S3 form is the AWS adapter's
        own change (issue 11)."""
        with domain_errors("upload form"):
            post = self.s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    ["eq", "$Content-Type", content_type],
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=min(expires_s, MAX_UPLOAD_EXPIRES_S),
            )
        return UploadForm(post["url"], {k: str(v) for k, v in post["fields"].items()})

    def download_url(self, key: str, expires_s: int, content_type: str) -> str:
        """A presigned GET (<= 15 min) that serves the object inline with `content_type`."""
        with domain_errors("download URL"):
            return str(
                self.s3.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "ResponseContentType": content_type,
                        "ResponseContentDisposition": "inline",
                    },
                    ExpiresIn=min(expires_s, MAX_DOWNLOAD_EXPIRES_S),
                )
            )
