"""Who is asking: bearer tokens for API/CLI clients, a session cookie (with CSRF) for browsers."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from imgdrop.core.errors import Forbidden, Unauthorized
from imgdrop.core.records import Session
from imgdrop.settings import Settings

COOKIE = "imgdrop_session"
DEVICE_COOKIE = "imgdrop_device"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request and how they proved it."""

    session: Session
    token: str
    via_cookie: bool

    @property
    def user_id(self) -> str:
        """The caller's userId."""
        return self.session.userId


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def request_token(request: Request) -> tuple[str | None, bool]:
    """(token, came from the cookie)."""
    token = bearer_token(request)
    if token:
        return token, False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def current_caller(request: Request) -> Caller:
    """Authenticate the request; cookie-authenticated changes must carry the CSRF token."""
    token, via_cookie = request_token(request)
    if not token:
        raise Unauthorized("sign in first (session cookie or Authorization: Bearer <token>)")
    session = request.app.state.runtime.accounts.authenticate(token)
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        # Bytes, not str: compare_digest refuses non-ASCII str (a 500 before).
        if not hmac.compare_digest(_raw(sent), _raw(session.csrfToken)):
            raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
    return Caller(session, token, via_cookie)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def client_address(request: Request) -> str:
    """The client's address as the server sees it (uvicorn trusts only configured proxies)."""
    return request.client.host if request.client else "unknown"


def check_origin(request: Request, settings: Settings) -> None:
    """Refuse a browser's cross-site state change (login CSRF included) by its Origin header."""
    origin = request.headers.get("origin")
    if request.method in SAFE_METHODS or not origin:
        return
    allowed = {settings.base_url, str(request.base_url).rstrip("/")}
    if origin.rstrip("/") not in allowed:
        raise Forbidden(f"cross-site request from {origin} refused")


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Secure cookie when configured, or (auto) when served over https."""
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "true"
    return settings.base_url.startswith("https://") or request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    """HttpOnly, SameSite=Lax, Secure over https; lives as long as the session."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )


def set_device_cookie(
    response: Response, request: Request, settings: Settings, device_token: str
) -> None:
    """The known-device token: HttpOnly, sent only to the sign-in route."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_token,
        max_age=settings.device_token_days * 86400,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, settings),
        path="/api/login",
    )


def clear_session_cookie(response: Response) -> None:
    """Remove the cookie in the browser (the server-side session is deleted separately)."""
    response.delete_cookie(COOKIE, path="/")
