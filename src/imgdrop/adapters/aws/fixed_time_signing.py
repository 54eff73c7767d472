"""Presigned S3 GET URLs signed as of a chosen instant (a window's start), not the clock's now.

botocore signs with the current time and has no argument for another. Its extension points
are a signer class (`botocore.auth.AUTH_TYPE_MAPS`) and the client's `choose-signer` event, so
`FixedTimeS3QueryAuth` subclasses S3's own presigned-URL signer and changes only the timestamp;
everything else (canonical request, credentials and their refresh, session token, region from
the endpoint rules) stays botocore's. The instant travels in a ContextVar, so parallel calls in
threads or asyncio tasks never see each other's; outside `signing_at` nothing changes.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.auth
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth

SIGNER = "imgdrop-fixed-time-s3v4-query"  # ends in "-query": botocore's name for presigning
_SIGNED_AT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "imgdrop_s3_signed_at", default=None
)


class FixedTimeS3QueryAuth(S3SigV4QueryAuth):
    """S3SigV4QueryAuth that signs as of the instant `signing_at` set, not the clock's now."""

    # The hook botocore's own query signers override (not in the type stubs). add_auth has
    # just stamped the clock's now into the context; everything after this (X-Amz-Date, the
    # credential scope, the string to sign) reads it from there. A test compares the result
    # with botocore's own URL for that instant, so a botocore change cannot go unnoticed.
    def _modify_request_before_signing(self, request: Any) -> None:
        stamp = _SIGNED_AT.get()
        if stamp is None:
            raise RuntimeError("FixedTimeS3QueryAuth used outside signing_at()")
        request.context["timestamp"] = stamp
        super()._modify_request_before_signing(request)  # type: ignore[misc]


botocore.auth.AUTH_TYPE_MAPS.setdefault(SIGNER, FixedTimeS3QueryAuth)


def _choose_signer(signature_version: str, **_: Any) -> str | None:
    """Inside `signing_at`, presign SigV4 GETs with the fixed-time signer."""
    if _SIGNED_AT.get() is not None and signature_version == "s3v4-query":
        return SIGNER
    return None  # botocore's own choice


def install(s3_client: Any) -> None:
    """Let `signing_at` act on this client's presigned GetObject URLs (idempotent)."""
    s3_client.meta.events.register_first(
        "choose-signer.s3.GetObject", _choose_signer, unique_id=SIGNER
    )


@contextmanager
def signing_at(epoch_s: int) -> Iterator[None]:
    """Presigned GetObject URLs made in this block (this thread or task only) are signed as of
    `epoch_s`; the client must be `install`ed and use SigV4 (`signature_version="s3v4"`)."""
    stamp = datetime.fromtimestamp(epoch_s, UTC).strftime(SIGV4_TIMESTAMP)
    token = _SIGNED_AT.set(stamp)
    try:
        yield
    finally:
        _SIGNED_AT.reset(token)
