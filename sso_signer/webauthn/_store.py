"""Credential and challenge storage: the protocols every store implements, sync and async.

Implementations: :class:`SQLiteStore` (embedded, the default), :class:`PostgresStore` and their async
forms; :func:`open_store` picks one from a URL.

A relying party persists two things: the passkeys of each user, and the challenges it issued, each consumed
exactly once before it expires. A ceremony ends with one call that consumes the challenge *and* writes the
credential change in the same transaction, so a failed or interrupted ceremony leaves nothing behind.
Whatever several processes share is decided inside that transaction: who the challenge was issued for, who
owns the credential, and whether the counter still moves forward (compare-and-set in SQL, never
read-then-write in Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from sso_signer.exceptions import AssertionRejected, ErrorCode
from sso_signer.webauthn._credential import PasskeyCredential

__all__ = [
    "AsyncPasskeyStore",
    "ChallengePurpose",
    "ChallengeStore",
    "CredentialStore",
    "PasskeyStore",
    "PendingChallenge",
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
            AssertionRejected (``CREDENTIAL_NOT_ALLOWED``): It is not in the allow-list, not owned by the
                challenge's user, or the
                challenge names nobody and was not issued for a discoverable login.
        """
        if self.credential_ids and bytes(credential_id) not in self.credential_ids:
            raise AssertionRejected(
                "this credential is not in the challenge's allow-list", rule=ErrorCode.CREDENTIAL_NOT_ALLOWED
            )
        if self.user_handle is not None and bytes(owner) != self.user_handle:
            raise AssertionRejected(
                "this challenge was issued for another user than the credential's owner",
                rule=ErrorCode.CREDENTIAL_NOT_ALLOWED,
            )
        if not self.credential_ids and self.user_handle is None and not self.discoverable:
            raise AssertionRejected(
                "this challenge names no user and no credential and was not issued for a discoverable login",
                rule=ErrorCode.CREDENTIAL_NOT_ALLOWED,
            )


@runtime_checkable
class ChallengeStore(Protocol):
    """Where issued challenges live until consumed."""

    def add_challenge(self, pending: PendingChallenge) -> None:
        """Store a new challenge. Raises AlreadyExists (CHALLENGE_ALREADY_ISSUED) if the bytes are known."""
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
        """Store a credential. Raises AlreadyExists (DUPLICATE_CREDENTIAL) if its id exists."""
        ...

    def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """Return a credential. Raises NotFound (CREDENTIAL_NOT_FOUND)."""
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
        """Delete a credential. Raises NotFound (CREDENTIAL_NOT_FOUND)."""
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


@runtime_checkable
class AsyncPasskeyStore(Protocol):
    """:class:`PasskeyStore` for asyncio: the same methods, with the same guarantees and errors, awaited.

    Implementations: :class:`AsyncPostgresStore` and :class:`AsyncSQLiteStore` (:func:`open_async_store`).
    """

    async def add_challenge(self, pending: PendingChallenge) -> None:
        """See :meth:`ChallengeStore.add_challenge`."""
        ...

    async def get_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """See :meth:`ChallengeStore.get_challenge`."""
        ...

    async def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """See :meth:`ChallengeStore.consume_challenge`."""
        ...

    async def purge_challenges(self, *, now: float | None = None, keep_used_for: float = 86400.0) -> int:
        """See :meth:`ChallengeStore.purge_challenges`."""
        ...

    async def add_credential(self, credential: PasskeyCredential) -> None:
        """See :meth:`CredentialStore.add_credential`."""
        ...

    async def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """See :meth:`CredentialStore.get_credential`."""
        ...

    async def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]:
        """See :meth:`CredentialStore.credentials_for_user`."""
        ...

    async def update_sign_count(self, credential_id: bytes, sign_count: int, *, backup_state: bool) -> None:
        """See :meth:`CredentialStore.update_sign_count`."""
        ...

    async def remove_credential(self, credential_id: bytes) -> None:
        """See :meth:`CredentialStore.remove_credential`."""
        ...

    async def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
    ) -> PendingChallenge:
        """See :meth:`PasskeyStore.complete_registration`."""
        ...

    async def complete_authentication(
        self,
        challenge: bytes,
        credential_id: bytes,
        sign_count: int,
        *,
        backup_state: bool,
        now: float,
        user_handle: bytes | None = None,
    ) -> PendingChallenge:
        """See :meth:`PasskeyStore.complete_authentication`."""
        ...

    async def close(self) -> None:
        """Release the connections."""
        ...
