"""Credential and challenge storage: small protocols and an embedded SQLite implementation.

A relying party persists two things: the passkeys of each user, and the challenges it issued, each consumed
exactly once before it expires. A ceremony ends with one call that consumes the challenge *and* writes the
credential change in the same transaction, so a failed or interrupted ceremony leaves nothing behind.
Whatever several processes share is decided inside that transaction: who the challenge was issued for, who
owns the credential, and whether the counter still moves forward (compare-and-set in SQL, never
read-then-write in Python).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from sso_signer._errors import SsoSignerError
from sso_signer._json import JsonLimits, parse_json
from sso_signer.webauthn._credential import MAX_SIGN_COUNT, PasskeyCredential
from sso_signer.webauthn._errors import (
    ChallengeAlreadyIssued,
    ChallengeAlreadyUsed,
    ChallengeExpired,
    ChallengePurposeMismatch,
    ChallengeUnknown,
    CounterRegression,
    CredentialNotAllowed,
    CredentialNotFound,
    DuplicateCredential,
    InvalidAuthenticatorData,
    StoreCorrupt,
    StoreUnavailable,
    UserHandleMismatch,
)
from sso_signer.webauthn._p256 import P256PublicKey

__all__ = [
    "ChallengePurpose",
    "ChallengeStore",
    "CredentialStore",
    "PasskeyStore",
    "PendingChallenge",
    "SQLiteStore",
]

ChallengePurpose = Literal["registration", "authentication"]


@dataclass(frozen=True, slots=True)
class PendingChallenge:
    """A challenge the relying party issued and has not yet seen answered.

    Args:
        challenge: The random (registration) or caller-supplied (signing) challenge bytes.
        purpose: ``"registration"`` or ``"authentication"``.
        expires_at: Unix time after which the challenge is refused.
        user_handle: The user the ceremony is for. Registration: the user the new passkey will belong to.
            Authentication: only this user's credentials may answer.
        user_name: The user name (registration).
        credential_ids: For authentication, the only credentials allowed to answer.
        discoverable: For authentication, a usernameless login: with no ``user_handle`` and no
            ``credential_ids``, any registered credential may answer. Without this mark such a challenge can
            be answered by nobody (an empty allow-list never means "anyone").
    """

    challenge: bytes
    purpose: ChallengePurpose
    expires_at: float
    user_handle: bytes | None = None
    user_name: str = ""
    credential_ids: tuple[bytes, ...] = ()
    discoverable: bool = False

    def check_answerer(self, credential_id: bytes, owner: bytes) -> None:
        """Refuse a credential that may not answer this authentication challenge.

        Args:
            credential_id: The credential that answered.
            owner: The user handle the store holds for that credential.

        Raises:
            CredentialNotAllowed: It is not in the allow-list, not owned by the challenge's user, or the
                challenge names nobody and was not issued for a discoverable login.
        """
        if self.credential_ids and bytes(credential_id) not in self.credential_ids:
            raise CredentialNotAllowed("this credential is not in the challenge's allow-list")
        if self.user_handle is not None and bytes(owner) != self.user_handle:
            raise CredentialNotAllowed(
                "this challenge was issued for another user than the credential's owner"
            )
        if not self.credential_ids and self.user_handle is None and not self.discoverable:
            raise CredentialNotAllowed(
                "this challenge names no user and no credential and was not issued for a discoverable login"
            )


@runtime_checkable
class ChallengeStore(Protocol):
    """Where issued challenges live until consumed."""

    def add_challenge(self, pending: PendingChallenge) -> None:
        """Store a new challenge. Raises ChallengeAlreadyIssued if the bytes are already known."""
        ...

    def get_challenge(self, challenge: bytes, *, purpose: ChallengePurpose, now: float) -> PendingChallenge:
        """Return a usable challenge without consuming it.

        Raises ChallengeUnknown, ChallengePurposeMismatch, ChallengeExpired or ChallengeAlreadyUsed.
        """
        ...

    def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """Atomically mark a usable challenge as used and return it; the same errors as get_challenge."""
        ...

    def purge_challenges(self, *, now: float, keep_used_for: float = 86400.0) -> int:
        """Delete unused challenges expired at ``now`` and used ones ``keep_used_for`` s after use.

        Returns the number of rows deleted.
        """
        ...


@runtime_checkable
class CredentialStore(Protocol):
    """Where registered passkeys live."""

    def add_credential(self, credential: PasskeyCredential) -> None:
        """Store a credential. Raises DuplicateCredential if its id exists."""
        ...

    def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """Return a credential. Raises CredentialNotFound."""
        ...

    def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]:
        """Return all credentials of a user, oldest first."""
        ...

    def update_sign_count(self, credential_id: bytes, sign_count: int, *, backup_state: bool) -> None:
        """Record the counter and backup state of the latest assertion.

        The counter only moves forward (or stays 0 for an authenticator without one), compared atomically.
        Raises CredentialNotFound or CounterRegression.
        """
        ...

    def remove_credential(self, credential_id: bytes) -> None:
        """Delete a credential. Raises CredentialNotFound."""
        ...


@runtime_checkable
class PasskeyStore(ChallengeStore, CredentialStore, Protocol):
    """Both stores, plus the two atomic ends of the ceremonies."""

    def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
    ) -> PendingChallenge:
        """In one transaction: consume the registration challenge and add the credential (all or nothing).

        The challenge's user, the credential's user and ``user_handle`` (the user whose session completes the
        ceremony) must be one: otherwise UserHandleMismatch, nothing stored, and the challenge is burnt.
        """
        ...

    def complete_authentication(
        self,
        challenge: bytes,
        credential_id: bytes,
        sign_count: int,
        *,
        backup_state: bool,
        now: float,
        user_handle: bytes | None = None,
    ) -> PendingChallenge:
        """In one transaction: consume the authentication challenge and move the credential's counter forward.

        Inside the transaction: the stored owner of the credential must satisfy the challenge
        (:meth:`PendingChallenge.check_answerer`) and equal ``user_handle`` if given (UserHandleMismatch), and
        ``sign_count`` must exceed the stored counter, both being 0 for an authenticator without one
        (CounterRegression). On any refusal nothing is written.
        """
        ...


_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS credentials (
    credential_id   BLOB PRIMARY KEY,
    user_handle     BLOB NOT NULL,
    user_name       TEXT NOT NULL,
    rp_id           TEXT NOT NULL,
    origin          TEXT NOT NULL,
    cose_key        BLOB NOT NULL,
    sign_count      INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    transports      TEXT NOT NULL,
    aaguid          BLOB NOT NULL,
    created_at      REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_handle, created_at)",
    """
CREATE TABLE IF NOT EXISTS challenges (
    challenge       BLOB PRIMARY KEY,
    purpose         TEXT NOT NULL,
    expires_at      REAL NOT NULL,
    user_handle     BLOB,
    user_name       TEXT NOT NULL,
    credential_ids  TEXT NOT NULL,
    used_at         REAL,
    discoverable    INTEGER NOT NULL DEFAULT 0
)""",
)
# Files made before usernameless logins were marked: their rows read as not discoverable (fail closed).
_ADD_DISCOVERABLE = "ALTER TABLE challenges ADD COLUMN discoverable INTEGER NOT NULL DEFAULT 0"

# A stored row is read back as outside input: a tampered file must not reach the C parser unbounded.
_ROW_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=2, max_int_digits=20)

# Literal statements only: nothing user-supplied is ever formatted into SQL.
_SELECT_CREDENTIAL = (
    "SELECT credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count, backup_eligible,"
    " backup_state, transports, aaguid FROM credentials"
)
_SELECT_BY_ID = _SELECT_CREDENTIAL + " WHERE credential_id = ?"
_SELECT_BY_USER = _SELECT_CREDENTIAL + " WHERE user_handle = ? ORDER BY created_at, rowid"
# Compare-and-set: the counter moves only forward, or stays 0 for an authenticator without one (?1 = new).
_UPDATE_COUNTER = (
    "UPDATE credentials SET sign_count = ?1, backup_state = ?2 WHERE credential_id = ?3"
    " AND (sign_count < ?1 OR (sign_count = 0 AND ?1 = 0))"
)
_INSERT_CREDENTIAL = (
    "INSERT INTO credentials (credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count,"
    " backup_eligible, backup_state, transports, aaguid, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def _typed_error(exc: sqlite3.Error, doing: str) -> SsoSignerError:
    name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreCorrupt(f"the passkey database is damaged or not SQLite ({doing}): {exc} [{name}]")
    return StoreUnavailable(f"the passkey store failed {doing}: {exc} [{name}]")


@contextmanager
def _typed(doing: str) -> Iterator[None]:
    """Turn every sqlite3 error into a typed store error (callers never see a bare OperationalError)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _typed_error(exc, doing) from exc


class SQLiteStore:
    """A :class:`PasskeyStore` on an SQLite file (stdlib ``sqlite3``), safe across threads and processes.

    WAL journal with ``synchronous=FULL``: once a write method returns, the row survives a killed process
    (and a power cut). Every write takes the write lock first (``BEGIN IMMEDIATE``), so checks and updates of
    one call cannot interleave with another process's: of several processes racing for one challenge exactly
    one succeeds, and a counter never moves backwards. Every ``sqlite3`` error surfaces as
    :class:`StoreUnavailable` (locked past ``timeout``, I/O, closed) or :class:`StoreCorrupt` (damaged file).

    Args:
        path: Database file; ``":memory:"`` for a private in-process store.
        timeout: Seconds to wait for another writer's lock (opening included).

    Raises:
        StoreUnavailable: The file cannot be opened or stays locked past ``timeout``.
        StoreCorrupt: The file is not an SQLite database.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        with _typed("opening the database"):
            self._conn = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._set_up(timeout)
            except BaseException:
                self._conn.close()
                raise

    def _set_up(self, timeout: float) -> None:
        # Switching a new file to WAL needs an exclusive lock and SQLite answers BUSY at once instead of
        # calling the busy handler (several processes opening one new file): retry until the timeout.
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._create_schema()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _create_schema(self) -> None:
        # One IMMEDIATE transaction: two processes never both add the migrated column.
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(challenges)")}
            if "discoverable" not in columns:
                conn.execute(_ADD_DISCOVERABLE)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection."""
        with self._lock, _typed("closing"):
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    @contextmanager
    def _read(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock, _typed(doing):
            yield self._conn

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the database write lock before reading, so check-then-update cannot interleave.
        with self._lock, _typed(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite may already have rolled back (disk full, I/O)
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- challenges --------------------------------------------------------------------------------

    def add_challenge(self, pending: PendingChallenge) -> None:
        """Store a new challenge.

        Raises:
            ChallengeAlreadyIssued: If these challenge bytes are already stored (pending or used).
            StoreUnavailable: The database stayed locked or failed.
        """
        ids = json.dumps([c.hex() for c in pending.credential_ids])
        with self._write("storing a challenge") as conn:
            try:
                conn.execute(
                    "INSERT INTO challenges (challenge, purpose, expires_at, user_handle, user_name,"
                    " credential_ids, used_at, discoverable) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                    (
                        pending.challenge,
                        pending.purpose,
                        pending.expires_at,
                        pending.user_handle,
                        pending.user_name,
                        ids,
                        int(pending.discoverable),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ChallengeAlreadyIssued("this challenge was already issued") from exc

    @staticmethod
    def _check(
        conn: sqlite3.Connection, challenge: bytes, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        row = conn.execute(
            "SELECT purpose, expires_at, user_handle, user_name, credential_ids, used_at, discoverable"
            " FROM challenges WHERE challenge = ?",
            (bytes(challenge),),
        ).fetchone()
        if row is None:
            raise ChallengeUnknown("this challenge was not issued by this relying party")
        stored_purpose, expires_at, user_handle, user_name, ids, used_at, discoverable = row
        if stored_purpose != purpose:
            raise ChallengePurposeMismatch(f"this challenge was issued for {stored_purpose}, not {purpose}")
        if used_at is not None:
            raise ChallengeAlreadyUsed("this challenge was already used")
        if now >= expires_at:
            raise ChallengeExpired(f"this challenge expired {now - expires_at:.0f} s ago")
        try:
            return PendingChallenge(
                challenge=bytes(challenge),
                purpose=purpose,
                expires_at=expires_at,
                user_handle=None if user_handle is None else bytes(user_handle),
                user_name=user_name,
                credential_ids=tuple(
                    bytes.fromhex(c)
                    for c in parse_json(ids, limits=_ROW_LIMITS, error=StoreCorrupt, what="ids")
                ),
                discoverable=bool(discoverable),
            )
        except (TypeError, ValueError) as exc:
            raise StoreCorrupt(f"stored challenge row is damaged ({type(exc).__name__})") from exc

    @staticmethod
    def _use(conn: sqlite3.Connection, challenge: bytes, now: float) -> None:
        conn.execute("UPDATE challenges SET used_at = ? WHERE challenge = ?", (now, bytes(challenge)))

    def get_challenge(self, challenge: bytes, *, purpose: ChallengePurpose, now: float) -> PendingChallenge:
        """Return a usable challenge without consuming it.

        Raises:
            ChallengeUnknown: Never issued (or purged).
            ChallengePurposeMismatch: Issued for the other ceremony.
            ChallengeAlreadyUsed: Already consumed.
            ChallengeExpired: Past its lifetime.
            StoreUnavailable: The database failed.
        """
        with self._read("reading a challenge") as conn:
            return self._check(conn, challenge, purpose, now)

    def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """Atomically mark a usable challenge used and return it.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired (as get_challenge).
            StoreUnavailable: The database stayed locked or failed.
        """
        with self._write("consuming a challenge") as conn:
            pending = self._check(conn, challenge, purpose, now)
            self._use(conn, challenge, now)
            return pending

    def purge_challenges(self, *, now: float | None = None, keep_used_for: float = 86400.0) -> int:
        """Delete unused challenges that have expired at ``now``, and used ones ``keep_used_for`` s after use.

        Used challenges are kept a while so a replay reads ChallengeAlreadyUsed, not ChallengeUnknown.

        Args:
            now: The current time (``time.time()`` if None).
            keep_used_for: Seconds a used challenge is kept after its use.

        Returns:
            The number of rows deleted.

        Raises:
            StoreUnavailable: The database stayed locked or failed.
        """
        now = time.time() if now is None else now
        with self._write("purging challenges") as conn:
            cursor = conn.execute(
                "DELETE FROM challenges WHERE (used_at IS NULL AND expires_at <= ?) OR (used_at IS NOT NULL"
                " AND used_at <= ?)",
                (now, now - keep_used_for),
            )
            return cursor.rowcount

    # -- credentials -------------------------------------------------------------------------------

    @staticmethod
    def _insert(conn: sqlite3.Connection, credential: PasskeyCredential) -> None:
        try:
            conn.execute(
                _INSERT_CREDENTIAL,
                (
                    credential.credential_id,
                    credential.user_handle,
                    credential.user_name,
                    credential.rp_id,
                    credential.origin,
                    credential.cose_key,
                    credential.sign_count,
                    int(credential.backup_eligible),
                    int(credential.backup_state),
                    json.dumps(list(credential.transports)),
                    credential.aaguid,
                    time.time(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateCredential("a credential with this id is already registered") from exc

    @staticmethod
    def _row_to_credential(row: tuple[Any, ...]) -> PasskeyCredential:
        (cred_id, user_handle, user_name, rp_id, origin, cose, count, be, bs, transports, aaguid) = row
        try:
            return PasskeyCredential(
                credential_id=bytes(cred_id),
                public_key=P256PublicKey.from_cose(bytes(cose)),
                origin=str(origin),
                rp_id=str(rp_id),
                cose_key=bytes(cose),
                sign_count=int(count),
                backup_eligible=bool(be),
                backup_state=bool(bs),
                transports=tuple(
                    str(t)
                    for t in parse_json(transports, limits=_ROW_LIMITS, error=StoreCorrupt, what="transports")
                ),
                aaguid=bytes(aaguid),
                user_handle=bytes(user_handle),
                user_name=str(user_name),
            )
        except (SsoSignerError, TypeError, ValueError) as exc:
            raise StoreCorrupt(f"stored credential row is damaged ({type(exc).__name__})") from exc

    def add_credential(self, credential: PasskeyCredential) -> None:
        """Store a credential.

        Raises:
            DuplicateCredential: If a credential with this id exists (nothing is written).
            StoreUnavailable: The database stayed locked or failed.
        """
        with self._write("storing a credential") as conn:
            self._insert(conn, credential)

    def find_credential(self, credential_id: bytes) -> PasskeyCredential | None:
        """Return a credential or None.

        Raises:
            StoreUnavailable: The database failed.
        """
        with self._read("reading a credential") as conn:
            row = conn.execute(_SELECT_BY_ID, (bytes(credential_id),)).fetchone()
        return None if row is None else self._row_to_credential(row)

    def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """Return a credential.

        Raises:
            CredentialNotFound: If no credential has this id.
            StoreUnavailable: The database failed.
        """
        found = self.find_credential(credential_id)
        if found is None:
            raise CredentialNotFound("no credential with this id is registered")
        return found

    def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]:
        """Return all credentials of a user, oldest first.

        Raises:
            StoreUnavailable: The database failed.
        """
        with self._read("reading a user's credentials") as conn:
            rows = conn.execute(_SELECT_BY_USER, (bytes(user_handle),)).fetchall()
        return [self._row_to_credential(row) for row in rows]

    @staticmethod
    def _update(conn: sqlite3.Connection, credential_id: bytes, sign_count: int, backup_state: bool) -> None:
        if not 0 <= sign_count <= MAX_SIGN_COUNT:
            # Checked before SQLite sees it: past 2**63 its binding raises a bare OverflowError.
            raise InvalidAuthenticatorData(f"signature counter {sign_count} is not a 4-byte unsigned integer")
        cursor = conn.execute(_UPDATE_COUNTER, (sign_count, int(backup_state), bytes(credential_id)))
        if cursor.rowcount == 1:
            return
        row = conn.execute(
            "SELECT sign_count FROM credentials WHERE credential_id = ?", (bytes(credential_id),)
        ).fetchone()
        if row is None:
            raise CredentialNotFound("no credential with this id is registered")
        raise CounterRegression(
            f"signature counter {sign_count} does not exceed the stored {row[0]}: another assertion of this "
            "credential was recorded first, or the authenticator was cloned"
        )

    def update_sign_count(self, credential_id: bytes, sign_count: int, *, backup_state: bool) -> None:
        """Record the counter and backup state of the latest assertion (the counter only moves forward).

        Raises:
            InvalidAuthenticatorData: If ``sign_count`` is not a uint32 (nothing is written).
            CredentialNotFound: If no credential has this id.
            CounterRegression: If ``sign_count`` does not exceed the stored counter (0 may follow 0).
            StoreUnavailable: The database stayed locked or failed.
        """
        with self._write("recording a signature counter") as conn:
            self._update(conn, credential_id, sign_count, backup_state)

    def remove_credential(self, credential_id: bytes) -> None:
        """Delete a credential.

        Raises:
            CredentialNotFound: If no credential has this id.
            StoreUnavailable: The database stayed locked or failed.
        """
        with self._write("removing a credential") as conn:
            if (
                conn.execute(
                    "DELETE FROM credentials WHERE credential_id = ?", (bytes(credential_id),)
                ).rowcount
                != 1
            ):
                raise CredentialNotFound("no credential with this id is registered")

    # -- ceremony ends -----------------------------------------------------------------------------

    def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
    ) -> PendingChallenge:
        """Consume the registration challenge and add the credential in one transaction.

        Args:
            challenge: The registration challenge the response answers.
            credential: The verified credential.
            now: The current time.
            user_handle: The user whose session completes the ceremony.

        Returns:
            The consumed challenge.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired.
            UserHandleMismatch: The challenge was issued for another user than ``user_handle`` (or the
                credential names another): nothing is stored, and the challenge is burnt, since it reached
                the wrong session.
            DuplicateCredential: The credential id exists; the challenge stays unconsumed.
            StoreUnavailable: The database stayed locked or failed.
        """
        user_handle = bytes(user_handle)
        refusal: UserHandleMismatch | None = None
        with self._write("completing a registration") as conn:
            pending = self._check(conn, challenge, "registration", now)
            self._use(conn, challenge, now)
            if pending.user_handle != user_handle or credential.user_handle != user_handle:
                refusal = UserHandleMismatch(
                    "this registration challenge was issued for another user than the one completing it"
                )
            else:
                self._insert(conn, credential)
        if refusal is not None:
            raise refusal  # raised after the commit: the burnt challenge is kept burnt
        return pending

    def complete_authentication(
        self,
        challenge: bytes,
        credential_id: bytes,
        sign_count: int,
        *,
        backup_state: bool,
        now: float,
        user_handle: bytes | None = None,
    ) -> PendingChallenge:
        """Consume the authentication challenge and move the credential's counter forward, in one transaction.

        Args:
            challenge: The challenge the assertion answers.
            credential_id: The credential that answered.
            sign_count: The assertion's counter.
            backup_state: The assertion's BS flag.
            now: The current time.
            user_handle: If given, the credential's stored owner must be this user.

        Returns:
            The consumed challenge.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired.
            CredentialNotFound: The credential was removed meanwhile.
            CredentialNotAllowed: The challenge's allow-list or user excludes this credential (stored owner).
            UserHandleMismatch: The stored owner is not ``user_handle``.
            CounterRegression: The stored counter is already at or past ``sign_count`` (a racing or
                cloned assertion); 0 after 0 is accepted.
            StoreUnavailable: The database stayed locked or failed.

        Nothing is written when any of these is raised.
        """
        with self._write("completing an authentication") as conn:
            pending = self._check(conn, challenge, "authentication", now)
            row = conn.execute(
                "SELECT user_handle FROM credentials WHERE credential_id = ?", (bytes(credential_id),)
            ).fetchone()
            if row is None:
                raise CredentialNotFound("no credential with this id is registered")
            owner = bytes(row[0])
            pending.check_answerer(credential_id, owner)
            if user_handle is not None and owner != bytes(user_handle):
                raise UserHandleMismatch("the credential belongs to another user than the session's")
            self._update(conn, credential_id, sign_count, backup_state)
            self._use(conn, challenge, now)
            return pending
