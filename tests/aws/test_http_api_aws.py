"""The HTTP API in AWS mode: uvicorn over S3 + DynamoDB (moto), thumbnails by the Lambda handler.

Also the same app through the Lambda web entry point (Mangum, Function URL events).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from awsstack import AwsStack, client, make_jpeg

from imgdrop import aws_lambda
from imgdrop.core.links import link_window
from imgdrop.web.app import create_app
from imgdrop.wiring import Runtime, build


@pytest.fixture
def api(stack: AwsStack) -> Iterator[str]:
    """A uvicorn server on a free loopback port serving the app in AWS mode."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(build(stack.settings())), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_signup_login_upload_gallery_delete_over_http(
    stack: AwsStack, api: str, lambda_runtime: Runtime
) -> None:
    with httpx.Client(base_url=api, timeout=30) as http:
        assert (
            http.post(
                "/api/signup",
                json={"username": "Alice", "password": "correct horse battery staple"},
            ).status_code
            == 201
        )
        login = http.post(
            "/api/login", json={"username": "alice", "password": "correct horse battery staple"}
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        photo = make_jpeg(900, 600, seed=7)
        started = http.post(
            "/api/uploads",
            headers=auth,
            json={"filename": "Holiday photo.jpg", "contentType": "image/jpeg", "size": len(photo)},
        )
        assert started.status_code == 201, started.text
        form = started.json()["upload"]
        posted = httpx.post(
            form["url"],
            data=form["fields"],
            files={"file": ("Holiday photo.jpg", photo, "image/jpeg")},
        )
        assert posted.status_code == 204, posted.text
        for event in stack.s3_events():
            aws_lambda.handler(event, None)
        page = http.get("/api/images", headers=auth).json()
        [item] = page["items"]
        assert item["status"] == "done" and (item["width"], item["height"]) == (900, 600)
        thumb = httpx.get(item["urls"]["thumb400"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert httpx.get(item["urls"]["original"]).content == photo
        deleted = http.delete(f"/api/images/{item['imageId']}", headers=auth)
        assert deleted.status_code == 204
        assert http.get("/api/images", headers=auth).json()["items"] == []
    left = client("s3", stack.url).list_objects_v2(Bucket=stack.bucket).get("KeyCount")
    assert left == 0


def function_url_event(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda Function URL (payload 2.0) request event."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": "abc.lambda-url.us-east-1.on.aws",
            "content-type": "application/json",
            **(headers or {}),
        },
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "sourceIp": "127.0.0.1",
                "protocol": "HTTP/1.1",
            },
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "stage": "$default",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_web_handler_serves_the_api_through_mangum(lambda_runtime: Runtime) -> None:
    creds = {"username": "bob_1", "password": "hunter22 orbit lagoon"}
    signup = aws_lambda.web_handler(function_url_event("POST", "/api/signup", creds), None)
    assert signup["statusCode"] == 201, signup
    login = aws_lambda.web_handler(function_url_event("POST", "/api/login", creds), None)
    token = json.loads(login["body"])["token"]
    me = aws_lambda.web_handler(
        function_url_event("GET", "/api/me", headers={"authorization": f"Bearer {token}"}), None
    )
    assert me["statusCode"] == 200
    assert json.loads(me["body"])["username"] == "bob_1"  # DynamoUsers answers /api/me too
    assert lambda_runtime.users.get_user_by_name("BOB_1").username == "bob_1"


def test_gallery_listings_give_the_same_urls_so_reloads_hit_the_cache(
    stack: AwsStack, api: str, lambda_runtime: Runtime
) -> None:
    creds = {"username": "cai", "password": "correct horse battery staple"}
    with httpx.Client(base_url=api, timeout=30) as http:
        assert http.post("/api/signup", json=creds).status_code == 201
        auth = {"Authorization": f"Bearer {http.post('/api/login', json=creds).json()['token']}"}
        photo = make_jpeg(640, 480, seed=11)
        started = http.post(
            "/api/uploads",
            headers=auth,
            json={"filename": "a.jpg", "contentType": "image/jpeg", "size": len(photo)},
        ).json()
        form = started["upload"]
        httpx.post(form["url"], data=form["fields"], files={"file": ("a.jpg", photo)})
        for event in stack.s3_events():
            aws_lambda.handler(event, None)
        settings = stack.settings()
        lifetime, window = settings.download_expires_s, settings.download_window_s
        for _ in range(2):  # a pair that straddles a window boundary is legitimately different
            before = link_window(time.time(), lifetime, window)
            first = http.get("/api/images", headers=auth).json()["items"][0]["urls"]
            second = http.get("/api/images", headers=auth).json()["items"][0]["urls"]
            if link_window(time.time(), lifetime, window) == before:
                break
        assert first is not None and first == second
        one = http.get(f"/api/images/{started['imageId']}", headers=auth).json()["urls"]
        assert one == first  # the viewer's fresh copy is the same URL too
    thumb = httpx.get(first["thumb200"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"].startswith("private, max-age=")
    assert httpx.get(first["original"]).content == photo


def test_listings_through_the_lambda_web_handler_repeat_their_urls(
    stack: AwsStack, lambda_runtime: Runtime
) -> None:
    creds = {"username": "dee", "password": "hunter22 orbit lagoon"}
    aws_lambda.web_handler(function_url_event("POST", "/api/signup", creds), None)
    login = aws_lambda.web_handler(function_url_event("POST", "/api/login", creds), None)
    auth = {"authorization": f"Bearer {json.loads(login['body'])['token']}"}
    photo = make_jpeg(300, 200, seed=5)
    body = {"filename": "d.jpg", "contentType": "image/jpeg", "size": len(photo)}
    created = aws_lambda.web_handler(function_url_event("POST", "/api/uploads", body, auth), None)
    form = json.loads(created["body"])["upload"]
    httpx.post(form["url"], data=form["fields"], files={"file": ("d.jpg", photo)})
    for event in stack.s3_events():
        aws_lambda.handler(event, None)

    def listed_urls() -> dict[str, str]:
        answer = aws_lambda.web_handler(function_url_event("GET", "/api/images", None, auth), None)
        assert answer["statusCode"] == 200, answer
        urls: dict[str, str] = json.loads(answer["body"])["items"][0]["urls"]
        return urls

    settings = stack.settings()
    for _ in range(2):  # a pair that straddles a window boundary is legitimately different
        before = link_window(time.time(), settings.download_expires_s, settings.download_window_s)
        first, second = listed_urls(), listed_urls()
        after = link_window(time.time(), settings.download_expires_s, settings.download_window_s)
        if after == before:
            break
    assert first == second
    assert httpx.get(first["original"]).content == photo
