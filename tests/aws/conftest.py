"""moto (S3 + DynamoDB + SQS) in server mode on loopback, and imgdrop wired to it (AWS mode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from awsstack import DUMMY_ENV, AwsStack, create_stack
from moto.server import ThreadedMotoServer

from imgdrop import aws_lambda
from imgdrop.wiring import Runtime


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto in server mode on a free loopback port, with dummy credentials in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name, val in DUMMY_ENV.items():
            mp.setenv(name, val)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture
def stack(moto_url: str) -> AwsStack:
    """A fresh AWS deployment on moto for one test."""
    return create_stack(moto_url)


@pytest.fixture
def lambda_runtime(stack: AwsStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The Lambda module's cached runtime, built from the stack's IMGDROP_* environment."""
    for name, val in stack.env.items():
        monkeypatch.setenv(name, val)
    logger = aws_lambda.logging.getLogger("imgdrop")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    monkeypatch.setattr(aws_lambda, "_runtime", None)
    monkeypatch.setattr(aws_lambda, "_web_app", None)
    rt = aws_lambda.runtime()
    # The image handlers share the web runtime's Images, so a test can patch its engine.
    monkeypatch.setattr(aws_lambda, "_images", rt.images)
    yield rt
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])
