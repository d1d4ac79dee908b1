"""Errors of the JSON-RPC room.

Three families, so a caller can tell what happened to a request without parsing messages:

* the node answered with a JSON-RPC error (:class:`RpcError` and its subclasses, carrying the node's code,
  message and data, with revert data decoded when the node sent it);
* the request or the answer was lost or mangled on the way (:class:`RpcTransportError` and subclasses,
  :class:`MalformedRpcResponse`);
* a transaction refused before it was taken (:class:`TransactionRejected`), and everything that can go wrong
  once it has left (:class:`AfterSendError`: :class:`SendOutcomeUnknown`, :class:`ReceiptTimeout`,
  :class:`TransactionReverted`), each carrying the hash and the signed bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sso_signer._errors import InvalidInputError, RemoteError

if TYPE_CHECKING:
    from sso_signer.rpc._revert import RevertData
    from sso_signer.rpc._types import Receipt

__all__ = [
    "AfterSendError",
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


class AfterSendError(RemoteError):
    """Something failed after a transaction or UserOperation left this process: it may be, or is, on chain.

    Never sign the same intent again after one of these (that pays twice): keep the hash and the signed bytes
    it carries, poll for the receipt, or re-send the very same bytes (which is always safe). ``except
    AfterSendError`` catches every failure after a send; ``sent`` is ``True`` on all of them, so a handler
    that catches :class:`~sso_signer.SsoSignerError` can ask ``getattr(exc, "sent", False)``.

    Attributes:
        tx_hash: The transaction hash: the node's answer, or computed locally; ``None`` only when neither
            is known (a ZKsync ``0x71`` send whose answer was lost).
        raw_transaction: The signed transaction bytes that were sent (``None`` for a UserOperation, or
            when only a hash was given, as to ``wait_for_receipt``).
        user_op_hash: The userOpHash of a UserOperation (``None`` for a transaction).
        user_operation: The signed UserOperation that was sent (``None`` for a transaction).
    """

    sent = True

    def __init__(
        self,
        message: str,
        *,
        tx_hash: bytes | None = None,
        raw_transaction: bytes | None = None,
        user_op_hash: bytes | None = None,
        user_operation: Any = None,
    ) -> None:
        self.tx_hash = tx_hash
        self.raw_transaction = raw_transaction
        self.user_op_hash = user_op_hash
        self.user_operation = user_operation
        super().__init__(message)

    def fill(self, other: AfterSendError) -> None:
        """Take what ``other`` knows of the send where this error knows nothing (a flow that only had the
        hash raised it, the flow that sent adds the signed bytes)."""
        for name in ("tx_hash", "raw_transaction", "user_op_hash", "user_operation"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(other, name))


class SendOutcomeUnknown(AfterSendError):
    """Sent or maybe sent, outcome unknown: the send's answer was lost or garbled, or the receipt unreadable.

    The answer to the send may have been lost or garbled, or the wait for the receipt failed (the node's
    answers were unusable, or it stopped answering).

    The transaction was signed before sending, so re-sending :attr:`raw_transaction` unchanged is safe (the
    node either already has it or accepts it now) and polling :attr:`tx_hash` tells the outcome; signing a
    new transaction is not safe. The cause, when there is one, is ``__cause__``.
    """


class ReceiptTimeout(SendOutcomeUnknown):
    """No receipt for the transaction appeared within the timeout.

    Attributes:
        timeout: The timeout in seconds.
    """

    def __init__(
        self, message: str, *, tx_hash: bytes, timeout: float, raw_transaction: bytes | None = None
    ) -> None:
        self.timeout = timeout
        super().__init__(message, tx_hash=tx_hash, raw_transaction=raw_transaction)


class TransactionReverted(AfterSendError):
    """A mined transaction has status 0: it is on chain, it failed, and its nonce is used.

    Attributes:
        receipt: The transaction's receipt.
        revert: The revert data recovered by replaying the transaction with ``eth_call`` (``None`` if the
            replay did not revert, e.g. because the failure depended on state that changed since, or could
            not be run).
    """

    def __init__(
        self,
        message: str,
        *,
        receipt: Receipt,
        revert: RevertData | None,
        raw_transaction: bytes | None = None,
    ) -> None:
        self.receipt = receipt
        self.revert = revert
        super().__init__(message, tx_hash=receipt.transaction_hash, raw_transaction=raw_transaction)
