"""boto3 clients built from settings, and the one place AWS errors become domain errors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from imgdrop.core.errors import NotFound, TransientError
from imgdrop.settings import Settings

# Worth retrying: throttling and server-side faults (botocore has retried them already).
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# A missing S3 object: NoSuchKey (GetObject), "404"/"NotFound" (HeadObject has no error body).
# Not DynamoDB's ResourceNotFoundException: it means the TABLE is missing (misconfiguration),
# never a missing item (GetItem answers without "Item"), so it propagates like AccessDenied.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# A DynamoDB ConditionExpression did not hold.
CONDITION_FAILED = "ConditionalCheckFailedException"


def _client_args(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each service's `Session.client` arguments for the settings' region and endpoints."""
    common = Config(
        region_name=settings.aws_region,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=10,
    )
    s3_config = common.merge(
        Config(
            read_timeout=30,  # originals can be tens of MB
            # Path style only for a custom endpoint (a local S3 server has no bucket subdomains).
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "virtual"},
            signature_version="s3v4",
        )
    )
    return {
        "s3": {"endpoint_url": settings.s3_endpoint_url or None, "config": s3_config},
        "dynamodb": {"endpoint_url": settings.dynamodb_endpoint_url or None, "config": common},
    }


def aws_clients(settings: Settings) -> tuple[Any, Any]:
    """(s3, dynamodb) low-level clients for the settings' region and optional endpoints."""
    session = boto3.session.Session(region_name=settings.aws_region)
    args = _client_args(settings)
    return session.client("s3", **args["s3"]), session.client("dynamodb", **args["dynamodb"])


class LazyClient:
    """Stands for a boto3 client and makes it at its first use (any attribute: a call,
    `.meta`, `.exceptions`), once, whichever thread gets there first."""

    def __init__(self, make: Callable[[], Any], lock: threading.Lock) -> None:
        self._make = make
        self._lock = lock
        self._client: Any = None
        self._when_made: list[Callable[[Any], None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)

    def client(self) -> Any:
        """The real client (made now if it does not exist yet)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    client = self._make()
                    for setup in self._when_made:
                        setup(client)
                    self._client = client  # only once set up: other threads skip the lock
        return self._client

    def when_made(self, setup: Callable[[Any], None]) -> None:
        """Run `setup(client)` once the client exists (now, if it already does)."""
        with self._lock:
            if self._client is None:
                self._when_made.append(setup)
                return
        setup(self._client)


def set_up_client(client: Any, setup: Callable[[Any], None]) -> None:
    """`setup(client)` now, or for a LazyClient when it is made (configuring its events
    must not make it early)."""
    if isinstance(client, LazyClient):
        client.when_made(setup)
    else:
        setup(client)


def lazy_aws_clients(settings: Settings) -> tuple[LazyClient, LazyClient]:
    """(s3, dynamodb) as in `aws_clients`, each made at its first use, from one session.

    The web function's init then neither builds clients nor reads credentials: a request
    that needs none (a static file, the sign-in page) never pays for them, and under
    SnapStart every restored environment resolves its own credentials.
    """
    lock = threading.Lock()  # one for both: a boto3 Session must not build two at once
    args = _client_args(settings)
    session: list[Any] = []

    def maker(service: str) -> Callable[[], Any]:
        def make() -> Any:
            if not session:
                session.append(boto3.session.Session(region_name=settings.aws_region))
            return session[0].client(service, **args[service])

        return make

    return LazyClient(maker("s3"), lock), LazyClient(maker("dynamodb"), lock)


def secret_string(settings: Settings, secret_id: str) -> str:
    """The value of one Secrets Manager secret (TransientError when AWS is unreachable)."""
    config = Config(
        region_name=settings.aws_region,
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=10,
    )
    session = boto3.session.Session(region_name=settings.aws_region)
    try:
        answer = session.client("secretsmanager", config=config).get_secret_value(
            SecretId=secret_id
        )
    except (ClientError, BotoCoreError) as exc:
        if is_transient(exc):
            raise TransientError(f"secret: AWS is unavailable ({type(exc).__name__})") from exc
        raise  # a wrong ARN or a missing grant is misconfiguration: seen, not hidden
    return str(answer["SecretString"])


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" if absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, or the endpoint unreachable: the caller may retry later."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoConnectionError | HTTPClientError)


@contextmanager
def domain_errors(what: str) -> Iterator[None]:
    """Translate AWS errors raised inside the block: missing -> NotFound, transient -> retry.

    Any other error (AccessDenied, a validation error) is a bug or misconfiguration and
    propagates unchanged so it is seen, not hidden behind a domain error.
    """
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            raise NotFound(f"no such {what}") from None
        if is_transient(exc):
            raise TransientError(f"{what}: AWS is unavailable ({error_code(exc)})") from exc
        raise
    except BotoCoreError as exc:
        if is_transient(exc):
            raise TransientError(f"{what}: AWS is unreachable ({type(exc).__name__})") from exc
        raise
