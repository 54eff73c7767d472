"""Every AWS call each handler makes is one its role in infra/template.yaml allows, and each
image role's DynamoDB grants are exactly the calls it makes (recorded on moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from awsstack import AwsStack, make_jpeg
from test_http_api_aws import function_url_event
from test_lambda_handler import s3_event, upload
from tests.infra.policies import BUCKET_ARN, TABLE_ARN, grants, load_template, resource_text

from imgdrop import aws_lambda
from imgdrop.wiring import Runtime

S3_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
}
Calls = list[tuple[str, str]]
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def record(rt: Runtime, stack: AwsStack) -> Calls:
    """Record (IAM action, resource as the template writes it) for every call from now on."""
    calls: Calls = []
    tables = {
        stack.table: resource_text(TABLE_ARN),
        stack.users_table: resource_text({"Fn::GetAtt": ["UsersTable", "Arn"]}),
    }

    def on_dynamodb(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in {"TransactWriteItems", "TransactGetItems"}:
            # IAM authorises each item of a transaction by its own action.
            for entry in params["TransactItems"]:
                [(kind, body)] = entry.items()
                action = TRANSACT_ACTIONS[kind]
                calls.append((f"dynamodb:{action}", tables[body["TableName"]]))
            return
        if model.name.startswith("Batch"):
            calls.extend((f"dynamodb:{model.name}", tables[t]) for t in params["RequestItems"])
            return
        if index := params.get("IndexName"):
            calls.append((f"dynamodb:{model.name}", f"${{CatalogTable.Arn}}/index/{index}"))
        else:
            calls.append((f"dynamodb:{model.name}", tables[params["TableName"]]))

    def on_s3(params: dict[str, Any], model: Any, **_: Any) -> None:
        assert params["Bucket"] == stack.bucket
        if model.name == "ListObjectsV2":
            calls.append((S3_ACTIONS[model.name], BUCKET_ARN))
        elif "Key" not in params:  # a presigned POST: its policy pins a key under uploads/
            calls.append(("s3:PutObject", f"{BUCKET_ARN}/uploads/*"))
        else:
            prefix = params["Key"].split("/", 1)[0]
            calls.append((S3_ACTIONS[model.name], f"{BUCKET_ARN}/{prefix}/*"))

    rt.images.catalog.db.meta.events.register("provide-client-params.dynamodb.*", on_dynamodb)  # type: ignore[attr-defined]
    rt.images.blobs.s3.meta.events.register("provide-client-params.s3.*", on_s3)  # type: ignore[attr-defined]
    return calls


def call(web: Callable[..., Any], method: str, path: str, **kw: Any) -> dict[str, Any]:
    """One Function URL request through the web handler; the JSON body."""
    response = web(function_url_event(method, path, **kw), None)
    assert response["statusCode"] < 300, response
    return json.loads(response["body"]) if response.get("body") else {}


def web_session() -> str:
    """Sign up, sign in, upload a photo, list, delete, sign out everywhere, sign in again, sign
    out: the web app's whole use (the
    thumbnail function is not run here, so every call recorded is the web app's)."""
    web = aws_lambda.web_handler
    creds = {"username": "grace", "password": "correct horse battery"}
    call(web, "POST", "/api/signup", body=creds)
    token = call(web, "POST", "/api/login", body=creds)["token"]
    auth = {"authorization": f"Bearer {token}"}
    photo = make_jpeg(120, 90)
    body = {"filename": "a.jpg", "contentType": "image/jpeg", "size": len(photo)}
    started = call(web, "POST", "/api/uploads", body=body, headers=auth)
    form = started["upload"]
    httpx.post(form["url"], data=form["fields"], files={"file": ("a.jpg", photo, "image/jpeg")})
    call(web, "GET", "/api/images", headers=auth)
    call(web, "GET", f"/api/images/{started['imageId']}", headers=auth)
    call(web, "DELETE", f"/api/images/{started['imageId']}", headers=auth)
    call(web, "POST", "/api/account/signout-all", headers=auth)  # the user's session list
    token = call(web, "POST", "/api/login", body=creds)["token"]
    call(web, "POST", "/api/logout", headers={"authorization": f"Bearer {token}"})
    return str(started["imageId"])


def dynamodb_part(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Only the DynamoDB grants."""
    return {p for p in pairs if p[0].startswith("dynamodb:")}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The decoded template."""
    return load_template()


def test_web_app_calls_only_what_the_web_role_allows(
    stack: AwsStack, lambda_runtime: Runtime, template: dict[str, Any]
) -> None:
    calls = record(lambda_runtime, stack)
    web_session()
    assert set(calls) <= grants(template, "WebFunction")
    assert dynamodb_part(set(calls)) == dynamodb_part(grants(template, "WebFunction"))


def test_thumbnail_role_is_exactly_its_calls(
    stack: AwsStack, lambda_runtime: Runtime, template: dict[str, Any]
) -> None:
    item = upload(lambda_runtime, make_jpeg(200, 100))
    calls = record(lambda_runtime, stack)
    aws_lambda.handler(s3_event(stack.bucket, item.originalKey), None)
    assert set(calls) <= grants(template, "ThumbnailFunction")
    assert dynamodb_part(set(calls)) == dynamodb_part(grants(template, "ThumbnailFunction"))


def test_sweeper_role_is_exactly_its_calls(
    stack: AwsStack,
    lambda_runtime: Runtime,
    template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = lambda_runtime.images
    missed = upload(lambda_runtime, make_jpeg(200, 100))
    images.request_upload("u1", "never.jpg", "image/jpeg", 10)
    later = images.clock() + 20 * 60 * 1000
    monkeypatch.setattr(images, "clock", lambda: later)
    calls = record(lambda_runtime, stack)
    assert aws_lambda.sweep_handler({}, None) == {"swept": {missed.originalKey: "done"}}
    used = set(calls)
    assert used <= grants(template, "SweeperFunction")
    assert dynamodb_part(used) == dynamodb_part(grants(template, "SweeperFunction"))
    assert not any(action == "dynamodb:Scan" for action, _ in calls)


def test_failure_role_is_exactly_its_calls(
    stack: AwsStack, lambda_runtime: Runtime, template: dict[str, Any]
) -> None:
    item = upload(lambda_runtime, make_jpeg(200, 100))
    calls = record(lambda_runtime, stack)
    record_body = {"requestContext": {"condition": "RetriesExhausted"}}
    record_body["requestPayload"] = s3_event(stack.bucket, item.originalKey)
    aws_lambda.failure_handler({"Records": [{"body": json.dumps(record_body)}]}, None)
    assert set(calls) == dynamodb_part(grants(template, "ThumbnailFailureFunction"))
