"""Users contract: SqliteUsers and DynamoUsers behave the same."""

from __future__ import annotations

from typing import Any

import pytest

from imgdrop.core.errors import Conflict, NotFound
from imgdrop.core.records import Session, User

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
