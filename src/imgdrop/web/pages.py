"""Server-rendered pages (placeholder until the web pages land)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse


def install(app: FastAPI) -> None:
    """Add the page routes to `app`."""

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>imgdrop</title><p>imgdrop is running. "
                            "API docs: <a href=/docs>/docs</a></p>")
