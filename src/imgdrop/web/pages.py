"""Server-rendered pages: sign up, sign in, and the gallery with its upload area.

The pages are thin shells: everything they show or change goes through the JSON API (/api/*)
from /static/*.js, so the browser exercises the same contract as every other client.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from imgdrop.core.errors import ImgdropError
from imgdrop.core.records import Session
from imgdrop.web.auth import COOKIE

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
# Pages carry the CSRF token and a user's gallery: never cache them.
NO_STORE = {"Cache-Control": "no-store"}


def page_session(request: Request) -> Session | None:
    """The live session behind the request's cookie, or None."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        session: Session = request.app.state.runtime.accounts.authenticate(token)
    except ImgdropError:
        return None
    return session


@cache
def templates() -> Jinja2Templates:
    """The page templates, loaded at the first page shown: Jinja2 costs a Lambda cold start
    ~50 ms, and API calls and static files never need it."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=HERE / "templates")


def install(app: FastAPI) -> None:
    """Add the page routes and /static to `app`."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def render(request: Request, name: str, **context: object) -> Response:
        return templates().TemplateResponse(request, name, context, headers=NO_STORE)

    @app.get("/", include_in_schema=False)
    def gallery(request: Request) -> Response:
        session = page_session(request)
        if session is None:
            return RedirectResponse("/signin", status_code=303, headers=NO_STORE)
        return render(request, "gallery.html", csrf_token=session.csrfToken, signed_in=True)

    @app.get("/account", include_in_schema=False)
    def account(request: Request) -> Response:
        session = page_session(request)
        if session is None:
            return RedirectResponse("/signin", status_code=303, headers=NO_STORE)
        try:
            user = request.app.state.runtime.accounts.users.get_user(session.userId)
        except ImgdropError:
            return RedirectResponse("/signin", status_code=303, headers=NO_STORE)
        return render(
            request,
            "account.html",
            csrf_token=session.csrfToken,
            username=user.username,
            signed_in=True,
        )

    @app.get("/upload", include_in_schema=False)
    def upload() -> Response:
        # The upload area sits above the grid on the gallery page.
        return RedirectResponse("/#upload", status_code=303)

    @app.get("/signin", include_in_schema=False)
    def signin(request: Request, created: str = "", signedout: str = "") -> Response:
        if page_session(request) is not None:
            return RedirectResponse("/", status_code=303, headers=NO_STORE)
        return render(
            request,
            "auth.html",
            mode="signin",
            created=created[:64],
            signed_out="everywhere" if signedout == "everywhere" else bool(signedout),
        )

    @app.get("/signup", include_in_schema=False)
    def signup(request: Request) -> Response:
        if page_session(request) is not None:
            return RedirectResponse("/", status_code=303, headers=NO_STORE)
        min_chars = request.app.state.runtime.settings.password_min_chars
        return render(
            request, "auth.html", mode="signup", created="", signed_out=False, min_chars=min_chars
        )
