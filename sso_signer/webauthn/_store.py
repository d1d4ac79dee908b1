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

__all__ = ["AsyncPasskeyStore", "ChallengePurpose", "PasskeyStore", "PendingChallenge"]

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
                challenge's user, or the challenge names nobody and was not issued for a discoverable login.
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
class PasskeyStore(Protocol):
    """Where a relying party keeps its challenges and passkeys; each method is one transaction.

    Every method may also raise ``StoreUnavailable`` (the database failed; nothing was written unless its
    ``outcome_known`` is False) or ``StoreCorrupt`` (a damaged row or file).
    """

    def add_challenge(self, pending: PendingChallenge) -> None:
        """Store a new challenge.

        Raises:
            AlreadyExists (``CHALLENGE_ALREADY_ISSUED``): If these challenge bytes are already stored (pending
                or used).
        """
        ...

    def get_challenge(self, challenge: bytes, *, purpose: ChallengePurpose, now: float) -> PendingChallenge:
        """Return a usable challenge without consuming it.

        Raises:
            ChallengeInvalid (``CHALLENGE_UNKNOWN``): Never issued (or purged).
            ChallengeInvalid (``CHALLENGE_PURPOSE_MISMATCH``): Issued for the other ceremony.
            ChallengeInvalid (``CHALLENGE_ALREADY_USED``): Already consumed.
            ChallengeInvalid (``CHALLENGE_EXPIRED``): Past its lifetime.
        """
        ...

    def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge:
        """Atomically mark a usable challenge used and return it.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired (as :meth:`get_challenge`).
        """
        ...

    def purge_challenges(self, *, now: float | None = None, keep_used_for: float = 86400.0) -> int:
        """Delete unused challenges that have expired at ``now``, and used ones ``keep_used_for`` s after use.

        Used challenges are kept a while so a replay reads ChallengeAlreadyUsed, not ChallengeUnknown.

        Args:
            now: The current time (``time.time()`` if None).
            keep_used_for: Seconds a used challenge is kept after its use.

        Returns:
            The number of rows deleted.
        """
        ...

    def add_credential(self, credential: PasskeyCredential) -> None:
        """Store a credential.

        Raises:
            AlreadyExists (``DUPLICATE_CREDENTIAL``): If a credential with this id exists (nothing is
                written).
        """
        ...

    def get_credential(self, credential_id: bytes) -> PasskeyCredential:
        """Return a credential.

        Raises:
            NotFound (``CREDENTIAL_NOT_FOUND``): If no credential has this id.
        """
        ...

    def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]:
        """Return all credentials of a user, oldest first."""
        ...

    def update_sign_count(self, credential_id: bytes, sign_count: int, *, backup_state: bool) -> None:
        """Record the counter and backup state of the latest assertion (the counter only moves forward).

        Raises:
            InvalidWebAuthnData: If ``sign_count`` is not a uint32 (nothing is written).
            NotFound (``CREDENTIAL_NOT_FOUND``): If no credential has this id.
            AssertionRejected (``COUNTER_REGRESSION``): If ``sign_count`` does not exceed the stored counter
                (0 may follow 0).
        """
        ...

    def remove_credential(self, credential_id: bytes) -> None:
        """Delete a credential.

        Raises:
            NotFound (``CREDENTIAL_NOT_FOUND``): If no credential has this id.
        """
        ...

    def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
    ) -> PendingChallenge:
        """Consume the registration challenge and add the credential in one transaction (all or nothing).

        Args:
            challenge: The registration challenge the response answers.
            credential: The verified credential.
            now: The current time.
            user_handle: The user whose session completes the ceremony.

        Returns:
            The consumed challenge.

        Raises:
            ChallengeInvalid: Unknown, purpose mismatch, already used or expired.
            AssertionRejected (``USER_HANDLE_MISMATCH``): The challenge was issued for another user than
                ``user_handle`` (or the credential names another): nothing is stored, and the challenge is
                burnt, since it reached the wrong session.
            AlreadyExists (``DUPLICATE_CREDENTIAL``): The credential id exists; the challenge stays
                unconsumed.
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
        """Consume the authentication challenge and move the credential's counter forward, in one transaction.

        Inside the transaction the stored owner of the credential must satisfy the challenge
        (:meth:`PendingChallenge.check_answerer`) and ``user_handle``, and the counter is compared and set.
        Nothing is written when any error is raised.

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
            NotFound (``CREDENTIAL_NOT_FOUND``): The credential was removed meanwhile.
            AssertionRejected (``CREDENTIAL_NOT_ALLOWED``): The challenge's allow-list or user excludes this
                credential (stored owner).
            AssertionRejected (``USER_HANDLE_MISMATCH``): The stored owner is not ``user_handle``.
            AssertionRejected (``COUNTER_REGRESSION``): The stored counter is already at or past
                ``sign_count`` (a racing or cloned assertion); 0 after 0 is accepted.
        """
        ...


@runtime_checkable
class AsyncPasskeyStore(Protocol):
    """:class:`PasskeyStore` for asyncio: its methods (documented there), awaited, and :meth:`close`.

    Implementations: :class:`AsyncPostgresStore` and :class:`AsyncSQLiteStore` (:func:`open_async_store`).
    """

    async def add_challenge(self, pending: PendingChallenge) -> None: ...
    async def get_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge: ...
    async def consume_challenge(
        self, challenge: bytes, *, purpose: ChallengePurpose, now: float
    ) -> PendingChallenge: ...
    async def purge_challenges(self, *, now: float | None = None, keep_used_for: float = 86400.0) -> int: ...
    async def add_credential(self, credential: PasskeyCredential) -> None: ...
    async def get_credential(self, credential_id: bytes) -> PasskeyCredential: ...
    async def credentials_for_user(self, user_handle: bytes) -> list[PasskeyCredential]: ...
    async def update_sign_count(
        self, credential_id: bytes, sign_count: int, *, backup_state: bool
    ) -> None: ...
    async def remove_credential(self, credential_id: bytes) -> None: ...
    async def complete_registration(
        self, challenge: bytes, credential: PasskeyCredential, *, now: float, user_handle: bytes
    ) -> PendingChallenge: ...
    async def complete_authentication(
        self,
        challenge: bytes,
        credential_id: bytes,
        sign_count: int,
        *,
        backup_state: bool,
        now: float,
        user_handle: bytes | None = None,
    ) -> PendingChallenge: ...
    async def close(self) -> None:
        """Release the connections."""
        ...
