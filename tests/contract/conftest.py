"""Fixtures that run each port's contract suite against every adapter: local and AWS.

The AWS adapters talk to moto in server mode on loopback, over the real S3/DynamoDB protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from tests.catalog_table import create_catalog_table

from imgdrop.adapters.aws.dynamo_catalog import DynamoCatalog, DynamoUsers
from imgdrop.adapters.aws.s3_blobs import S3BlobStore
from imgdrop.adapters.local.database import Database
from imgdrop.adapters.local.filesystem_blobs import FilesystemBlobStore
from imgdrop.adapters.local.sqlite_catalog import SqliteCatalog
from imgdrop.adapters.local.sqlite_users import SqliteUsers

REGION = "us-east-1"
DUMMY_CREDS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": REGION,
}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """An S3 + DynamoDB protocol server on a free loopback port, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(url: str) -> Any:
    """A path-style S3 client for the moto server."""
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        **DUMMY_CREDS,
    )


def make_table(url: str) -> tuple[Any, str]:
    """A fresh catalog table (userId S / imageId S) on the moto server."""
    dynamodb = boto3.client("dynamodb", endpoint_url=url, **DUMMY_CREDS)
    name = f"imgdrop-{uuid.uuid4().hex[:12]}"
    create_catalog_table(dynamodb, name)
    return dynamodb, name


@pytest.fixture(params=["filesystem", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every BlobStore adapter."""
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs", b"contract-secret", "http://testserver")
    url = request.getfixturevalue("moto_url")
    s3 = s3_client(url)
    bucket = f"imgdrop-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return S3BlobStore(s3, bucket)


@pytest.fixture(params=["sqlite", "dynamodb"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every Catalog adapter."""
    if request.param == "sqlite":
        return SqliteCatalog(Database(tmp_path / "catalog.db"))
    return DynamoCatalog(*make_table(request.getfixturevalue("moto_url")))


@pytest.fixture(params=["sqlite", "dynamodb"])
def users(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every Users adapter."""
    if request.param == "sqlite":
        return SqliteUsers(Database(tmp_path / "catalog.db"))
    return DynamoUsers(*make_table(request.getfixturevalue("moto_url")))
