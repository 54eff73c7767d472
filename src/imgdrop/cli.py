"""`imgdrop`: thin commands over the library. Errors print one line, never a traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from imgdrop.core.errors import ImgdropError
from imgdrop.settings import Settings, load_settings, settings_markdown


class PlainUsage(TyperCommand):
    """Usage lines as in `gh`/`docker`: `PATH...`, without typer's `{PATH}` braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage pieces with braces dropped."""
        return [p.replace("{", "").replace("}", "") for p in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    help="imgdrop: photo uploads with thumbnails, locally or on AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: `PATH...` and `--out DIR`, not rich's `<list[Path]>` type labels.
    rich_markup_mode=None,
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


@app.command(cls=PlainUsage)
def thumbnail(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", hidden=True, show_default=False)],
    out: Annotated[
        Path, typer.Option("--out", help="Writes DIR/200/… and DIR/400/…", metavar="DIR")
    ] = Path("thumbnails"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file")] = False,
) -> None:
    """Make 200 and 400 px thumbnails of image files offline; never overwrites a file.

    Each PATH is an image file or a folder, walked for images (by content, not by name).
    Outputs keep their folders below the folder all inputs share (a/x.jpg and b/x.jpg stay
    apart), and a name already taken gets a -1, -2… suffix.

    Example: imgdrop thumbnail photos/ --out thumbs
    """
    from imgdrop.offline import thumbnail_paths

    failed = thumbnail_paths(paths, out, as_json, load_settings())
    raise typer.Exit(1 if failed else 0)


def server_option(server: str | None) -> str:
    """--server / IMGDROP_SERVER, else the server of the last `imgdrop login`."""
    from imgdrop.credentials import default_server, normalise

    return normalise(server) if server else default_server()


ServerOpt = Annotated[
    str | None,
    typer.Option(
        help="Server URL [default: the last `imgdrop login`, else http://127.0.0.1:8000]",
        envvar="IMGDROP_SERVER",
        metavar="URL",
        show_default=False,
    ),
]


@app.command()
def login(
    server: ServerOpt = None,
    username: Annotated[
        str | None, typer.Option(help="Account name (asked when missing)", metavar="NAME")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Sign in and keep the token (mode 0600) in your config folder for `imgdrop upload`.

    Example: imgdrop login --server http://127.0.0.1:8000 --username ada --password-stdin
    """
    from imgdrop.cli_login import login_command

    login_command(server_option(server), username, password_stdin)


@app.command()
def logout(server: ServerOpt = None) -> None:
    """End the saved session on the server and delete its token.  Example: imgdrop logout"""
    from imgdrop.cli_login import logout_command

    raise typer.Exit(logout_command(server_option(server)))


@app.command(cls=PlainUsage)
def upload(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", hidden=True, show_default=False)],
    server: ServerOpt = None,
    concurrency: Annotated[
        int, typer.Option(help="Uploads at once", min=1, max=16, metavar="N")
    ] = 4,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until thumbnails are made")] = False,
    allow_duplicates: Annotated[
        bool,
        typer.Option("--allow-duplicates", help="Upload files the gallery already has, too"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file")] = False,
) -> None:
    """Upload photos; files the gallery already has are skipped.

    Each PATH is an image file or a folder, walked for images (by content, not by name).

    Signs in with IMGDROP_TOKEN, else the token `imgdrop login` saved. Prints one summary line
    on stdout; the exit status is 1 when any file failed.

    Example: imgdrop upload ~/Pictures/holiday --server http://127.0.0.1:8000
    """
    from imgdrop.upload_batch import upload_paths

    failed = upload_paths(
        paths, server_option(server), concurrency, wait, as_json, allow_duplicates
    )
    raise typer.Exit(1 if failed else 0)


@app.command()
def bench(
    corpus: Annotated[
        Path | None, typer.Option(help="Folder of images (default: generated)", metavar="DIR")
    ] = None,
    repeat: Annotated[
        int, typer.Option(help="Runs per image (median is reported)", metavar="N")
    ] = 5,
    out: Annotated[
        Path | None, typer.Option(help="Also write the Markdown report here", metavar="FILE")
    ] = None,
    heif: Annotated[
        list[Path] | None,
        typer.Option(help="A HEIC/AVIF file for the HEIF rows (repeatable)", metavar="FILE"),
    ] = None,
    generated_heif: Annotated[
        bool, typer.Option(help="Add seeded 12 MP HEIC and AVIF photos (about 30 s to make)")
    ] = True,
) -> None:
    """Benchmark the engine against naive Pillow, the decode floors (djpeg, Pillow draft,
    libheif, libavif) and sharp.

    Example: imgdrop bench --corpus ~/Pictures --repeat 3
    """
    from imgdrop.bench import run_bench

    typer.echo(run_bench(corpus, repeat, out, heif or (), generated_heif))


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
