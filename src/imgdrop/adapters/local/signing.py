"""HMAC signing of local upload policies and download URLs (the S3 presigning, locally)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from imgdrop.core.errors import Forbidden


def _sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def same_signature(expected: str, sent: str | None) -> bool:
    """Constant-time comparison of bytes: any text (non-ASCII, lone surrogates) is just unequal.

    `hmac.compare_digest` raises TypeError on a `str` holding non-ASCII characters, which made
    an odd signature a 500; compared as UTF-8 bytes it is a plain mismatch.
    """
    given = (sent or "").encode("utf-8", "surrogatepass")
    return hmac.compare_digest(expected.encode("ascii"), given)


def iso(epoch_s: float) -> str:
    """S3's policy expiration format."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# S3's name for a pinned SHA-256 (base64 of the digest), used by the local form too.
CHECKSUM_FIELD = "x-amz-checksum-sha256"


def make_policy(
    secret: bytes,
    bucket: str,
    key: str,
    content_type: str,
    max_bytes: int,
    expires_at_s: float,
    checksum: str | None = None,
) -> tuple[str, str]:
    """(base64 policy, signature) shaped like an S3 POST policy."""
    conditions: list[Any] = [{"bucket": bucket}, {"key": key}, {"Content-Type": content_type}]
    if checksum is not None:
        conditions.append({CHECKSUM_FIELD: checksum})
    doc = {
        "expiration": iso(expires_at_s),
        "conditions": [*conditions, ["content-length-range", 1, max_bytes]],
    }
    policy = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    return policy, _sign(secret, policy)


class Policy:
    """A verified upload policy: what one POST may store."""

    def __init__(
        self,
        bucket: str,
        key: str,
        content_type: str,
        min_bytes: int,
        max_bytes: int,
        checksum: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.checksum = checksum


def verify_policy(secret: bytes, fields: dict[str, str], bucket: str, now_s: float) -> Policy:
    """Check signature, expiry and that every field matches its condition; raises Forbidden."""
    policy_b64, signature = fields.get("policy", ""), fields.get("signature", "")
    if not policy_b64 or not signature:
        raise Forbidden("the upload form is missing its policy or signature")
    if not same_signature(_sign(secret, policy_b64), signature):
        raise Forbidden("the upload form's signature does not match (tampered form?)")
    doc: dict[str, Any] = json.loads(base64.b64decode(policy_b64))
    expires = datetime.strptime(doc["expiration"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
    if expires.timestamp() <= now_s:
        raise Forbidden("the upload form has expired; request a new one")
    exact: dict[str, str] = {}
    size_range = (0, 0)
    for cond in doc["conditions"]:
        if isinstance(cond, dict):
            exact.update(cond)
        elif cond[0] == "content-length-range":
            size_range = (int(cond[1]), int(cond[2]))
    if exact.get("bucket") != bucket:
        raise Forbidden("the upload form is for another bucket")
    for name in ("key", "Content-Type", CHECKSUM_FIELD):
        if fields.get(name) != exact.get(name):
            raise Forbidden(f"the form field {name!r} does not match the signed policy")
    return Policy(
        bucket, exact["key"], exact["Content-Type"], *size_range, exact.get(CHECKSUM_FIELD)
    )


def sign_download(secret: bytes, key: str, expires_at_s: int, content_type: str) -> str:
    """Signature of a download URL's (key, expiry, pinned content type)."""
    return _sign(secret, f"GET\n{key}\n{expires_at_s}\n{content_type}")


def verify_download(
    secret: bytes, key: str, expires_at_s: int, content_type: str, signature: str, now_s: float
) -> None:
    """Raises Forbidden unless the URL is signed by us and not expired."""
    if not same_signature(sign_download(secret, key, expires_at_s, content_type), signature):
        raise Forbidden("this download link is not valid; reload the gallery")
    if expires_at_s <= now_s:
        raise Forbidden("this link has expired; reload the gallery")
