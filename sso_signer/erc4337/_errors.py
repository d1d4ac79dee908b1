"""Concrete errors of the ``erc4337`` room (UserOperations, execute calldata, EntryPoint, bundler).

Each class names the check that failed. Bundler rejections carry the EntryPoint ``AAxx`` code when the bundler
reported one, so callers can branch on ``exc.aa_code`` or on the class without parsing the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sso_signer._errors import InvalidInputError, RemoteError, StateError, VerificationError
from sso_signer.rpc import AfterSendError, RpcTransportError, SendOutcomeUnknown

if TYPE_CHECKING:
    from sso_signer.erc4337._user_operation import UserOperation

__all__ = [
    "AccountCreationFailed",
    "AccountNotDeployed",
    "AccountValidationFailed",
    "AccountValidationReverted",
    "BundlerError",
    "EntryPointArtifactMismatch",
    "EntryPointDeploymentFailed",
    "EntryPointError",
    "FieldOutOfRange",
    "InsufficientPrefund",
    "InvalidAccountNonce",
    "InvalidExecuteCalldata",
    "InvalidUserOperation",
    "InvalidUserOperationAddress",
    "InvalidUserOperationFieldType",
    "InvalidUserOperationJson",
    "OrphanFactoryData",
    "OrphanPaymasterFields",
    "PaymasterValidationFailed",
    "SignatureValidationFailed",
    "UnsupportedEntryPoint",
    "UserOperationExecutionReverted",
    "UserOperationOutcomeUnknown",
    "UserOperationRejected",
    "UserOperationReverted",
    "UserOperationTimeout",
    "aa_error_class",
]


# --- malformed input -------------------------------------------------------------------------------------


class InvalidUserOperation(InvalidInputError):
    """A UserOperation field is malformed (base class of the checks below)."""


class InvalidUserOperationAddress(InvalidUserOperation):
    """A field that must be a 20-byte address is not one."""


class FieldOutOfRange(InvalidUserOperation):
    """An integer field is negative or wider than its on-chain type."""


class InvalidUserOperationFieldType(InvalidUserOperation):
    """A field has the wrong Python type (text where bytes are expected, ...)."""


class OrphanFactoryData(InvalidUserOperation):
    """``factoryData`` is set but ``factory`` is not: the data would be read as a factory address."""


class OrphanPaymasterFields(InvalidUserOperation):
    """Paymaster gas limits or data are set but ``paymaster`` is not."""


class InvalidUserOperationJson(InvalidUserOperation):
    """A JSON-RPC UserOperation object misses a required key or has a value of the wrong shape."""


class InvalidExecuteCalldata(InvalidInputError):
    """``execute(bytes32,bytes)`` calldata could not be encoded or decoded (unknown call type, bad layout)."""


# --- EntryPoint / chain state ----------------------------------------------------------------------------


class EntryPointError(RemoteError):
    """An EntryPoint call on the node failed in an unexpected way (no code, unexpected revert data)."""


class FactoryCallFailed(EntryPointError):
    """The initCode's factory call failed (``SenderAddressResult(0)``): account exists, or bad init data."""


class EntryPointDeploymentFailed(EntryPointError):
    """Deploying EntryPoint v0.8 through the deterministic deployer left no code at the canonical address."""


class EntryPointArtifactMismatch(EntryPointError):
    """The EntryPoint artifact is unreadable or is not the canonical v0.8 creation bytecode."""


class AccountNotDeployed(StateError):
    """The account has no code yet and the operation needs a deployed account."""


# --- bundler ---------------------------------------------------------------------------------------------


class BundlerError(RemoteError):
    """The bundler answered a JSON-RPC error.

    Attributes:
        code: The JSON-RPC error code (``-32500`` EntryPoint validation failure, ``-32602`` bad params).
        aa_code: The EntryPoint ``AAxx`` code found in the message (``"AA23"``), or ``None``.
        reason: The bundler's message.
        data: The JSON-RPC ``data`` member, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        aa_code: str | None = None,
        reason: str = "",
        data: object = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.aa_code = aa_code
        self.reason = reason
        self.data = data


class UnsupportedEntryPoint(BundlerError):
    """The bundler does not serve the requested EntryPoint."""


class UserOperationRejected(BundlerError):
    """The bundler rejected the UserOperation during simulation (validation, gas, nonce...)."""


class AccountCreationFailed(UserOperationRejected):
    """AA1x: the initCode did not deploy the sender (factory reverted, wrong address, already exists)."""


class AccountValidationFailed(UserOperationRejected):
    """AA2x: the account's ``validateUserOp`` failed (other than the more specific cases below)."""


class InsufficientPrefund(AccountValidationFailed):
    """AA21: the account did not pay the prefund (no balance, no deposit, no paymaster)."""


class AccountValidationReverted(AccountValidationFailed):
    """AA23: ``validateUserOp`` reverted.

    Attributes:
        revert_data: The revert bytes, if the bundler gave them.
        revert_error: The decoded SSO validator/account error (``"InvalidAuthDataFlags(0x01)"``,
            ``'InvalidClientData("crossOrigin")'``), or ``None`` when the selector is not a known one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        aa_code: str | None = None,
        reason: str = "",
        data: object = None,
        revert_data: bytes = b"",
        revert_error: str | None = None,
    ) -> None:
        super().__init__(message, code=code, aa_code=aa_code, reason=reason, data=data)
        self.revert_data = revert_data
        self.revert_error = revert_error


class SignatureValidationFailed(AccountValidationFailed, VerificationError):
    """AA24: the account returned SIG_VALIDATION_FAILED (wrong key or challenge, validator not installed)."""


class InvalidAccountNonce(AccountValidationFailed):
    """AA25: the nonce is not the next one for its key."""


class PaymasterValidationFailed(UserOperationRejected):
    """AA3x: the paymaster rejected or could not pay for the UserOperation."""


class UserOperationExecutionReverted(UserOperationRejected):
    """The call phase reverted during gas estimation (the account's ``execute`` failed)."""


class UserOperationReverted(AfterSendError):
    """The UserOperation was included but its call phase reverted: it is on chain, its nonce is used.

    Attributes:
        receipt: The bundler's :class:`~sso_signer.erc4337.UserOperationReceipt`.
        user_op_hash: The userOpHash; ``tx_hash`` is the hash of the bundle transaction that included it.
        user_operation: The signed UserOperation, when the flow that sent it raised this.
    """

    def __init__(
        self,
        message: str,
        *,
        receipt: object = None,
        user_op_hash: bytes | None = None,
        user_operation: UserOperation | None = None,
    ) -> None:
        bundle = getattr(receipt, "receipt", None)
        super().__init__(
            message,
            tx_hash=getattr(bundle, "transaction_hash", None),
            user_op_hash=user_op_hash,
            user_operation=user_operation,
        )
        self.receipt = receipt


class UserOperationOutcomeUnknown(SendOutcomeUnknown, RpcTransportError):
    """The UserOperation was sent or maybe sent, and its outcome is unknown (answer lost, receipt unreadable).

    The answer to ``eth_sendUserOperation`` was lost or garbled, or the wait for its receipt failed.

    The operation was signed before sending, so re-sending :attr:`user_operation` unchanged (with
    ``BundlerClient.send_user_operation``, which takes "already known" as success) is safe, and polling
    ``eth_getUserOperationReceipt`` for :attr:`user_op_hash` tells the outcome; signing the same intent again
    is not safe.

    Attributes:
        user_op_hash: The v0.8 userOpHash of :attr:`user_operation`, computed locally (``None`` only when the
            chain id was neither given nor readable from the dead bundler).
        user_operation: The signed UserOperation that was sent (``None`` when only the hash was given, as to
            ``wait_for_user_operation_receipt``).
        method: The JSON-RPC method whose answer was unusable.
        attempts: How many times it was tried.
        maybe_delivered: Always ``True``.

    It is also an ``RpcTransportError`` (as a lost answer always was), so handlers written for those still
    see it; ``except AfterSendError`` is the one that covers every failure after a send.
    """

    def __init__(
        self,
        message: str,
        *,
        user_op_hash: bytes | None,
        user_operation: UserOperation | None = None,
        method: str = "eth_sendUserOperation",
        attempts: int = 1,
    ) -> None:
        super().__init__(message, user_op_hash=user_op_hash, user_operation=user_operation)
        # RpcTransportError's fields (its __init__ ran with its defaults through the shared super() chain).
        self.method = method
        self.attempts = attempts
        self.maybe_delivered = True


class UserOperationTimeout(UserOperationOutcomeUnknown):
    """No receipt for the UserOperation arrived before the deadline (it may still be pooled, or dropped).

    Attributes:
        timeout: The wait's timeout in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        user_op_hash: bytes,
        timeout: float,
        user_operation: UserOperation | None = None,
    ) -> None:
        self.timeout = timeout
        super().__init__(
            message,
            user_op_hash=user_op_hash,
            user_operation=user_operation,
            method="eth_getUserOperationReceipt",
        )


_AA_CLASSES: dict[str, type[UserOperationRejected]] = {
    "AA21": InsufficientPrefund,
    "AA23": AccountValidationReverted,
    "AA24": SignatureValidationFailed,
    "AA25": InvalidAccountNonce,
}


def aa_error_class(aa_code: str | None) -> type[UserOperationRejected]:
    """Map an EntryPoint ``AAxx`` code to the most specific error class.

    Args:
        aa_code: A code like ``"AA23"``, or ``None``.

    Returns:
        The class to raise; :class:`UserOperationRejected` for unknown or missing codes.
    """
    if aa_code is None:
        return UserOperationRejected
    if aa_code in _AA_CLASSES:
        return _AA_CLASSES[aa_code]
    family = aa_code[:3]
    if family == "AA1":
        return AccountCreationFailed
    if family == "AA2":
        return AccountValidationFailed
    if family == "AA3":
        return PaymasterValidationFailed
    return UserOperationRejected
