"""The Ethereum clients: every method is a flow written once, in :class:`_EthMethods`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from sso_signer._codec import hex_encode
from sso_signer._shell import flow_method
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
from sso_signer.rpc._client import AsyncRpcShell, RpcShell
from sso_signer.rpc._core import RpcCall, Sleep, is_already_known, is_nonce_used
from sso_signer.rpc._flow import Batch, Flow, after_send, poll
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
    parse_logs,
    parse_object,
    parse_quantity,
    to_address,
)

if TYPE_CHECKING:
    # eth-account (with eth-keyfile's BLS code) is most of an import's cost; only the EOA senders need it.
    from eth_account.signers.local import LocalAccount

__all__ = ["AsyncEthClient", "EthClient"]

log = logging.getLogger("sso_signer.rpc")

DEFAULT_RECEIPT_TIMEOUT = 120.0
# Tries of one eth_sendRawTransaction (always the same bytes) and the first back-off delay in seconds.
SEND_ATTEMPTS = 3
SEND_BACKOFF = 0.1


def _topic_param(topic: bytes | Sequence[bytes] | None) -> str | list[str] | None:
    # A topic position is one value, a list of alternatives, or None (any value).
    if topic is None:
        return None
    if isinstance(topic, bytes | bytearray):
        if len(topic) != 32:
            raise InvalidRpcParams("topics: each topic must be 32 bytes")
        return hex_encode(bytes(topic))
    return [str(_topic_param(t)) for t in topic if t is not None]


def hash_param(tx_hash: bytes, name: str = "tx_hash") -> str:
    """A 32-byte hash as a JSON-RPC parameter.

    Raises:
        InvalidRpcParams: If ``tx_hash`` is not 32 bytes.
    """
    if not isinstance(tx_hash, bytes | bytearray) or len(tx_hash) != 32:
        raise InvalidRpcParams(f"{name}: expected 32 bytes")
    return hex_encode(bytes(tx_hash))


def _describe(raw: bytes) -> str:
    local = local_tx_hash(raw) if isinstance(raw, bytes | bytearray) and raw else None
    return f"0x{local.hex()}" if local is not None else "(0x71, hash known to the node only)"


def _unknown(tx_hash: bytes | None, raw: bytes | None) -> Callable[[str], SendOutcomeUnknown]:
    """The "outcome unknown" error of a sent transaction, for :func:`after_send`."""
    tx_hash = None if tx_hash is None else bytes(tx_hash)
    return functools.partial(SendOutcomeUnknown, tx_hash=tx_hash, raw_transaction=raw)


class _EthMethods:
    """The Ethereum methods, each a flow written once for :class:`EthClient` and :class:`AsyncEthClient`."""

    __slots__ = ()

    # -- reads ------------------------------------------------------------------------------------------

    @flow_method
    def chain_id(self) -> Flow[int]:
        """Return the chain id (``eth_chainId``)."""
        return parse_quantity((yield RpcCall("eth_chainId")), "eth_chainId")

    @flow_method
    def block_number(self) -> Flow[int]:
        """Return the latest block number."""
        return parse_quantity((yield RpcCall("eth_blockNumber")), "eth_blockNumber")

    @flow_method
    def get_balance(self, address: str, block: BlockId = "latest") -> Flow[int]:
        """Return an address's balance in wei.

        Raises:
            InvalidRpcParams: If ``address`` is not an address.
            RpcError: If the node refuses.
        """
        params = (to_address(address), encode_block_id(block))
        return parse_quantity((yield RpcCall("eth_getBalance", params)), "eth_getBalance")

    @flow_method
    def get_transaction_count(self, address: str, block: BlockId = "latest") -> Flow[int]:
        """Return an address's nonce at ``block`` (``"pending"`` counts pooled transactions)."""
        params = (to_address(address), encode_block_id(block))
        return parse_quantity((yield RpcCall("eth_getTransactionCount", params)), "eth_getTransactionCount")

    @flow_method
    def get_code(self, address: str, block: BlockId = "latest") -> Flow[bytes]:
        """Return the runtime code at an address (empty for an EOA)."""
        params = (to_address(address), encode_block_id(block))
        return parse_data((yield RpcCall("eth_getCode", params)), "eth_getCode")

    @flow_method
    def get_storage_at(self, address: str, slot: int, block: BlockId = "latest") -> Flow[bytes]:
        """Return the 32-byte storage word at ``slot``."""
        params = (to_address(address), encode_quantity(slot, "slot"), encode_block_id(block))
        return parse_data((yield RpcCall("eth_getStorageAt", params)), "eth_getStorageAt", length=32)

    @flow_method
    def call(self, tx: Mapping[str, object], block: BlockId = "latest") -> Flow[bytes]:
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
        params = (encode_tx_request(tx), encode_block_id(block))
        return parse_data((yield RpcCall("eth_call", params)), "eth_call")

    @flow_method
    def estimate_gas(self, tx: Mapping[str, object], block: BlockId | None = None) -> Flow[int]:
        """Estimate gas for a transaction.

        Raises:
            ExecutionReverted: If the transaction would revert.
        """
        params: tuple[Any, ...] = (encode_tx_request(tx),)
        if block is not None:
            params += (encode_block_id(block),)
        return parse_quantity((yield RpcCall("eth_estimateGas", params)), "eth_estimateGas")

    @flow_method
    def gas_price(self) -> Flow[int]:
        """Return ``eth_gasPrice``."""
        return parse_quantity((yield RpcCall("eth_gasPrice")), "eth_gasPrice")

    @flow_method
    def max_priority_fee_per_gas(self) -> Flow[int]:
        """Return ``eth_maxPriorityFeePerGas``."""
        return parse_quantity((yield RpcCall("eth_maxPriorityFeePerGas")), "eth_maxPriorityFeePerGas")

    @flow_method
    def get_block(
        self, block: BlockId = "latest", full_transactions: bool = False
    ) -> Flow[dict[str, Any] | None]:
        """Return a block object as the node sent it (JSON-RPC's hex text), or ``None`` if unknown.

        Unlike web3.py's ``get_block`` the object is not parsed: quantities are hex strings
        (``int(block["timestamp"], 16)``), hashes 0x-hex strings, and the chain's own fields (ZKsync's
        ``l1BatchNumber``) are kept as sent.

        Args:
            block: Block number or tag.
            full_transactions: Whether ``transactions`` holds transaction objects instead of their hashes.

        Raises:
            MalformedRpcResponse: If the answer is neither an object nor ``null``.
        """
        result = yield RpcCall("eth_getBlockByNumber", (encode_block_id(block), bool(full_transactions)))
        return None if result is None else parse_object(result, "eth_getBlockByNumber")

    @flow_method
    def get_transaction(self, tx_hash: bytes) -> Flow[dict[str, Any] | None]:
        """Return a transaction object as the node sent it (hex text, as :meth:`get_block`), or ``None``."""
        result = yield RpcCall("eth_getTransactionByHash", (hash_param(tx_hash),))
        return None if result is None else parse_object(result, "eth_getTransactionByHash")

    @flow_method
    def get_transaction_receipt(self, tx_hash: bytes) -> Flow[Receipt | None]:
        """Return a receipt, or ``None`` if the transaction is not mined (yet)."""
        result = yield RpcCall("eth_getTransactionReceipt", (hash_param(tx_hash),))
        return None if result is None else Receipt.from_rpc(result)

    @flow_method
    def get_logs(
        self,
        address: str | Sequence[str] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        from_block: BlockId = "earliest",
        to_block: BlockId = "latest",
    ) -> Flow[tuple[Log, ...]]:
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
        return parse_logs((yield RpcCall("eth_getLogs", (query,))), "eth_getLogs")

    # -- sending ----------------------------------------------------------------------------------------

    @flow_method
    def try_send_raw_transaction(self, raw: bytes) -> Flow[SendOutcome]:
        """Send signed bytes and report what is known: sent, not sent or unknown (no raise on send failure).

        Raises:
            InvalidRpcParams: If ``raw`` is not non-empty bytes.
        """
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
                code = exc.status_code if isinstance(exc, RpcHttpStatusError) else 0
                refused = 400 <= code < 500 and code != 429
                maybe_delivered = maybe_delivered or (exc.maybe_delivered and not refused)
                if refused or attempt == SEND_ATTEMPTS:
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

    @flow_method
    def send_raw_transaction(self, raw: bytes) -> Flow[HexBytes]:
        """Send signed bytes (``eth_sendRawTransaction``) and return the transaction hash (``HexBytes``).

        Raises:
            TransactionRejected: The node refused the transaction (definitely not sent).
            SendOutcomeUnknown: The transport failed after the bytes may have reached the node;
                ``.raw_transaction`` can be re-sent unchanged.
            RpcTransportError: The request never reached the node (definitely not sent).
        """
        outcome = yield from _EthMethods.try_send_raw_transaction.flow(self, raw)
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

    @flow_method
    def wait_for_receipt(
        self,
        tx_hash: bytes,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
        poll_interval: float = 0.05,
        *,
        raw: bytes | None = None,
    ) -> Flow[Receipt]:
        """Poll until the transaction is mined and return its receipt (whatever its status).

        Args:
            tx_hash: The transaction hash.
            timeout: Seconds to wait.
            poll_interval: Seconds between the first polls (growing to one second).
            raw: The signed bytes, carried by the errors so that they can be re-sent, never re-signed.

        Raises:
            ReceiptTimeout: If no receipt appears within ``timeout`` seconds.
            SendOutcomeUnknown: If the wait failed otherwise (a malformed receipt).
        """
        param = hash_param(tx_hash)
        tx_hash = bytes(tx_hash)

        def request(bound: float) -> Flow[Any]:
            return (yield RpcCall("eth_getTransactionReceipt", (param,), deadline=bound))

        wait = poll(
            request,
            Receipt.from_rpc,
            f"transaction 0x{tx_hash.hex()}",
            timeout,
            poll_interval,
            growth=1.5,
            timed_out=functools.partial(
                ReceiptTimeout, tx_hash=tx_hash, timeout=timeout, raw_transaction=raw
            ),
            unknown=_unknown(tx_hash, raw),
        )
        return (yield from wait)

    @flow_method
    def check_receipt(self, receipt: Receipt, raw: bytes | None = None) -> Flow[Receipt]:
        """Return ``receipt`` if it succeeded.

        Args:
            receipt: A mined transaction's receipt.
            raw: The signed bytes, if known (carried by the error).

        Raises:
            TransactionReverted: With the revert reason recovered by replaying the transaction.
        """
        if receipt.success:
            return receipt
        revert: RevertData | None = None
        try:
            revert = yield from _EthMethods._replay.flow(self, receipt)
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

    @flow_method
    def _replay(self, receipt: Receipt) -> Flow[RevertData | None]:
        """Replay a reverted transaction with ``eth_call`` on its parent block; its revert data, if any."""
        revert: RevertData | None = None
        tx = yield from _EthMethods.get_transaction.flow(self, receipt.transaction_hash)
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
                yield from _EthMethods.call.flow(self, request, replay_block)
            except ExecutionReverted as exc:
                revert = exc.revert if exc.revert is not None else RevertData.decode(b"")
        return revert

    @flow_method
    def confirm(
        self, tx_hash: bytes, raw: bytes | None = None, timeout: float = DEFAULT_RECEIPT_TIMEOUT
    ) -> Flow[Receipt]:
        """Wait for a sent transaction's receipt and check it.

        Args:
            tx_hash: The transaction hash.
            raw: The signed bytes, if known.
            timeout: Seconds to wait for the receipt.

        Returns:
            The successful receipt.

        Raises:
            AfterSendError: Every failure (``ReceiptTimeout``, ``TransactionReverted``,
                ``SendOutcomeUnknown``), carrying ``tx_hash`` and ``raw``.
        """
        receipt = yield from _EthMethods.wait_for_receipt.flow(self, tx_hash, timeout, raw=raw)
        with after_send(f"transaction 0x{bytes(tx_hash).hex()}", _unknown(tx_hash, raw)):
            return (yield from _EthMethods.check_receipt.flow(self, receipt, raw))

    @flow_method
    def send_and_confirm(self, raw: bytes, timeout: float = DEFAULT_RECEIPT_TIMEOUT) -> Flow[Receipt]:
        """Send signed bytes, wait for the receipt and check it: the whole life of a signed transaction.

        Args:
            raw: The signed transaction.
            timeout: Seconds to wait for the receipt.

        Returns:
            The successful receipt.

        Raises:
            TransactionRejected: The node refused the bytes (nothing was sent); before the node took them the
                errors are :meth:`send_raw_transaction`'s.
            AfterSendError: Every failure after the send, carrying the hash and the bytes.
        """
        with after_send(f"transaction {_describe(raw)}", _unknown(None, raw), sent=False):
            tx_hash = yield from _EthMethods.send_raw_transaction.flow(self, raw)
        return (yield from _EthMethods.confirm.flow(self, tx_hash, raw, timeout))

    @flow_method
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
    ) -> Flow[Receipt]:
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
        # Imported here: eth-account is most of a plain ``import sso_signer.rpc``'s time, and a caller that
        # holds a LocalAccount has imported it already.
        from eth_account.signers.local import LocalAccount

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
        return (yield from _EthMethods.send_and_confirm.flow(self, raw, timeout))

    @flow_method
    def deploy_contract(
        self,
        account: LocalAccount,
        initcode: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        timeout: float = DEFAULT_RECEIPT_TIMEOUT,
    ) -> Flow[tuple[str, Receipt]]:
        """Deploy a contract from ``initcode`` (creation bytecode + ABI-encoded constructor arguments).

        Returns:
            The new contract's checksummed address and the receipt.

        Raises:
            The errors of :meth:`send_transaction`.
        """
        if not isinstance(initcode, bytes | bytearray) or not initcode:
            raise InvalidRpcParams("initcode: expected non-empty bytes")
        receipt = yield from _EthMethods.send_transaction.flow(
            self, account, None, bytes(initcode), value, gas, timeout=timeout
        )
        with after_send(
            f"transaction 0x{receipt.transaction_hash.hex()}", _unknown(receipt.transaction_hash, None)
        ):
            if receipt.contract_address is None:
                raise MalformedRpcResponse("deploy receipt has no contractAddress")
            return parse_address(receipt.contract_address, "contractAddress"), receipt


#: The Ethereum flows for flows in other rooms that have no client at hand (the flows read no client state):
#: ``yield from _EthMethods.get_code.flow(ETH_FLOWS, address)``.
ETH_FLOWS = _EthMethods()


class EthClient(_EthMethods, RpcShell):
    """A synchronous Ethereum JSON-RPC client.

    Args:
        url: The node's HTTP endpoint (or pass ``rpc=`` / ``transport=``).
        rpc: An existing :class:`JsonRpcClient` to share (connection pool, retry policy).
        transport: An httpx transport (fault injection in tests).
        timeout: Seconds per HTTP attempt.
        retry: Retry policy for transport failures of idempotent requests.
        deadline: Wall-clock bound of each call, attempts included (see :class:`JsonRpcClient`).
    """


class AsyncEthClient(_EthMethods, AsyncRpcShell):
    """The asyncio twin of :class:`EthClient` (same arguments; the same methods, awaitable)."""
