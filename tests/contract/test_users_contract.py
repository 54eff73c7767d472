"""Users contract: SqliteUsers and DynamoUsers behave the same."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tests.contract.conftest import make_table

from imgdrop.adapters.aws.dynamo_users import DynamoUsers
from imgdrop.core.errors import Conflict, NotFound
from imgdrop.core.records import Session, User
from imgdrop.core.throttle import Admission, Backoff

ALICE = User(userId="a1b2c3", username="Alice", passwordHash="$argon2id$v=19$x", createdAt=1)


def test_create_and_get_user_case_insensitively(users: Any) -> None:
    users.create_user(ALICE)
    assert users.get_user_by_name("alice") == ALICE
    assert users.get_user_by_name("ALICE") == ALICE


def test_taken_name_is_conflict_whatever_the_case(users: Any) -> None:
    users.create_user(ALICE)
    with pytest.raises(Conflict):
        users.create_user(User(userId="zz", username="aLiCe", passwordHash="h", createdAt=2))


def test_unknown_user_is_not_found(users: Any) -> None:
    with pytest.raises(NotFound):
        users.get_user_by_name("bob")


def test_sessions_round_trip_and_delete(users: Any) -> None:
    for kind in ("cookie", "bearer"):
        session = Session(
            tokenHash=f"h-{kind}",
            userId="a1b2c3",
            csrfToken="c",
            createdAt=10,
            expiresAt=2_000_000_000_000,
            kind=kind,
        )  # type: ignore[arg-type]
        users.put_session(session)
        assert users.get_session(session.tokenHash) == session
        users.delete_session(session.tokenHash)
        users.delete_session(session.tokenHash)
        with pytest.raises(NotFound):
            users.get_session(session.tokenHash)


def test_login_failures_record_and_reset(users: Any) -> None:
    assert users.get_login_failures("alice") == (0, 0)
    users.set_login_failures("alice", 3, 0)
    users.set_login_failures("alice", 6, 1_700_000_000_000)
    assert users.get_login_failures("alice") == (6, 1_700_000_000_000)
    assert users.get_login_failures("bob") == (0, 0)
    users.set_login_failures("alice", 0, 0)
    assert users.get_login_failures("alice") == (0, 0)


def session_of(user_id: str, token_hash: str, created: int = 10, **extra: Any) -> Session:
    """A cookie session that expires far in the future."""
    return Session(
        tokenHash=token_hash,
        userId=user_id,
        csrfToken="c",
        createdAt=created,
        expiresAt=2_000_000_000_000,
        **extra,
    )


def test_get_user_by_id_change_password_and_delete(users: Any) -> None:
    users.create_user(ALICE)
    assert users.get_user("a1b2c3") == ALICE
    with pytest.raises(NotFound):
        users.get_user("nobody")
    users.set_password_hash("a1b2c3", "$argon2id$v=19$new")
    assert users.get_user_by_name("alice").passwordHash == "$argon2id$v=19$new"
    with pytest.raises(NotFound):
        users.set_password_hash("nobody", "h")
    users.put_session(session_of("a1b2c3", "h-1"))
    users.delete_user("a1b2c3")
    users.delete_user("a1b2c3")  # idempotent
    for lookup in (lambda: users.get_user("a1b2c3"), lambda: users.get_user_by_name("alice")):
        with pytest.raises(NotFound):
            lookup()
    with pytest.raises(NotFound):
        users.get_session("h-1")
    users.create_user(User(userId="new1", username="alice", passwordHash="h", createdAt=3))
    assert users.get_user("new1").username == "alice"  # the name is free again


def test_delete_user_sessions_keeps_only_the_one_asked(users: Any) -> None:
    for n in range(5):
        users.put_session(session_of("u1", f"mine-{n}"))
    users.put_session(session_of("u2", "theirs"))
    assert users.delete_user_sessions("u1", keep="mine-2") == 4
    assert users.get_session("mine-2").userId == "u1"
    assert users.get_session("theirs").userId == "u2"
    for n in (0, 1, 3, 4):
        with pytest.raises(NotFound):
            users.get_session(f"mine-{n}")
    assert users.delete_user_sessions("u1") == 1
    with pytest.raises(NotFound):
        users.get_session("mine-2")


def test_touch_session_records_last_use(users: Any) -> None:
    users.put_session(session_of("u1", "t1", created=1_000))
    assert users.get_session("t1").last_active == 1_000
    users.touch_session("t1", 70_000, 1_800_000)
    assert users.get_session("t1").lastSeenAt == 70_000
    users.touch_session("gone", 70_000, 1_800_000)  # a missing session is not an error
    with pytest.raises(NotFound):
        users.get_session("gone")


def test_begin_attempt_counts_locks_and_clears(users: Any) -> None:
    backoff = Backoff(free=2, max_lock_ms=8_000, keep_ms=60_000)
    now = 1_000_000
    first = users.begin_attempt("Alice", now, backoff)
    assert first == Admission(True, 1, now)
    assert users.begin_attempt("alice", now + 1, backoff) == Admission(True, 2, now + 1001)
    refused = users.begin_attempt("alice", now + 2, backoff)
    assert not refused.admitted and refused.wait_s(now + 2) == 1
    assert users.get_login_failures("alice") == (2, now + 1001)
    third = users.begin_attempt("alice", now + 1001, backoff)
    assert third == Admission(True, 3, now + 1001 + 2000)  # the lock doubles
    users.clear_attempts("ALICE")
    assert users.get_login_failures("alice") == (0, 0)
    assert users.begin_attempt("alice", now + 2000, backoff).failures == 1


def test_a_stale_count_is_forgotten(users: Any) -> None:
    backoff = Backoff(free=1, max_lock_ms=8_000, keep_ms=60_000)
    for n in range(3):
        users.begin_attempt("device:ab12", n * 10_000, backoff)
    assert users.get_login_failures("device:ab12")[0] == 3
    later = users.begin_attempt("device:ab12", 200_000, backoff)
    assert later == Admission(True, 1, 200_000 + 1000)


def test_parallel_attempts_each_get_their_own_count(users: Any) -> None:
    if isinstance(users, DynamoUsers):
        # moto applies an UpdateItem's condition without a lock (real DynamoDB is atomic),
        # so parallel threads there test moto; the interleaving test below covers DynamoDB.
        pytest.skip("moto's UpdateItem is not atomic under threads")
    backoff = Backoff(free=5, max_lock_ms=900_000, keep_ms=86_400_000)
    now = 5_000_000
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: users.begin_attempt("target", now, backoff), range(30)))
    admitted = [r for r in results if r.admitted]
    # The 5th counted attempt locks the key: nothing after it gets through.
    assert sorted(r.failures for r in admitted) == [1, 2, 3, 4, 5]
    assert users.get_login_failures("target") == (5, now + 1000)


def test_purge_removes_ended_sessions_and_stale_throttling(users: Any) -> None:
    users.put_session(session_of("u1", "fresh", created=990_000))
    users.put_session(session_of("u1", "idle", created=100_000))
    users.put_session(
        Session(tokenHash="over", userId="u1", csrfToken="c", createdAt=900_000, expiresAt=950_000)
    )
    users.set_login_failures("old", 6, 10_000)
    users.set_login_failures("recent", 6, 990_000)
    removed = users.purge_expired(1_000_000, idle_ms=600_000, keep_ms=60_000)
    assert users.get_session("fresh").userId == "u1"
    assert users.get_login_failures("recent") == (6, 990_000)
    if removed:  # SQLite purges; DynamoDB leaves it to the table's TTL (expiresTtl)
        assert removed == 3
        for gone in ("idle", "over"):
            with pytest.raises(NotFound):
                users.get_session(gone)
        assert users.get_login_failures("old") == (0, 0)


def test_extend_lock_only_ever_later(users: Any) -> None:
    backoff = Backoff(free=1, max_lock_ms=8_000, keep_ms=60_000)
    users.begin_attempt("k", 1_000, backoff)  # locked until 2_000
    users.extend_lock("k", 5_000)
    users.extend_lock("k", 3_000)
    assert users.get_login_failures("k") == (1, 5_000)
    assert not users.begin_attempt("k", 4_000, backoff).admitted
    users.extend_lock("never-counted", 9_000)
    assert users.get_login_failures("never-counted") == (0, 0)


def test_dynamodb_attempt_counted_by_another_first_is_read_again(
    moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = DynamoUsers(*make_table(moto_url))
    backoff = Backoff(free=5, max_lock_ms=900_000, keep_ms=86_400_000)
    users.begin_attempt("target", 1_000, backoff)
    real_read = users._attempts
    reads: list[tuple[int, int, bool]] = []

    def racing_read(key: str) -> tuple[int, int, bool]:
        state = real_read(key)
        reads.append(state)
        if len(reads) == 1:  # a parallel attempt counts between our read and our write
            monkeypatch.setattr(users, "_attempts", real_read)
            assert users.begin_attempt(key, 1_000, backoff).failures == 2
            monkeypatch.setattr(users, "_attempts", racing_read)
        return state

    monkeypatch.setattr(users, "_attempts", racing_read)
    mine = users.begin_attempt("target", 1_000, backoff)
    assert [r[0] for r in reads] == [1, 2]  # the stale write was refused, then read again
    assert mine == Admission(True, 3, 1_000)
    assert users.get_login_failures("target") == (3, 1_000)
