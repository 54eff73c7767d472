"""`imgdrop`: thin commands over the library. Errors print one line, never a traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from imgdrop.core.errors import ImgdropError
from imgdrop.settings import Settings, load_settings, settings_markdown

app = typer.Typer(
    help="imgdrop: photo uploads with thumbnails, locally or on AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [IMGDROP_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [IMGDROP_PORT]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [IMGDROP_DATA_DIR]")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Thumbnail processes [IMGDROP_WORKERS]")
    ] = None,
) -> None:
    """Run the web app and the thumbnail worker.  Example: imgdrop serve --port 8000"""
    import uvicorn

    from imgdrop.web.app import create_app
    from imgdrop.wiring import build

    settings = load_settings(host=host, port=port, data_dir=data_dir, workers=workers)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = build(settings)
    runtime.start()
    where = (
        f"data in {settings.data_dir.resolve()}"
        if settings.backend == "local"
        else (f"bucket {settings.s3_bucket}, table {settings.dynamodb_table}")
    )
    typer.echo(f"imgdrop is running at {settings.base_url}/  ({where}; Ctrl+C to stop)")
    try:
        uvicorn.run(create_app(runtime), **uvicorn_options(settings))
    finally:
        runtime.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run() keywords: the HTTP edge's limits and the trusted proxies, from settings."""
    from imgdrop.web.server import guarded_protocol

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "server_header": False,
        # h11 with a header-read deadline and a connection cap (uvicorn has neither).
        "http": guarded_protocol(settings.header_timeout_s, settings.max_connections),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        # Also answers 503 when more requests than this are still running.
        "limit_concurrency": settings.max_connections + 1,
        # X-Forwarded-For/-Proto only from the proxies named: anyone else could spoof them.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        # Longer than clients' own idle expiry (httpx: 5 s, browsers: 60 s+), so a client
        # never reuses a connection the server is closing at that instant (a ReadError
        # seen in the load test with uvicorn's default of 5 s).
        "timeout_keep_alive": 75,
    }


@app.command()
def thumbnail(
    files: Annotated[list[Path], typer.Argument(help="Image files", exists=False)],
    out: Annotated[Path, typer.Option("--out", help="Writes OUT/200/… and OUT/400/…")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file")] = False,
) -> None:
    """Make 200 and 400 px thumbnails offline.  Example: imgdrop thumbnail *.jpg --out thumbs"""
    from imgdrop.offline import thumbnail_files

    failed = thumbnail_files(files, out, as_json, load_settings())
    raise typer.Exit(1 if failed else 0)


@app.command()
def upload(
    files: Annotated[list[Path], typer.Argument(help="Image files to upload")],
    server: Annotated[str, typer.Option(help="Server URL", envvar="IMGDROP_SERVER")] = (
        "http://127.0.0.1:8000"
    ),
    concurrency: Annotated[int, typer.Option(help="Uploads at once")] = 4,
    wait: Annotated[bool, typer.Option(help="Wait until thumbnails are made")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file")] = False,
) -> None:
    """Upload files with a progress bar (token from IMGDROP_TOKEN, else a sign-in prompt).

    Example: IMGDROP_TOKEN=… imgdrop upload photos/*.jpg --server http://127.0.0.1:8000
    """
    from imgdrop.uploader import upload_files

    failed = upload_files(files, server, concurrency, wait, as_json)
    raise typer.Exit(1 if failed else 0)


@app.command()
def bench(
    corpus: Annotated[
        Path | None, typer.Option(help="Folder of images (default: generated)")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Runs per image (median is reported)")] = 5,
    out: Annotated[Path | None, typer.Option(help="Also write the Markdown report here")] = None,
) -> None:
    """Benchmark the engine against naive Pillow, the decode floor and sharp.

    Example: imgdrop bench --corpus ~/Pictures --repeat 3
    """
    from imgdrop.bench import run_bench

    typer.echo(run_bench(corpus, repeat, out))


@app.command()
def config(
    markdown: Annotated[bool, typer.Option(help="Print the settings table as Markdown")] = False,
) -> None:
    """Show the effective settings (or document them).  Example: imgdrop config"""
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    settings = load_settings()
    shown: dict[str, Any] = {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(settings).items()
    }
    if shown.get("secret_key"):
        shown["secret_key"] = "(set)"
    typer.echo(json.dumps(shown, indent=2))


def main() -> None:
    """Console-script entry point: an ImgdropError (bad settings, data dir in use, a refused
    request ...) from any command is one line on stderr and exit status 2."""
    try:
        app()
    except ImgdropError as exc:
        typer.echo(f"imgdrop: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
