"""Every setting in one typed table, read from `IMGDROP_*` environment variables (and CLI flags).

A bad value fails at start-up naming the variable. `docs/configuration.md` is generated from this
table (`imgdrop config --markdown`), and a test checks that every setting is documented there.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from imgdrop.core.errors import ImgdropError
from imgdrop.core.links import DEFAULT_WINDOW_S

MB = 1024 * 1024


class SettingsError(ImgdropError):
    """A setting has a bad value (the message names the variable)."""

    code = "bad_setting"


def _positive_int(raw: str) -> int:
    value = int(raw.replace("_", ""))
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.replace("_", ""))
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw

    return parse


def _str(raw: str) -> str:
    return raw


def _networks(raw: str) -> str:
    """Comma-separated IP addresses or CIDR networks (or `*`), checked, kept as text."""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return ",".join(items)


def _rates(raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ValueError("must be rates like 20/minute;200/day") from None
    return raw


def _score(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 4:
        raise ValueError("must be a zxcvbn score from 0 to 4")
    return value


def _types(raw: str) -> tuple[str, ...]:
    known = {"jpeg", "png", "webp", "gif", "avif", "heic", "tiff"}
    values = tuple(v.strip().lower() for v in raw.split(",") if v.strip())
    unknown = sorted(set(values) - known)
    if unknown or not values:
        raise ValueError(f"unknown types {unknown}; choose from {sorted(known)}")
    return values


@dataclass(frozen=True)
class Settings:
    """Typed settings. Field order is the documentation order."""

    backend: str = "local"
    data_dir: Path = Path("imgdrop-data")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    trusted_proxies: str = ""
    max_connections: int = 500
    header_timeout_s: int = 10
    body_timeout_s: int = 30
    body_min_rate: int = 1024
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 64 * 1024
    secret_key: str = ""
    secret_key_arn: str = ""
    workers: int = max(1, os.cpu_count() or 1)
    max_upload_bytes: int = 50 * MB
    max_pixels: int = 250_000_000
    max_frames: int = 1000
    decode_budget_mb: int = 512
    max_jpeg_scans: int = 100
    allowed_types: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "avif", "heic")
    upload_expires_s: int = 600
    download_expires_s: int = 900
    download_window_s: int = DEFAULT_WINDOW_S
    count_scan_limit: int = 10_000
    session_days: int = 14
    session_idle_minutes: int = 30
    password_min_chars: int = 12
    password_max_chars: int = 256
    password_min_score: int = 3
    signin_free_failures: int = 5
    signin_max_lock_s: int = 900
    signin_forget_s: int = 86_400
    signin_address_limit: str = "60/minute;600/hour"
    signup_address_limit: str = "20/minute;200/day"
    device_token_days: int = 90
    hash_threads: int = max(1, os.cpu_count() or 1)
    hash_queue: int = 8
    hash_wait_ms: int = 2000
    cookie_secure: str = "auto"
    job_max_attempts: int = 5
    stale_processing_s: int = 900
    s3_bucket: str = ""
    dynamodb_table: str = ""
    users_table: str = ""
    aws_region: str = "us-east-1"
    s3_endpoint_url: str = ""
    dynamodb_endpoint_url: str = ""
    log_level: str = "info"
    job_timeout_s: int = 15
    worker_memory_bytes: int = 640 * MB
    jobs_per_user: int = 0
    upload_form_max_fields: int = 8
    upload_form_max_field_bytes: int = 8192
    max_pending_uploads: int = 50
    max_pending_upload_bytes: int = 1024 * MB
    max_images_per_user: int = 10_000
    max_stored_bytes_per_user: int = 10 * 1024 * MB
    disk_reserve_bytes: int = 1024 * MB

    @property
    def base_url(self) -> str:
        """Where browsers reach this server (IMGDROP_PUBLIC_URL, or http://host:port)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host
        return f"http://{host}:{self.port}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None `changes` applied (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class SettingDoc:
    """One row of the settings table: parser and help text."""

    parse: Callable[[str], Any]
    help: str


SETTINGS_DOC: dict[str, SettingDoc] = {
    "backend": SettingDoc(
        _choice("local", "aws"),
        "`local` (filesystem blobs, SQLite catalog, in-process worker) or `aws` (S3 + DynamoDB).",
    ),
    "data_dir": SettingDoc(
        Path, "Local backend: directory for blobs, the SQLite catalog and keys."
    ),
    "host": SettingDoc(_str, "Address `imgdrop serve` listens on."),
    "port": SettingDoc(_positive_int, "Port `imgdrop serve` listens on."),
    "public_url": SettingDoc(
        _str,
        "URL browsers use to reach the app (default `http://HOST:PORT`); https enables "
        "Secure cookies and HSTS.",
    ),
    "trusted_proxies": SettingDoc(
        _networks,
        "Comma-separated addresses or networks (CIDR) of reverse proxies whose "
        "`X-Forwarded-For`/`-Proto` headers are believed (`*` for any). Empty: none, the "
        "client address is the TCP peer's.",
    ),
    "max_connections": SettingDoc(
        _positive_int,
        "Most open client connections; one more is answered 503 and closed at once.",
    ),
    "header_timeout_s": SettingDoc(
        _positive_int,
        "Seconds a client has to send a request's line and headers (from connecting, or "
        "from its first byte on a kept-alive connection); then 408 and the connection closes.",
    ),
    "body_timeout_s": SettingDoc(
        _positive_int,
        "Longest pause, seconds, between two pieces of a request body; then 408.",
    ),
    "body_min_rate": SettingDoc(
        _positive_int,
        "Slowest accepted average request-body rate, bytes per second, after the first "
        "BODY_TIMEOUT_S seconds of waiting for it; then 408.",
    ),
    "max_header_bytes": SettingDoc(
        _positive_int, "Largest request line plus headers, bytes; more is refused 400."
    ),
    "max_body_bytes": SettingDoc(
        _positive_int,
        "Largest request body, bytes, on every route but the local blob store's upload "
        "form (that one takes up to MAX_UPLOAD_BYTES); more, chunked included, is refused 413.",
    ),
    "secret_key": SettingDoc(
        _str,
        "Key that signs local upload forms, download URLs and known-device tokens. Default: "
        "generated once and kept in `DATA_DIR/secret.key`. On AWS prefer SECRET_KEY_ARN; with "
        "neither, device tokens last only as long as each instance.",
    ),
    "secret_key_arn": SettingDoc(
        _str,
        "AWS: ARN (or name) of a Secrets Manager secret whose value is used as SECRET_KEY, "
        "read at the first sign-in (so it never sits in the function's configuration). The "
        "SAM template creates one (DeviceKeySecret). SECRET_KEY, when set, wins.",
    ),
    "workers": SettingDoc(_positive_int, "Thumbnail worker processes (default: one per core)."),
    "max_upload_bytes": SettingDoc(_positive_int, "Largest accepted upload, in bytes."),
    "max_pixels": SettingDoc(
        _positive_int,
        "Largest accepted width x height, read from the header before decoding.",
    ),
    "max_frames": SettingDoc(_positive_int, "Most frames accepted in an animated GIF or WebP."),
    "decode_budget_mb": SettingDoc(
        _positive_int,
        "Memory one decode may use, in MiB. Each format's cost per pixel is read from the "
        "header before decoding, so the pixel cap is lower for AVIF/HEIC than for JPEG. The "
        "default leaves room for the runtime in a 1024 MB Lambda.",
    ),
    "max_jpeg_scans": SettingDoc(
        _positive_int,
        "Most scans accepted in one JPEG (real encoders write at most a few dozen; each scan "
        "is a pass over the whole image).",
    ),
    "allowed_types": SettingDoc(
        _types,
        "Comma-separated accepted input types, decided from content: jpeg, png, webp, "
        "gif, avif, heic, tiff.",
    ),
    "upload_expires_s": SettingDoc(
        _positive_int, "Lifetime of an upload form, seconds (at most 600)."
    ),
    "download_expires_s": SettingDoc(
        _positive_int, "Lifetime of a signed download URL, seconds (at most 900)."
    ),
    "download_window_s": SettingDoc(
        _positive_int,
        "Signed download URLs are signed as of the start of a window this many seconds long "
        "(at most half of IMGDROP_DOWNLOAD_EXPIRES_S; a larger value counts as that half), so "
        "every listing within a window gives the same URLs and browsers reuse the thumbnails "
        "they cached. A URL handed out stays valid between IMGDROP_DOWNLOAD_EXPIRES_S minus "
        "the window and IMGDROP_DOWNLOAD_EXPIRES_S seconds; S3 and the local store both "
        "answer with `Cache-Control: private, max-age=…` that ends by then.",
    ),
    "count_scan_limit": SettingDoc(
        _positive_int,
        "Most items GET /api/images/count reads per call; past it the count says `capped`.",
    ),
    "session_days": SettingDoc(_positive_int, "Lifetime of a sign-in session or API token, days."),
    "session_idle_minutes": SettingDoc(
        _positive_int,
        "A session or API token unused this long ends (besides its absolute lifetime).",
    ),
    "password_min_chars": SettingDoc(_positive_int, "Shortest accepted password, characters."),
    "password_max_chars": SettingDoc(_positive_int, "Longest accepted password, characters."),
    "password_min_score": SettingDoc(
        _score,
        "Least zxcvbn strength score (0-4) a new password needs; common, breached-list and "
        "username-based passwords score low.",
    ),
    "signin_free_failures": SettingDoc(
        _positive_int,
        "Failed sign-ins per account (or per known device) before back-off starts; each "
        "further one doubles the wait, from 1 s.",
    ),
    "signin_max_lock_s": SettingDoc(_positive_int, "Longest sign-in back-off, seconds."),
    "signin_forget_s": SettingDoc(
        _positive_int, "Failed sign-ins are forgotten this long after the last back-off ends."
    ),
    "signin_address_limit": SettingDoc(
        _rates,
        "Sign-in attempts per client address without a known-device token (moving windows, "
        "`;`-separated).",
    ),
    "signup_address_limit": SettingDoc(
        _rates, "Sign-ups per client address (moving windows, `;`-separated)."
    ),
    "device_token_days": SettingDoc(
        _positive_int,
        "Lifetime of the known-device token a successful sign-in returns (cookie and "
        "`deviceToken`).",
    ),
    "hash_threads": SettingDoc(
        _positive_int, "Password hashes computed at once (default: one per core)."
    ),
    "hash_queue": SettingDoc(
        _positive_int,
        "Password hashes that may wait for a hashing thread; beyond that sign-in and "
        "sign-up answer 503 at once.",
    ),
    "hash_wait_ms": SettingDoc(
        _positive_int, "Longest wait for a hashing thread before the answer is 503, ms."
    ),
    "cookie_secure": SettingDoc(
        _choice("auto", "true", "false"),
        "Mark the session cookie Secure: `auto` does so when PUBLIC_URL is https.",
    ),
    "job_max_attempts": SettingDoc(
        _positive_int,
        "Tries of a transiently failing thumbnail job before the item is `failed`.",
    ),
    "stale_processing_s": SettingDoc(
        _positive_int,
        "An item `processing` this long with no upload is marked `failed`.",
    ),
    "s3_bucket": SettingDoc(_str, "AWS backend: the S3 bucket name."),
    "dynamodb_table": SettingDoc(_str, "AWS backend: the DynamoDB images (catalog) table name."),
    "users_table": SettingDoc(
        _str,
        "AWS backend: the DynamoDB table of accounts, sessions and sign-in throttling "
        "(needed by the web app only; the image-processing functions never reach it).",
    ),
    "aws_region": SettingDoc(_str, "AWS backend: the region."),
    "s3_endpoint_url": SettingDoc(
        _str,
        "AWS backend: endpoint of an S3-compatible store; pages may load thumbnails from and "
        "post uploads to its origin (the Content-Security-Policy allows it, even over http).",
    ),
    "dynamodb_endpoint_url": SettingDoc(
        _str, "AWS backend: endpoint of a DynamoDB-compatible store."
    ),
    "log_level": SettingDoc(_choice("debug", "info", "warning", "error"), "Logging level."),
    "job_timeout_s": SettingDoc(
        _positive_int,
        "Time budget of one thumbnail job, seconds; a job over it is stopped (only its own "
        "worker process is killed) and the image ends `failed`.",
    ),
    "worker_memory_bytes": SettingDoc(
        _positive_int,
        "Memory ceiling of one thumbnail worker process (resident bytes), a backstop behind "
        "the engine's own limits: a process over it is killed and the image ends `failed`.",
    ),
    "jobs_per_user": SettingDoc(
        _non_negative_int,
        "Most thumbnail jobs of one user that run at once. `0`: all worker processes but one "
        "when there are three or more, else no cap. Jobs always go to the user with the fewest "
        "running, least recently served, so another user waits at most one job's time budget.",
    ),
    "upload_form_max_fields": SettingDoc(
        _positive_int, "Local blob store: most fields an upload form may have before `file`."
    ),
    "upload_form_max_field_bytes": SettingDoc(
        _positive_int, "Local blob store: largest value of one upload form field, in bytes."
    ),
    "max_pending_uploads": SettingDoc(
        _positive_int,
        "Per user: most upload forms issued whose file has not arrived yet (refused with 429).",
    ),
    "max_pending_upload_bytes": SettingDoc(
        _positive_int,
        "Per user: most declared bytes of upload forms whose file has not arrived yet (429).",
    ),
    "max_images_per_user": SettingDoc(
        _positive_int, "Per user: most images kept, any status (refused with 403)."
    ),
    "max_stored_bytes_per_user": SettingDoc(
        _positive_int,
        "Per user: most bytes of originals kept or on their way, declared sizes (403).",
    ),
    "disk_reserve_bytes": SettingDoc(
        _non_negative_int,
        "Local backend: free space kept under the data directory; an upload that would eat "
        "into it is refused with 507, so sign-in, the gallery and deletes keep working.",
    ),
}

LIMITS = {"upload_expires_s": 600, "download_expires_s": 900}


def env_name(field_name: str) -> str:
    """`max_pixels` -> `IMGDROP_MAX_PIXELS`."""
    return "IMGDROP_" + field_name.upper()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from `IMGDROP_*` variables, then `overrides`; a bad value raises SettingsError."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(env_name(f.name))
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = SETTINGS_DOC[f.name].parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{env_name(f.name)}={raw!r}: {exc}") from None
    settings = Settings(**values).with_overrides(**overrides)
    for name, limit in LIMITS.items():
        if getattr(settings, name) > limit:
            raise SettingsError(f"{env_name(name)} must be at most {limit}")
    if settings.backend == "aws" and not (settings.s3_bucket and settings.dynamodb_table):
        raise SettingsError(
            "IMGDROP_BACKEND=aws needs IMGDROP_S3_BUCKET and IMGDROP_DYNAMODB_TABLE"
        )
    return settings


def settings_markdown() -> str:
    """The settings table as Markdown (docs/configuration.md)."""
    defaults = Settings()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = getattr(defaults, f.name)
        if isinstance(default, tuple):
            default = ",".join(default)
        if f.name in {"workers", "hash_threads"}:
            default = "CPU count"
        shown = f"`{default}`" if default != "" else "(empty)"
        rows.append(f"| `{env_name(f.name)}` | {shown} | {SETTINGS_DOC[f.name].help} |")
    return "\n".join(rows) + "\n"
