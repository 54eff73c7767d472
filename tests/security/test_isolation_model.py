"""Issue 5.3, property-based: random interleavings of two users' actions, checked against a
model. In-process (ASGI TestClient, SQLite and files in a temp dir); the blob store's listener
runs the shared `process_event` synchronously, so an upload is final when its POST returns.
(httpx's ASGITransport on one event loop: starlette's TestClient warns that its httpx use is
deprecated, and warnings are errors here.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgdrop.engine.pipeline import make_thumbnails
from imgdrop.settings import load_settings
from imgdrop.web.app import create_app
from imgdrop.wiring import Runtime, build_local
from tests.conftest import make_jpeg

USERS = ("a", "b")
GOOD, BAD = make_jpeg(48, 32), b"<html>not an image</html>"


class SyncASGI:
    """A blocking client over the ASGI app, on a private event loop in its own thread (the
    browser tests' Playwright keeps an event loop running in the main thread)."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, to completion."""
        response: httpx.Response = self._run(self.client.request(method, url, **kwargs))
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        """Close the client and the loop."""
        self._run(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class World:
    """The app, one bearer header per user, and the model: owner and status per image id."""

    client: SyncASGI
    runtime: Runtime
    auth: dict[str, dict[str, str]]
    ids: list[str] = field(default_factory=list)  # every id ever created, in order
    owner: dict[str, str] = field(default_factory=dict)
    live: dict[str, str] = field(default_factory=dict)  # id -> expected status


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One in-process app with users a and b."""
    data_dir: Path = tmp_path_factory.mktemp("model") / "data"
    runtime = build_local(
        load_settings({}, data_dir=data_dir, workers=1), engine=make_thumbnails, start_worker=False
    )
    runtime.blobs.listener = runtime.images.process_event  # type: ignore[attr-defined]
    client = SyncASGI(create_app(runtime))
    auth = {}
    for name in USERS:
        creds = {"username": f"model_{name}", "password": "correct horse battery staple"}
        assert client.post("/api/signup", json=creds).status_code == 201
        token = client.post("/api/login", json=creds).json()["token"]
        client.client.cookies.clear()
        auth[name] = {"Authorization": f"Bearer {token}"}
    yield World(client, runtime, auth)
    client.close()
    runtime.close()


def path_of(url: str) -> str:
    """Path and query of an absolute URL (the app's base_url is not the TestClient's)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def do_upload(w: World, who: str, good: bool) -> None:
    data = GOOD if good else BAD
    created = w.client.post(
        "/api/uploads",
        headers=w.auth[who],
        json={"filename": "x.jpg", "contentType": "image/jpeg", "size": len(data)},
    )
    assert created.status_code == 201, created.text
    form = created.json()["upload"]
    posted = w.client.post(
        path_of(form["url"]), data=form["fields"], files={"file": ("x.jpg", data, "image/jpeg")}
    )
    assert posted.status_code == 204, posted.text
    image_id = created.json()["imageId"]
    w.ids.append(image_id)
    w.owner[image_id] = who
    w.live[image_id] = "done" if good else "failed"


def do_list(w: World, who: str) -> None:
    items = w.client.get("/api/images", headers=w.auth[who], params={"limit": 100}).json()
    got = {i["imageId"]: i["status"] for i in items["items"]}
    assert got == {i: s for i, s in w.live.items() if w.owner[i] == who}
    assert all(
        i["userId"] == w.client.get("/api/me", headers=w.auth[who]).json()["userId"]
        for i in items["items"]
    )


def do_get(w: World, who: str, image_id: str) -> None:
    got = w.client.get(f"/api/images/{image_id}", headers=w.auth[who])
    if w.owner[image_id] == who and image_id in w.live:
        assert got.status_code == 200
        assert got.json()["status"] == w.live[image_id]
        if got.json()["urls"]:
            blob = w.client.get(path_of(got.json()["urls"]["thumb200"]))
            assert blob.status_code == 200 and blob.headers["content-type"] == "image/jpeg"
    else:
        assert got.status_code == 404, (who, image_id, got.text)


def do_delete(w: World, who: str, image_id: str) -> None:
    got = w.client.delete(f"/api/images/{image_id}", headers=w.auth[who])
    if w.owner[image_id] == who and image_id in w.live:
        assert got.status_code == 204
        del w.live[image_id]
    else:
        assert got.status_code == 404, (who, image_id, got.text)


def check_files(w: World) -> None:
    """Exactly the live items' originals are stored, under their owners' prefixes."""
    root = w.runtime.settings.data_dir / "blobs" / "uploads"
    stored = {p.name.split("-", 1)[0]: p.parent.name for p in root.rglob("*") if p.is_file()}
    user_ids = {who: w.client.get("/api/me", headers=w.auth[who]).json()["userId"] for who in USERS}
    assert stored == {i: user_ids[w.owner[i]] for i in w.live}


ACTIONS = st.one_of(
    st.tuples(st.just("upload"), st.sampled_from(USERS), st.booleans()),
    st.tuples(st.just("list"), st.sampled_from(USERS), st.just(0)),
    st.tuples(st.sampled_from(["get", "delete"]), st.sampled_from(USERS), st.integers(0, 40)),
)


@settings(max_examples=25, deadline=None)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=15))
def test_two_users_never_see_or_touch_each_others_images(world: World, actions: list[Any]) -> None:
    for image_id in list(world.live):  # each example starts from an empty gallery
        do_delete(world, world.owner[image_id], image_id)
    for kind, who, arg in actions:
        if kind == "upload":
            do_upload(world, who, arg)
        elif kind == "list":
            do_list(world, who)
        elif world.ids:  # get/delete any id ever made: own, other's, or already deleted
            image_id = world.ids[arg % len(world.ids)]
            (do_get if kind == "get" else do_delete)(world, who, image_id)
    for who in USERS:
        do_list(world, who)
    check_files(world)
