"""The local blob store's HTTP face: presigned-POST uploads and signed GET downloads.

Only mounted for the local backend; on AWS the browser talks to S3 directly.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore, PostedObject
from imgdrop.adapters.local.signing import CHECKSUM_FIELD
from imgdrop.core.errors import (
    Forbidden,
    ImgdropError,
    InsufficientStorage,
    InvalidRequest,
    TooLarge,
)
from imgdrop.core.records import ImageItem
from imgdrop.services import Images
from imgdrop.settings import Settings

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a typing-only name

log = logging.getLogger("imgdrop.web")
router = APIRouter(prefix="/_blobs", include_in_schema=False)
FORM_OVERHEAD = 64 * 1024  # room for the form fields and multipart framing
TAIL_BYTES = 4096  # what may follow the file part: the closing boundary (and a little slack)
HEADER_ROOM = 1024  # per part: its headers, beyond the field's own bytes
MAX_PART_HEADERS = 8
# Everything an S3-style form of ours can hold; any other field name is refused.
KNOWN_FIELDS = frozenset({"key", "Content-Type", "policy", "signature", CHECKSUM_FIELD})


class FormReceiver:
    """Streams a multipart form: known fields first (kept, bounded), `file` last (checked,
    then stored). Every count and size is bounded as the bytes arrive, Content-Length or not."""

    def __init__(self, store: FilesystemBlobStore, images: Images, settings: Settings) -> None:
        self.store = store
        self.images = images
        self.max_fields = settings.upload_form_max_fields
        self.max_field_bytes = settings.upload_form_max_field_bytes
        self.fields: dict[str, str] = {}
        self.posted: PostedObject | None = None
        self.item: ImageItem | None = None
        self.done = False
        self.received = 0
        self.allowed = self.max_fields * (self.max_field_bytes + HEADER_ROOM) + TAIL_BYTES
        self._headers: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()

    def feed(self, parser: MultipartParser, chunk: bytes) -> None:
        """Parse the bytes (the callbacks bound every field, count and the file), then count
        them against what the whole form may hold (framing included)."""
        parser.write(chunk)
        self.received += len(chunk)
        if self.received > self.allowed:
            raise TooLarge("the upload form is larger than its file and fields allow")

    def callbacks(self) -> MultipartCallbacks:
        """python-multipart callbacks."""
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._buffer = {}, bytearray()
        if not self.done and len(self.fields) >= self.max_fields:
            raise TooLarge(f"the upload form has more than {self.max_fields} fields")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._check_header()

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_header()

    def _check_header(self) -> None:
        if len(self._header_name) + len(self._header_value) > HEADER_ROOM + self.max_field_bytes:
            raise TooLarge("a header of the upload form is too long")

    def _header_end(self) -> None:
        if len(self._headers) >= MAX_PART_HEADERS:
            raise TooLarge("a part of the upload form has too many headers")
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value.decode(
            "latin-1"
        )
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        self._is_file = name == "file" and not self.done
        if self.done:
            return
        if not self._is_file and name not in KNOWN_FIELDS:
            raise InvalidRequest(f"the upload form has an unknown field {name[:64]!r}")
        if name in self.fields:
            raise InvalidRequest(f"the upload form has the field {name[:64]!r} twice")
        if self._is_file:
            self._begin_file()

    def _begin_file(self) -> None:
        # The policy and the item are checked before a single byte of the file is kept.
        self.posted = posted = self.store.begin_post(self.fields)  # the route drops it on error
        self.item = self.images.admit_post(posted.policy.key)
        self.images.ensure_space(posted.policy.max_bytes)
        # `received` does not count the chunk being parsed yet: allow for all of it.
        self.allowed += posted.policy.max_bytes

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file and self.posted is not None and self.item is not None:
            self.posted.write(data[start:end])
        elif not self.done:
            self._buffer += data[start:end]
            if len(self._buffer) > self.max_field_bytes:
                raise TooLarge(
                    f"the form field {self._name[:64]!r} is over {self.max_field_bytes} bytes"
                    if self._name
                    else "a form field is too long"
                )

    def _part_end(self) -> None:
        if self._is_file:
            self.done = True  # S3 ignores fields after the file; so do we
        elif not self.done and self._name:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def commit(self) -> None:
        """Store the file; the item is marked received (once) before the worker hears of it."""
        assert self.posted is not None and self.item is not None
        item = self.item
        self.images.ensure_space(0)
        self.posted.commit(on_stored=lambda: self.images.record_received(item))


@router.post("/{bucket}", status_code=204)
async def post_object(bucket: str, request: Request) -> Response:
    """Store one object from a presigned form; 204 like S3, then the worker is notified."""
    runtime = request.app.state.runtime
    store: FilesystemBlobStore = runtime.blobs
    if bucket != store.bucket:
        raise Forbidden("the upload form is for another bucket")
    length = int(request.headers.get("content-length") or 0)
    if length > store_limit(request) + FORM_OVERHEAD:
        raise TooLarge(f"the upload is {length} bytes; the limit is {store_limit(request)}")
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequest("send the form as multipart/form-data, with `file` last")
    receiver = FormReceiver(store, runtime.images, runtime.settings)
    committed = False
    try:
        await _receive(
            request, receiver, MultipartParser(params[b"boundary"], receiver.callbacks())
        )
        # Like S3, the stored type is the signed `Content-Type` field, not the part header.
        await run_in_threadpool(receiver.commit)
        committed = True
    except InsufficientStorage:
        # The same one line as the app's disk-full handler, naming the request.
        log.error("disk full on POST %s: free space is under the reserve", request.url.path)
        raise
    except OSError as exc:
        if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise  # the app's disk-full handler answers 507 and logs one line
        log.exception("could not store an upload")
        raise InvalidRequest("the upload could not be stored") from None
    finally:
        # Every way out but success (refusal, client gone, cancellation) drops the temp file.
        if not committed and receiver.posted is not None:
            receiver.posted.abort()
    return Response(status_code=204)


async def _receive(request: Request, receiver: FormReceiver, parser: MultipartParser) -> None:
    """Stream the body through the bounded receiver; the form must end with its file."""
    try:
        async for chunk in request.stream():
            receiver.feed(parser, chunk)
        parser.finalize()
    except (ImgdropError, OSError):
        raise
    except ClientDisconnect:
        raise InvalidRequest("the upload was cut off before the file was complete") from None
    except Exception as exc:
        raise InvalidRequest(f"malformed multipart form: {exc}") from None
    if receiver.posted is None or not receiver.done:
        raise InvalidRequest("the form has no `file` part (it must come after the fields)")


def store_limit(request: Request) -> int:
    """The configured maximum upload size."""
    limit: int = request.app.state.runtime.settings.max_upload_bytes
    return limit


@router.get("/{bucket}/{key:path}")
def get_object(
    bucket: str, key: str, exp: int, ct: str, sig: str, request: Request
) -> FileResponse:
    """Serve an object through a signed, expiring URL, with its content type pinned."""
    store: FilesystemBlobStore = request.app.state.runtime.blobs
    if bucket != store.bucket or not ct.startswith("image/") or "svg" in ct:
        raise Forbidden("bad download link")
    path = store.open_download(key, exp, ct, sig)
    max_age = max(0, exp - int(time.time()))
    return FileResponse(
        path,
        media_type=ct,
        headers={
            # The bytes behind a URL never change (keys are unique), so a cached copy stays right.
            "Cache-Control": f"private, max-age={max_age}, immutable",
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
        },
    )
