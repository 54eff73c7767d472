"""What the Lambda handlers' init loads, and what it leaves for first use: checked on the
modules a fresh interpreter holds after init (not on timings), so the cold-start gains of
python -m imgdrop.cold_start cannot silently regress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from awsstack import DUMMY_ENV, AwsStack

from imgdrop.adapters.aws.clients import LazyClient, set_up_client
from imgdrop.devices import AddressLimits

# Loaded by a web request that needs it, never by the web function's init.
WEB_DEFERRED = ("zxcvbn", "limits", "jinja2", "starlette.templating")
IMAGE_LIBRARIES = ("pyvips", "PIL", "pillow_heif")
# Only what init can do without AWS: the settings name a bucket and tables, nothing is called.
LAMBDA_SETTINGS = {
    "IMGDROP_BACKEND": "aws",
    "IMGDROP_S3_BUCKET": "cold-imports",
    "IMGDROP_DYNAMODB_TABLE": "cold-imports-images",
    "IMGDROP_USERS_TABLE": "cold-imports-users",
    "IMGDROP_AWS_REGION": "us-east-1",
    "IMGDROP_SECRET_KEY": "cold-imports-secret-key-0123456789abcdef",
}
SCRIPT = """
import gc, json, sys
import imgdrop.aws_lambda as m
getattr(m, sys.argv[1])()
report = {"modules": sorted(sys.modules), "gc_enabled": gc.isenabled(),
          "frozen": gc.get_freeze_count()}
if sys.argv[1] == "init_web":
    rt = m.runtime()
    report["clients_made"] = [rt.images.blobs.s3._client is not None,
                              rt.users.db._client is not None]
    from fastapi.openapi import models
    report["openapi_built"] = [models.Schema.__pydantic_complete__,
                               models.OpenAPI.__pydantic_complete__]
print(json.dumps(report))
"""
# /openapi.json through the Lambda handler; argv[1] == "plain" imports FastAPI first (as
# `imgdrop serve` and the tests do), so nothing is deferred.
OPENAPI = """
import json, sys
if sys.argv[1] == "plain":
    import fastapi
import imgdrop.aws_lambda as m
path = {"method": "GET", "path": "/openapi.json", "sourceIp": "127.0.0.1"}
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/openapi.json",
         "rawQueryString": "", "headers": {"host": "example.lambda-url.aws"},
         "requestContext": {"http": path, "domainName": "example.lambda-url.aws",
                            "stage": "$default"}, "isBase64Encoded": False}
print(json.dumps(m.web_handler(event, None)))
"""


def init_report(init: str, lambda_env: bool = True, script: str = SCRIPT) -> dict[str, Any]:
    """Run `aws_lambda.<init>()` in a fresh interpreter; what it left loaded and made."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    if lambda_env:
        base["AWS_LAMBDA_FUNCTION_NAME"] = "cold-imports"
    run = subprocess.run(
        [sys.executable, "-c", script, init],
        env={**base, **DUMMY_ENV, **LAMBDA_SETTINGS},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return report


def loaded(report: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (packages, with their submodules) the report shows loaded."""
    modules = report["modules"]
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_web_init_leaves_what_only_some_requests_need_for_their_first_use() -> None:
    report = init_report("init_web")
    assert "fastapi" in report["modules"] and "mangum" in report["modules"]
    assert loaded(report, IMAGE_LIBRARIES) == []
    assert loaded(report, WEB_DEFERRED) == []
    assert "imgdrop.engine.pipeline" not in report["modules"]
    assert report["clients_made"] == [False, False]  # no credential read, no client built
    assert report["openapi_built"] == [False, False]  # until the first /openapi.json


def test_openapi_document_is_the_same_when_its_models_were_deferred() -> None:
    deferred = init_report("lean", script=OPENAPI)
    plain = init_report("plain", script=OPENAPI)
    assert deferred["statusCode"] == plain["statusCode"] == 200
    document = json.loads(deferred["body"])
    assert document == json.loads(plain["body"])
    assert "/api/uploads" in document["paths"] and document["components"]["schemas"]


def test_thumbnail_init_loads_the_engine_and_its_clients_but_no_web_stack() -> None:
    report = init_report("init_thumbnails")
    assert "imgdrop.engine.pipeline" in report["modules"] and "pyvips" in report["modules"]
    assert "botocore.client" in report["modules"]
    assert loaded(report, ("fastapi", "pydantic", "starlette", "mangum", "argon2")) == []
    assert loaded(report, WEB_DEFERRED) == []


def test_lambda_init_freezes_what_it_built_and_turns_collection_back_on() -> None:
    on_lambda = init_report("init_web")
    assert on_lambda["gc_enabled"] and on_lambda["frozen"] > 10_000
    elsewhere = init_report("init_web", lambda_env=False)  # tests, `imgdrop serve`
    assert elsewhere["gc_enabled"] and elsewhere["frozen"] == 0


def test_a_lazy_client_is_made_once_however_many_threads_need_it_first() -> None:
    made: list[object] = []
    gate = threading.Barrier(8)

    def make() -> object:
        made.append(object())
        return made[-1]

    lazy = LazyClient(make, threading.Lock())
    seen: list[object] = []

    def first_use() -> None:
        gate.wait()
        seen.append(lazy.client())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and seen == made * 8


def test_a_lazy_client_is_set_up_when_made_and_before_anyone_uses_it() -> None:
    set_up: list[object] = []
    lazy = LazyClient(object, threading.Lock())
    set_up_client(lazy, set_up.append)
    assert set_up == [] and lazy._client is None  # configuring it does not make it
    made = lazy.client()
    assert set_up == [made]
    set_up_client(lazy, set_up.append)  # one added later runs at once
    eager = object()
    set_up_client(eager, set_up.append)
    assert set_up == [made, made, eager]


def test_lazy_clients_talk_to_aws_like_eager_ones(stack: AwsStack) -> None:
    from imgdrop.wiring import build

    rt = build(stack.settings())
    s3 = rt.images.blobs.s3  # type: ignore[attr-defined]
    assert isinstance(s3, LazyClient) and s3._client is None
    rt.images.blobs.put("uploads/u1/lazy.txt", b"made at first use", "text/plain")
    assert rt.images.blobs.get("uploads/u1/lazy.txt") == b"made at first use"
    assert s3._client is not None and s3.meta.service_model.service_name == "s3"
    assert rt.users.db is rt.images.catalog.db  # type: ignore[attr-defined]  # one client


def test_the_rate_limiter_made_at_first_use_counts_every_concurrent_hit() -> None:
    limits = AddressLimits("5/minute", "sign-ins")
    gate = threading.Barrier(12)
    refused: list[int] = []

    def hit() -> None:
        gate.wait()
        try:
            limits.hit("192.0.2.7")
        except Exception as exc:  # TooManyRequests
            refused.append(getattr(exc, "http_status", 0))

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == [429] * 7
    limits.hit("198.51.100.1")  # another address has its own window
