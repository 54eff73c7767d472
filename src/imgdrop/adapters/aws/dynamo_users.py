"""DynamoUsers: accounts, sessions and sign-in throttling in their own DynamoDB table.

Only the web app's identity can reach this table (infra/template.yaml): the functions that
parse images never see password hashes or sessions. The table has the images table's key
schema (userId S / imageId S), so the rows of a stack that kept them in the images table move
over unchanged (`python -m imgdrop.adapters.aws.migrate_users`, docs/deploy-aws.md). Keys:

    userId = "user#<lowercased username>"   imageId = "#user"        -> the account
    userId = "uid#<userId>"                 imageId = "#uid"         -> userId -> username
    userId = "session#<tokenHash>"          imageId = "#session"     -> a session or API token
    userId = "sessions#<userId>"            imageId = "<tokenHash>"  -> the user's sessions
    userId = "login#<lowercased key>"       imageId = "#login"       -> counted sign-in attempts

The record itself is the `body` map; `expiresTtl` (epoch seconds) lets DynamoDB's TTL delete
ended sessions (absolute or idle expiry) and stale throttling state on its own (enabled on
UsersTable), so `purge_expired` has nothing to do here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from imgdrop.adapters.aws.clients import CONDITION_FAILED, domain_errors, error_code
from imgdrop.adapters.aws.dynamo_codec import from_attributes, to_attributes, value
from imgdrop.core.errors import Conflict, NotFound, TooManyRequests
from imgdrop.core.records import Session, User
from imgdrop.core.throttle import Admission, Backoff

THROTTLE_KEEP_S = 86_400  # set_login_failures: forget a day after the last lock ends
CAS_TRIES = 20  # compare-and-set rounds before a contended attempt is refused as throttled


def _key(kind: str, ident: str) -> dict[str, Any]:
    return {"userId": {"S": f"{kind}#{ident}"}, "imageId": {"S": f"#{kind}"}}


def _session_ttl(session: Session, idle_ms: int, now_ms: int) -> int:
    """TTL seconds: the earlier of the absolute and the idle expiry."""
    return min(session.expiresAt, now_ms + idle_ms) // 1000 + 1


class DynamoUsers:
    """The Users port on the users table, through an injected low-level client."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def _item(self, key: dict[str, Any], body: dict[str, Any], ttl_s: int | None) -> dict[str, Any]:
        extra = {} if ttl_s is None else {"expiresTtl": ttl_s}
        return {**key, **to_attributes({"body": body, **extra})}

    def _put(
        self,
        key: dict[str, Any],
        body: dict[str, Any],
        ttl_s: int | None = None,
        condition: str | None = None,
    ) -> None:
        request: dict[str, Any] = {"TableName": self.table, "Item": self._item(key, body, ttl_s)}
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
        """The account and its userId index in one transaction: Conflict if the name is taken."""
        puts = [
            (_key("user", user.username.lower()), asdict(user)),
            (_key("uid", user.userId), {"username": user.username}),
        ]
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(key, body, None),
                    "ConditionExpression": "attribute_not_exists(userId)",
                }
            }
            for key, body in puts
        ]
        try:
            with domain_errors("account"):
                self.db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) in {CONDITION_FAILED, "TransactionCanceledException"}:
                raise Conflict("username taken") from None
            raise

    def get_user_by_name(self, username: str) -> User:
        """By name, case-insensitively; NotFound."""
        body = self._get(_key("user", username.lower()))
        if body is None:
            raise NotFound("no such user")
        return User(**body)

    def get_user(self, user_id: str) -> User:
        """Through the userId index; NotFound."""
        index = self._get(_key("uid", user_id))
        if index is None:
            raise NotFound("no such user")
        user = self.get_user_by_name(str(index["username"]))
        if user.userId != user_id:  # the name was freed and taken again
            raise NotFound("no such user")
        return user

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Conditional update of the account's body.passwordHash; NotFound."""
        user = self.get_user(user_id)
        try:
            with domain_errors("account"):
                self.db.update_item(
                    TableName=self.table,
                    Key=_key("user", user.username.lower()),
                    UpdateExpression="SET #b.passwordHash = :h",
                    ConditionExpression="#b.userId = :id",
                    ExpressionAttributeNames={"#b": "body"},
                    ExpressionAttributeValues={":h": {"S": password_hash}, ":id": {"S": user_id}},
                )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise NotFound("no such user") from None
            raise

    def delete_user(self, user_id: str) -> None:
        """Sessions first, then the account and its index; missing is fine."""
        self.delete_user_sessions(user_id)
        try:
            user = self.get_user(user_id)
        except NotFound:
            user = None
        if user is not None:
            self._delete(_key("user", user.username.lower()))
        self._delete(_key("uid", user_id))

    def put_session(self, session: Session) -> None:
        """Store by token hash and in the user's session list, with a TTL at its expiry."""
        ttl = session.expiresAt // 1000 + 1
        self._put(_key("session", session.tokenHash), asdict(session), ttl_s=ttl)
        self._put(self._listed(session.userId, session.tokenHash), {}, ttl_s=ttl)

    @staticmethod
    def _listed(user_id: str, token_hash: str) -> dict[str, Any]:
        return {"userId": {"S": f"sessions#{user_id}"}, "imageId": {"S": token_hash}}

    def get_session(self, token_hash: str) -> Session:
        """By token hash; NotFound."""
        body = self._get(_key("session", token_hash))
        if body is None:
            raise NotFound("no such session")
        return Session(**body)

    def touch_session(self, token_hash: str, now_ms: int, idle_ms: int) -> None:
        """lastSeenAt, and a TTL that follows the idle timeout; a gone session stays gone."""
        try:
            session = self.get_session(token_hash)
        except NotFound:
            return
        try:
            with domain_errors("account"):
                self.db.update_item(
                    TableName=self.table,
                    Key=_key("session", token_hash),
                    UpdateExpression="SET #b.lastSeenAt = :now, expiresTtl = :ttl",
                    ConditionExpression="attribute_exists(userId)",
                    ExpressionAttributeNames={"#b": "body"},
                    ExpressionAttributeValues={
                        ":now": {"N": str(now_ms)},
                        ":ttl": {"N": str(_session_ttl(session, idle_ms, now_ms))},
                    },
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:  # deleted meanwhile: nothing to touch
                raise

    def delete_session(self, token_hash: str) -> None:
        """Invalidate; missing is fine."""
        body = self._get(_key("session", token_hash))
        self._delete(_key("session", token_hash))
        if body is not None:
            self._delete(self._listed(str(body["userId"]), token_hash))

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        """Query the user's session list, page by page, deleting all but `keep`."""
        ended = 0
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "userId = :u",
            "ExpressionAttributeValues": {":u": {"S": f"sessions#{user_id}"}},
            "ProjectionExpression": "imageId",
            "ConsistentRead": True,
        }
        while True:
            with domain_errors("account"):
                page = self.db.query(**request)
            for row in page.get("Items", []):
                token_hash = row["imageId"]["S"]
                if token_hash != keep:
                    self._delete(_key("session", token_hash))
                    self._delete(self._listed(user_id, token_hash))
                    ended += 1
            if "LastEvaluatedKey" not in page:
                return ended
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _attempts(self, key: str) -> tuple[int, int, bool]:
        body = self._get(_key("login", key))
        if body is None:
            return 0, 0, False
        return int(body["failures"]), int(body["lockedUntil"]), True

    def begin_attempt(self, key: str, now_ms: int, backoff: Backoff) -> Admission:
        """Read, then an UpdateItem ADD conditioned on the count read (compare-and-set).

        A parallel attempt that counted first makes the condition fail: read again. Each
        admitted attempt thus has its own count and stores the lock that count earns.
        """
        key = key.lower()
        for _ in range(CAS_TRIES):
            failures, locked_until, exists = self._attempts(key)
            admission = backoff.next_state(failures, locked_until, now_ms)
            if not admission.admitted:
                return admission
            ttl = (admission.locked_until + backoff.keep_ms) // 1000 + 1
            if exists:
                condition = "#b.failures = :seen"
                update = "ADD #b.failures :add SET #b.lockedUntil = :lock, expiresTtl = :ttl"
                values = {
                    ":seen": value(failures),
                    ":add": value(admission.failures - failures),
                    ":lock": value(admission.locked_until),
                    ":ttl": value(ttl),
                }
            else:
                condition = "attribute_not_exists(userId)"
                update = "SET #b = :body, expiresTtl = :ttl"
                body = {"failures": admission.failures, "lockedUntil": admission.locked_until}
                values = {":body": value(body), ":ttl": value(ttl)}
            try:
                with domain_errors("account"):
                    self.db.update_item(
                        TableName=self.table,
                        Key=_key("login", key),
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ExpressionAttributeNames={"#b": "body"},
                        ExpressionAttributeValues=values,
                    )
                return admission
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
        raise TooManyRequests("too many sign-ins at once; try again in a few seconds", 2)

    def extend_lock(self, key: str, until_ms: int) -> None:
        """Conditional: only ever later, and only for a key that is being counted."""
        try:
            with domain_errors("account"):
                self.db.update_item(
                    TableName=self.table,
                    Key=_key("login", key.lower()),
                    UpdateExpression="SET #b.lockedUntil = :u",
                    ConditionExpression="attribute_exists(userId) AND #b.lockedUntil < :u",
                    ExpressionAttributeNames={"#b": "body"},
                    ExpressionAttributeValues={":u": value(until_ms)},
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def clear_attempts(self, key: str) -> None:
        """Forget the key."""
        self._delete(_key("login", key.lower()))

    def get_login_failures(self, username: str) -> tuple[int, int]:
        """(failures, lockedUntil ms); (0, 0) when none are recorded."""
        failures, locked_until, _ = self._attempts(username.lower())
        return failures, locked_until

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

    def purge_expired(self, now_ms: int, idle_ms: int, keep_ms: int) -> int:
        """Nothing to do: DynamoDB's TTL deletes ended sessions and stale throttling state."""
        return 0
