"""Credential and challenge storage: small protocols and an embedded SQLite implementation.

A relying party persists two things: the passkeys of each user, and the challenges it issued, each consumed
exactly once before it expires. A ceremony ends with one call that consumes the challenge *and* writes the
credential change in the same transaction, so a failed or interrupted ceremony leaves nothing behind.
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
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._errors import (
    ChallengeAlreadyIssued,
    ChallengeAlreadyUsed,
    ChallengeExpired,
    ChallengePurposeMismatch,
    ChallengeUnknown,
    CredentialNotFound,
    DuplicateCredential,
    StoreCorrupt,
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
        user_handle: The user the ceremony is for, if known.
        user_name: The user name (registration).
        credential_ids: For authentication, the credentials allowed to answer; empty means any of the RP's.
    """

    challenge: bytes
    purpose: ChallengePurpose
    expires_at: float
    user_handle: bytes | None = None
    user_name: str = ""
    credential_ids: tuple[bytes, ...] = ()


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
        """Delete expired challenges (and used ones older than ``keep_used_for``); return how many."""
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
        """Record the counter and backup state of the latest assertion. Raises CredentialNotFound."""
        ...

    def remove_credential(self, credential_id: bytes) -> None:
        """Delete a credential. Raises CredentialNotFound."""
        ...


@runtime_checkable
class PasskeyStore(ChallengeStore, CredentialStore, Protocol):
    """Both stores, plus the two atomic ends of the ceremonies."""

    def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float
    ) -> PendingChallenge:
        """In one transaction: consume the registration challenge and add the credential (all or nothing)."""
        ...

    def complete_authentication(
        self, challenge: bytes, credential_id: bytes, sign_count: int, *, backup_state: bool, now: float
    ) -> PendingChallenge:
        """In one transaction: consume the authentication challenge and update the credential's counter."""
        ...


_SCHEMA = """
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
);
CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_handle, created_at);
CREATE TABLE IF NOT EXISTS challenges (
    challenge       BLOB PRIMARY KEY,
    purpose         TEXT NOT NULL,
    expires_at      REAL NOT NULL,
    user_handle     BLOB,
    user_name       TEXT NOT NULL,
    credential_ids  TEXT NOT NULL,
    used_at         REAL
);
"""

# Literal statements only: nothing user-supplied is ever formatted into SQL.
_SELECT_CREDENTIAL = (
    "SELECT credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count, backup_eligible,"
    " backup_state, transports, aaguid FROM credentials"
)
_SELECT_BY_ID = _SELECT_CREDENTIAL + " WHERE credential_id = ?"
_SELECT_BY_USER = _SELECT_CREDENTIAL + " WHERE user_handle = ? ORDER BY created_at, rowid"
_INSERT_CREDENTIAL = (
    "INSERT INTO credentials (credential_id, user_handle, user_name, rp_id, origin, cose_key, sign_count,"
    " backup_eligible, backup_state, transports, aaguid, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore:
    """A :class:`PasskeyStore` on an SQLite file (stdlib ``sqlite3``), safe across threads and processes.

    WAL journal with ``synchronous=FULL``: once a write method returns, the row survives a killed process
    (and a power cut). Consuming a challenge takes the write lock first (``BEGIN IMMEDIATE``), so of several
    processes racing for one challenge exactly one succeeds.

    Args:
        path: Database file; ``":memory:"`` for a private in-process store.
        timeout: Seconds to wait for another writer's lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self._path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the database write lock before reading, so check-then-update cannot interleave.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- challenges --------------------------------------------------------------------------------

    def add_challenge(self, pending: PendingChallenge) -> None:
        """Store a new challenge.

        Raises:
            ChallengeAlreadyIssued: If these challenge bytes are already stored (pending or used).
        """
        ids = json.dumps([c.hex() for c in pending.credential_ids])
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO challenges (challenge, purpose, expires_at, user_handle, user_name,"
                    " credential_ids, used_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (
                        pending.challenge,
                        pending.purpose,
                        pending.expires_at,
                        pending.user_handle,
                        pending.user_name,
                        ids,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ChallengeAlreadyIssued("this challenge was already issued") from exc

    @staticmethod
    def _check(
        conn: sqlite3.Connection, challenge: bytes, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        row = conn.execute(
            "SELECT purpose, expires_at, user_handle, user_name, credential_ids, used_at FROM challenges"
            " WHERE challenge = ?",
            (bytes(challenge),),
        ).fetchone()
        if row is None:
            raise ChallengeUnknown("this challenge was not issued by this relying party")
        stored_purpose, expires_at, user_handle, user_name, ids, used_at = row
        if stored_purpose != purpose:
            raise ChallengePurposeMismatch(f"this challenge was issued for {stored_purpose}, not {purpose}")
        if used_at is not None:
            raise ChallengeAlreadyUsed("this challenge was already used")
        if now >= expires_at:
            raise ChallengeExpired(f"this challenge expired {now - expires_at:.0f} s ago")
        return PendingChallenge(
            challenge=bytes(challenge),
            purpose=purpose,
            expires_at=expires_at,
            user_handle=user_handle,
            user_name=user_name,
            credential_ids=tuple(bytes.fromhex(c) for c in json.loads(ids)),
        )

    def get_challenge(self, challenge: bytes, *, purpose: ChallengePurpose, now: float) -> PendingChallenge:
        """Return a usable challenge without consuming it.

        Raises:
            ChallengeUnknown: Never issued (or purged).
            ChallengePurposeMismatch: Issued for the other ceremony.
            ChallengeAlreadyUsed: Already consumed.
            ChallengeExpired: Past its lifetime.
        """
        with self._lock:
            return self._check(self._conn, challenge, purpose, now)

    def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """Atomically mark a usable challenge used and return it.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired (as get_challenge).
        """
        with self._write() as conn:
            pending = self._check(conn, challenge, purpose, now)
            conn.execute("UPDATE challenges SET used_at = ? WHERE challenge = ?", (now, bytes(challenge)))
            return pending

    def purge_challenges(self, *, now: float | None = None, keep_used_for: float = 86400.0) -> int:
        """Delete expired challenges and used ones older than ``keep_used_for`` seconds.

        Used challenges are kept a while so a replay reads ChallengeAlreadyUsed, not ChallengeUnknown.

        Returns:
            The number of rows deleted.
        """
        now = time.time() if now is None else now
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM challenges WHERE (used_at IS NULL AND expires_at <= ?) OR (used_at IS NOT NULL"
                " AND used_at <= ?)",
                (now - keep_used_for, now - keep_used_for),
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
                transports=tuple(str(t) for t in json.loads(transports)),
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
        """
        with self._write() as conn:
            self._insert(conn, credential)

    def find_credential(self, credential_id: bytes) -> PasskeyCredential | None:
        """Return a credential or None."""
        with self._lock:
            row = self._conn.execute(_SELECT_BY_ID, (bytes(credential_id),)).fetchone()
        return None if row is None else self._row_to_credential(row)

    def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """Return a credential.

        Raises:
            CredentialNotFound: If no credential has this id.
        """
        found = self.find_credential(credential_id)
        if found is None:
            raise CredentialNotFound("no credential with this id is registered")
        return found

    def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]:
        """Return all credentials of a user, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                _SELECT_BY_USER,
                (bytes(user_handle),),
            ).fetchall()
        return [self._row_to_credential(row) for row in rows]

    @staticmethod
    def _update(conn: sqlite3.Connection, credential_id: bytes, sign_count: int, backup_state: bool) -> None:
        cursor = conn.execute(
            "UPDATE credentials SET sign_count = ?, backup_state = ? WHERE credential_id = ?",
            (sign_count, int(backup_state), bytes(credential_id)),
        )
        if cursor.rowcount != 1:
            raise CredentialNotFound("no credential with this id is registered")

    def update_sign_count(self, credential_id: bytes, sign_count: int, *, backup_state: bool) -> None:
        """Record the counter and backup state of the latest assertion.

        Raises:
            CredentialNotFound: If no credential has this id.
        """
        with self._write() as conn:
            self._update(conn, credential_id, sign_count, backup_state)

    def remove_credential(self, credential_id: bytes) -> None:
        """Delete a credential.

        Raises:
            CredentialNotFound: If no credential has this id.
        """
        with self._write() as conn:
            if (
                conn.execute(
                    "DELETE FROM credentials WHERE credential_id = ?", (bytes(credential_id),)
                ).rowcount
                != 1
            ):
                raise CredentialNotFound("no credential with this id is registered")

    # -- ceremony ends -----------------------------------------------------------------------------

    def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float
    ) -> PendingChallenge:
        """Consume the registration challenge and add the credential in one transaction.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired.
            DuplicateCredential: The credential id exists; the challenge stays unconsumed.
        """
        with self._write() as conn:
            pending = self._check(conn, challenge, "registration", now)
            conn.execute("UPDATE challenges SET used_at = ? WHERE challenge = ?", (now, bytes(challenge)))
            self._insert(conn, credential)
            return pending

    def complete_authentication(
        self, challenge: bytes, credential_id: bytes, sign_count: int, *, backup_state: bool, now: float
    ) -> PendingChallenge:
        """Consume the authentication challenge and update the credential's counter in one transaction.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired.
            CredentialNotFound: The credential was removed meanwhile; nothing is written.
        """
        with self._write() as conn:
            pending = self._check(conn, challenge, "authentication", now)
            conn.execute("UPDATE challenges SET used_at = ? WHERE challenge = ?", (now, bytes(challenge)))
            self._update(conn, credential_id, sign_count, backup_state)
            return pending
