"""Issue 9.2 (findings H1, M5): sign-in throttling that parallel guesses cannot walk past, per
account and per client address, and no targeted lock-out of an owner's known devices.

Against real `imgdrop serve` processes on loopback. Client addresses are set with
X-Forwarded-For, which the server trusts from loopback only (IMGDROP_TRUSTED_PROXIES).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.aio import run_async
from tests.conftest import ServerProcess

PASSWORD = "quiet otter lantern 42"
PROXY_ENV = {"IMGDROP_TRUSTED_PROXIES": "127.0.0.1", "FORWARDED_ALLOW_IPS": "127.0.0.1"}


def start(tmp: pytest.TempPathFactory, name: str, **env: str) -> ServerProcess:
    """A server with its own data dir and settings."""
    data: Path = tmp.mktemp(name) / "data"
    return ServerProcess(data, env={**PROXY_ENV, **env}).start()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Account throttling only: the address limit and the hashing queue are out of the way."""
    proc = start(
        tmp_path_factory,
        "guarded",
        IMGDROP_SIGNIN_ADDRESS_LIMIT="100000/minute",
        IMGDROP_HASH_QUEUE="200",
        IMGDROP_HASH_WAIT_MS="60000",
        IMGDROP_SIGNIN_MAX_LOCK_S="2",
    )
    yield proc
    proc.stop()


def signup(server: ServerProcess, username: str, address: str = "10.0.0.1") -> None:
    """Create an account with PASSWORD."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        got = http.post(
            "/api/signup",
            json={"username": username, "password": PASSWORD},
            headers={"X-Forwarded-For": address},
        )
        assert got.status_code == 201, got.text


def login(
    http: httpx.Client, username: str, password: str, address: str, **extra: str
) -> httpx.Response:
    """POST /api/login from `address`."""
    return http.post(
        "/api/login",
        json={"username": username, "password": password, **extra},
        headers={"X-Forwarded-For": address},
    )


async def parallel_guesses(url: str, username: str, count: int) -> list[httpx.Response]:
    """`count` wrong-password sign-ins sent at once, from one address."""
    limits = httpx.Limits(max_connections=count + 5)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/api/login",
                    json={"username": username, "password": f"guess number {n}"},
                    headers={"X-Forwarded-For": "203.0.113.9"},
                )
                for n in range(count)
            )
        )


def test_three_bursts_of_30_parallel_guesses_get_at_most_10_verdicts(
    guarded: ServerProcess,
) -> None:
    signup(guarded, "target")
    verdicts = 0
    for burst in range(3):
        answers = run_async(parallel_guesses(guarded.url, "target", 30))
        codes = Counter(a.status_code for a in answers)
        # 503 + Retry-After is the hashing pool refusing at once (a loaded machine): no verdict.
        assert set(codes) <= {401, 429, 503}, (burst, codes)
        assert all("retry-after" in a.headers for a in answers if a.status_code == 503)
        verdicts += codes[401]
        waits = [int(a.headers["retry-after"]) for a in answers if a.status_code == 429]
        assert len(waits) == codes[429] and all(w >= 1 for w in waits)
        for refused in (a for a in answers if a.status_code == 429):
            assert "too many failed sign-ins" in refused.json()["error"]["message"]
        time.sleep(max(waits, default=0))  # the attacker waits out the lock, then goes again
    assert 1 <= verdicts <= 10, verdicts
    with httpx.Client(base_url=guarded.url, timeout=60) as http:
        failures = login(http, "target", PASSWORD, "198.51.100.7")
        assert failures.status_code == 200  # the lock has passed: the owner gets in


@pytest.fixture(scope="module")
def long_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default back-off (5 free failures, then 1 s doubling), capped at 20 s for the test."""
    proc = start(
        tmp_path_factory,
        "m5",
        IMGDROP_SIGNIN_ADDRESS_LIMIT="100000/minute",
        IMGDROP_SIGNIN_MAX_LOCK_S="20",
    )
    yield proc
    proc.stop()


def test_known_device_keeps_getting_in_while_the_account_is_locked(
    long_locks: ServerProcess,
) -> None:
    """Finding M5: someone else's guesses locked the owner out, renewably, for ever."""
    server = long_locks
    signup(server, "owner")
    signup(server, "mallory")
    with (
        httpx.Client(base_url=server.url, timeout=60) as browser,
        httpx.Client(base_url=server.url, timeout=60) as cli,
        httpx.Client(base_url=server.url, timeout=60) as attacker,
        httpx.Client(base_url=server.url, timeout=60) as new_laptop,
    ):
        first = login(browser, "owner", PASSWORD, "198.51.100.1")
        assert first.status_code == 200
        assert "imgdrop_device" in browser.cookies
        device_cookie = next(c for c in first.headers.get_list("set-cookie") if "device" in c)
        assert "httponly" in device_cookie.lower() and "path=/api/login" in device_cookie.lower()
        cli_token = login(cli, "owner", PASSWORD, "198.51.100.2").json()["deviceToken"]
        cli.cookies.clear()  # an API client sends the token in the body instead
        own = login(attacker, "mallory", PASSWORD, "203.0.113.66").json()["deviceToken"]
        attacker.cookies.clear()
        # The attacker guesses, waiting out each lock, until the lock is 16 s long.
        for _ in range(10):
            got = login(attacker, "owner", "not the password", "203.0.113.66")
            if got.status_code == 429:
                time.sleep(int(got.headers["retry-after"]))
                got = login(attacker, "owner", "not the password", "203.0.113.66")
            assert got.status_code == 401, got.text
        # The account is locked for anonymous clients, even with the right password...
        locked = login(new_laptop, "owner", PASSWORD, "198.51.100.3")
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 10
        # ...but the owner's known devices get straight in, from any address.
        assert login(browser, "owner", PASSWORD, "198.51.100.4").status_code == 200
        again = login(cli, "owner", PASSWORD, "198.51.100.5", deviceToken=cli_token)
        assert again.status_code == 200, again.text
        # A device token proves nothing for another account, tampered with, or malformed.
        forged = cli_token[:-4] + ("0000" if not cli_token.endswith("0000") else "1111")
        for token in (own, forged, "v1.é.1.2.3"):
            stolen = login(new_laptop, "owner", PASSWORD, "203.0.113.66", deviceToken=token)
            assert stolen.status_code == 429, (token[:20], stolen.text)
        oversized = login(new_laptop, "owner", PASSWORD, "203.0.113.66", deviceToken="x" * 5000)
        assert oversized.status_code == 400  # bounded before it is read


def test_a_known_device_is_throttled_on_its_own(guarded: ServerProcess) -> None:
    signup(guarded, "forgetful")
    with (
        httpx.Client(base_url=guarded.url, timeout=60) as phone,
        httpx.Client(base_url=guarded.url, timeout=60) as desk,
    ):
        assert login(phone, "forgetful", PASSWORD, "198.51.100.8").status_code == 200
        assert login(desk, "forgetful", PASSWORD, "198.51.100.9").status_code == 200
        for _ in range(5):
            assert login(phone, "forgetful", "typo typo typo", "198.51.100.8").status_code == 401
        throttled = login(phone, "forgetful", PASSWORD, "198.51.100.8")
        assert throttled.status_code == 429, throttled.text  # this device's own back-off
        assert login(desk, "forgetful", PASSWORD, "198.51.100.9").status_code == 200
        with httpx.Client(base_url=guarded.url, timeout=60) as anon:
            assert login(anon, "forgetful", PASSWORD, "198.51.100.10").status_code == 200


def test_sign_in_is_limited_per_client_address(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = start(
        tmp_path_factory,
        "addr",
        IMGDROP_SIGNIN_ADDRESS_LIMIT="6/minute",
        IMGDROP_SIGNUP_ADDRESS_LIMIT="100/minute",
    )
    try:
        for n in range(4):
            signup(server, f"sprayed_{n}", address=f"10.1.0.{n}")
        with httpx.Client(base_url=server.url, timeout=60) as http:
            known = login(http, "sprayed_3", PASSWORD, "192.0.2.50")
            assert known.status_code == 200  # a device token for later
            token = known.json()["deviceToken"]
            http.cookies.clear()
            # One address spraying guesses over many accounts (5 left in its window).
            codes = [
                login(http, f"sprayed_{n % 3}", "spring-2026!", "192.0.2.50").status_code
                for n in range(8)
            ]
            assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3, codes
            refused = login(http, "sprayed_0", PASSWORD, "192.0.2.50")
            assert refused.status_code == 429
            assert "network" in refused.json()["error"]["message"]
            assert int(refused.headers["retry-after"]) >= 1
            # Another address is not affected, nor is a known device on the busy address.
            assert login(http, "sprayed_0", PASSWORD, "192.0.2.51").status_code == 200
            http.cookies.clear()
            ok = login(http, "sprayed_3", PASSWORD, "192.0.2.50", deviceToken=token)
            assert ok.status_code == 200, ok.text
    finally:
        server.stop()
