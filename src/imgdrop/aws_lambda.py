"""Lambda entry points: the S3-event thumbnail handler, the web app (Mangum), the
on-failure queue handler and the scheduled sweeper. Thin: they parse events and call the same
services as the local worker.

Retries: S3 invokes the thumbnail function asynchronously, so Lambda itself retries a raised
error (MaximumRetryAttempts in infra/template.yaml). Every attempt is counted on the item
(`Catalog.add_attempt`); a transient error re-raises until attempt IMGDROP_JOB_MAX_ATTEMPTS,
which marks the item `failed` instead, so nothing stays `processing`. An attempt that dies
without raising (timeout, out of memory) reaches the on-failure SQS queue, whose consumer
(`failure_handler`) marks the item failed too.

Items nobody settles (an S3 event lost, a form never used) are found by `sweep_handler`, run
on a schedule.

Objects put under uploads/<userId>/ without going through the app have no catalog item:
`Images.process_upload` logs and ignores them (no thumbnails, nothing in any gallery). See
docs/deploy-aws.md.

Cold starts: each function's package holds only what its handler imports (imgdrop.packaging),
and this module imports nothing heavy at load: the engine (pyvips, Pillow) is loaded by
`init_thumbnails`, FastAPI and argon2 by `init_web`; what only some web requests need (boto3
clients, page templates, zxcvbn, the sign-in rate limiter) is made at its first use. Init runs
without garbage collection and freezes what it built (`init_phase`).
`python -m imgdrop.cold_start` measures both, and what was left for first use. With SnapStart
(web function), `init_web` runs before the snapshot and `_after_restore` makes what a snapshot
shares unique again.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imgdrop.core import keys
from imgdrop.core.errors import ImgdropError, InvalidRequest, NotFound
from imgdrop.json_logs import configure_logging
from imgdrop.services import Images, object_created_keys
from imgdrop.settings import load_settings
from imgdrop.wiring import Runtime, build_aws, build_aws_images

log = logging.getLogger("imgdrop.lambda")
_runtime: Runtime | None = None
_images: Images | None = None
_web_app: Any = None
_loop: Any = None  # one event loop per process, whatever rebuilds the app


@contextmanager
def init_phase() -> Iterator[None]:
    """On Lambda, build what lives as long as the container without garbage collection, then
    freeze it.

    Init allocates hundreds of thousands of long-lived objects (modules, classes, pydantic
    validators, botocore models) and almost no garbage, yet the collector would walk them
    again and again as they pile up (a fifth of the web function's init), then once more in
    the first requests. `gc.freeze()` moves them out of every later collection (the pattern
    the gc docs give for a pre-fork server). Outside Lambda (tests, `imgdrop serve`) nothing
    changes; a nested call leaves the outer one in charge.
    """
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def runtime() -> Runtime:
    """The web app's Runtime (images + accounts), built once per container from IMGDROP_*."""
    global _runtime
    if _runtime is None:
        with init_phase():
            settings = load_settings()
            configure_logging(settings.log_level)
            _runtime = build_aws(settings)
    return _runtime


def worker_images() -> Images:
    """What the image functions use: S3 and the images table only, never the users table."""
    global _images
    if _images is None:
        with init_phase():
            settings = load_settings()
            configure_logging(settings.log_level)
            _images = build_aws_images(settings)
    return _images


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """S3 ObjectCreated event -> thumbnails. Raises only to make Lambda retry a transient fault."""
    worker = init_thumbnails()
    request_id = getattr(context, "aws_request_id", None)
    etags = event_etags(event)
    results: dict[str, str] = {}
    retry: Exception | None = None
    for key in object_created_keys(event):
        try:
            results[key] = process_key(worker, key, request_id)
            if results[key] == "done":
                results[key] = check_original(worker, key, etags.get(key))
        except Exception as exc:  # each key settles on its own; re-raised below
            retry = exc
            results[key] = "retry"
    if retry is not None:
        raise retry
    return {"processed": results}


def process_key(images: Images, key: str, request_id: str | None = None) -> str:
    """Process one key, counting the attempt; returns the final status (or `ignored`)."""
    started = time.perf_counter()
    attempt = _count_attempt(images, key)
    try:
        item = images.process_upload(key)
    except Exception as exc:
        reason = exc.message if isinstance(exc, ImgdropError) else type(exc).__name__
        last = attempt >= images.settings.job_max_attempts
        log.warning(
            "processing failed",
            exc_info=not isinstance(exc, ImgdropError),
            extra={
                "key": key,
                "attempt": attempt,
                "error": reason,
                "final": last,
                "aws_request_id": request_id,
            },
        )
        if not last:
            raise
        images.fail_upload(
            key, f"processing kept failing ({reason}); gave up after {attempt} attempts"
        )
        return "failed"
    status = item.status if item is not None else "ignored"
    log.info(
        "processed",
        extra={
            "key": key,
            "status": status,
            "attempt": attempt,
            "ms": round((time.perf_counter() - started) * 1000),
            "aws_request_id": request_id,
        },
    )
    return status


def event_etags(event: dict[str, Any]) -> dict[str, str]:
    """Each ObjectCreated record's key -> the ETag S3 reports for the object it created."""
    found = {}
    for record in event.get("Records") or []:
        obj = (record.get("s3") or {}).get("object") or {}
        if isinstance(obj.get("key"), str) and obj.get("eTag"):
            found[keys.decode_event_key(obj["key"])] = str(obj["eTag"]).strip('"')
    return found


def check_original(images: Images, key: str, event_etag: str | None) -> str:
    """Detect an original replaced under a `done` item (a form posted again with other bytes).

    The ETag of the bytes the thumbnails were made from is recorded on the item; an event
    whose object has another ETag means the original now differs from what was checked and
    thumbnailed. That is logged as an error (a metric and an alarm in infra/template.yaml) and
    the key reports "replaced". The object is not deleted: the image roles have no delete
    grant on uploads/ (a decoder exploit must not be able to remove originals). Forms that
    carry the content's SHA-256 cannot be replayed with other bytes at all (S3BlobStore).
    """
    catalog: Any = images.catalog
    blobs: Any = images.blobs
    if not hasattr(catalog, "record_original_etag") or not hasattr(blobs, "read_etags"):
        return "done"
    parsed = keys.parse_original_key(key)
    processed = blobs.read_etags.pop(key, None)
    recorded = (
        catalog.record_original_etag(parsed.user_id, parsed.image_id, processed)
        if processed
        else catalog.original_etag(parsed.user_id, parsed.image_id)
    )
    current = event_etag if event_etag and not processed else blobs.etag(key)
    if not recorded or current is None or current == recorded:
        return "done"
    log.error(
        "original replaced after its thumbnails were made",
        extra={"key": key, "processed_etag": recorded, "new_etag": current},
    )
    return "replaced"


def _count_attempt(images: Images, key: str) -> int:
    """add_attempt for the key's item; 0 for a key with no item (it will be ignored)."""
    try:
        parsed = keys.parse_original_key(key)
        return images.catalog.add_attempt(parsed.user_id, parsed.image_id, images.clock())
    except (InvalidRequest, NotFound):
        return 0


def failure_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS consumer of the on-failure destination: mark every item of a given-up event failed.

    Each message is Lambda's invocation record; its `requestPayload` is the original S3 event
    and `requestContext.condition` says why (RetriesExhausted, EventAgeExceeded ...).
    """
    worker = worker_images()
    failed: list[str] = []
    for message in event.get("Records") or []:
        record = json.loads(message.get("body") or "{}")
        condition = (record.get("requestContext") or {}).get("condition", "unknown")
        detail = (record.get("responsePayload") or {}).get("errorType", "")
        for key in object_created_keys(record.get("requestPayload") or {}):
            worker.fail_upload(
                key, f"processing did not finish ({condition} {detail}".strip() + ")"
            )
            failed.append(key)
    log.warning("gave up on uploads", extra={"keys": failed, "count": len(failed)})
    return {"failed": failed}


def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule: settle items left `processing` past IMGDROP_STALE_PROCESSING_S.

    An original that is stored was missed (a lost or given-up S3 event): process it now. A form
    that expired unused ends `failed` ("the upload never arrived"). Transient errors are left
    for the next sweep; every try is counted, so one that keeps failing ends `failed` too.
    """
    worker = init_thumbnails()
    request_id = getattr(context, "aws_request_id", None)
    results: dict[str, str] = {}
    for key in worker.sweep_stale():
        try:
            results[key] = process_key(worker, key, request_id)
        except Exception:  # logged by process_key; the next sweep tries again
            results[key] = "retry"
    log.info("swept", extra={"results": results, "aws_request_id": request_id})
    return {"swept": results}


def init_thumbnails() -> Images:
    """Everything the thumbnail and sweeper functions need before their first event: the
    image services and the engine's libraries (loaded here, in Lambda's init phase)."""
    with init_phase():
        import imgdrop.engine.pipeline  # noqa: F401 - pyvips/Pillow/pillow-heif load once, now

        return worker_images()


def init_web() -> Any:
    """The web app behind Mangum, built once per container (before a SnapStart snapshot)."""
    global _web_app, _loop
    if _web_app is not None:
        return _web_app
    with init_phase():
        import asyncio

        from mangum import Mangum

        from imgdrop.lean_fastapi import import_fastapi

        import_fastapi()  # first: FastAPI's OpenAPI models wait for the first /openapi.json
        from imgdrop.web.app import create_app  # only the web package carries FastAPI

        # Mangum calls asyncio.get_event_loop(), deprecated without a current loop (3.12+).
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
        _web_app = Mangum(create_app(runtime()), lifespan="off")
    return _web_app


def web_handler(event: dict[str, Any], context: Any) -> Any:
    """The ASGI web app behind a Lambda Function URL / HTTP API, through Mangum."""
    return init_web()(event, context)


def _after_restore() -> None:
    """SnapStart restores many environments from one snapshot: give each its own random state
    (tokens and ids use os.urandom, which Lambda reseeds; `random` is process state)."""
    random.seed()
    log.info("restored from snapshot")


def _prepare_snapshot() -> None:
    """Under SnapStart, build the web app during init so the snapshot holds it."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    if not os.environ.get("_HANDLER", "").endswith(".web_handler"):
        return
    init_web()
    try:  # the runtime's hook library; absent outside Lambda
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(_after_restore)


_prepare_snapshot()
