"""`create_app(runtime)`: the ASGI app. No module-level state; tests build their own."""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgdrop.core.errors import ImgdropError, TooManyRequests
from imgdrop.web import api, pages
from imgdrop.web.limits import BodyLimits, BodyRefused
from imgdrop.wiring import Runtime

log = logging.getLogger("imgdrop.web")

# No inline script or style anywhere: pages load /static/*.js and *.css.
CSP = (
    "default-src 'self'; img-src 'self' data: blob: {img}; connect-src 'self' {img}; "
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = b"max-age=31536000"
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
DISK_FULL = "The server is out of storage space right now. Please try again later."


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message"}}."""
    return {"error": {"code": code, "message": message}}


class SecurityHeaders:
    """Adds the security headers (and the CSP) to every response that lacks them.

    `/api/` answers carry tokens, CSRF tokens and signed URLs, and pages a user's gallery:
    both are `Cache-Control: no-store`. Static files and blob downloads keep their caching.
    """

    def __init__(self, app: ASGIApp, csp: str, hsts: bool = False) -> None:
        self.app = app
        self.csp = csp.encode()
        self.hsts = hsts

    def _add_headers(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        present = {name.lower() for name, _ in headers}
        for name, value in SECURITY_HEADERS.items():
            if name.encode() not in present:
                headers.append((name.encode(), value.encode()))
        if b"content-security-policy" not in present:
            headers.append((b"content-security-policy", self.csp))
        if self.hsts and b"strict-transport-security" not in present:
            headers.append((b"strict-transport-security", HSTS))
        if path.startswith("/api/"):
            headers[:] = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
            headers.append((b"cache-control", b"no-store"))
        elif b"cache-control" not in present and not path.startswith("/static/"):
            # Pages, redirects, errors; a blob download sets its own (private, max-age).
            headers.append((b"cache-control", b"no-store"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                self._add_headers(scope["path"], headers)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from, says the disk (or quota) is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_response(request: Request, exc: BaseException) -> JSONResponse:
    """507 with a generic message; the details go to one log line, never to the client."""
    log.error("disk full on %s %s: %s", request.method, request.url.path, str(exc)[:200])
    return JSONResponse(error_body("insufficient_storage", DISK_FULL), 507)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ImgdropError)
    async def imgdrop_error(request: Request, exc: ImgdropError) -> JSONResponse:
        if disk_full(exc):  # e.g. a store error raised while writing an upload
            return disk_full_response(request, exc)
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse(error_body(exc.code, exc.message), exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse(error_body("invalid_request", problems or "invalid request"), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyRefused):  # BodyLimits answers it (and closes the connection)
            return JSONResponse(error_body(exc.code, exc.detail), exc.status_code)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    # Registered for these classes (not only `Exception`) so that a full disk is answered
    # here, without the traceback the catch-all's middleware logs and re-raises.
    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        if disk_full(exc):
            return disk_full_response(request, exc)
        return unexpected_error(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if disk_full(exc):
            return disk_full_response(request, exc)
        return unexpected_error(request, exc)


def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """500 with a generic message; the traceback goes to the log."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "something went wrong on our side"), 500)


def blob_origins(endpoint_url: str) -> str:
    """Where pages load thumbnails from and post uploads to on AWS: S3's https origins, and a
    custom S3-compatible endpoint's own origin (it may be plain http, e.g. on a LAN)."""
    parts = urlsplit(endpoint_url)
    host = parts.netloc.rpartition("@")[2]  # never credentials in a header
    if parts.scheme == "http" and re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
        return f"https: http://{host}"
    return "https:"


def create_app(runtime: Runtime) -> FastAPI:
    """The ASGI app over `runtime` (local or AWS), with security headers on every response."""
    # /docs would load Swagger UI from a CDN with inline script, which our CSP forbids;
    # the OpenAPI document itself is served at /openapi.json.
    settings = runtime.settings
    app = FastAPI(
        title="imgdrop",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        description="Upload photos, get 200/400 px thumbnails, browse your gallery.",
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    app.include_router(api.router)
    if settings.backend == "local":
        from imgdrop.web import blob_routes

        app.include_router(blob_routes.router)
    pages.install(app)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_body_bytes,
        idle_timeout_s=settings.body_timeout_s,
        min_rate=settings.body_min_rate,
    )
    remote = "" if settings.backend == "local" else blob_origins(settings.s3_endpoint_url)
    app.add_middleware(
        SecurityHeaders,
        csp=CSP.format(img=remote).replace(" ;", ";"),
        hsts=settings.base_url.startswith("https://"),
    )
    return app
