"""ZKsync JSON-RPC clients: the Ethereum clients plus the ``zks_`` namespace (sync and async).

The ``zks_`` methods are flows like the ``eth_`` ones (see :mod:`sso_signer.rpc`), written once and driven by
either client. Sending a ZKsync ``0x71`` transaction is :meth:`EthClient.send_raw_transaction` with its
serialized bytes; a lost send raises ``SendOutcomeUnknown`` carrying the raw bytes, since the node's hash
for ``0x71`` commits to the signature and is taken from the node's answer, not computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from sso_signer._shell import flow_method
from sso_signer.exceptions import InvalidRpcParams, MalformedRpcResponse
from sso_signer.rpc import AsyncEthClient, EthClient, Receipt
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._eth import _EthMethods, hash_param
from sso_signer.rpc._flow import Flow
from sso_signer.rpc._types import (
    encode_quantity,
    encode_tx_request,
    parse_address,
    parse_data,
    parse_object,
    parse_quantity,
)


class SupportsRpcRequest(Protocol):
    """Anything with ``to_rpc_request()`` (an ``Eip712Transaction``) can be estimated."""

    def to_rpc_request(self) -> dict[str, Any]: ...


def _request(tx: Mapping[str, object] | SupportsRpcRequest) -> dict[str, Any]:
    if not isinstance(tx, Mapping):
        to_rpc = getattr(tx, "to_rpc_request", None)
        if to_rpc is None:
            raise InvalidRpcParams("transaction: expected a mapping or an object with to_rpc_request()")
        tx = to_rpc()
    assert isinstance(tx, Mapping)
    return encode_tx_request(tx)


def _block_number(block_number: int) -> int:
    # zks_ block methods take a plain JSON number (u32), not a hex quantity.
    encode_quantity(block_number, "block_number")
    return block_number


@dataclass(frozen=True, slots=True)
class Fee:
    """The node's fee estimate for a transaction (``zks_estimateFee``).

    Attributes:
        gas_limit: Suggested gas limit.
        gas_per_pubdata_limit: Suggested gas per pubdata byte limit.
        max_fee_per_gas: Suggested fee cap.
        max_priority_fee_per_gas: Suggested tip.
    """

    gas_limit: int
    gas_per_pubdata_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class TransactionDetails:
    """``zks_getTransactionDetails``: where a transaction is in ZKsync's life cycle.

    Attributes:
        status: ``pending``, ``included``, ``verified`` or ``failed``.
        is_l1_originated: Whether it came from L1 (a priority operation).
        fee: The fee paid, in wei.
        gas_per_pubdata: The gas-per-pubdata limit it used.
        initiator_address: The account that initiated it.
        received_at: When the node received it (ISO-8601 text, as sent).
        raw: The node's object as received (commit/prove/execute hashes).
    """

    status: str
    is_l1_originated: bool
    fee: int
    gas_per_pubdata: int | None
    initiator_address: str
    received_at: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class _ZkSyncMethods(_EthMethods):
    """The ``zks_`` methods, each a flow written once for the sync and the async ZKsync client."""

    __slots__ = ()

    @flow_method
    def estimate_fee(self, tx: Mapping[str, object] | SupportsRpcRequest) -> Flow[Fee]:
        """Ask the node for gas and fee suggestions (``zks_estimateFee``).

        Args:
            tx: A request mapping (with ``eip712Meta`` for ZKsync fields) or an ``Eip712Transaction``.

        Returns:
            The node's estimate.

        Raises:
            ExecutionReverted: If the transaction would fail.
            InvalidRpcParams: If ``tx`` cannot be encoded.
        """
        result = parse_object((yield RpcCall("zks_estimateFee", (_request(tx),))), "zks_estimateFee")
        # The answer's keys are the field names.
        return Fee(
            **{f.name: parse_quantity(result.get(f.name), f"zks_estimateFee.{f.name}") for f in fields(Fee)}
        )

    @flow_method
    def estimate_gas_eip712(self, tx: Mapping[str, object] | SupportsRpcRequest) -> Flow[int]:
        """``eth_estimateGas`` for a ZKsync request (``eip712Meta`` included) or an ``Eip712Transaction``."""
        result = yield RpcCall("eth_estimateGas", (_request(tx),))
        return parse_quantity(result, "eth_estimateGas")

    @flow_method
    def get_transaction_details(self, tx_hash: bytes) -> Flow[TransactionDetails | None]:
        """Return ``zks_getTransactionDetails`` for a hash, or ``None`` if the node does not know it."""
        result = yield RpcCall("zks_getTransactionDetails", (hash_param(tx_hash, "hash"),))
        if result is None:
            return None
        obj = parse_object(result, "zks_getTransactionDetails")
        status, received_at = obj.get("status"), obj.get("receivedAt")
        if not isinstance(status, str) or not isinstance(received_at, str):
            raise MalformedRpcResponse("zks_getTransactionDetails: status/receivedAt must be strings")
        gas_per_pubdata = obj.get("gasPerPubdata")
        return TransactionDetails(
            status=status,
            is_l1_originated=bool(obj.get("isL1Originated", False)),
            fee=parse_quantity(obj.get("fee"), "zks_getTransactionDetails.fee"),
            gas_per_pubdata=None
            if gas_per_pubdata is None
            else parse_quantity(gas_per_pubdata, "zks_getTransactionDetails.gasPerPubdata"),
            initiator_address=parse_address(
                obj.get("initiatorAddress"), "zks_getTransactionDetails.initiator"
            ),
            received_at=received_at,
            raw=obj,
        )

    @flow_method
    def get_bytecode_by_hash(self, bytecode_hash: bytes) -> Flow[bytes | None]:
        """Return the bytecode the node knows for an EraVM bytecode hash, or ``None``."""
        result = yield RpcCall("zks_getBytecodeByHash", (hash_param(bytecode_hash, "hash"),))
        if result is None:
            return None
        # The node answers with a JSON array of byte values (Vec<u8>); accept hex too.
        if isinstance(result, list):
            if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in result):
                raise MalformedRpcResponse("zks_getBytecodeByHash: expected an array of byte values")
            return bytes(result)
        return parse_data(result, "zks_getBytecodeByHash")

    @flow_method
    def l1_chain_id(self) -> Flow[int]:
        """Return the settlement layer's chain id (``zks_L1ChainId``)."""
        return parse_quantity((yield RpcCall("zks_L1ChainId")), "zks_L1ChainId")

    @flow_method
    def l1_batch_number(self) -> Flow[int]:
        """Return the latest L1 batch number (``zks_L1BatchNumber``)."""
        return parse_quantity((yield RpcCall("zks_L1BatchNumber")), "zks_L1BatchNumber")

    @flow_method
    def get_testnet_paymaster(self) -> Flow[str | None]:
        """Return the testnet paymaster's address, or ``None`` where there is none."""
        result = yield RpcCall("zks_getTestnetPaymaster")
        return None if result is None else parse_address(result, "zks_getTestnetPaymaster")

    @flow_method
    def get_main_contract(self) -> Flow[str]:
        """Return the L1 diamond proxy (main contract) address."""
        return parse_address((yield RpcCall("zks_getMainContract")), "zks_getMainContract")

    @flow_method
    def get_bridgehub_contract(self) -> Flow[str | None]:
        """Return the L1 Bridgehub address, or ``None``."""
        result = yield RpcCall("zks_getBridgehubContract")
        return None if result is None else parse_address(result, "zks_getBridgehubContract")

    @flow_method
    def get_bridge_contracts(self) -> Flow[dict[str, str]]:
        """Return the default bridge addresses by name."""
        result = parse_object((yield RpcCall("zks_getBridgeContracts")), "zks_getBridgeContracts")
        return {
            str(key): parse_address(value, f"zks_getBridgeContracts.{key}")
            for key, value in result.items()
            if value is not None
        }

    @flow_method
    def get_block_details(self, block_number: int) -> Flow[dict[str, Any] | None]:
        """Return ``zks_getBlockDetails`` as the node sent it, or ``None``."""
        result = yield RpcCall("zks_getBlockDetails", (_block_number(block_number),))
        return None if result is None else parse_object(result, "zks_getBlockDetails")

    @flow_method
    def get_raw_block_transactions(self, block_number: int) -> Flow[list[Any]]:
        """Return ``zks_getRawBlockTransactions`` as the node sent it."""
        result = yield RpcCall("zks_getRawBlockTransactions", (_block_number(block_number),))
        if not isinstance(result, list):
            raise MalformedRpcResponse("zks_getRawBlockTransactions: expected an array")
        return result

    @flow_method
    def get_l2_to_l1_log_proof(self, tx_hash: bytes, index: int | None = None) -> Flow[dict[str, Any] | None]:
        """Return the proof of an L2→L1 log, or ``None`` if not yet available."""
        params: tuple[Any, ...] = (hash_param(tx_hash, "hash"),)
        if index is not None:
            params += (index,)
        result = yield RpcCall("zks_getL2ToL1LogProof", params)
        return None if result is None else parse_object(result, "zks_getL2ToL1LogProof")

    @flow_method
    def send_eip712(self, raw: bytes, timeout: float = 120.0) -> Flow[Receipt]:
        """Send a signed, serialized ``0x71`` transaction and wait for its successful receipt.

        Args:
            raw: ``Eip712Transaction.serialize()`` output (with its custom signature set).
            timeout: Seconds to wait for the receipt.

        Returns:
            The receipt.

        Raises:
            TransactionRejected: The node refused it (definitely not sent).
            SendOutcomeUnknown: Sent (or maybe sent), outcome unknown: the answer to the send was lost, or
                the receipt could not be read; carries ``tx_hash`` (when known) and ``raw_transaction``:
                poll the hash or re-send ``raw`` unchanged, never re-sign.
            ReceiptTimeout: No receipt in time (a ``SendOutcomeUnknown``).
            TransactionReverted: Mined with status 0 (with the replayed revert reason, hash and bytes).
        """
        if not raw or raw[0] != 0x71:
            raise InvalidRpcParams("raw transaction: expected a serialized 0x71 transaction")
        return (yield from _EthMethods.send_and_confirm.flow(self, bytes(raw), timeout))


class ZkSyncClient(_ZkSyncMethods, EthClient):
    """A synchronous client for a ZKsync node: every :class:`~sso_signer.rpc.EthClient` method plus the
    ``zks_`` namespace (same arguments as :class:`~sso_signer.rpc.EthClient`)."""


class AsyncZkSyncClient(_ZkSyncMethods, AsyncEthClient):
    """The asyncio twin of :class:`ZkSyncClient`."""
