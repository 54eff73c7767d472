"""DynamoUsers: accounts, sessions and sign-in throttling in the catalog's DynamoDB table.

Synthetic keys keep them apart from images (a real userId never contains `#`):

    userId = "user#<lowercased username>"   imageId = "#user"      -> the account
    userId = "session#<tokenHash>"          imageId = "#session"   -> a session or API token
    userId = "login#<lowercased username>"  imageId = "#login"     -> failed sign-ins

The record itself is the `body` map; `expiresTtl` (epoch seconds) lets DynamoDB's TTL delete
expired sessions and stale throttling state on its own (enabled in infra/template.yaml).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from imgdrop.adapters.aws.clients import CONDITION_FAILED, domain_errors, error_code
from imgdrop.adapters.aws.dynamo_codec import from_attributes, to_attributes
from imgdrop.core.errors import Conflict, NotFound
from imgdrop.core.records import Session, User

THROTTLE_KEEP_S = 86_400  # forget failed sign-ins a day after the last lock ends


def _key(kind: str, ident: str) -> dict[str, Any]:
    return {"userId": {"S": f"{kind}#{ident}"}, "imageId": {"S": f"#{kind}"}}


class DynamoUsers:
    """The Users port on the catalog table, through an injected low-level client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def _put(
        self,
        key: dict[str, Any],
        body: dict[str, Any],
        ttl_s: int | None = None,
        condition: str | None = None,
    ) -> None:
        extra = {} if ttl_s is None else {"expiresTtl": ttl_s}
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**key, **to_attributes({"body": body, **extra})},
        }
        if condition:
            request["ConditionExpression"] = condition
        with domain_errors("account"):
            self.db.put_item(**request)

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        with domain_errors("account"):
            found = self.db.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return from_attributes(found)["body"] if found else None

    def _delete(self, key: dict[str, Any]) -> None:
        with domain_errors("account"):
            self.db.delete_item(TableName=self.table, Key=key)

    def create_user(self, user: User) -> None:
        """Conditional PutItem keyed by the lowercased name: Conflict if taken."""
        try:
            self._put(
                _key("user", user.username.lower()),
                asdict(user),
                condition="attribute_not_exists(userId)",
            )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise Conflict("username taken") from None
            raise

    def get_user_by_name(self, username: str) -> User:
        """By name, case-insensitively; NotFound."""
        body = self._get(_key("user", username.lower()))
        if body is None:
            raise NotFound("no such user")
        return User(**body)

    def put_session(self, session: Session) -> None:
        """Store by token hash, with a TTL at its expiry."""
        self._put(
            _key("session", session.tokenHash), asdict(session), ttl_s=session.expiresAt // 1000 + 1
        )

    def get_session(self, token_hash: str) -> Session:
        """By token hash; NotFound."""
        body = self._get(_key("session", token_hash))
        if body is None:
            raise NotFound("no such session")
        return Session(**body)

    def delete_session(self, token_hash: str) -> None:
        """Invalidate; missing is fine."""
        self._delete(_key("session", token_hash))

    def get_login_failures(self, username: str) -> tuple[int, int]:
        """(failures, lockedUntil ms); (0, 0) when none are recorded."""
        body = self._get(_key("login", username.lower()))
        return (0, 0) if body is None else (int(body["failures"]), int(body["lockedUntil"]))

    def set_login_failures(self, username: str, failures: int, locked_until_ms: int) -> None:
        """Record, or clear with failures=0."""
        key = _key("login", username.lower())
        if failures == 0:
            self._delete(key)
            return
        self._put(
            key,
            {"failures": failures, "lockedUntil": locked_until_ms},
            ttl_s=locked_until_ms // 1000 + THROTTLE_KEEP_S,
        )
