"""Known-device tokens on AWS: every web instance signs them with one key, read from the
template's Secrets Manager secret at the first sign-in, so a device that signed in on one
instance keeps getting in on another while an attacker has the account locked (finding M5)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from awsstack import AwsStack, client
from tests.aio import run_async

from imgdrop.core.errors import TooManyRequests, Unauthorized
from imgdrop.wiring import Runtime, build

PASSWORD = "correct horse battery"
OWNER_ADDRESS, ATTACKER_ADDRESS = "198.51.100.7", "203.0.113.66"


@pytest.fixture
def key_secret(stack: AwsStack, monkeypatch: pytest.MonkeyPatch) -> str:
    """A generated secret on moto, as the template's DeviceKeySecret; its ARN."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", stack.url)
    secrets = client("secretsmanager", stack.url)
    value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True)
    made = secrets.create_secret(
        Name=stack.bucket + "-device-key", SecretString=value["RandomPassword"]
    )
    return str(made["ARN"])


@contextmanager
def instances(stack: AwsStack, count: int, **overrides: str) -> Iterator[list[Runtime]]:
    """`count` web runtimes on one stack, like that many Lambda instances."""
    runtimes = [build(stack.settings(signin_free_failures=2, **overrides)) for _ in range(count)]
    try:
        yield runtimes
    finally:
        for rt in runtimes:
            rt.close()


def lock_out(instance: Runtime, username: str) -> None:
    """An attacker's wrong guesses until the account is locked for anonymous clients."""
    for _ in range(3):
        try:
            run_async(instance.accounts.login(username, "not it", ATTACKER_ADDRESS))
        except TooManyRequests:
            return
        except Unauthorized:  # a wrong password: counted, go on
            continue
    with pytest.raises(TooManyRequests):
        run_async(instance.accounts.login(username, PASSWORD, ATTACKER_ADDRESS))


def test_a_device_known_to_one_instance_gets_in_on_another_while_locked(
    stack: AwsStack, key_secret: str
) -> None:
    with instances(stack, 2, secret_key_arn=key_secret) as (first, second):
        run_async(first.accounts.signup("owner", PASSWORD, OWNER_ADDRESS))
        known = run_async(first.accounts.login("owner", PASSWORD, OWNER_ADDRESS))
        lock_out(second, "owner")
        again = run_async(
            second.accounts.login("owner", PASSWORD, OWNER_ADDRESS, known.device_token)
        )
        assert again.session.userId == known.session.userId


def test_without_a_shared_key_each_instance_refuses_the_others_tokens(stack: AwsStack) -> None:
    """What the secret prevents: per-instance keys put the owner back behind the lock."""
    with instances(stack, 2) as (first, second):
        run_async(first.accounts.signup("owner", PASSWORD, OWNER_ADDRESS))
        known = run_async(first.accounts.login("owner", PASSWORD, OWNER_ADDRESS))
        lock_out(second, "owner")
        with pytest.raises(TooManyRequests):
            run_async(second.accounts.login("owner", PASSWORD, OWNER_ADDRESS, known.device_token))


def test_the_secret_is_read_at_the_first_sign_in_not_at_start(
    stack: AwsStack, key_secret: str
) -> None:
    """Building the runtime (Lambda init) makes no Secrets Manager call; a sign-in does, once."""
    missing = key_secret + "-missing"
    with instances(stack, 1, secret_key_arn=missing) as (rt,):
        run_async(rt.accounts.signup("owner", PASSWORD, OWNER_ADDRESS))  # no token minted
        with pytest.raises(Exception, match="ResourceNotFound"):
            run_async(rt.accounts.login("owner", PASSWORD, OWNER_ADDRESS))
