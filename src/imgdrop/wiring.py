"""The one composition root: builds a Runtime (adapters + services) from Settings.

Only this module chooses adapters (web/blob_routes.py serves the local blob store's form and
download routes, so it imports that adapter). Backends are chosen through the BUILDERS dict.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from imgdrop.core.errors import ImgdropError
from imgdrop.ports import BlobStore, Users
from imgdrop.services import Images, now_ms
from imgdrop.settings import Settings, SettingsError

if TYPE_CHECKING:  # argon2 loads only where accounts are used (not in the thumbnail Lambda)
    from imgdrop.accounts import Accounts

log = logging.getLogger("imgdrop")


class DataDirInUse(ImgdropError):
    """Another imgdrop server already owns this data directory."""

    code = "data_dir_in_use"


@dataclass
class Runtime:
    """Everything an entry point needs; `close()` stops the worker and releases the data dir."""

    settings: Settings
    images: Images
    accounts: Accounts
    blobs: BlobStore
    users: Users
    worker: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        """Start background work (the local worker)."""
        if self.worker is not None:
            self.worker.start()

    def close(self) -> None:
        """Stop background work and release resources, newest first."""
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def local_secret(settings: Settings) -> bytes:
    """IMGDROP_SECRET_KEY, or a key generated once into DATA_DIR/secret.key (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        # Written aside, then linked into place: a crash can never leave an empty key behind.
        temp = path.with_name(f".secret.key.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made it first; use theirs
        finally:
            temp.unlink()
    path.chmod(0o600)  # a key written by an older version may be readable by others
    return path.read_text().strip().encode()


def private_dir(path: Path) -> None:
    """Create `path` (and parents) if absent and make it 0700: only its owner may look in."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is masked by the umask; an older data dir may be 0755


def device_key(secret: bytes) -> bytes:
    """The key that signs known-device tokens, derived so it never equals the form key."""
    return hmac.new(secret, b"imgdrop known-device tokens", hashlib.sha256).digest()


def aws_device_key(settings: Settings) -> bytes | Callable[[], bytes]:
    """The device-token key on AWS: from IMGDROP_SECRET_KEY, else fetched from the Secrets
    Manager secret IMGDROP_SECRET_KEY_ARN at first use (once per instance), else a
    per-process key (tokens die with the instance: every instance must share one key)."""
    if settings.secret_key:
        return device_key(settings.secret_key.encode())
    if settings.secret_key_arn:
        return functools.cache(functools.partial(_device_key_from_secret, settings))
    log.warning(
        "neither IMGDROP_SECRET_KEY nor IMGDROP_SECRET_KEY_ARN is set: known-device tokens "
        "only last as long as this process"
    )
    return secrets.token_bytes(32)


def _device_key_from_secret(settings: Settings) -> bytes:
    from imgdrop.adapters.aws.clients import secret_string

    return device_key(secret_string(settings, settings.secret_key_arn).encode())


def _lock_data_dir(data_dir: Path) -> IO[str]:
    fd = os.open(data_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "w")  # held for the server's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(f"another imgdrop server is using {data_dir}") from None
    return handle


def build_local(settings: Settings, engine: Any = None, start_worker: bool = True) -> Runtime:
    """Filesystem blobs + SQLite catalog/users/queue + the durable in-process worker."""
    from imgdrop.accounts import Accounts
    from imgdrop.adapters.local.database import Database
    from imgdrop.adapters.local.engine_pool import ProcessPoolEngine
    from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore
    from imgdrop.adapters.local.sqlite_catalog import SqliteCatalog
    from imgdrop.adapters.local.sqlite_queue import SqliteJobQueue
    from imgdrop.adapters.local.sqlite_users import SqliteUsers
    from imgdrop.adapters.local.worker import LocalWorker

    data_dir = settings.data_dir
    private_dir(data_dir)
    closers: list[Callable[[], None]] = []
    if start_worker:
        lock = _lock_data_dir(data_dir)
        closers.append(lock.close)
    db = Database(data_dir / "catalog.db")
    closers.append(db.close)  # closed last: the worker and the pool stop first
    blobs = FilesystemBlobStore(
        data_dir / "blobs",
        local_secret(settings),
        settings.base_url,
        window_s=settings.download_window_s,
    )
    users = SqliteUsers(db)
    if engine is None and start_worker:
        engine = ProcessPoolEngine(
            settings.workers, settings.job_timeout_s, settings.worker_memory_bytes
        )
        closers.append(engine.close)
    images = Images(blobs, SqliteCatalog(db), settings, engine=engine)
    worker = None
    if start_worker:
        blobs.remove_partial_files()
        worker = LocalWorker(
            images,
            SqliteJobQueue(db),
            threads=settings.workers,
            max_attempts=settings.job_max_attempts,
        )
        blobs.listener = worker.notify
        closers.append(worker.stop)
    accounts = Accounts(users, now_ms, settings, device_key(local_secret(settings)))
    closers.append(accounts.close)
    return Runtime(settings, images, accounts, blobs, users, worker, closers)


def build_aws_images(settings: Settings, engine: Any = None, lazy: bool = False) -> Images:
    """S3 blobs + the DynamoDB images table: all the image-processing Lambdas need.
    `lazy`: make each boto3 client at its first use instead of now."""
    from imgdrop.adapters.aws.clients import aws_clients, lazy_aws_clients
    from imgdrop.adapters.aws.dynamo_catalog import DynamoCatalog
    from imgdrop.adapters.aws.s3_blobs import S3BlobStore

    s3, dynamodb = lazy_aws_clients(settings) if lazy else aws_clients(settings)
    catalog = DynamoCatalog(dynamodb, settings.dynamodb_table)
    blobs = S3BlobStore(s3, settings.s3_bucket, window_s=settings.download_window_s)
    return Images(blobs, catalog, settings, engine=engine)


def build_aws(settings: Settings, engine: Any = None, start_worker: bool = False) -> Runtime:
    """The web app's Runtime on AWS: images as above, accounts in their own users table;
    thumbnails are made by the S3-triggered Lambda. Its boto3 clients are made at their first
    use (static files and pages without a session need none; see lazy_aws_clients)."""
    from imgdrop.accounts import Accounts
    from imgdrop.adapters.aws.dynamo_users import DynamoUsers

    if not settings.users_table:
        raise SettingsError(
            "IMGDROP_BACKEND=aws needs IMGDROP_USERS_TABLE (the accounts table) for the web app"
        )
    images = build_aws_images(settings, engine, lazy=True)
    dynamodb = images.catalog.db  # type: ignore[attr-defined]  # one client, one pool
    users = DynamoUsers(dynamodb, settings.users_table)
    accounts = Accounts(users, now_ms, settings, aws_device_key(settings))
    return Runtime(settings, images, accounts, images.blobs, users, closers=[accounts.close])


BUILDERS: dict[str, Callable[..., Runtime]] = {"local": build_local, "aws": build_aws}


def build(settings: Settings, **kwargs: Any) -> Runtime:
    """The Runtime for `settings.backend`."""
    return BUILDERS[settings.backend](settings, **kwargs)
