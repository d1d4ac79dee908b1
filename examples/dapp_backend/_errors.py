"""Errors of the example backend, named after the check that failed, in the SDK's categories."""

from __future__ import annotations

from sso_signer._errors import (
    ConfigurationError,
    InvalidInputError,
    RemoteError,
    StateError,
    VerificationError,
)

__all__ = [
    "AccountAlreadyExists",
    "InvalidRequest",
    "MissingFunder",
    "NoPendingTransaction",
    "UnknownUser",
    "UserOperationFailed",
    "ValidatorRejected",
    "WrongUser",
]


class InvalidRequest(InvalidInputError):
    """A request body lacks a member or a member has the wrong type (``to`` not an address, ``value`` < 0)."""


class UnknownUser(StateError):
    """No account is registered under this user name."""


class AccountAlreadyExists(StateError):
    """The user name is taken: sign in instead, or add a passkey to the existing account."""


class NoPendingTransaction(StateError):
    """The assertion's challenge is not the hash of a transaction this backend prepared (or it was used)."""


class WrongUser(VerificationError):
    """The passkey that signed belongs to another user than the one the transaction was prepared for."""


class ValidatorRejected(VerificationError):
    """The on-chain validator did not accept the signature (its rule is named in the message)."""


class MissingFunder(ConfigurationError):
    """An existing node was given without a funded private key to pay for the example's accounts."""


class UserOperationFailed(RemoteError):
    """The EntryPoint did not run the approved UserOperation to success (its call reverted, or no event)."""
