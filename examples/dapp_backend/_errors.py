"""Errors of the example backend, named after the check that failed, in the SDK's categories.

Each maps to one HTTP status (``_web.error_status``); the JSON error body names the class.
"""

from __future__ import annotations

from typing import Literal

from sso_signer.exceptions import (
    AfterSendError,
    ConfigurationError,
    InvalidInputError,
    RemoteError,
    StateError,
    VerificationError,
)

__all__ = [
    "AccountAlreadyExists",
    "BodyTimeout",
    "BodyTooLarge",
    "CrossSiteRequest",
    "FailedAfterSend",
    "InvalidRequest",
    "MissingFunder",
    "NoPendingTransaction",
    "NoRegistrationInProgress",
    "NotSignedIn",
    "OperationExpired",
    "RateLimited",
    "SessionNotFound",
    "SessionsUnavailable",
    "UnknownUser",
    "UnsupportedContentType",
    "UnsupportedSetup",
    "UserOperationFailed",
    "ValidatorRejected",
    "WrongUser",
]


class InvalidRequest(InvalidInputError):
    """A request body is not what the endpoint takes (not JSON, nested too deep, a field missing or wrong).

    Attributes:
        field: The offending member (dotted path), or None for the body as a whole.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BodyTimeout(InvalidInputError):
    """The client did not send its whole request body in time (408)."""


class BodyTooLarge(InvalidInputError):
    """The request body exceeds the server's limit (413)."""


class UnsupportedContentType(InvalidInputError):
    """A state-changing request whose body is not ``application/json`` (415), e.g. a cross-site form post."""


class CrossSiteRequest(VerificationError):
    """A state-changing request whose ``Origin`` header is not one of the relying party's origins (403)."""


class NotSignedIn(VerificationError):
    """The endpoint acts for a user and the request carries no live session (401)."""


class WrongUser(VerificationError):
    """The request tries to act for another user than the session's, or a passkey of another user signed."""


class ValidatorRejected(VerificationError):
    """The on-chain validator did not accept the signature (its rule is named in the message)."""


class UnknownUser(StateError):
    """No account is registered under this user name, or the passkey is linked to none (404)."""


class AccountAlreadyExists(StateError):
    """The user name is taken: sign in instead, or add a passkey to the existing account (409)."""


class NoRegistrationInProgress(StateError):
    """A registration answer arrived but this session asked for no registration options (or they expired)."""


class NoPendingTransaction(StateError):
    """No operation waits for this signature.

    Attributes:
        reason: ``"unknown"``: the id names nothing prepared here (404); ``"used"``: it was already signed
            (409); ``"reissued"``: this exact transaction's hash was issued once already (409).
    """

    def __init__(self, message: str, *, reason: Literal["unknown", "used", "reissued"]) -> None:
        super().__init__(message)
        self.reason = reason


class OperationExpired(StateError):
    """The operation waited longer than its lifetime for a signature; prepare it again (410)."""


class RateLimited(StateError):
    """Too many requests of this kind (sign-up funding, pending operations) for now (429).

    Attributes:
        retry_after: Seconds after which the same request may succeed.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionsUnavailable(StateError):
    """Session keys need the ERC-4337 flow with a bundler and a deployed SessionKeyValidator (409)."""


class SessionNotFound(StateError):
    """No session key with this id belongs to the signed-in user (404)."""


class MissingFunder(ConfigurationError):
    """An existing node was given without a funded private key to pay for the example's accounts."""


class UnsupportedSetup(ConfigurationError):
    """Options that do not go together: several workers with the Era flow (its stand-in accounts' keys live
    in one process) or with a store only one process sees (``sqlite://:memory:``)."""


class UserOperationFailed(RemoteError):
    """The ERC-4337 gateway cannot go on, and no approved UserOperation was sent: the factory's deployment
    showed no ``AccountCreated`` event, several calls need the bundler, or the stored operation does not
    hash to the approved challenge (502). A UserOperation that left and then reverted or was lost is the
    SDK's ``AfterSendError`` (``UserOperationReverted``, ``TransactionReverted``, ...) with its hashes."""


class FailedAfterSend(AfterSendError):
    """The operation was sent (its hashes are here) and a later step failed: recording its outcome in the
    store, or reading what the answer shows. Its status follows the cause (503 for the store); the body says
    ``"sent": true`` with the hashes. It is never signed or sent again: the operation stays claimed in the
    store, and the backend records the outcome at its next request once the store answers (or, past the
    writes it holds, ``Limits.unrecorded_kept``, a housekeeping round reads it from the chain).

    Attributes:
        op_id: The operation (``None`` for a session-key payment, which has none).
        status: What is known of it: ``included``, ``failed`` (on chain, reverted) or ``sent``.
    """

    def __init__(
        self,
        message: str,
        *,
        op_id: str | None,
        status: str,
        tx_hash: bytes | None = None,
        user_op_hash: bytes | None = None,
        raw_transaction: bytes | None = None,
    ) -> None:
        super().__init__(message, tx_hash=tx_hash, user_op_hash=user_op_hash, raw_transaction=raw_transaction)
        self.op_id = op_id
        self.status = status
