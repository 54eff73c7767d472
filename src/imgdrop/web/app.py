"""`create_app(runtime)`: the ASGI app. No module-level state; tests build their own."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgdrop.core.errors import ImgdropError, TooManyRequests
from imgdrop.web import api, pages
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


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message"}}."""
    return {"error": {"code": code, "message": message}}


class SecurityHeaders:
    """Adds the security headers (and the CSP) to every response that lacks them."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ImgdropError)
    async def imgdrop_error(request: Request, exc: ImgdropError) -> JSONResponse:
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
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "something went wrong on our side"), 500)


def create_app(runtime: Runtime) -> FastAPI:
    """The ASGI app over `runtime` (local or AWS), with security headers on every response."""
    # /docs would load Swagger UI from a CDN with inline script, which our CSP forbids;
    # the OpenAPI document itself is served at /openapi.json.
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
    if runtime.settings.backend == "local":
        from imgdrop.web import blob_routes

        app.include_router(blob_routes.router)
    pages.install(app)
    # On AWS, thumbnails and uploads go to/from S3's own https origin.
    remote = "" if runtime.settings.backend == "local" else "https:"
    app.add_middleware(SecurityHeaders, csp=CSP.format(img=remote).replace(" ;", ";"))
    return app
