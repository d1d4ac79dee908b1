"""What the SQL stores share: the statements, the schema migrations and every operation, written once.

Each operation is a generator (sans-I/O): it yields a :class:`Query` (a statement name and its parameters),
receives the rows, decides, and returns its result or raises a typed error. The SQLite store and the
PostgreSQL stores, sync and async, only run these generators inside their own transactions, so the checks
(who may answer a challenge, whether a counter moves forward) are the same code on every backend.

Every decision that several processes could race on is taken under a lock held until commit: SQLite's
write lock (``BEGIN IMMEDIATE``), PostgreSQL's row lock (``SELECT ... FOR UPDATE``) on the challenge, and a
compare-and-set ``UPDATE`` for the counter.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial, wraps
from typing import Any, Final, Generic, ParamSpec, Protocol, TypeVar, overload

from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import (
    AlreadyExists,
    AssertionRejected,
    ChallengeInvalid,
    ConfigurationError,
    ErrorCode,
    InvalidWebAuthnData,
    NotFound,
    SsoSignerError,
    StoreCorrupt,
)
from sso_signer.webauthn._credential import MAX_SIGN_COUNT, PasskeyCredential
from sso_signer.webauthn._p256 import P256PublicKey
from sso_signer.webauthn._store import ChallengePurpose, PasskeyStore, PendingChallenge

# A stored row is read back as outside input: a tampered database must not reach the C parser unbounded.
_ROW_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=2, max_int_digits=20)


def _row_json(text: Any, column: str) -> Any:
    return parse_json(text, limits=_ROW_LIMITS, error=StoreCorrupt, what=f"stored {column}")


# SQLite keeps any type in any column: a tampered row's text where a time or a blob belongs must be
# StoreCorrupt, not a TypeError out of a comparison (nor bytes(7), seven zero bytes, for a user handle).
def _time(value: Any, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreCorrupt(f"stored {column} is a {type(value).__name__}, not a number")
    return float(value)


def _blob(value: Any, column: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StoreCorrupt(f"stored {column} is a {type(value).__name__}, not bytes")
    return bytes(value)


T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

#: The schema version this SDK writes; a database at a higher version is refused at open.
SCHEMA_VERSION: Final = 2


@dataclass(frozen=True, slots=True)
class Query:
    """One statement of an operation, by name (see :data:`STATEMENTS`), with named parameters.

    ``text`` is an application's own statement (:class:`SqlStatement`), already in the backend's dialect
    form (see :func:`dialect`); the SDK's own statements go by ``name`` only.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SqlStatement:
    """One statement of an application's own operation on a passkey store's database.

    An application that keeps its own tables beside the passkeys (sessions, pending work, rate limits)
    writes each of its operations once, as a generator that yields these and receives each statement's rows
    (``RETURNING`` tells whether an ``UPDATE``/``DELETE`` matched), then returns its result. The store's
    ``transaction(op)`` runs it in one transaction, with the store's own locking, retries and typed errors,
    on SQLite or PostgreSQL, sync or async (see ``docs/example-backend.md``).

    The text is written once for both backends: ``:name`` parameters, and the words ``{blob}`` (``BLOB`` /
    ``BYTEA``), ``{real}`` (``REAL`` / ``DOUBLE PRECISION``) and ``{lock}`` (``FOR UPDATE`` on PostgreSQL,
    nothing on SQLite, whose transaction holds the database's write lock already). Any other brace is an
    error, so SQL text never needs escaping; values go in ``params`` only, never into the text.

    Args:
        sql: The statement.
        params: Its parameters by name.
    """

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


#: An application's operation: yields statements, receives their rows, returns its result.
AppOp = Generator[SqlStatement, list[tuple[Any, ...]], T]


class Commit:
    """Commit now: an operation that must keep a write although it then raises (a burnt challenge)."""


COMMIT: Final = Commit()

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Reply:
    """What a statement gave back."""

    rows: Rows
    rowcount: int


#: An operation: yields queries (or COMMIT, its reply unread), receives their replies, returns its result.
Op = Generator[Query | Commit, Reply, T]

# Literal statements only, with ``:name`` parameters: nothing user-supplied is ever formatted into SQL.
# ``{lock}`` is the row lock (PostgreSQL; SQLite holds its database write lock already), ``{seq}`` the
# insertion order, ``{blob}``/``{real}`` the column types.
_STATEMENTS = {
    "create_version_table": "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "read_version": "SELECT max(version) FROM schema_version",
    "write_version": "INSERT INTO schema_version (version) VALUES (:version)",
    "create_credentials": """
CREATE TABLE IF NOT EXISTS credentials (
    credential_id   {blob} PRIMARY KEY,
    user_handle     {blob} NOT NULL,
    user_name       TEXT NOT NULL,
    rp_id           TEXT NOT NULL,
    origin          TEXT NOT NULL,
    cose_key        {blob} NOT NULL,
    sign_count      BIGINT NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    transports      TEXT NOT NULL,
    aaguid          {blob} NOT NULL,
    created_at      {real} NOT NULL{seq_column}
)""",
    "create_credentials_index": (
        "CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_handle, created_at)"
    ),
    "create_challenges": """
CREATE TABLE IF NOT EXISTS challenges (
    challenge       {blob} PRIMARY KEY,
    purpose         TEXT NOT NULL,
    expires_at      {real} NOT NULL,
    user_handle     {blob},
    user_name       TEXT NOT NULL,
    credential_ids  TEXT NOT NULL,
    used_at         {real}
)""",
    # Databases made before usernameless logins were marked: their rows read as not discoverable.
    "add_discoverable": "ALTER TABLE challenges ADD COLUMN discoverable INTEGER NOT NULL DEFAULT 0",
    "insert_challenge": (
        "INSERT INTO challenges (challenge, purpose, expires_at, user_handle, user_name, credential_ids,"
        " used_at, discoverable) VALUES (:challenge, :purpose, :expires_at, :user_handle, :user_name, :ids,"
        " NULL, :discoverable) ON CONFLICT DO NOTHING"
    ),
    "read_challenge": (
        "SELECT purpose, expires_at, user_handle, user_name, credential_ids, used_at, discoverable"
        " FROM challenges WHERE challenge = :challenge{lock}"
    ),
    "use_challenge": "UPDATE challenges SET used_at = :now WHERE challenge = :challenge",
    "purge_challenges": (
        "DELETE FROM challenges WHERE (used_at IS NULL AND expires_at <= :now)"
        " OR (used_at IS NOT NULL AND used_at <= :used_before)"
    ),
    "insert_credential": (
        "INSERT INTO credentials (credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count,"
        " backup_eligible, backup_state, transports, aaguid, created_at) VALUES (:credential_id,"
        " :user_handle, :user_name, :rp_id, :origin, :cose_key, :sign_count, :backup_eligible,"
        " :backup_state, :transports, :aaguid, :created_at) ON CONFLICT DO NOTHING"
    ),
    "read_credential": "{credential_columns} WHERE credential_id = :credential_id",
    "read_user_credentials": (
        "{credential_columns} WHERE user_handle = :user_handle ORDER BY created_at, {seq}"
    ),
    "read_owner": "SELECT user_handle FROM credentials WHERE credential_id = :credential_id{lock}",
    "read_counter": "SELECT sign_count FROM credentials WHERE credential_id = :credential_id",
    # Compare-and-set: the counter moves only forward, or stays 0 for an authenticator without one.
    "update_counter": (
        "UPDATE credentials SET sign_count = :sign_count, backup_state = :backup_state"
        " WHERE credential_id = :credential_id AND (sign_count < :sign_count OR (sign_count = 0 AND"
        " :sign_count = 0))"
    ),
    "delete_credential": "DELETE FROM credentials WHERE credential_id = :credential_id",
}
_CREDENTIAL_COLUMNS = (
    "SELECT credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count, backup_eligible,"
    " backup_state, transports, aaguid FROM credentials"
)
_PARAMETER = re.compile(r":([a-z_]+)")


def statements(*, postgres: bool) -> dict[str, str]:
    """The statements in one backend's dialect.

    Args:
        postgres: PostgreSQL (``%(name)s`` parameters, ``BYTEA``, row locks) rather than SQLite.

    Returns:
        Statement name → SQL text.
    """
    words = {
        "seq": "seq" if postgres else "rowid",
        "seq_column": ",\n    seq BIGINT GENERATED ALWAYS AS IDENTITY" if postgres else "",
        "credential_columns": _CREDENTIAL_COLUMNS,
    }
    return {name: _in_dialect(text, postgres, **words) for name, text in _STATEMENTS.items()}


def _in_dialect(text: str, postgres: bool, **words: str) -> str:
    # The brace words every statement may use, and the backend's parameter style.
    text = text.format(
        lock=" FOR UPDATE" if postgres else "",
        blob="BYTEA" if postgres else "BLOB",
        real="DOUBLE PRECISION" if postgres else "REAL",
        **words,
    )
    return _PARAMETER.sub(r"%(\1)s", text) if postgres else text


@lru_cache(maxsize=512)
def dialect(text: str, *, postgres: bool) -> str:
    """An application statement (:class:`SqlStatement`) in one backend's dialect.

    Raises:
        ConfigurationError (``STORE_CONFIGURATION``): The text has a brace word other than ``{blob}``,
            ``{real}`` and ``{lock}``.
    """
    try:
        return _in_dialect(text, postgres)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            f"an application statement may use only the words {{blob}}, {{real}} and {{lock}} ({exc!r})",
            rule=ErrorCode.STORE_CONFIGURATION,
        ) from None


# -- driving an operation ---------------------------------------------------------------------------

#: Operations that write nothing: SQLite runs them without taking the write lock, so a reader never
#: waits for (and then sees the result of) a writer it was racing.
#: The ``doing`` of a read-only application transaction.
APP_READ: Final = "transaction(read_only)"
READ_ONLY: Final = frozenset({"get_challenge", "get_credential", "credentials_for_user", APP_READ})


def step(op: Generator[Any, Any, T], reply: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Advance ``op`` with a statement's reply (or throw its error in): ``(done, next command or result)``."""
    try:
        return False, (op.throw(error) if error is not None else op.send(reply))
    except StopIteration as stop:
        return True, stop.value


class SyncRunner(Protocol):
    """A store that runs an operation and returns its result (SQLite, PostgreSQL)."""

    def _run(self, make: Callable[[], Op[T]], doing: str) -> T: ...


class AsyncRunner(Protocol):
    """A store that runs an operation and is awaited for its result (the asyncio stores)."""

    async def _run(self, make: Callable[[], Op[T]], doing: str) -> T: ...


class Operation(Generic[P, R]):
    """A store method made of an operation: the one definition serves the sync and the async stores.

    Read from a store, it is the operation run by that store's ``_run``: a plain call on a sync store, a
    coroutine on an async one, with the operation's parameters and name, and the docstring of the
    :class:`PasskeyStore` method it implements (the one place each method is described).
    """

    def __init__(self, op: Callable[P, Op[R]]) -> None:
        self.op = op
        self.__doc__ = getattr(PasskeyStore, op.__name__).__doc__

    @overload
    def __get__(self, store: None, owner: type) -> Operation[P, R]: ...
    @overload
    def __get__(self, store: AsyncRunner, owner: type) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __get__(self, store: SyncRunner, owner: type) -> Callable[P, R]: ...
    def __get__(self, store: Any, owner: type) -> Any:
        if store is None:
            return self
        op = self.op

        @wraps(op)
        def method(*args: Any, **kwargs: Any) -> Any:
            return store._run(partial(op, *args, **kwargs), op.__name__)

        method.__doc__ = self.__doc__
        return method


# -- schema ------------------------------------------------------------------------------------------

_MIGRATIONS: Final = {
    1: ("create_credentials", "create_credentials_index", "create_challenges"),
    2: ("add_discoverable",),
}


def migrate(challenge_columns: str) -> Op[int]:
    """Bring the schema to :data:`SCHEMA_VERSION`, in the caller's (locked) transaction.

    Databases made before versioning have no ``schema_version`` row and count as version 0: version 1
    creates what is missing, version 2 adds ``discoverable`` unless the table already has it.

    Args:
        challenge_columns: The name of the backend's statement listing the ``challenges`` columns.

    Returns:
        The version the database was at.

    Raises:
        ConfigurationError (``STORE_CONFIGURATION``): The database was written by a newer sso-signer (its
            schema is newer).
    """
    yield Query("lock_schema")
    yield Query("create_version_table")
    reply = yield Query("read_version")
    found = int(reply.rows[0][0] or 0)
    if found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the passkey database is at schema version {found}, newer than this sso-signer's "
            f"{SCHEMA_VERSION}: upgrade sso-signer (a newer schema is never written over)",
            rule=ErrorCode.STORE_CONFIGURATION,
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for name in _MIGRATIONS[version]:
            if name == "add_discoverable":
                columns = yield Query(challenge_columns)
                if "discoverable" in {row[0] for row in columns.rows}:
                    continue
            yield Query(name)
        yield Query("write_version", {"version": version})
    return found


# -- challenges --------------------------------------------------------------------------------------


def add_challenge(pending: PendingChallenge) -> Op[None]:
    reply = yield Query(
        "insert_challenge",
        {
            "challenge": bytes(pending.challenge),
            "purpose": pending.purpose,
            "expires_at": pending.expires_at,
            "user_handle": None if pending.user_handle is None else bytes(pending.user_handle),
            "user_name": pending.user_name,
            "ids": json.dumps([c.hex() for c in pending.credential_ids]),
            "discoverable": int(pending.discoverable),
        },
    )
    if reply.rowcount != 1:
        raise AlreadyExists("this challenge was already issued", rule=ErrorCode.CHALLENGE_ALREADY_ISSUED)


def get_challenge(challenge: bytes, *, purpose: ChallengePurpose, now: float) -> Op[PendingChallenge]:
    reply = yield Query("read_challenge", {"challenge": bytes(challenge)})
    if not reply.rows:
        raise ChallengeInvalid(
            "this challenge was not issued by this relying party", rule=ErrorCode.CHALLENGE_UNKNOWN
        )
    stored_purpose, expires_at, user_handle, user_name, ids, used_at, discoverable = reply.rows[0]
    expires_at = _time(expires_at, "challenge expires_at")
    used_at = None if used_at is None else _time(used_at, "challenge used_at")
    if stored_purpose != purpose:
        raise ChallengeInvalid(
            f"this challenge was issued for {stored_purpose}, not {purpose}",
            rule=ErrorCode.CHALLENGE_PURPOSE_MISMATCH,
        )
    if used_at is not None:
        raise ChallengeInvalid("this challenge was already used", rule=ErrorCode.CHALLENGE_ALREADY_USED)
    if now >= expires_at:
        raise ChallengeInvalid(
            f"this challenge expired {now - expires_at:.0f} s ago", rule=ErrorCode.CHALLENGE_EXPIRED
        )
    try:
        return PendingChallenge(
            challenge=bytes(challenge),
            purpose=purpose,
            expires_at=float(expires_at),
            user_handle=None if user_handle is None else _blob(user_handle, "challenge user_handle"),
            user_name=str(user_name),
            credential_ids=tuple(bytes.fromhex(c) for c in _row_json(ids, "credential_ids")),
            discoverable=bool(discoverable),
        )
    except (TypeError, ValueError) as exc:
        raise StoreCorrupt(f"stored challenge row is damaged ({type(exc).__name__})") from exc


def consume_challenge(challenge: bytes, *, purpose: ChallengePurpose, now: float) -> Op[PendingChallenge]:
    pending = yield from get_challenge(challenge, purpose=purpose, now=now)
    yield Query("use_challenge", {"challenge": bytes(challenge), "now": now})
    return pending


def purge_challenges(*, now: float | None = None, keep_used_for: float = 86400.0) -> Op[int]:
    now = time.time() if now is None else now
    reply = yield Query("purge_challenges", {"now": now, "used_before": now - keep_used_for})
    return reply.rowcount


# -- credentials -------------------------------------------------------------------------------------


def add_credential(credential: PasskeyCredential) -> Op[None]:
    reply = yield Query(
        "insert_credential",
        {
            "credential_id": bytes(credential.credential_id),
            "user_handle": bytes(credential.user_handle),
            "user_name": credential.user_name,
            "rp_id": credential.rp_id,
            "origin": credential.origin,
            "cose_key": bytes(credential.cose_key),
            "sign_count": credential.sign_count,
            "backup_eligible": int(credential.backup_eligible),
            "backup_state": int(credential.backup_state),
            "transports": json.dumps(list(credential.transports)),
            "aaguid": bytes(credential.aaguid),
            "created_at": time.time(),
        },
    )
    if reply.rowcount != 1:
        raise AlreadyExists(
            "a credential with this id is already registered", rule=ErrorCode.DUPLICATE_CREDENTIAL
        )


def _credential(row: tuple[Any, ...]) -> PasskeyCredential:
    (cred_id, user_handle, user_name, rp_id, origin, cose, count, be, bs, transports, aaguid) = row
    try:
        return PasskeyCredential(
            credential_id=_blob(cred_id, "credential_id"),
            public_key=P256PublicKey.from_cose(_blob(cose, "credential cose_key")),
            origin=str(origin),
            rp_id=str(rp_id),
            cose_key=bytes(cose),
            sign_count=int(count),
            backup_eligible=bool(be),
            backup_state=bool(bs),
            transports=tuple(str(t) for t in _row_json(transports, "transports")),
            aaguid=_blob(aaguid, "credential aaguid"),
            user_handle=_blob(user_handle, "credential user_handle"),
            user_name=str(user_name),
        )
    except (SsoSignerError, TypeError, ValueError) as exc:
        raise StoreCorrupt(f"stored credential row is damaged ({type(exc).__name__})") from exc


def get_credential(credential_id: bytes) -> Op[PasskeyCredential]:
    reply = yield Query("read_credential", {"credential_id": bytes(credential_id)})
    if not reply.rows:
        raise NotFound("no credential with this id is registered", rule=ErrorCode.CREDENTIAL_NOT_FOUND)
    return _credential(reply.rows[0])


def credentials_for_user(user_handle: bytes) -> Op[list[PasskeyCredential]]:
    reply = yield Query("read_user_credentials", {"user_handle": bytes(user_handle)})
    return [_credential(row) for row in reply.rows]


def update_sign_count(credential_id: bytes, sign_count: int, *, backup_state: bool) -> Op[None]:
    if not 0 <= sign_count <= MAX_SIGN_COUNT:
        # Checked before the database sees it: past 2**63 a driver raises a bare OverflowError.
        raise InvalidWebAuthnData(f"signature counter {sign_count} is not a 4-byte unsigned integer")
    key = {"credential_id": bytes(credential_id)}
    params = {**key, "sign_count": sign_count, "backup_state": int(backup_state)}
    reply = yield Query("update_counter", params)
    if reply.rowcount == 1:
        return
    reply = yield Query("read_counter", key)
    if not reply.rows:
        raise NotFound("no credential with this id is registered", rule=ErrorCode.CREDENTIAL_NOT_FOUND)
    raise AssertionRejected(
        f"signature counter {sign_count} does not exceed the stored {reply.rows[0][0]}: another assertion "
        "of this credential was recorded first, or the authenticator was cloned",
        rule=ErrorCode.COUNTER_REGRESSION,
    )


def remove_credential(credential_id: bytes) -> Op[None]:
    reply = yield Query("delete_credential", {"credential_id": bytes(credential_id)})
    if reply.rowcount != 1:
        raise NotFound("no credential with this id is registered", rule=ErrorCode.CREDENTIAL_NOT_FOUND)


# -- ceremony ends -----------------------------------------------------------------------------------


def complete_registration(
    challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
) -> Op[PendingChallenge]:
    user_handle = bytes(user_handle)
    pending = yield from consume_challenge(challenge, purpose="registration", now=now)
    if pending.user_handle != user_handle or credential.user_handle != user_handle:
        yield COMMIT  # the burnt challenge is kept burnt
        raise AssertionRejected(
            "this registration challenge was issued for another user than the one completing it",
            rule=ErrorCode.USER_HANDLE_MISMATCH,
        )
    yield from add_credential(credential)
    return pending


def complete_authentication(
    challenge: bytes,
    credential_id: bytes,
    sign_count: int,
    *,
    backup_state: bool,
    now: float,
    user_handle: bytes | None = None,
) -> Op[PendingChallenge]:
    pending = yield from get_challenge(challenge, purpose="authentication", now=now)
    reply = yield Query("read_owner", {"credential_id": bytes(credential_id)})
    if not reply.rows:
        raise NotFound("no credential with this id is registered", rule=ErrorCode.CREDENTIAL_NOT_FOUND)
    owner = _blob(reply.rows[0][0], "credential user_handle")
    pending.check_answerer(credential_id, owner)
    if user_handle is not None and owner != bytes(user_handle):
        raise AssertionRejected(
            "the credential belongs to another user than the session's", rule=ErrorCode.USER_HANDLE_MISMATCH
        )
    yield from update_sign_count(credential_id, sign_count, backup_state=backup_state)
    yield Query("use_challenge", {"challenge": bytes(challenge), "now": now})
    return pending


def app_transaction(make: Callable[[], AppOp[T]], *, postgres: bool) -> Op[T]:
    """Run an application's operation (see :class:`SqlStatement`) as one of the store's operations."""
    op = make()
    done, command = step(op, None, None)
    while not done:
        if not isinstance(command, SqlStatement):
            op.close()
            raise ConfigurationError(
                f"an application operation must yield SqlStatement, not {type(command).__name__}",
                rule=ErrorCode.STORE_CONFIGURATION,
            )
        text = dialect(command.sql, postgres=postgres)
        reply = yield Query("application", dict(command.params), text)
        done, command = step(op, reply.rows, None)
    result: T = command
    return result


class SyncTransaction(Protocol):
    """``transaction`` read from a sync store."""

    def __call__(self, make: Callable[[], AppOp[T]], *, read_only: bool = False) -> T: ...


class AsyncTransaction(Protocol):
    """``transaction`` read from an async store."""

    def __call__(
        self, make: Callable[[], AppOp[T]], *, read_only: bool = False
    ) -> Coroutine[Any, Any, T]: ...


class Transaction:
    """The stores' ``transaction(make, read_only=False)``: an application's own operation in one transaction.

    Read from a sync store it runs the operation and returns its result; from an async store it is a
    coroutine of it.
    """

    @overload
    def __get__(self, store: None, owner: type) -> Transaction: ...
    @overload
    def __get__(self, store: AsyncRunner, owner: type) -> AsyncTransaction: ...
    @overload
    def __get__(self, store: SyncRunner, owner: type) -> SyncTransaction: ...
    def __get__(self, store: Any, owner: type) -> Any:
        if store is None:
            return self
        postgres = bool(store.postgres_dialect)

        def transaction(make: Callable[[], AppOp[Any]], *, read_only: bool = False) -> Any:
            """Run an application's operation in one transaction of this store (see :class:`SqlStatement`).

            Args:
                make: Makes the operation (a generator of :class:`SqlStatement`); called again for each
                    attempt when PostgreSQL asks for a retry (a serialization failure or deadlock), so
                    it must not have effects outside the database.
                read_only: The operation only reads (SQLite then does not take the write lock).

            Returns:
                The operation's result (a coroutine of it on an async store).

            Raises:
                StoreUnavailable: The database failed; nothing was written unless ``outcome_known`` is False.
                ConfigurationError (``STORE_CONFIGURATION``): The operation yielded something else than a
                    :class:`SqlStatement`, or a statement uses an unknown brace word.
            """
            doing = APP_READ if read_only else "transaction"
            return store._run(partial(app_transaction, make, postgres=postgres), doing)

        return transaction


class Operations:
    """The store methods, each an :class:`Operation`; a store class adds its ``_run`` (sync or async)."""

    transaction = Transaction()

    add_challenge = Operation(add_challenge)
    get_challenge = Operation(get_challenge)
    consume_challenge = Operation(consume_challenge)
    purge_challenges = Operation(purge_challenges)
    add_credential = Operation(add_credential)
    get_credential = Operation(get_credential)
    credentials_for_user = Operation(credentials_for_user)
    update_sign_count = Operation(update_sign_count)
    remove_credential = Operation(remove_credential)
    complete_registration = Operation(complete_registration)
    complete_authentication = Operation(complete_authentication)
