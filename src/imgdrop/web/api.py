"""The JSON API under /api/ (documented at /docs and /openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from imgdrop.core.errors import NotFound, Unauthorized
from imgdrop.core.records import ImageItem
from imgdrop.web.auth import (
    DEVICE_COOKIE,
    Caller,
    check_origin,
    clear_session_cookie,
    client_address,
    current_caller,
    request_token,
    set_device_cookie,
    set_session_cookie,
)
from imgdrop.wiring import Runtime

router = APIRouter(prefix="/api")
CallerDep = Annotated[Caller, Depends(current_caller)]


class Credentials(BaseModel):
    """Sign-up / sign-in body."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class SignInBody(Credentials):
    """Sign-in body; API/CLI clients send back the `deviceToken` of their last sign-in."""

    deviceToken: str | None = Field(
        default=None,
        max_length=200,
        description="known-device token from an earlier sign-in (browsers use the cookie)",
    )


class UploadRequest(BaseModel):
    """What the client tells us before uploading the bytes."""

    filename: str = Field(max_length=4096, description="the user's file name (display only)")
    contentType: str = Field(max_length=100, description="e.g. image/jpeg")
    size: int = Field(description="bytes")
    sha256: str | None = Field(
        default=None,
        min_length=64,
        max_length=64,
        description="the file's SHA-256, 64 lowercase hex characters: the store refuses "
        "other bytes, and the user's existing copy is reported as a duplicate",
    )
    allowDuplicate: bool = Field(
        default=False, description="upload even if the user already has this content"
    )


class UploadFormOut(BaseModel):
    """POST `fields` then `file` (multipart/form-data) to `url`."""

    url: str
    fields: dict[str, str]


class ImageOut(BaseModel):
    """One catalog item as the API shows it."""

    userId: str
    imageId: str
    originalKey: str
    thumb200Key: str | None = None
    thumb400Key: str | None = None
    status: str
    createdAt: int
    updatedAt: int | None = None
    filename: str
    contentType: str
    bytes: int
    width: int | None = None
    height: int | None = None
    format: str | None = None
    placeholder: str | None = None
    error: str | None = None
    errorCode: str | None = None
    sha256: str | None = None
    urls: dict[str, str] | None = None


class UploadOut(BaseModel):
    """A created upload (201), or the user's existing copy of the same content (200)."""

    duplicate: bool = False
    imageId: str
    originalKey: str
    upload: UploadFormOut | None
    image: ImageOut | None = None


class ImagesPage(BaseModel):
    """A page of the gallery, newest first."""

    items: list[ImageOut]
    nextCursor: str | None


def runtime(request: Request) -> Runtime:
    """The app's Runtime."""
    rt: Runtime = request.app.state.runtime
    return rt


def image_out(rt: Runtime, item: ImageItem) -> dict[str, Any]:
    """Item plus signed URLs (only for its owner: callers check ownership first)."""
    body = item.to_dict()
    body.pop("attempts", None)
    body["urls"] = rt.images.image_urls(item)
    return body


@router.get("/config", summary="Upload limits and accepted types (for client-side checks)")
def get_config(request: Request) -> dict[str, Any]:
    """Limits the server enforces."""
    rt = runtime(request)
    return {
        "maxUploadBytes": rt.settings.max_upload_bytes,
        "acceptedTypes": rt.images.allowed_content_types(),
        "maxPixels": rt.settings.max_pixels,
    }


@router.post("/signup", status_code=201, summary="Create an account")
async def signup(body: Credentials, request: Request) -> dict[str, str]:
    """201 {userId, username}; 400 weak password, 409 name taken, 429/503 with Retry-After."""
    rt = runtime(request)
    check_origin(request, rt.settings)
    user = await rt.accounts.signup(body.username, body.password, client_address(request))
    return {"userId": user.userId, "username": user.username}


@router.post("/login", summary="Sign in: a bearer token, the session cookie, a device token")
async def login(body: SignInBody, request: Request, response: Response) -> dict[str, str]:
    """200 {token, userId, csrfToken, deviceToken} and Set-Cookie; 401; 429/503 Retry-After."""
    rt = runtime(request)
    check_origin(request, rt.settings)
    device = body.deviceToken or request.cookies.get(DEVICE_COOKIE)
    signed_in = await rt.accounts.login(
        body.username, body.password, client_address(request), device
    )
    set_session_cookie(response, request, rt.settings, signed_in.token)
    set_device_cookie(response, request, rt.settings, signed_in.device_token)
    return {
        "token": signed_in.token,
        "userId": signed_in.session.userId,
        "csrfToken": signed_in.session.csrfToken,
        "deviceToken": signed_in.device_token,
    }


@router.post("/logout", status_code=204, summary="Sign out (ends the session on the server)")
def logout(request: Request) -> Response:
    """204; the token or cookie stops working."""
    rt = runtime(request)
    token, _ = request_token(request)
    if token:
        current_caller(request)  # a cookie logout needs the CSRF token too
        rt.accounts.logout(token)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/me", summary="The signed-in user")
def me(caller: CallerDep, request: Request) -> dict[str, str]:
    """{userId, username, csrfToken}; 401 once the account is gone."""
    try:
        user = runtime(request).accounts.users.get_user(caller.user_id)
    except NotFound:  # deleted between authenticating and this read
        raise Unauthorized("this account no longer exists; sign in again") from None
    return {"userId": user.userId, "username": user.username, "csrfToken": caller.session.csrfToken}


class PasswordChange(BaseModel):
    """Change the password: the current one proves it is the owner."""

    currentPassword: str = Field(max_length=1024)
    newPassword: str = Field(max_length=1024)


class PasswordConfirm(BaseModel):
    """The account's password, to confirm a destructive change."""

    password: str = Field(max_length=1024)


@router.post("/account/password", summary="Change the password; ends every other session")
async def change_password(
    body: PasswordChange, caller: CallerDep, request: Request
) -> dict[str, int]:
    """200 {endedSessions}; 403 wrong current password; 400 weak new password."""
    accounts = runtime(request).accounts
    ended = await accounts.change_password(caller.session, body.currentPassword, body.newPassword)
    return {"endedSessions": ended}


@router.post("/account/signout-all", status_code=204, summary="Sign out everywhere")
def signout_all(caller: CallerDep, request: Request) -> Response:
    """204; every session and API token of the account ends, this one included."""
    runtime(request).accounts.signout_all(caller.user_id)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.delete(
    "/account",
    status_code=204,
    summary="Delete the account: every original, thumbnail, item and session",
)
async def delete_account(body: PasswordConfirm, caller: CallerDep, request: Request) -> Response:
    """204 once everything is gone; 403 wrong password."""
    rt = runtime(request)
    await rt.accounts.delete_account(caller.session, body.password, rt.images.delete_all)
    response = Response(status_code=204)
    clear_session_cookie(response)
    response.delete_cookie(DEVICE_COOKIE, path="/api/login")
    return response


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadOut,
    summary="Start an upload: creates the item and returns a presigned POST form",
)
def create_upload(
    body: UploadRequest, caller: CallerDep, request: Request, response: Response
) -> dict[str, Any]:
    """201 {duplicate: false, imageId, originalKey, upload: {url, fields}}; 200 {duplicate:
    true, imageId, originalKey, image, upload: null} when the user already has this sha256."""
    rt = runtime(request)
    ticket = rt.images.request_upload(
        caller.user_id,
        body.filename,
        body.contentType,
        body.size,
        sha256=body.sha256,
        allow_duplicate=body.allowDuplicate,
    )
    out: dict[str, Any] = {
        "duplicate": ticket.duplicate,
        "imageId": ticket.item.imageId,
        "originalKey": ticket.item.originalKey,
        "upload": None,
    }
    if ticket.form is None:
        response.status_code = 200
        out["image"] = image_out(rt, ticket.item)
    else:
        out["upload"] = {"url": ticket.form.url, "fields": ticket.form.fields}
    return out


@router.post(
    "/uploads/{image_id}/cancel",
    status_code=204,
    summary="Cancel an upload whose file has not arrived (it ends failed, `cancelled`)",
)
def cancel_upload(image_id: str, caller: CallerDep, request: Request) -> Response:
    """204; 409 if the file has already arrived; 404 for an unknown or another user's id."""
    runtime(request).images.cancel_upload(caller.user_id, image_id)
    return Response(status_code=204)


@router.get("/images", response_model=ImagesPage, summary="The gallery, newest first")
def list_images(
    caller: CallerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """{items, nextCursor}; signed URLs on done items."""
    rt = runtime(request)
    page = rt.images.list_images(caller.user_id, limit, cursor)
    return {"items": [image_out(rt, i) for i in page.items], "nextCursor": page.next_cursor}


class ImageCount(BaseModel):
    """How many items the user has, by status (`capped`: stopped at IMGDROP_COUNT_SCAN_LIMIT)."""

    total: int
    processing: int
    done: int
    failed: int
    capped: bool


@router.get("/images/count", response_model=ImageCount, summary="How many images, by status")
def count_images(caller: CallerDep, request: Request) -> dict[str, Any]:
    """{total, processing, done, failed, capped}, reading at most IMGDROP_COUNT_SCAN_LIMIT items."""
    rt = runtime(request)
    counts = {"total": 0, "processing": 0, "done": 0, "failed": 0}
    cursor: str | None = None
    limit = rt.settings.count_scan_limit
    while counts["total"] < limit:
        page = rt.images.list_images(caller.user_id, min(100, limit - counts["total"]), cursor)
        for item in page.items:
            counts["total"] += 1
            counts[item.status] = counts.get(item.status, 0) + 1
        cursor = page.next_cursor
        if not cursor:
            break
    return {**counts, "capped": cursor is not None}


@router.get("/images/{image_id}", response_model=ImageOut, summary="One image")
def get_image(image_id: str, caller: CallerDep, request: Request) -> dict[str, Any]:
    """404 for an unknown or another user's id."""
    rt = runtime(request)
    return image_out(rt, rt.images.get_image(caller.user_id, image_id))


@router.delete(
    "/images/{image_id}",
    status_code=204,
    summary="Delete the original, both thumbnails and the item",
)
def delete_image(image_id: str, caller: CallerDep, request: Request) -> Response:
    """204; 404 for an unknown or another user's id."""
    runtime(request).images.delete_image(caller.user_id, image_id)
    return Response(status_code=204)
