"""Everything the example remembers between requests, behind one small interface (:class:`AppStore`).

Users and their passkeys, signed-in sessions, registrations in progress, operations waiting for a passkey
signature, and the token buckets of the rate limits. Nothing else lives in the web process's memory (only
the backend's few writes the store refused after a send, ``Limits.unrecorded_kept``), so any number of
workers share it. The tables sit beside the relying party's in the same database, and each
method is one *operation* written once (a generator of :class:`~sso_signer.webauthn.SqlStatement`) that
the SDK's store runs in one transaction, on SQLite or PostgreSQL, with its locking, retries and typed
errors: every check-and-change is one statement (``UPDATE ... WHERE status = 'pending' RETURNING``, an
upsert that refills, tests and takes a token) or runs under a lock taken first, never a read in Python
followed by a write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from sso_signer.exceptions import StoreUnavailable
from sso_signer.webauthn import PostgresStore, SQLiteStore, SqlStatement

__all__ = ["AppStore", "ClaimResult", "PendingOperation", "Registration", "SqlAppStore", "User"]

T = TypeVar("T")

OperationStatus = Literal["pending", "signed", "sent", "included", "failed"]
RegistrationPurpose = Literal["signup", "addkey"]
ClaimResult = Literal["claimed", "unknown", "other-user", "used", "expired"]
AddResult = Literal["added", "full", "reissued"]


@dataclass(frozen=True, slots=True)
class User:
    """A signed-up user: name, WebAuthn user handle and smart-account address."""

    name: str
    handle: bytes
    account: str


@dataclass(frozen=True, slots=True)
class Registration:
    """A passkey registration in progress, bound to the browser session that asked for its options."""

    session: str
    purpose: RegistrationPurpose
    user_name: str
    handle: bytes
    challenge: bytes
    expires_at: float


@dataclass(frozen=True, slots=True)
class PendingOperation:
    """An operation prepared for a user, waiting for (or past) its passkey signature.

    Attributes:
        op_id: Random id the page refers to.
        user: The user it was prepared for.
        challenge: The hash the passkey signs.
        payload: Gateway-private JSON needed to submit.
        summary: What the page shows.
        options: The WebAuthn request options sent for it.
        links: The credential id the operation installs (add-a-passkey), if any.
        status: ``pending`` → ``signed`` (claimed: never signed or sent again) → ``included`` or ``failed``
            (reverted on chain, or refused before anything was sent), or ``sent`` (its outcome unknown).
        expires_at: After this (while ``pending``) it is refused and purged.
        tx_hash: The transaction (or UserOperation) hash once known.
        error: Why it failed.
    """

    op_id: str
    user: str
    challenge: bytes
    payload: dict[str, Any]
    summary: dict[str, Any]
    options: dict[str, Any]
    links: bytes | None
    status: OperationStatus
    expires_at: float
    tx_hash: str | None = None
    error: str | None = None


class AppStore(Protocol):
    """The example's state. Implementations must make each method atomic across processes."""

    def add_user(self, user: User, credential_id: bytes) -> bool: ...
    def user(self, name: str) -> User | None: ...
    def owner_of(self, credential_id: bytes) -> User | None: ...
    def passkeys(self, name: str) -> list[tuple[bytes, float]]: ...
    def link_passkey(self, name: str, credential_id: bytes) -> None: ...

    def open_session(self, sid: str, name: str, *, expires_at: float) -> None: ...
    def session_user(self, sid: str, *, now: float) -> str | None: ...
    def close_session(self, sid: str) -> None: ...

    def put_registration(self, registration: Registration, *, cap: int, now: float) -> bool: ...
    def take_registration(
        self, session: str, purpose: RegistrationPurpose, *, now: float
    ) -> Registration | None: ...

    def add_operation(self, op: PendingOperation, *, cap: int, now: float) -> bool: ...
    def open_operation(self, user: str, challenge: bytes, *, now: float) -> PendingOperation | None: ...
    def operation(self, op_id: str) -> PendingOperation | None: ...
    def claim_operation(self, op_id: str, user: str, *, now: float) -> ClaimResult: ...
    def release_operation(self, op_id: str) -> None: ...
    def finish_operation(
        self, op_id: str, status: OperationStatus, *, tx_hash: str | None = None, error: str | None = None
    ) -> bool: ...
    def operations(self, user: str, *, limit: int) -> list[PendingOperation]: ...

    def claim_unsettled(self, *, now: float, grace: float, batch: int) -> list[PendingOperation]: ...
    def take_token(self, key: str, *, rate: float, burst: float, now: float) -> float: ...

    def purge(self, *, now: float, keep_finished: int) -> list[bytes]: ...
    def counts(self) -> dict[str, int]: ...


Rows = list[tuple[Any, ...]]
#: One of the example's operations: yields statements, receives their rows, returns its result.
Op = Generator[SqlStatement, Rows, T]
S = SqlStatement

# Table names carry an ``app_`` prefix: they share the database with the relying party's tables.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS app_users (name TEXT PRIMARY KEY, handle {blob} NOT NULL UNIQUE,"
    " account TEXT NOT NULL, created_at {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS app_passkeys (credential_id {blob} PRIMARY KEY,"
    " owner TEXT NOT NULL REFERENCES app_users(name), linked_at {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS app_passkeys_owner ON app_passkeys (owner)",
    "CREATE TABLE IF NOT EXISTS app_sessions (sid TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " expires_at {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS app_registrations (session TEXT NOT NULL, purpose TEXT NOT NULL,"
    " user_name TEXT NOT NULL, handle {blob} NOT NULL, challenge {blob} NOT NULL,"
    " expires_at {real} NOT NULL, PRIMARY KEY (session, purpose))",
    "CREATE TABLE IF NOT EXISTS app_operations (op_id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " challenge {blob} NOT NULL UNIQUE, payload TEXT NOT NULL, summary TEXT NOT NULL, options TEXT NOT NULL,"
    " links {blob}, status TEXT NOT NULL, created_at {real} NOT NULL, expires_at {real} NOT NULL,"
    " tx_hash TEXT, error TEXT)",
    "CREATE INDEX IF NOT EXISTS app_operations_owner ON app_operations (owner, status)",
    "CREATE TABLE IF NOT EXISTS app_buckets (key TEXT PRIMARY KEY, tokens {real} NOT NULL,"
    " rate {real} NOT NULL, burst {real} NOT NULL, updated_at {real} NOT NULL)",
    # One row per cap that counts a whole table: locked ({lock}) before counting, so that on PostgreSQL
    # two workers cannot both see room for one more (SQLite's write lock serialises them already).
    "CREATE TABLE IF NOT EXISTS app_locks (name TEXT PRIMARY KEY)",
    "INSERT INTO app_locks (name) VALUES ('registrations') ON CONFLICT DO NOTHING",
    # When each signed or sent operation whose outcome is unrecorded is next read from the chain: a row
    # here is a worker's claim on it (a table of its own: existing databases need no new column).
    "CREATE TABLE IF NOT EXISTS app_settling (op_id TEXT PRIMARY KEY, next_at {real} NOT NULL)",
)

_OP_COLUMNS = "op_id, owner, challenge, payload, summary, options, links, status, expires_at, tx_hash, error"


def create_schema() -> Op[None]:
    """Create the example's tables where missing."""
    for statement in _SCHEMA:
        yield S(statement)


# --- users and passkeys ---


def add_user(user: User, credential_id: bytes, now: float) -> Op[bool]:
    created = yield S(
        "INSERT INTO app_users (name, handle, account, created_at) VALUES (:name, :handle, :account, :now)"
        " ON CONFLICT DO NOTHING RETURNING name",
        {"name": user.name, "handle": user.handle, "account": user.account, "now": now},
    )
    if not created:
        return False
    yield from link_passkey(user.name, credential_id, now)
    return True


def user(name: str) -> Op[User | None]:
    rows = yield S("SELECT name, handle, account FROM app_users WHERE name = :name", {"name": name})
    return None if not rows else User(rows[0][0], bytes(rows[0][1]), rows[0][2])


def owner_of(credential_id: bytes) -> Op[User | None]:
    rows = yield S(
        "SELECT u.name, u.handle, u.account FROM app_passkeys p JOIN app_users u ON u.name = p.owner"
        " WHERE p.credential_id = :id",
        {"id": credential_id},
    )
    return None if not rows else User(rows[0][0], bytes(rows[0][1]), rows[0][2])


def passkeys(name: str) -> Op[list[tuple[bytes, float]]]:
    rows = yield S(
        "SELECT credential_id, linked_at FROM app_passkeys WHERE owner = :name"
        " ORDER BY linked_at, credential_id",
        {"name": name},
    )
    return [(bytes(r[0]), float(r[1])) for r in rows]


def link_passkey(name: str, credential_id: bytes, now: float) -> Op[None]:
    yield S(
        "INSERT INTO app_passkeys (credential_id, owner, linked_at) VALUES (:id, :name, :now)"
        " ON CONFLICT DO NOTHING",
        {"id": credential_id, "name": name, "now": now},
    )


# --- sessions ---


def open_session(sid: str, name: str, expires_at: float) -> Op[None]:
    yield S(
        "INSERT INTO app_sessions (sid, owner, expires_at) VALUES (:sid, :name, :expires_at)"
        " ON CONFLICT (sid) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
        {"sid": sid, "name": name, "expires_at": expires_at},
    )


def session_user(sid: str, now: float) -> Op[str | None]:
    rows = yield S(
        "SELECT owner FROM app_sessions WHERE sid = :sid AND expires_at > :now", {"sid": sid, "now": now}
    )
    return None if not rows else str(rows[0][0])


def close_session(sid: str) -> Op[None]:
    yield S("DELETE FROM app_sessions WHERE sid = :sid", {"sid": sid})
    yield S("DELETE FROM app_registrations WHERE session = :sid", {"sid": sid})


# --- registrations in progress ---


def put_registration(r: Registration, cap: int, now: float) -> Op[bool]:
    yield S("SELECT name FROM app_locks WHERE name = 'registrations'{lock}")
    yield S("DELETE FROM app_registrations WHERE expires_at <= :now", {"now": now})
    yield S(
        "DELETE FROM app_registrations WHERE session = :session AND purpose = :purpose",
        {"session": r.session, "purpose": r.purpose},
    )
    stored = yield S(
        "INSERT INTO app_registrations (session, purpose, user_name, handle, challenge, expires_at)"
        " SELECT :session, :purpose, :user_name, :handle, :challenge, :expires_at"
        " WHERE (SELECT count(*) FROM app_registrations) < :cap RETURNING session",
        {
            "session": r.session,
            "purpose": r.purpose,
            "user_name": r.user_name,
            "handle": r.handle,
            "challenge": r.challenge,
            "expires_at": r.expires_at,
            "cap": cap,
        },
    )
    return bool(stored)


def take_registration(session: str, purpose: RegistrationPurpose, now: float) -> Op[Registration | None]:
    # DELETE ... RETURNING: of two workers completing the same registration, one gets the row.
    rows = yield S(
        "DELETE FROM app_registrations WHERE session = :session AND purpose = :purpose AND expires_at > :now"
        " RETURNING user_name, handle, challenge, expires_at",
        {"session": session, "purpose": purpose, "now": now},
    )
    if not rows:
        return None
    name, handle, challenge, expires_at = rows[0]
    return Registration(session, purpose, name, bytes(handle), bytes(challenge), float(expires_at))


# --- operations awaiting a passkey signature ---


def add_operation(op: PendingOperation, cap: int, now: float) -> Op[AddResult]:
    # The user's row is locked first (PostgreSQL): two workers adding for one user count one after the other.
    # One being signed counts too: a refused signature puts it back to pending, which must not pass the cap.
    yield S("SELECT name FROM app_users WHERE name = :owner{lock}", {"owner": op.user})
    # The same transaction (same nonce, same hash) prepared again once the relying party purged its challenge:
    # an earlier operation that failed (nothing of it ran) or expired unsigned gives way to the new one (the
    # challenge is UNIQUE). One signed, sent or included keeps it: that transaction is not issued twice. So
    # does one linking another passkey than the new one: deleting it here would lose the only record of that
    # passkey, which purge returns for removal from the relying party (the same links move to the new row).
    yield S(
        "DELETE FROM app_operations WHERE challenge = :challenge AND owner = :owner"
        " AND (status = 'failed' OR (status = 'pending' AND expires_at <= :now))"
        " AND (links IS NULL OR links = CAST(:links AS {blob}))",
        {"challenge": op.challenge, "owner": op.user, "now": now, "links": op.links},
    )
    stored = yield S(
        f"INSERT INTO app_operations ({_OP_COLUMNS}, created_at)"  # noqa: S608 - a constant column list
        " SELECT :op_id, :owner, :challenge, :payload, :summary, :options, CAST(:links AS {blob}),"
        " 'pending', :expires_at, NULL, NULL, :now"
        " WHERE (SELECT count(*) FROM app_operations WHERE owner = :owner AND status IN ('pending', 'signed')"
        " AND expires_at > :now) < :cap ON CONFLICT DO NOTHING RETURNING op_id",
        {
            "op_id": op.op_id,
            "owner": op.user,
            "challenge": op.challenge,
            "payload": json.dumps(op.payload),
            "summary": json.dumps(op.summary),
            "options": json.dumps(op.options),
            "links": op.links,
            "expires_at": op.expires_at,
            "now": now,
            "cap": cap,
        },
    )
    if stored:
        return "added"
    taken = yield S(
        "SELECT op_id FROM app_operations WHERE challenge = :challenge", {"challenge": op.challenge}
    )
    return "reissued" if taken else "full"


def _op(row: Sequence[Any]) -> PendingOperation:
    return PendingOperation(
        op_id=row[0],
        user=row[1],
        challenge=bytes(row[2]),
        payload=json.loads(row[3]),
        summary=json.loads(row[4]),
        options=json.loads(row[5]),
        links=None if row[6] is None else bytes(row[6]),
        status=row[7],
        expires_at=float(row[8]),
        tx_hash=row[9],
        error=row[10],
    )


def open_operation(name: str, challenge: bytes, now: float) -> Op[PendingOperation | None]:
    rows = yield S(
        f"SELECT {_OP_COLUMNS} FROM app_operations WHERE owner = :owner"  # noqa: S608 - constant columns
        " AND challenge = :challenge AND status = 'pending' AND expires_at > :now",
        {"owner": name, "challenge": challenge, "now": now},
    )
    return None if not rows else _op(rows[0])


def operation(op_id: str) -> Op[PendingOperation | None]:
    rows = yield S(
        f"SELECT {_OP_COLUMNS} FROM app_operations WHERE op_id = :op_id",  # noqa: S608 - constant columns
        {"op_id": op_id},
    )
    return None if not rows else _op(rows[0])


def claim_operation(op_id: str, name: str, now: float) -> Op[ClaimResult]:
    # Compare-and-set in one statement: of racing claims (any worker) exactly one sees its row back.
    claimed = yield S(
        "UPDATE app_operations SET status = 'signed' WHERE op_id = :op_id AND owner = :owner"
        " AND status = 'pending' AND expires_at > :now RETURNING op_id",
        {"op_id": op_id, "owner": name, "now": now},
    )
    if claimed:
        return "claimed"
    rows = yield S("SELECT owner, status FROM app_operations WHERE op_id = :op_id", {"op_id": op_id})
    if not rows:
        return "unknown"
    if rows[0][0] != name:
        return "other-user"
    return "used" if rows[0][1] != "pending" else "expired"


def release_operation(op_id: str) -> Op[None]:
    yield S(
        "UPDATE app_operations SET status = 'pending' WHERE op_id = :op_id AND status = 'signed'",
        {"op_id": op_id},
    )


def finish_operation(
    op_id: str,
    status: OperationStatus,
    tx_hash: str | None,
    error: str | None,
    link: tuple[str, bytes, float] | None = None,
) -> Op[bool]:
    # Compare-and-set from claimed (or sent): an outcome is written once, a late retry of the same write
    # (the backend's after a store outage) changes nothing, and a finished operation never goes back.
    # ``link`` (user, credential id, now): the passkey an add-a-passkey operation installed, in the same
    # transaction as its outcome.
    done = yield S(
        "UPDATE app_operations SET status = :status, tx_hash = coalesce(CAST(:tx_hash AS TEXT), tx_hash),"
        " error = CAST(:error AS TEXT) WHERE op_id = :op_id AND status IN ('signed', 'sent') RETURNING op_id",
        {"status": status, "tx_hash": tx_hash, "error": error, "op_id": op_id},
    )
    if done and link is not None:
        yield from link_passkey(*link)
    return bool(done)


def claim_unsettled(now: float, grace: float, batch: int) -> Op[list[PendingOperation]]:
    # Signed or sent, and claimed at least ``grace`` ago (a signed operation was claimed before it expired):
    # its worker recorded no outcome. One upsert claims at most ``batch`` of them until ``now + grace``: of
    # two workers (PostgreSQL re-checks the WHERE of DO UPDATE on the row the other just wrote) one gets
    # each row; never-checked rows first, then the longest waiting.
    claimed = yield S(
        "INSERT INTO app_settling (op_id, next_at) SELECT o.op_id, :next FROM app_operations o"
        " LEFT JOIN app_settling s ON s.op_id = o.op_id WHERE o.status IN ('signed', 'sent')"
        " AND o.expires_at <= :cutoff AND (s.next_at IS NULL OR s.next_at <= :now)"
        " ORDER BY coalesce(s.next_at, 0), o.expires_at, o.op_id LIMIT :batch"
        " ON CONFLICT (op_id) DO UPDATE SET next_at = excluded.next_at WHERE app_settling.next_at <= :now"
        " RETURNING op_id",
        {"next": now + grace, "cutoff": now - grace, "now": now, "batch": batch},
    )
    found = []
    for (op_id,) in claimed:
        op = yield from operation(op_id)
        if op is not None:
            found.append(op)
    return found


def operations(name: str, limit: int) -> Op[list[PendingOperation]]:
    rows = yield S(
        f"SELECT {_OP_COLUMNS} FROM app_operations WHERE owner = :owner"  # noqa: S608 - constant columns
        " ORDER BY created_at DESC, op_id DESC LIMIT :limit",
        {"owner": name, "limit": limit},
    )
    return [_op(r) for r in rows]


# --- rate limits ---

# The bucket's tokens at ``excluded.updated_at`` (now): refilled at its rate since its last take, capped at
# its burst; a clock a little behind another worker's refills nothing rather than draining.
_REFILLED = (
    "CASE WHEN app_buckets.tokens + {elapsed} * excluded.rate < excluded.burst"
    " THEN app_buckets.tokens + {elapsed} * excluded.rate ELSE excluded.burst END"
).format(
    elapsed="(CASE WHEN excluded.updated_at > app_buckets.updated_at"
    " THEN excluded.updated_at - app_buckets.updated_at ELSE 0 END)"
)


def take_token(key: str, rate: float, burst: float, now: float) -> Op[float]:
    # One statement refills, tests and takes: concurrent requests (any worker) never both spend the last
    # token (PostgreSQL's ON CONFLICT DO UPDATE locks the row and re-reads it; SQLite holds the write lock).
    taken = yield S(
        "INSERT INTO app_buckets (key, tokens, rate, burst, updated_at) VALUES (:key, :first, :rate, :burst,"  # noqa: S608 - a constant expression
        f" :now) ON CONFLICT (key) DO UPDATE SET tokens = {_REFILLED} - 1, rate = excluded.rate,"
        " burst = excluded.burst, updated_at = excluded.updated_at"
        f" WHERE {_REFILLED} >= 1 RETURNING key",
        {"key": key, "first": burst - 1, "rate": rate, "burst": burst, "now": now},
    )
    if taken:
        return 0.0
    rows = yield S("SELECT tokens, updated_at FROM app_buckets WHERE key = :key", {"key": key})
    available = min(burst, float(rows[0][0]) + max(now - float(rows[0][1]), 0.0) * rate)
    return max((1 - available) / rate, 0.001)


# --- bounded state ---


def purge(now: float, keep_finished: int) -> Op[list[bytes]]:
    yield S("DELETE FROM app_sessions WHERE expires_at <= :now", {"now": now})
    yield S("DELETE FROM app_registrations WHERE expires_at <= :now", {"now": now})
    orphans = yield S(
        "DELETE FROM app_operations WHERE status = 'pending' AND expires_at <= :now RETURNING links",
        {"now": now},
    )
    yield S(
        "DELETE FROM app_operations WHERE status IN ('included', 'failed') AND op_id NOT IN ("
        " SELECT op_id FROM (SELECT op_id, row_number() OVER (PARTITION BY owner"
        " ORDER BY created_at DESC, op_id DESC) AS n FROM app_operations"
        " WHERE status IN ('included', 'failed')) AS ranked WHERE n <= :keep)",
        {"keep": keep_finished},
    )
    yield S(
        "DELETE FROM app_settling WHERE op_id NOT IN"
        " (SELECT op_id FROM app_operations WHERE status IN ('signed', 'sent'))"
    )
    yield S("DELETE FROM app_buckets WHERE tokens + (:now - updated_at) * rate >= burst", {"now": now})
    return [bytes(r[0]) for r in orphans if r[0] is not None]


_TABLES = ("users", "passkeys", "sessions", "registrations", "operations", "settling", "buckets")


def counts() -> Op[dict[str, int]]:
    found = {}
    for table in _TABLES:
        rows = yield S(f"SELECT count(*) FROM app_{table}")  # noqa: S608 - a constant table name
        found[table] = int(rows[0][0])
    return found


class SqlAppStore:
    """:class:`AppStore` on the relying party's own SQL store (SQLite or PostgreSQL): the same database.

    Each method is one of the operations above, run by ``store.transaction`` in one transaction. The
    tables are created at construction (``CREATE ... IF NOT EXISTS``: a second worker finds them made).

    Args:
        store: The SDK store, e.g. from :func:`sso_signer.webauthn.open_store`; not closed here.
    """

    def __init__(self, store: SQLiteStore | PostgresStore) -> None:
        self._store = store
        try:
            self._write(create_schema)
        except StoreUnavailable:
            # PostgreSQL: two workers creating one table at once, the loser fails on the catalogue's
            # unique index; the tables exist by now.
            self._write(create_schema)

    @property
    def sql(self) -> SQLiteStore | PostgresStore:
        """The SDK store the tables live in (other parts of the example add their own tables to it)."""
        return self._store

    def _write(self, make: Callable[[], Op[T]]) -> T:
        return self._store.transaction(make)

    def _read(self, make: Callable[[], Op[T]]) -> T:
        return self._store.transaction(make, read_only=True)

    def add_user(self, user: User, credential_id: bytes) -> bool:
        """Store a new user with its first passkey; False (nothing stored) if the name is taken."""
        return self._write(partial(add_user, user, credential_id, time.time()))

    def user(self, name: str) -> User | None:
        """The user called ``name``, if any."""
        return self._read(partial(user, name))

    def owner_of(self, credential_id: bytes) -> User | None:
        """The user a linked passkey belongs to, if any."""
        return self._read(partial(owner_of, credential_id))

    def passkeys(self, name: str) -> list[tuple[bytes, float]]:
        """The user's linked passkeys: (credential id, linked at), oldest first."""
        return self._read(partial(passkeys, name))

    def link_passkey(self, name: str, credential_id: bytes) -> None:
        """Record that ``credential_id`` now controls the user's account."""
        self._write(partial(link_passkey, name, credential_id, time.time()))

    def open_session(self, sid: str, name: str, *, expires_at: float) -> None:
        """Bind session ``sid`` to a user (after a passkey ceremony)."""
        self._write(partial(open_session, sid, name, expires_at))

    def session_user(self, sid: str, *, now: float) -> str | None:
        """The user of a live session."""
        return self._read(partial(session_user, sid, now))

    def close_session(self, sid: str) -> None:
        """Forget a session (logout) and its registrations: its cookie no longer names anyone."""
        self._write(partial(close_session, sid))

    def put_registration(self, registration: Registration, *, cap: int, now: float) -> bool:
        """Remember a registration for its session (replacing the session's earlier one of that purpose).

        Returns:
            False if ``cap`` live registrations already exist (nothing stored).
        """
        return self._write(partial(put_registration, registration, cap, now))

    def take_registration(
        self, session: str, purpose: RegistrationPurpose, *, now: float
    ) -> Registration | None:
        """Remove and return the session's live registration of ``purpose`` (each is completed once)."""
        return self._write(partial(take_registration, session, purpose, now))

    def add_operation(self, op: PendingOperation, *, cap: int, now: float) -> bool:
        """Store a pending operation unless its user already has ``cap`` live ones, pending or being signed,
        or an operation over the same challenge is live, signed or finished without failing (then False).
        One over the same challenge that failed or expired unsigned is replaced, unless it links another
        passkey (then False: :meth:`purge` deletes it and returns that passkey)."""
        return self._write(partial(add_operation, op, cap, now)) == "added"

    def open_operation(self, user: str, challenge: bytes, *, now: float) -> PendingOperation | None:
        """The user's live pending operation over ``challenge`` (the same transaction asked again)."""
        return self._read(partial(open_operation, user, challenge, now))

    def operation(self, op_id: str) -> PendingOperation | None:
        """Any operation by id."""
        return self._read(partial(operation, op_id))

    def claim_operation(self, op_id: str, user: str, *, now: float) -> ClaimResult:
        """Atomically move the user's live pending operation to ``signed``: of racing claims one wins.

        Returns:
            ``claimed``, or why not: ``unknown``, ``other-user``, ``used`` (not pending any more),
            ``expired``.
        """
        return self._write(partial(claim_operation, op_id, user, now))

    def release_operation(self, op_id: str) -> None:
        """Put a claimed operation back to ``pending`` (its signature was not accepted)."""
        self._write(partial(release_operation, op_id))

    def finish_operation(
        self, op_id: str, status: OperationStatus, *, tx_hash: str | None = None, error: str | None = None
    ) -> bool:
        """Record a claimed operation's outcome (``included`` with its hash, ``failed`` with the reason, or
        ``sent``); False if it is not claimed or sent (already finished: nothing changes)."""
        return self._write(partial(finish_operation, op_id, status, tx_hash, error))

    def operations(self, user: str, *, limit: int) -> list[PendingOperation]:
        """The user's most recent operations, newest first."""
        return self._read(partial(operations, user, limit))

    def claim_unsettled(self, *, now: float, grace: float, batch: int) -> list[PendingOperation]:
        """Claim up to ``batch`` operations left ``signed`` or ``sent`` for ``grace`` seconds (their worker
        recorded no outcome) for one chain read each; a claimed one is offered again ``grace`` later."""
        return self._write(partial(claim_unsettled, now, grace, batch))

    def take_token(self, key: str, *, rate: float, burst: float, now: float) -> float:
        """Take one token from the bucket ``key`` (refilled at ``rate`` per second up to ``burst``).

        Returns:
            0.0 if a token was taken, else the seconds until one will be available.
        """
        return self._write(partial(take_token, key, rate, burst, now))

    def purge(self, *, now: float, keep_finished: int) -> list[bytes]:
        """Delete expired sessions, registrations and pending operations, full buckets, old finished ops and
        the settle claims of operations no longer ``signed`` or ``sent``.

        Returns:
            The passkeys that expired add-a-passkey operations would have linked (the caller removes them
            from the relying party's store: they control nothing).
        """
        return self._write(partial(purge, now, keep_finished))

    def counts(self) -> dict[str, int]:
        """Rows per table (what a monitor or a test watches to see the state stays bounded)."""
        return self._read(counts)
