"""Accounts over a real SqliteUsers in tmp_path, with a fake clock: idle timeout, touches,
purging, counting before the hash, the hashing pool's bounds and password rules."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.aio import run_async

from imgdrop.accounts import TOUCH_EVERY_MS, Accounts
from imgdrop.adapters.local.database import Database
from imgdrop.adapters.local.sqlite_users import SqliteUsers
from imgdrop.core.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from imgdrop.hashing import HashingBusy, HashingPool
from imgdrop.passwords import PasswordRules, WeakPassword
from imgdrop.settings import load_settings

PASSWORD = "quiet otter lantern 42"


class Clock:
    """Epoch ms that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    """(accounts, users, clock) with a 30 min idle timeout."""
    users = SqliteUsers(Database(tmp_path / "catalog.db"))
    clock = Clock()
    settings = load_settings(
        {}, data_dir=tmp_path, session_idle_minutes=30, hash_threads=2, hash_wait_ms=120_000
    )
    accounts = Accounts(users, clock, settings, b"k" * 32)
    yield accounts, users, clock
    accounts.close()


def test_idle_sessions_end_and_use_is_recorded_at_most_once_a_minute(setup: Any) -> None:
    accounts, users, clock = setup
    token, session = accounts.new_session("u1")
    writes: list[int] = []
    real_touch = users.touch_session
    users.touch_session = lambda h, now, idle: (writes.append(now), real_touch(h, now, idle))
    for _ in range(5):  # many requests within a minute: no write
        clock.now += 10_000
        accounts.authenticate(token)
    assert writes == []
    clock.now += TOUCH_EVERY_MS
    accounts.authenticate(token)
    assert writes == [clock.now]
    clock.now += 29 * 60_000  # still within 30 minutes of the last use
    accounts.authenticate(token)
    clock.now += 30 * 60_000 + 1
    with pytest.raises(Unauthorized):
        accounts.authenticate(token)
    with pytest.raises(NotFound):  # and it was deleted, not just refused
        users.get_session(session.tokenHash)


def test_absolute_lifetime_ends_even_a_busy_session(setup: Any) -> None:
    accounts, _, clock = setup
    token, session = accounts.new_session("u1")
    while clock.now < session.expiresAt - 60_000:
        clock.now += 20 * 60_000
        if clock.now < session.expiresAt:
            accounts.authenticate(token)
    clock.now = session.expiresAt
    with pytest.raises(Unauthorized):
        accounts.authenticate(token)


def test_purge_runs_now_and_then_and_removes_ended_sessions(setup: Any) -> None:
    accounts, users, clock = setup
    _, old = accounts.new_session("u1")
    clock.now += 31 * 60_000
    _, fresh = accounts.new_session("u1")
    assert accounts.purge_now_and_then() == 1
    assert users.get_session(fresh.tokenHash)
    with pytest.raises(NotFound):
        users.get_session(old.tokenHash)
    accounts.new_session("u2")
    clock.now += 5 * 60_000
    assert accounts.purge_now_and_then() == 0  # less than ten minutes since the last purge
    clock.now += 26 * 60_000
    assert accounts.purge_now_and_then() == 2  # `fresh` and u2's, idle for 31 minutes now


def signup_and_login(accounts: Accounts, name: str, address: str = "10.0.0.1") -> Any:
    async def both() -> Any:
        await accounts.signup(name, PASSWORD, address)
        return await accounts.login(name, PASSWORD, address)

    return run_async(both())


def test_wrong_guesses_in_parallel_are_counted_before_the_hash(setup: Any) -> None:
    accounts, users, _ = setup
    signup_and_login(accounts, "target")

    async def guesses() -> list[BaseException | Any]:
        return await asyncio.gather(
            *(accounts.login("target", f"guess {n}", "10.0.0.2") for n in range(20)),
            return_exceptions=True,
        )

    results = run_async(guesses())
    kinds = [type(r).__name__ for r in results]
    assert kinds.count("Unauthorized") == 5, kinds  # the 5 free failures, no more
    assert set(kinds) <= {"Unauthorized", "TooManyRequests", "HashingBusy"}
    assert users.get_login_failures("target")[0] == 5


def test_change_password_keeps_this_session_and_delete_account_erases(setup: Any) -> None:
    accounts, users, _ = setup
    here = signup_and_login(accounts, "mover")
    other = run_async(accounts.login("mover", PASSWORD, "10.0.0.3"))
    with pytest.raises(Forbidden):
        run_async(accounts.change_password(here.session, "nope", "seven purple kites"))
    with pytest.raises(WeakPassword):
        run_async(accounts.change_password(here.session, PASSWORD, "mover mover 1"))
    ended = run_async(accounts.change_password(here.session, PASSWORD, "seven purple kites"))
    assert ended == 1
    accounts.authenticate(here.token)
    with pytest.raises(Unauthorized):
        accounts.authenticate(other.token)
    erased: list[str] = []
    with pytest.raises(Forbidden):
        run_async(accounts.delete_account(here.session, PASSWORD, erased.append))
    assert erased == []
    run_async(accounts.delete_account(here.session, "seven purple kites", erased.append))
    assert erased == [here.session.userId]
    with pytest.raises(Unauthorized):
        accounts.authenticate(here.token)
    with pytest.raises(NotFound):
        users.get_user(here.session.userId)


def test_confirming_the_password_is_throttled_too(setup: Any) -> None:
    accounts, _, _ = setup
    here = signup_and_login(accounts, "stolen")
    for _ in range(5):
        with pytest.raises(Forbidden):
            run_async(accounts.confirm_password(here.session, "guess"))
    with pytest.raises(TooManyRequests):
        run_async(accounts.confirm_password(here.session, PASSWORD))


def test_pool_refuses_at_once_beyond_its_capacity_and_after_its_wait_bound() -> None:
    pool = HashingPool(threads=1, queue=1, max_wait_ms=200)
    gate = threading.Event()

    async def scenario() -> tuple[list[Any], float]:
        running = asyncio.ensure_future(pool.run(gate.wait, 5))
        queued = asyncio.ensure_future(pool.run(lambda: "late"))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        with pytest.raises(HashingBusy) as refused:
            await pool.run(lambda: "never")
        quick = time.monotonic() - start
        assert refused.value.http_status == 503 and refused.value.retry_after_s >= 1
        await asyncio.sleep(0.3)  # the queued job has now waited past its bound
        gate.set()
        return await asyncio.gather(running, queued, return_exceptions=True), quick

    try:
        (first, second), quick = run_async(scenario())
        assert first is True
        assert isinstance(second, HashingBusy)  # it waited too long: never hashed
        assert quick < 0.05
        assert pool.admitted == 0  # every slot came back
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("12345678", "too common"),
        ("password", "too common"),
        ("iloveyou2026", "too common"),
        ("        ", "too easy"),
        ("alice-2026-photos", "username"),
        ("ecila is my name", "username"),
    ],
)
def test_password_rules_explain_the_refusal(password: str, words: str) -> None:
    with pytest.raises(WeakPassword, match=words):
        PasswordRules().check(password, "alice")


def test_strong_passwords_pass_and_the_threshold_is_a_setting() -> None:
    PasswordRules().check("seven purple kites at dawn", "alice")
    with pytest.raises(WeakPassword):
        PasswordRules(min_score=4).check("correct horse", "alice")  # zxcvbn score 3
    PasswordRules(min_score=2).check("correct horse", "alice")
