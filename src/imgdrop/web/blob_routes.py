"""The local blob store's HTTP face: presigned-POST uploads and signed GET downloads.

Only mounted for the local backend; on AWS the browser talks to S3 directly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore, PostedObject
from imgdrop.core.errors import Forbidden, ImgdropError, InvalidRequest, TooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a typing-only name

router = APIRouter(prefix="/_blobs", include_in_schema=False)
FORM_OVERHEAD = 64 * 1024  # room for the form fields and multipart framing
MAX_FIELD_BYTES = 16 * 1024


class FormReceiver:
    """Streams a multipart form: fields first (kept), `file` last (checked, then stored)."""

    def __init__(self, store: FilesystemBlobStore) -> None:
        self.store = store
        self.fields: dict[str, str] = {}
        self.posted: PostedObject | None = None
        self.done = False
        self._headers: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()

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

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value.decode(
            "latin-1"
        )
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        self._is_file = name == "file" and not self.done
        if self._is_file:
            # The policy is checked before a single byte of the file is kept.
            self.posted = self.store.begin_post(self.fields)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file and self.posted is not None:
            self.posted.write(data[start:end])
        elif not self.done:
            self._buffer += data[start:end]
            if len(self._buffer) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"form field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self._is_file:
            self.done = True  # S3 ignores fields after the file; so do we
        elif not self.done and self._name:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")


@router.post("/{bucket}", status_code=204)
async def post_object(bucket: str, request: Request) -> Response:
    """Store one object from a presigned form; 204 like S3, then the worker is notified."""
    store: FilesystemBlobStore = request.app.state.runtime.blobs
    if bucket != store.bucket:
        raise Forbidden("the upload form is for another bucket")
    length = int(request.headers.get("content-length") or 0)
    if length > store_limit(request) + FORM_OVERHEAD:
        raise TooLarge(f"the upload is {length} bytes; the limit is {store_limit(request)}")
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequest("send the form as multipart/form-data, with `file` last")
    receiver = FormReceiver(store)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ImgdropError:
        if receiver.posted is not None:
            receiver.posted.abort()
        raise
    except Exception as exc:
        if receiver.posted is not None:
            receiver.posted.abort()
        raise InvalidRequest(f"malformed multipart form: {exc}") from None
    if receiver.posted is None or not receiver.done:
        raise InvalidRequest("the form has no `file` part (it must come after the fields)")
    # Like S3, the stored type is the signed `Content-Type` field, not the part header.
    await run_in_threadpool(receiver.posted.commit)
    return Response(status_code=204)


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
