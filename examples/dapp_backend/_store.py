"""Everything the example remembers between requests, behind one small interface (:class:`AppStore`).

Users and their passkeys, signed-in sessions, registrations in progress, operations waiting for a passkey
signature, and the token buckets of the rate limits. Nothing lives in the web process's memory, so several
workers (and, later, another database) can share it: every check-and-change is one SQL statement or one
``BEGIN IMMEDIATE`` transaction, never a read in Python followed by a write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["AppStore", "ClaimResult", "PendingOperation", "Registration", "SQLiteAppStore", "User"]

OperationStatus = Literal["pending", "signed", "included", "failed"]
RegistrationPurpose = Literal["signup", "addkey"]
ClaimResult = Literal["claimed", "unknown", "other-user", "used", "expired"]


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
        status: ``pending`` → ``signed`` → ``included`` or ``failed``.
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
    ) -> None: ...
    def operations(self, user: str, *, limit: int) -> list[PendingOperation]: ...

    def take_token(self, key: str, *, rate: float, burst: float, now: float) -> float: ...

    def purge(self, *, now: float, keep_finished: int) -> list[bytes]: ...
    def counts(self) -> dict[str, int]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, handle BLOB NOT NULL UNIQUE, account TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS passkeys (
    credential_id BLOB PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), linked_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys(user);
CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, user TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    session TEXT NOT NULL, purpose TEXT NOT NULL, user_name TEXT NOT NULL, handle BLOB NOT NULL,
    challenge BLOB NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (session, purpose));
CREATE TABLE IF NOT EXISTS operations (
    op_id TEXT PRIMARY KEY, user TEXT NOT NULL, challenge BLOB NOT NULL UNIQUE, payload TEXT NOT NULL,
    summary TEXT NOT NULL, options TEXT NOT NULL, links BLOB, status TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL, tx_hash TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS operations_user ON operations(user, status);
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, rate REAL NOT NULL, burst REAL NOT NULL,
    updated_at REAL NOT NULL);
"""

_OP_COLUMNS = "op_id, user, challenge, payload, summary, options, links, status, expires_at, tx_hash, error"


class SQLiteAppStore:
    """:class:`AppStore` on SQLite (WAL; one connection shared by the request threads, under a lock).

    Args:
        path: Database file, or ``":memory:"`` (the default of the example: its chain is fresh each run).
        timeout: Seconds to wait for another process's write lock.
    """

    def __init__(self, path: str = ":memory:", *, timeout: float = 10.0) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteAppStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock before the first read: no other writer between check and change.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, args: Sequence[object]) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    # --- users and passkeys ---

    def add_user(self, user: User, credential_id: bytes) -> bool:
        """Store a new user with its first passkey; False (nothing stored) if the name is taken."""
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?)",
                    (user.name, user.handle, user.account, time.time()),
                )
            except sqlite3.IntegrityError:
                return False
            conn.execute("INSERT INTO passkeys VALUES (?, ?, ?)", (credential_id, user.name, time.time()))
            return True

    def user(self, name: str) -> User | None:
        """The user called ``name``, if any."""
        row = self._one("SELECT name, handle, account FROM users WHERE name = ?", (name,))
        return None if row is None else User(row[0], bytes(row[1]), row[2])

    def owner_of(self, credential_id: bytes) -> User | None:
        """The user a linked passkey belongs to, if any."""
        row = self._one(
            "SELECT users.name, users.handle, users.account FROM passkeys JOIN users ON users.name = "
            "passkeys.user WHERE passkeys.credential_id = ?",
            (credential_id,),
        )
        return None if row is None else User(row[0], bytes(row[1]), row[2])

    def passkeys(self, name: str) -> list[tuple[bytes, float]]:
        """The user's linked passkeys: (credential id, linked at), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT credential_id, linked_at FROM passkeys WHERE user = ? ORDER BY linked_at", (name,)
            ).fetchall()
        return [(bytes(r[0]), float(r[1])) for r in rows]

    def link_passkey(self, name: str, credential_id: bytes) -> None:
        """Record that ``credential_id`` now controls the user's account."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO passkeys VALUES (?, ?, ?)", (credential_id, name, time.time())
            )

    # --- sessions ---

    def open_session(self, sid: str, name: str, *, expires_at: float) -> None:
        """Bind session ``sid`` to a user (after a passkey ceremony)."""
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (sid, name, expires_at))

    def session_user(self, sid: str, *, now: float) -> str | None:
        """The user of a live session."""
        row = self._one("SELECT user FROM sessions WHERE sid = ? AND expires_at > ?", (sid, now))
        return None if row is None else str(row[0])

    def close_session(self, sid: str) -> None:
        """Forget a session (logout): its cookie no longer names anyone."""
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE sid = ?", (sid,))
            conn.execute("DELETE FROM registrations WHERE session = ?", (sid,))

    # --- registrations in progress ---

    def put_registration(self, registration: Registration, *, cap: int, now: float) -> bool:
        """Remember a registration for its session (replacing the session's earlier one of that purpose).

        Returns:
            False if ``cap`` live registrations already exist (nothing stored).
        """
        r = registration
        with self._write() as conn:
            conn.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
            conn.execute(
                "DELETE FROM registrations WHERE session = ? AND purpose = ?", (r.session, r.purpose)
            )
            cursor = conn.execute(
                "INSERT INTO registrations SELECT ?, ?, ?, ?, ?, ?"
                " WHERE (SELECT count(*) FROM registrations) < ?",
                (r.session, r.purpose, r.user_name, r.handle, r.challenge, r.expires_at, cap),
            )
            return cursor.rowcount == 1

    def take_registration(
        self, session: str, purpose: RegistrationPurpose, *, now: float
    ) -> Registration | None:
        """Remove and return the session's live registration of ``purpose`` (each is completed once)."""
        with self._write() as conn:
            row = conn.execute(
                "DELETE FROM registrations WHERE session = ? AND purpose = ? AND expires_at > ?"
                " RETURNING user_name, handle, challenge, expires_at",
                (session, purpose, now),
            ).fetchone()
        if row is None:
            return None
        return Registration(session, purpose, row[0], bytes(row[1]), bytes(row[2]), float(row[3]))

    # --- operations awaiting a passkey signature ---

    def add_operation(self, op: PendingOperation, *, cap: int, now: float) -> bool:
        """Store a pending operation unless its user already has ``cap`` live ones (then False)."""
        with self._write() as conn:
            cursor = conn.execute(
                f"INSERT INTO operations ({_OP_COLUMNS}, created_at)"  # noqa: S608 - constant column list
                " SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, ?"
                " WHERE (SELECT count(*) FROM operations WHERE user = ? AND status = 'pending'"
                " AND expires_at > ?) < ?",
                (
                    op.op_id,
                    op.user,
                    op.challenge,
                    json.dumps(op.payload),
                    json.dumps(op.summary),
                    json.dumps(op.options),
                    op.links,
                    op.expires_at,
                    now,
                    op.user,
                    now,
                    cap,
                ),
            )
            return cursor.rowcount == 1

    @staticmethod
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

    def open_operation(self, user: str, challenge: bytes, *, now: float) -> PendingOperation | None:
        """The user's live pending operation over ``challenge`` (the same transaction asked again)."""
        row = self._one(
            f"SELECT {_OP_COLUMNS} FROM operations WHERE user = ? AND challenge = ?"  # noqa: S608
            " AND status = 'pending'"
            " AND expires_at > ?",
            (user, challenge, now),
        )
        return None if row is None else self._op(row)

    def operation(self, op_id: str) -> PendingOperation | None:
        """Any operation by id."""
        row = self._one(f"SELECT {_OP_COLUMNS} FROM operations WHERE op_id = ?", (op_id,))  # noqa: S608
        return None if row is None else self._op(row)

    def claim_operation(self, op_id: str, user: str, *, now: float) -> ClaimResult:
        """Atomically move the user's live pending operation to ``signed``: of racing claims one wins.

        Returns:
            ``claimed``, or why not: ``unknown``, ``other-user``, ``used`` (not pending any more),
            ``expired``.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE operations SET status = 'signed' WHERE op_id = ? AND user = ? AND status = 'pending'"
                " AND expires_at > ?",
                (op_id, user, now),
            )
            if cursor.rowcount == 1:
                return "claimed"
            row = conn.execute("SELECT user, status FROM operations WHERE op_id = ?", (op_id,)).fetchone()
        if row is None:
            return "unknown"
        if row[0] != user:
            return "other-user"
        return "used" if row[1] != "pending" else "expired"

    def release_operation(self, op_id: str) -> None:
        """Put a claimed operation back to ``pending`` (its signature was not accepted)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE operations SET status = 'pending' WHERE op_id = ? AND status = 'signed'", (op_id,)
            )

    def finish_operation(
        self, op_id: str, status: OperationStatus, *, tx_hash: str | None = None, error: str | None = None
    ) -> None:
        """Record an operation's outcome (``included`` with its hash, or ``failed`` with the reason)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE operations SET status = ?, tx_hash = coalesce(?, tx_hash), error = ? WHERE op_id = ?",
                (status, tx_hash, error, op_id),
            )

    def operations(self, user: str, *, limit: int) -> list[PendingOperation]:
        """The user's most recent operations, newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_OP_COLUMNS} FROM operations WHERE user = ?"  # noqa: S608 - constant columns
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (user, limit),
            ).fetchall()
        return [self._op(r) for r in rows]

    # --- rate limits ---

    def take_token(self, key: str, *, rate: float, burst: float, now: float) -> float:
        """Take one token from the bucket ``key`` (refilled at ``rate`` per second up to ``burst``).

        Returns:
            0.0 if a token was taken, else the seconds until one will be available.
        """
        with self._write() as conn:
            # One statement: refill, test and take, so concurrent requests cannot both spend the last token.
            cursor = conn.execute(
                "INSERT INTO buckets VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " tokens = min(excluded.burst, tokens + (excluded.updated_at - updated_at)"
                " * excluded.rate) - 1, rate = excluded.rate, burst = excluded.burst,"
                " updated_at = excluded.updated_at WHERE min(excluded.burst, tokens"
                " + (excluded.updated_at - updated_at) * excluded.rate) >= 1",
                (key, burst - 1, rate, burst, now),
            )
            if cursor.rowcount == 1:
                return 0.0
            row = conn.execute("SELECT tokens, updated_at FROM buckets WHERE key = ?", (key,)).fetchone()
        available = min(burst, float(row[0]) + (now - float(row[1])) * rate)
        return max((1 - available) / rate, 0.001)

    # --- bounded state ---

    def purge(self, *, now: float, keep_finished: int) -> list[bytes]:
        """Delete expired sessions, registrations and pending operations, full buckets, old finished ops.

        Returns:
            The passkeys that expired add-a-passkey operations would have linked (the caller removes them
            from the relying party's store: they control nothing).
        """
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
            orphans = conn.execute(
                "DELETE FROM operations WHERE status = 'pending' AND expires_at <= ? RETURNING links", (now,)
            ).fetchall()
            conn.execute(
                "DELETE FROM operations WHERE status IN ('included', 'failed') AND op_id NOT IN ("
                " SELECT op_id FROM (SELECT op_id, row_number() OVER (PARTITION BY user"
                " ORDER BY created_at DESC, rowid DESC) AS n FROM operations"
                " WHERE status IN ('included', 'failed')) WHERE n <= ?)",
                (keep_finished,),
            )
            conn.execute("DELETE FROM buckets WHERE tokens + (? - updated_at) * rate >= burst", (now,))
        return [bytes(r[0]) for r in orphans if r[0] is not None]

    def counts(self) -> dict[str, int]:
        """Rows per table (what a monitor or a test watches to see the state stays bounded)."""
        tables = ("users", "passkeys", "sessions", "registrations", "operations", "buckets")
        with self._lock:
            return {t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608
