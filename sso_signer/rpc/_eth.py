"""Ethereum JSON-RPC clients (sync and async) built on the shared flows.

Every method is a flow (``_flows`` below, written once) driven by :func:`run_flow` or :func:`run_flow_async`;
the two client classes only differ in how they drive it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from sso_signer._codec import hex_encode
from sso_signer.exceptions import (
    ExecutionReverted,
    InvalidRpcParams,
    MalformedRpcResponse,
    ReceiptTimeout,
    RpcError,
    RpcHttpStatusError,
    RpcTransportError,
    SendOutcomeUnknown,
    TransactionRejected,
    TransactionReverted,
)
from sso_signer.rpc._client import AsyncJsonRpcClient, Deadline, JsonRpcClient, safe_url
from sso_signer.rpc._core import RetryPolicy, RpcCall, is_already_known, is_nonce_used
from sso_signer.rpc._flow import Batch, Flow, Sleep, after_send, run_flow, run_flow_async
from sso_signer.rpc._revert import RevertData
from sso_signer.rpc._types import (
    BlockId,
    Log,
    Receipt,
    SendOutcome,
    SendStatus,
    encode_block_id,
    encode_quantity,
    encode_tx_request,
    local_tx_hash,
    parse_address,
    parse_data,
    parse_hash,
    parse_quantity,
    to_address,
)

__all__ = ["AsyncEthClient", "EthClient", "eth_flows"]

log = logging.getLogger("sso_signer.rpc")

DEFAULT_RECEIPT_TIMEOUT = 120.0
# Tries of one eth_sendRawTransaction (always the same bytes) and the first back-off delay in seconds.
SEND_ATTEMPTS = 3
SEND_BACKOFF = 0.1
# The least time a receipt poll is given, even when the wait has less left: a last poll can still land.
MIN_POLL_DEADLINE = 1.0


def _refused_in_front(status_code: int) -> bool:
    return 400 <= status_code < 500 and status_code != 429


def _topic_param(topic: bytes | Sequence[bytes] | None) -> str | list[str] | None:
    # A topic position is one value, a list of alternatives, or None (any value).
    if topic is None:
        return None
    if isinstance(topic, bytes | bytearray):
        if len(topic) != 32:
            raise InvalidRpcParams("topics: each topic must be 32 bytes")
        return hex_encode(bytes(topic))
    return [str(_topic_param(t)) for t in topic if t is not None]


def _hash_param(tx_hash: bytes) -> str:
    if not isinstance(tx_hash, bytes | bytearray) or len(tx_hash) != 32:
        raise InvalidRpcParams("tx_hash: expected 32 bytes")
    return hex_encode(bytes(tx_hash))


def _describe(raw: bytes) -> str:
    local = local_tx_hash(raw) if isinstance(raw, bytes | bytearray) and raw else None
    return f"0x{local.hex()}" if local is not None else "(0x71, hash known to the node only)"


def _unknown(tx_hash: bytes | None, raw: bytes | None) -> Callable[[str], SendOutcomeUnknown]:
    """The "outcome unknown" error of a sent transaction, for :func:`after_send`."""

    def build(message: str) -> SendOutcomeUnknown:
        return SendOutcomeUnknown(
            message, tx_hash=None if tx_hash is None else bytes(tx_hash), raw_transaction=raw
        )

    return build


class _Flows:
    """The Ethereum flows. Stateless; a namespace so ZKsync's client can extend it by subclassing."""

    # -- reads ------------------------------------------------------------------------------------------

    @staticmethod
    def chain_id() -> Flow[int]:
        return parse_quantity((yield RpcCall("eth_chainId")), "eth_chainId")

    @staticmethod
    def block_number() -> Flow[int]:
        return parse_quantity((yield RpcCall("eth_blockNumber")), "eth_blockNumber")

    @staticmethod
    def get_balance(address: str, block: BlockId = "latest") -> Flow[int]:
        params = (to_address(address), encode_block_id(block))
        return parse_quantity((yield RpcCall("eth_getBalance", params)), "eth_getBalance")

    @staticmethod
    def get_transaction_count(address: str, block: BlockId = "latest") -> Flow[int]:
        params = (to_address(address), encode_block_id(block))
        return parse_quantity((yield RpcCall("eth_getTransactionCount", params)), "eth_getTransactionCount")

    @staticmethod
    def get_code(address: str, block: BlockId = "latest") -> Flow[bytes]:
        params = (to_address(address), encode_block_id(block))
        return parse_data((yield RpcCall("eth_getCode", params)), "eth_getCode")

    @staticmethod
    def get_storage_at(address: str, slot: int, block: BlockId = "latest") -> Flow[bytes]:
        params = (to_address(address), encode_quantity(slot, "slot"), encode_block_id(block))
        return parse_data((yield RpcCall("eth_getStorageAt", params)), "eth_getStorageAt", length=32)

    @staticmethod
    def call(tx: Mapping[str, object], block: BlockId = "latest") -> Flow[bytes]:
        params = (encode_tx_request(tx), encode_block_id(block))
        return parse_data((yield RpcCall("eth_call", params)), "eth_call")

    @staticmethod
    def estimate_gas(tx: Mapping[str, object], block: BlockId | None = None) -> Flow[int]:
        params: tuple[Any, ...] = (encode_tx_request(tx),)
        if block is not None:
            params += (encode_block_id(block),)
        return parse_quantity((yield RpcCall("eth_estimateGas", params)), "eth_estimateGas")

    @staticmethod
    def gas_price() -> Flow[int]:
        return parse_quantity((yield RpcCall("eth_gasPrice")), "eth_gasPrice")

    @staticmethod
    def max_priority_fee_per_gas() -> Flow[int]:
        return parse_quantity((yield RpcCall("eth_maxPriorityFeePerGas")), "eth_maxPriorityFeePerGas")

    @staticmethod
    def get_block(block: BlockId = "latest", full_transactions: bool = False) -> Flow[dict[str, Any] | None]:
        result = yield RpcCall("eth_getBlockByNumber", (encode_block_id(block), bool(full_transactions)))
        if result is not None and not isinstance(result, dict):
            raise MalformedRpcResponse("eth_getBlockByNumber: expected an object or null")
        return result

    @staticmethod
    def get_transaction(tx_hash: bytes) -> Flow[dict[str, Any] | None]:
        result = yield RpcCall("eth_getTransactionByHash", (_hash_param(tx_hash),))
        if result is not None and not isinstance(result, dict):
            raise MalformedRpcResponse("eth_getTransactionByHash: expected an object or null")
        return result

    @staticmethod
    def get_transaction_receipt(tx_hash: bytes) -> Flow[Receipt | None]:
        result = yield RpcCall("eth_getTransactionReceipt", (_hash_param(tx_hash),))
        return None if result is None else Receipt.from_rpc(result)

    @staticmethod
    def get_logs(
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        from_block: BlockId = "earliest",
        to_block: BlockId = "latest",
    ) -> Flow[tuple[Log, ...]]:
        query: dict[str, Any] = {
            "fromBlock": encode_block_id(from_block),
            "toBlock": encode_block_id(to_block),
        }
        if isinstance(address, str):
            query["address"] = to_address(address)
        elif address is not None:
            query["address"] = [to_address(a, "address[]") for a in address]
        if topics:
            query["topics"] = [_topic_param(t) for t in topics]
        result = yield RpcCall("eth_getLogs", (query,))
        if not isinstance(result, list):
            raise MalformedRpcResponse("eth_getLogs: expected an array")
        return tuple(Log.from_rpc(item) for item in result)

    # -- sending ----------------------------------------------------------------------------------------

    @staticmethod
    def try_send_raw_transaction(raw: bytes) -> Flow[SendOutcome]:
        if not isinstance(raw, bytes | bytearray) or not raw:
            raise InvalidRpcParams("raw transaction: expected non-empty bytes")
        raw = bytes(raw)
        local = local_tx_hash(raw)
        # Retried here rather than in the client: after an attempt that may have reached the node, a
        # rejection of the next one ("nonce too low") may be about our own transaction, so it must be
        # looked up before it can be called "not sent".
        maybe_delivered = False
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                answer = yield RpcCall("eth_sendRawTransaction", (hex_encode(raw),), retry=False)
            except TransactionRejected as exc:
                if is_already_known(exc):
                    # The node holds these exact bytes already (an earlier attempt, or another sender).
                    if local is not None:
                        return SendOutcome(SendStatus.SENT, raw, local, None)
                    return SendOutcome(SendStatus.UNKNOWN, raw, None, exc)
                # "Nonce used" may be about these very bytes, mined after an earlier attempt of this call or
                # an earlier call whose answer was lost (the documented recovery re-sends them): look up.
                if not maybe_delivered and not is_nonce_used(exc):
                    return SendOutcome(SendStatus.NOT_SENT, raw, local, exc)
                if local is None:
                    return SendOutcome(SendStatus.UNKNOWN, raw, None, exc)
                try:
                    known = yield RpcCall("eth_getTransactionByHash", (hex_encode(local),))
                except (RpcTransportError, RpcError, MalformedRpcResponse):
                    return SendOutcome(SendStatus.UNKNOWN, raw, local, exc)
                if known is not None:
                    return SendOutcome(SendStatus.SENT, raw, local, None)
                return SendOutcome(SendStatus.NOT_SENT, raw, local, exc)
            except RpcTransportError as exc:
                # A 4xx without a JSON-RPC body (401, 413, ...) is a refusal in front of the node: that
                # attempt was not processed, and repeating it will not help. 429 is a "later", retried.
                if isinstance(exc, RpcHttpStatusError) and _refused_in_front(exc.status_code):
                    status = SendStatus.UNKNOWN if maybe_delivered else SendStatus.NOT_SENT
                    return SendOutcome(status, raw, local, exc)
                maybe_delivered = maybe_delivered or exc.maybe_delivered
                if attempt == SEND_ATTEMPTS:
                    status = SendStatus.UNKNOWN if maybe_delivered else SendStatus.NOT_SENT
                    return SendOutcome(status, raw, local, exc)
                log.debug("eth_sendRawTransaction attempt %d failed; re-sending the same bytes", attempt)
                yield Sleep(SEND_BACKOFF * 2 ** (attempt - 1))
                continue
            except MalformedRpcResponse as exc:
                return SendOutcome(SendStatus.UNKNOWN, raw, local, exc)
            except RpcError as exc:  # pragma: no cover - the core maps send errors to TransactionRejected
                return SendOutcome(SendStatus.NOT_SENT, raw, local, exc)
            try:
                node_hash = parse_hash(answer, "eth_sendRawTransaction")
            except MalformedRpcResponse as exc:
                return SendOutcome(SendStatus.UNKNOWN, raw, local, exc)
            if local is not None and node_hash != local:
                log.warning("node reported tx hash 0x%s, computed 0x%s locally", node_hash.hex(), local.hex())
            return SendOutcome(SendStatus.SENT, raw, node_hash, None)
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def send_raw_transaction(cls, raw: bytes) -> Flow[bytes]:
        outcome = yield from cls.try_send_raw_transaction(raw)
        if outcome.status is SendStatus.SENT and outcome.tx_hash is not None:
            return outcome.tx_hash
        error = outcome.error
        if outcome.status is SendStatus.UNKNOWN:
            shown = "0x" + outcome.tx_hash.hex() if outcome.tx_hash else "unknown until the node reports it"
            raise SendOutcomeUnknown(
                f"eth_sendRawTransaction: outcome unknown ({error}); tx hash {shown}; "
                "re-send the same raw bytes, do not re-sign",
                raw_transaction=outcome.raw_transaction,
                tx_hash=outcome.tx_hash,
            ) from error
        assert error is not None
        raise error

    @classmethod
    def wait_for_receipt(
        cls,
        tx_hash: bytes,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
        poll_interval: float = 0.05,
        raw: bytes | None = None,
    ) -> Flow[Receipt]:
        param = _hash_param(tx_hash)
        tx_hash = bytes(tx_hash)
        what = f"transaction 0x{tx_hash.hex()}"

        def unknown(message: str) -> SendOutcomeUnknown:
            return SendOutcomeUnknown(message, tx_hash=tx_hash, raw_transaction=raw)

        deadline = time.monotonic() + timeout
        interval = poll_interval
        last_error: Exception | None = None
        with after_send(what, unknown):
            while True:
                remaining = deadline - time.monotonic()
                try:
                    # Each poll is bounded by what is left of the wait, so one stalled answer cannot hold it.
                    poll = RpcCall(
                        "eth_getTransactionReceipt", (param,), deadline=max(remaining, MIN_POLL_DEADLINE)
                    )
                    result = yield poll
                except RpcTransportError as exc:
                    # The caller asked to wait: a node that is briefly unreachable is part of waiting.
                    result, last_error = None, exc
                if result is not None:
                    return Receipt.from_rpc(result)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReceiptTimeout(
                        f"no receipt for {what} within {timeout:g} s; if it was sent, do not sign it again",
                        tx_hash=tx_hash,
                        timeout=timeout,
                        raw_transaction=raw,
                    ) from last_error
                yield Sleep(min(interval, remaining))
                interval = min(interval * 1.5, 1.0)

    @classmethod
    def check_receipt(cls, receipt: Receipt, raw: bytes | None = None) -> Flow[Receipt]:
        """Return the receipt if it succeeded; else replay the transaction to recover why and raise."""
        if receipt.succeeded:
            return receipt
        revert: RevertData | None = None
        try:
            revert = yield from cls._replay(receipt)
        except (RpcError, RpcTransportError, MalformedRpcResponse) as exc:
            # The receipt says it reverted: that stays the answer even if the reason cannot be recovered.
            log.debug("replay of 0x%s failed: %s", receipt.transaction_hash.hex(), exc)
        reason = revert.describe() if revert is not None else "reason not recoverable by replay"
        raise TransactionReverted(
            f"transaction 0x{receipt.transaction_hash.hex()} reverted in block {receipt.block_number}: "
            + reason,
            receipt=receipt,
            revert=revert,
            raw_transaction=raw,
        )

    @classmethod
    def _replay(cls, receipt: Receipt) -> Flow[RevertData | None]:
        """Replay a reverted transaction with ``eth_call`` on its parent block; its revert data, if any."""
        revert: RevertData | None = None
        tx = yield from cls.get_transaction(receipt.transaction_hash)
        if tx is not None:
            request = {
                "from": receipt.from_address,
                "to": receipt.to,
                "data": parse_data(tx.get("input", "0x"), "transaction.input"),
                "value": parse_quantity(tx.get("value", "0x0"), "transaction.value"),
                "gas": parse_quantity(tx.get("gas", hex(receipt.gas_used)), "transaction.gas"),
            }
            # Replay on the parent block's state: the state the transaction started from (exact when it was
            # first in its block, as with anvil's automine).
            replay_block = max(receipt.block_number - 1, 0)
            try:
                yield from cls.call(request, replay_block)
            except ExecutionReverted as exc:
                revert = exc.revert if exc.revert is not None else RevertData.decode(b"")
        return revert

    @classmethod
    def confirm(
        cls, tx_hash: bytes, raw: bytes | None = None, timeout: float = DEFAULT_RECEIPT_TIMEOUT
    ) -> Flow[Receipt]:
        """Wait for a sent transaction's receipt and check it. Every failure is an :class:`AfterSendError`
        carrying ``tx_hash`` and ``raw``."""
        receipt = yield from cls.wait_for_receipt(tx_hash, timeout, raw=raw)
        with after_send(f"transaction 0x{bytes(tx_hash).hex()}", _unknown(tx_hash, raw)):
            return (yield from cls.check_receipt(receipt, raw))

    @classmethod
    def send_and_confirm(cls, raw: bytes, timeout: float = DEFAULT_RECEIPT_TIMEOUT) -> Flow[Receipt]:
        """Send signed bytes, wait for the receipt and check it: the whole life of a signed transaction.

        Before the node took the bytes the errors are :meth:`send_raw_transaction`'s; after, every failure is
        an :class:`AfterSendError` carrying the hash and the bytes.
        """
        with after_send(f"transaction {_describe(raw)}", _unknown(None, raw), sent=False):
            tx_hash = yield from cls.send_raw_transaction(raw)
        return (yield from cls.confirm(tx_hash, raw, timeout))

    @classmethod
    def send_transaction(
        cls,
        account: LocalAccount,
        to: str | None = None,
        data: bytes = b"",
        value: int = 0,
        gas: int | None = None,
        *,
        nonce: int | None = None,
        max_fee_per_gas: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> Flow[Receipt]:
        if not isinstance(account, LocalAccount):
            raise InvalidRpcParams("account: expected an eth_account LocalAccount")
        sender = str(to_checksum_address(account.address))
        to_checked = None if to is None else to_address(to, "to")
        if not isinstance(data, bytes | bytearray):
            raise InvalidRpcParams("data: expected bytes")
        encode_quantity(value, "value")
        request = {"from": sender, "to": to_checked, "data": bytes(data), "value": value}
        # One round trip fills everything the signature needs.
        calls = [
            RpcCall("eth_chainId"),
            RpcCall("eth_getTransactionCount", (sender, "pending")),
            RpcCall("eth_getBlockByNumber", ("latest", False)),
            RpcCall("eth_maxPriorityFeePerGas"),
            RpcCall("eth_gasPrice"),
        ]
        if gas is None:
            calls.append(RpcCall("eth_estimateGas", (encode_tx_request(request),)))
        results = yield Batch(calls, return_errors=True)
        chain_id_r, nonce_r, block_r, tip_r, price_r = results[:5]
        for item in (chain_id_r, nonce_r, block_r):
            if isinstance(item, RpcError):
                raise item
        if gas is None:
            if isinstance(results[5], RpcError):
                raise results[5]  # ExecutionReverted: the transaction would fail; nothing was sent
            estimate = parse_quantity(results[5], "eth_estimateGas")
            gas = estimate + estimate // 10  # headroom for state that changes before inclusion
        if not isinstance(block_r, dict) or "baseFeePerGas" not in block_r:
            raise MalformedRpcResponse("eth_getBlockByNumber: latest block has no baseFeePerGas")
        base_fee = parse_quantity(block_r["baseFeePerGas"], "block.baseFeePerGas")
        if max_priority_fee_per_gas is None:
            if not isinstance(tip_r, RpcError):
                max_priority_fee_per_gas = parse_quantity(tip_r, "eth_maxPriorityFeePerGas")
            elif not isinstance(price_r, RpcError):
                max_priority_fee_per_gas = max(parse_quantity(price_r, "eth_gasPrice") - base_fee, 0)
            else:
                raise tip_r
        if max_fee_per_gas is None:
            # Two base fees of room: stays valid through several full blocks of base-fee growth.
            max_fee_per_gas = 2 * base_fee + max_priority_fee_per_gas
        fields: dict[str, Any] = {
            "type": 2,
            "chainId": parse_quantity(chain_id_r, "eth_chainId"),
            "nonce": nonce if nonce is not None else parse_quantity(nonce_r, "eth_getTransactionCount"),
            "value": value,
            "data": bytes(data),
            "gas": gas,
            "maxFeePerGas": max_fee_per_gas,
            "maxPriorityFeePerGas": max_priority_fee_per_gas,
        }
        if to_checked is not None:
            fields["to"] = to_checked
        try:
            raw = bytes(account.sign_transaction(fields).raw_transaction)
        except (TypeError, ValueError) as exc:
            # ``from None``: the signer's exception text is not shown, it could echo fields of the account.
            raise InvalidRpcParams(f"transaction rejected by the signer: {type(exc).__name__}") from None
        return (yield from cls.send_and_confirm(raw, timeout))

    @classmethod
    def deploy_contract(
        cls,
        account: LocalAccount,
        initcode: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> Flow[tuple[str, Receipt]]:
        if not isinstance(initcode, bytes | bytearray) or not initcode:
            raise InvalidRpcParams("initcode: expected non-empty bytes")
        receipt = yield from cls.send_transaction(account, None, bytes(initcode), value, gas, timeout=timeout)
        with after_send(
            f"transaction 0x{receipt.transaction_hash.hex()}", _unknown(receipt.transaction_hash, None)
        ):
            if receipt.contract_address is None:
                raise MalformedRpcResponse("deploy receipt has no contractAddress")
            return parse_address(receipt.contract_address, "contractAddress"), receipt


eth_flows = _Flows


class EthClient:
    """A synchronous Ethereum JSON-RPC client.

    Args:
        url: The node's HTTP endpoint (or pass ``rpc=`` / ``transport=``).
        rpc: An existing :class:`JsonRpcClient` to share (connection pool, retry policy).
        transport: An httpx transport (fault injection in tests).
        timeout: Seconds per HTTP attempt.
        retry: Retry policy for transport failures of idempotent requests.
        deadline: Wall-clock bound of each call, attempts included (see :class:`JsonRpcClient`).
    """

    flows: type[_Flows] = _Flows

    def __init__(
        self,
        url: str | None = None,
        *,
        rpc: JsonRpcClient | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        deadline: Deadline = "auto",
    ) -> None:
        if rpc is None:
            rpc = JsonRpcClient(url, transport=transport, timeout=timeout, retry=retry, deadline=deadline)
        self.rpc = rpc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.rpc.url)!r})"

    def close(self) -> None:
        """Close the underlying connection pool."""
        self.rpc.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, flow: Flow[Any]) -> Any:
        """Drive a flow (see :mod:`sso_signer.rpc`) on this client."""
        return run_flow(self.rpc, flow)

    def chain_id(self) -> int:
        """Return the chain id (``eth_chainId``)."""
        return run_flow(self.rpc, self.flows.chain_id())

    def block_number(self) -> int:
        """Return the latest block number."""
        return run_flow(self.rpc, self.flows.block_number())

    def get_balance(self, address: str, block: BlockId = "latest") -> int:
        """Return an address's balance in wei.

        Raises:
            InvalidRpcParams: If ``address`` is not an address.
            RpcError: If the node refuses.
        """
        return run_flow(self.rpc, self.flows.get_balance(address, block))

    def get_transaction_count(self, address: str, block: BlockId = "latest") -> int:
        """Return an address's nonce at ``block`` (``"pending"`` counts pooled transactions)."""
        return run_flow(self.rpc, self.flows.get_transaction_count(address, block))

    def get_code(self, address: str, block: BlockId = "latest") -> bytes:
        """Return the runtime code at an address (empty for an EOA)."""
        return run_flow(self.rpc, self.flows.get_code(address, block))

    def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> bytes:
        """Return the 32-byte storage word at ``slot``."""
        return run_flow(self.rpc, self.flows.get_storage_at(address, slot, block))

    def call(self, tx: Mapping[str, object], block: BlockId = "latest") -> bytes:
        """Execute a call without a transaction (``eth_call``).

        Args:
            tx: ``to``, ``data`` and optionally ``from``, ``value``, ``gas`` (ints, bytes or hex text).
            block: Block number or tag to execute at.

        Returns:
            The return data.

        Raises:
            ExecutionReverted: If the call reverts; ``.revert`` holds the decoded reason.
            InvalidRpcParams: If ``tx`` holds an unknown key or a malformed value.
        """
        return run_flow(self.rpc, self.flows.call(tx, block))

    def estimate_gas(self, tx: Mapping[str, object], block: BlockId | None = None) -> int:
        """Estimate gas for a transaction.

        Raises:
            ExecutionReverted: If the transaction would revert.
        """
        return run_flow(self.rpc, self.flows.estimate_gas(tx, block))

    def gas_price(self) -> int:
        """Return ``eth_gasPrice``."""
        return run_flow(self.rpc, self.flows.gas_price())

    def max_priority_fee_per_gas(self) -> int:
        """Return ``eth_maxPriorityFeePerGas``."""
        return run_flow(self.rpc, self.flows.max_priority_fee_per_gas())

    def get_block(self, block: BlockId = "latest", full_transactions: bool = False) -> dict[str, Any] | None:
        """Return a block object as the node sent it, or ``None`` if unknown."""
        return run_flow(self.rpc, self.flows.get_block(block, full_transactions))

    def get_transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        """Return a transaction object as the node sent it, or ``None`` if unknown."""
        return run_flow(self.rpc, self.flows.get_transaction(tx_hash))

    def get_transaction_receipt(self, tx_hash: bytes) -> Receipt | None:
        """Return a receipt, or ``None`` if the transaction is not mined (yet)."""
        return run_flow(self.rpc, self.flows.get_transaction_receipt(tx_hash))

    def get_logs(
        self,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        from_block: BlockId = "earliest",
        to_block: BlockId = "latest",
    ) -> tuple[Log, ...]:
        """Return event logs (``eth_getLogs``).

        Args:
            address: One contract address, several, or ``None`` for any.
            topics: Per position: a 32-byte topic, a list of alternatives, or ``None`` for any.
            from_block: First block (inclusive).
            to_block: Last block (inclusive).

        Returns:
            The matching logs, oldest first.

        Raises:
            InvalidRpcParams: On a malformed address, topic or block.
        """
        return run_flow(self.rpc, self.flows.get_logs(address, topics, from_block, to_block))

    def try_send_raw_transaction(self, raw: bytes) -> SendOutcome:
        """Send signed bytes and report what is known: sent, not sent or unknown (no raise on send failure).

        Raises:
            InvalidRpcParams: If ``raw`` is not non-empty bytes.
        """
        return run_flow(self.rpc, self.flows.try_send_raw_transaction(raw))

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Send signed bytes (``eth_sendRawTransaction``) and return the transaction hash.

        Raises:
            TransactionRejected: The node refused the transaction (definitely not sent).
            SendOutcomeUnknown: The transport failed after the bytes may have reached the node;
                ``.raw_transaction`` can be re-sent unchanged.
            RpcTransportError: The request never reached the node (definitely not sent).
        """
        return run_flow(self.rpc, self.flows.send_raw_transaction(raw))

    def wait_for_receipt(
        self, tx_hash: bytes, timeout: float = DEFAULT_RECEIPT_TIMEOUT, poll_interval: float = 0.05
    ) -> Receipt:
        """Poll until the transaction is mined and return its receipt (whatever its status).

        Raises:
            ReceiptTimeout: If no receipt appears within ``timeout`` seconds.
        """
        return run_flow(self.rpc, self.flows.wait_for_receipt(tx_hash, timeout, poll_interval))

    def check_receipt(self, receipt: Receipt) -> Receipt:
        """Return ``receipt`` if it succeeded.

        Raises:
            TransactionReverted: With the revert reason recovered by replaying the transaction.
        """
        return run_flow(self.rpc, self.flows.check_receipt(receipt))

    def send_transaction(
        self,
        account: LocalAccount,
        to: str | None = None,
        data: bytes = b"",
        value: int = 0,
        gas: int | None = None,
        *,
        nonce: int | None = None,
        max_fee_per_gas: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> Receipt:
        """Sign (locally, EIP-1559) and send a transaction from an EOA, then wait for its receipt.

        Nonce, fees and gas not given are filled in one batched round trip.

        Args:
            account: The sending account (its key never leaves eth-account's signer).
            to: The recipient, or ``None`` to create a contract from ``data``.
            data: Calldata or initcode.
            value: Wei to send.
            gas: Gas limit; estimated (+10 %) if ``None``.
            nonce: Nonce; the pending nonce if ``None``.
            max_fee_per_gas: Fee cap; ``2 * baseFee + tip`` if ``None``.
            max_priority_fee_per_gas: Tip; the node's suggestion if ``None``.
            timeout: Seconds to wait for the receipt.

        Returns:
            The successful receipt.

        Raises:
            ExecutionReverted: Gas estimation reverted (nothing was sent).
            TransactionRejected: The node refused the transaction (nothing was sent).
            SendOutcomeUnknown: The send's outcome is unknown (see :meth:`send_raw_transaction`).
            ReceiptTimeout: No receipt within ``timeout``.
            TransactionReverted: Mined with status 0; carries the receipt and the revert reason.
        """
        flow = self.flows.send_transaction(
            account,
            to,
            data,
            value,
            gas,
            nonce=nonce,
            max_fee_per_gas=max_fee_per_gas,
            max_priority_fee_per_gas=max_priority_fee_per_gas,
            timeout=timeout,
        )
        return run_flow(self.rpc, flow)

    def deploy_contract(
        self,
        account: LocalAccount,
        initcode: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> tuple[str, Receipt]:
        """Deploy a contract from ``initcode`` (creation bytecode + ABI-encoded constructor arguments).

        Returns:
            The new contract's checksummed address and the receipt.

        Raises:
            The errors of :meth:`send_transaction`.
        """
        flow = self.flows.deploy_contract(account, initcode, value=value, gas=gas, timeout=timeout)
        return run_flow(self.rpc, flow)


class AsyncEthClient:
    """The asyncio twin of :class:`EthClient`: same methods, awaitable, same flows underneath."""

    flows: type[_Flows] = _Flows

    def __init__(
        self,
        url: str | None = None,
        *,
        rpc: AsyncJsonRpcClient | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        deadline: Deadline = "auto",
    ) -> None:
        if rpc is None:
            rpc = AsyncJsonRpcClient(
                url, transport=transport, timeout=timeout, retry=retry, deadline=deadline
            )
        self.rpc = rpc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.rpc.url)!r})"

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self.rpc.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, flow: Flow[Any]) -> Any:
        """Drive a flow on this client."""
        return await run_flow_async(self.rpc, flow)

    async def chain_id(self) -> int:
        """See :meth:`EthClient.chain_id`."""
        return await run_flow_async(self.rpc, self.flows.chain_id())

    async def block_number(self) -> int:
        """See :meth:`EthClient.block_number`."""
        return await run_flow_async(self.rpc, self.flows.block_number())

    async def get_balance(self, address: str, block: BlockId = "latest") -> int:
        """See :meth:`EthClient.get_balance`."""
        return await run_flow_async(self.rpc, self.flows.get_balance(address, block))

    async def get_transaction_count(self, address: str, block: BlockId = "latest") -> int:
        """See :meth:`EthClient.get_transaction_count`."""
        return await run_flow_async(self.rpc, self.flows.get_transaction_count(address, block))

    async def get_code(self, address: str, block: BlockId = "latest") -> bytes:
        """See :meth:`EthClient.get_code`."""
        return await run_flow_async(self.rpc, self.flows.get_code(address, block))

    async def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> bytes:
        """See :meth:`EthClient.get_storage_at`."""
        return await run_flow_async(self.rpc, self.flows.get_storage_at(address, slot, block))

    async def call(self, tx: Mapping[str, object], block: BlockId = "latest") -> bytes:
        """See :meth:`EthClient.call`."""
        return await run_flow_async(self.rpc, self.flows.call(tx, block))

    async def estimate_gas(self, tx: Mapping[str, object], block: BlockId | None = None) -> int:
        """See :meth:`EthClient.estimate_gas`."""
        return await run_flow_async(self.rpc, self.flows.estimate_gas(tx, block))

    async def gas_price(self) -> int:
        """See :meth:`EthClient.gas_price`."""
        return await run_flow_async(self.rpc, self.flows.gas_price())

    async def max_priority_fee_per_gas(self) -> int:
        """See :meth:`EthClient.max_priority_fee_per_gas`."""
        return await run_flow_async(self.rpc, self.flows.max_priority_fee_per_gas())

    async def get_block(
        self, block: BlockId = "latest", full_transactions: bool = False
    ) -> dict[str, Any] | None:
        """See :meth:`EthClient.get_block`."""
        return await run_flow_async(self.rpc, self.flows.get_block(block, full_transactions))

    async def get_transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        """See :meth:`EthClient.get_transaction`."""
        return await run_flow_async(self.rpc, self.flows.get_transaction(tx_hash))

    async def get_transaction_receipt(self, tx_hash: bytes) -> Receipt | None:
        """See :meth:`EthClient.get_transaction_receipt`."""
        return await run_flow_async(self.rpc, self.flows.get_transaction_receipt(tx_hash))

    async def get_logs(
        self,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        from_block: BlockId = "earliest",
        to_block: BlockId = "latest",
    ) -> tuple[Log, ...]:
        """See :meth:`EthClient.get_logs`."""
        return await run_flow_async(self.rpc, self.flows.get_logs(address, topics, from_block, to_block))

    async def try_send_raw_transaction(self, raw: bytes) -> SendOutcome:
        """See :meth:`EthClient.try_send_raw_transaction`."""
        return await run_flow_async(self.rpc, self.flows.try_send_raw_transaction(raw))

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        """See :meth:`EthClient.send_raw_transaction`."""
        return await run_flow_async(self.rpc, self.flows.send_raw_transaction(raw))

    async def wait_for_receipt(
        self, tx_hash: bytes, timeout: float = DEFAULT_RECEIPT_TIMEOUT, poll_interval: float = 0.05
    ) -> Receipt:
        """See :meth:`EthClient.wait_for_receipt`."""
        return await run_flow_async(self.rpc, self.flows.wait_for_receipt(tx_hash, timeout, poll_interval))

    async def check_receipt(self, receipt: Receipt) -> Receipt:
        """See :meth:`EthClient.check_receipt`."""
        return await run_flow_async(self.rpc, self.flows.check_receipt(receipt))

    async def send_transaction(
        self,
        account: LocalAccount,
        to: str | None = None,
        data: bytes = b"",
        value: int = 0,
        gas: int | None = None,
        *,
        nonce: int | None = None,
        max_fee_per_gas: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> Receipt:
        """See :meth:`EthClient.send_transaction`."""
        flow = self.flows.send_transaction(
            account,
            to,
            data,
            value,
            gas,
            nonce=nonce,
            max_fee_per_gas=max_fee_per_gas,
            max_priority_fee_per_gas=max_priority_fee_per_gas,
            timeout=timeout,
        )
        return await run_flow_async(self.rpc, flow)

    async def deploy_contract(
        self,
        account: LocalAccount,
        initcode: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> tuple[str, Receipt]:
        """See :meth:`EthClient.deploy_contract`."""
        flow = self.flows.deploy_contract(account, initcode, value=value, gas=gas, timeout=timeout)
        return await run_flow_async(self.rpc, flow)
