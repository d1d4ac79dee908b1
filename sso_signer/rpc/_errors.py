"""Errors of the JSON-RPC room.

Three families, so a caller can tell what happened to a request without parsing messages:

* the node answered with a JSON-RPC error (:class:`RpcError` and its subclasses, carrying the node's code,
  message and data, with revert data decoded when the node sent it);
* the request or the answer was lost or mangled on the way (:class:`RpcTransportError` and subclasses,
  :class:`MalformedRpcResponse`);
* a transaction's fate (:class:`TransactionRejected`, :class:`SendOutcomeUnknown`, :class:`ReceiptTimeout`,
  :class:`TransactionReverted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sso_signer._errors import InvalidInputError, RemoteError

if TYPE_CHECKING:
    from sso_signer.rpc._revert import RevertData
    from sso_signer.rpc._types import Receipt

__all__ = [
    "BatchResponseMismatch",
    "ExecutionReverted",
    "InvalidRpcParams",
    "MalformedRpcResponse",
    "ReceiptTimeout",
    "RpcConnectionError",
    "RpcError",
    "RpcHttpStatusError",
    "RpcTimeout",
    "RpcTransportError",
    "SendOutcomeUnknown",
    "TransactionRejected",
    "TransactionReverted",
]


class InvalidRpcParams(InvalidInputError):
    """A value given to a client method cannot be sent to a node (bad address, negative amount, ...)."""


class RpcError(RemoteError):
    """The node answered a request with a JSON-RPC error object.

    Attributes:
        code: The JSON-RPC error code the node sent.
        rpc_message: The node's error message, verbatim (also as :attr:`message`).
        data: The ``data`` member of the error object, as decoded JSON (or ``None``).
        method: The JSON-RPC method that failed.
        revert: Decoded revert data when the node sent any (``None`` otherwise).
    """

    def __init__(
        self,
        code: int,
        message: str,
        data: object = None,
        *,
        method: str = "",
        revert: RevertData | None = None,
    ) -> None:
        self.code = code
        self.rpc_message = message
        self.message = message
        self.data = data
        self.method = method
        self.revert = revert
        where = f"{method}: " if method else ""
        detail = f" ({revert.describe()})" if revert is not None and revert.raw else ""
        super().__init__(f"{where}node error {code}: {message}{detail}")


class ExecutionReverted(RpcError):
    """A call or gas estimate reverted; :attr:`revert` holds the decoded revert data."""


class TransactionRejected(RpcError):
    """``eth_sendRawTransaction`` was answered with an error: the node definitely did not accept the bytes."""


class RpcTransportError(RemoteError):
    """The request did not get a usable answer: connection failure, timeout or HTTP error status.

    Attributes:
        method: The JSON-RPC method (or ``"batch"``) being sent.
        attempts: How many times the request was tried before giving up.
        maybe_delivered: ``False`` only when no attempt got as far as sending the request (connection
            refused, connect timeout), so the node cannot have acted on it.
    """

    def __init__(
        self, message: str, *, method: str = "", attempts: int = 1, maybe_delivered: bool = True
    ) -> None:
        self.method = method
        self.attempts = attempts
        self.maybe_delivered = maybe_delivered
        super().__init__(message)


class RpcTimeout(RpcTransportError):
    """The node did not answer within the client's timeout."""


class RpcConnectionError(RpcTransportError):
    """The connection could not be opened or was reset before an answer arrived."""


class RpcHttpStatusError(RpcTransportError):
    """The node answered with an HTTP error status and no JSON-RPC body.

    Attributes:
        status_code: The HTTP status code.
    """

    def __init__(self, message: str, *, status_code: int, method: str = "", attempts: int = 1) -> None:
        self.status_code = status_code
        super().__init__(message, method=method, attempts=attempts)


class MalformedRpcResponse(RemoteError):
    """The node's answer is not well-formed JSON-RPC (bad or unbounded JSON, wrong shape or type)."""


class BatchResponseMismatch(MalformedRpcResponse):
    """A batch answer does not hold exactly one response per request id."""


class SendOutcomeUnknown(RemoteError):
    """The raw transaction may or may not have reached the node: the transport failed after sending began.

    The transaction was signed before sending, so re-sending :attr:`raw_transaction` unchanged is safe (the
    node either already has it or accepts it now); signing a new transaction is not.

    Attributes:
        raw_transaction: The exact bytes that were being sent.
        tx_hash: The hash computed locally (keccak of the raw bytes for Ethereum typed and legacy
            transactions), or ``None`` when the node's hash cannot be computed from the bytes alone
            (ZKsync ``0x71`` transactions).
    """

    def __init__(self, message: str, *, raw_transaction: bytes, tx_hash: bytes | None) -> None:
        self.raw_transaction = raw_transaction
        self.tx_hash = tx_hash
        super().__init__(message)


class ReceiptTimeout(RemoteError):
    """No receipt for the transaction appeared within the timeout.

    Attributes:
        tx_hash: The transaction hash waited for.
        timeout: The timeout in seconds.
    """

    def __init__(self, message: str, *, tx_hash: bytes, timeout: float) -> None:
        self.tx_hash = tx_hash
        self.timeout = timeout
        super().__init__(message)


class TransactionReverted(RemoteError):
    """A mined transaction has status 0.

    Attributes:
        receipt: The transaction's receipt.
        revert: The revert data recovered by replaying the transaction with ``eth_call`` (``None`` if the
            replay did not revert, e.g. because the failure depended on state that changed since).
    """

    def __init__(self, message: str, *, receipt: Receipt, revert: RevertData | None) -> None:
        self.receipt = receipt
        self.revert = revert
        super().__init__(message)
