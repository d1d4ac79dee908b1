"""Typed values exchanged with a node, and strict converters between them and JSON-RPC's hex encoding."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from sso_signer._codec import hex_decode, hex_encode
from sso_signer.exceptions import InvalidEncoding, InvalidRpcParams, MalformedRpcResponse, SsoSignerError

__all__ = [
    "BlockId",
    "Log",
    "Receipt",
    "SendOutcome",
    "SendStatus",
    "encode_block_id",
    "encode_quantity",
    "encode_tx_request",
    "local_tx_hash",
    "parse_address",
    "parse_data",
    "parse_hash",
    "parse_logs",
    "parse_object",
    "parse_quantity",
    "to_address",
]

BlockId = int | str
_BLOCK_TAGS = frozenset({"latest", "pending", "earliest", "safe", "finalized"})
_QUANTITY = re.compile(r"0[xX][0-9a-fA-F]+")


# -- node answers -> Python (a bad value is the node's fault: MalformedRpcResponse) --------------------------


def parse_quantity(value: object, field: str) -> int:
    """Decode a JSON-RPC quantity (``"0x1a"``).

    Raises:
        MalformedRpcResponse: If ``value`` is not 0x-prefixed hex text.
    """
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise MalformedRpcResponse(f"{field}: expected a hex quantity, got {value!r:.80}")
    return int(value, 16)


def parse_data(value: object, field: str, *, length: int | None = None) -> bytes:
    """Decode JSON-RPC data (``"0x…"``), optionally of an exact byte length.

    Raises:
        MalformedRpcResponse: If ``value`` is not hex data of the expected length.
    """
    if not isinstance(value, str):
        raise MalformedRpcResponse(f"{field}: expected hex data, got {type(value).__name__}")
    try:
        return hex_decode(value, field=field, length=length)
    except InvalidEncoding as exc:
        raise MalformedRpcResponse(str(exc)) from exc


def parse_hash(value: object, field: str) -> HexBytes:
    """Decode a 32-byte hash, as web3.py gives hashes: ``HexBytes`` (``bytes`` that print as 0x-hex)."""
    return HexBytes(parse_data(value, field, length=32))


def parse_address(value: object, field: str) -> str:
    """Decode an address into its checksummed form.

    Raises:
        MalformedRpcResponse: If ``value`` is not a 20-byte hex address.
    """
    if not isinstance(value, str) or not is_hex_address(value):
        raise MalformedRpcResponse(f"{field}: expected an address, got {value!r:.80}")
    return str(to_checksum_address(value))


def parse_object(value: object, field: str) -> dict[str, Any]:
    """Check that a node answer is a JSON object.

    Raises:
        MalformedRpcResponse: If ``value`` is not an object.
    """
    if not isinstance(value, dict):
        raise MalformedRpcResponse(f"{field}: expected an object, got {value!r:.100}")
    return value


def _optional(value: object, parse: Any, field: str) -> Any:
    return None if value is None else parse(value, field)


# -- Python -> request parameters (a bad value is the caller's fault: InvalidRpcParams) ---------------------


def to_address(value: object, field: str = "address") -> str:
    """Validate a caller-supplied address and return it checksummed.

    Raises:
        InvalidRpcParams: If ``value`` is not a 20-byte hex address (or its bytes).
    """
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return str(to_checksum_address(bytes(value)))
    if not isinstance(value, str) or not is_hex_address(value):
        raise InvalidRpcParams(f"{field}: expected a 20-byte hex address, got {value!r:.80}")
    digits = value[2:] if value[:2] in ("0x", "0X") else value
    # Mixed case claims an EIP-55 checksum: a wrong one means a mistyped address, not a style choice.
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise InvalidRpcParams(f"{field}: address {value!r} has a wrong EIP-55 checksum")
    return str(to_checksum_address(value))


def encode_quantity(value: object, field: str = "value") -> str:
    """Encode a non-negative int as a JSON-RPC quantity.

    Raises:
        InvalidRpcParams: If ``value`` is not a non-negative int.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRpcParams(f"{field}: expected a non-negative int, got {value!r:.80}")
    return hex(value)


def encode_block_id(block: BlockId) -> str:
    """Encode a block number or tag (``latest``, ``pending``, ``earliest``, ``safe``, ``finalized``).

    Raises:
        InvalidRpcParams: If ``block`` is neither.
    """
    if isinstance(block, str):
        if block in _BLOCK_TAGS:
            return block
        raise InvalidRpcParams(f"block: unknown tag {block!r} (expected one of {sorted(_BLOCK_TAGS)})")
    return encode_quantity(block, "block")


# Accepted request keys and how each is encoded; snake_case spellings are accepted as aliases.
_TX_KEYS: dict[str, tuple[str, str]] = {
    "from": ("from", "address"),
    "from_address": ("from", "address"),
    "to": ("to", "address"),
    "data": ("data", "data"),
    "input": ("data", "data"),
    "value": ("value", "quantity"),
    "gas": ("gas", "quantity"),
    "gas_limit": ("gas", "quantity"),
    "gasPrice": ("gasPrice", "quantity"),
    "gas_price": ("gasPrice", "quantity"),
    "maxFeePerGas": ("maxFeePerGas", "quantity"),
    "max_fee_per_gas": ("maxFeePerGas", "quantity"),
    "maxPriorityFeePerGas": ("maxPriorityFeePerGas", "quantity"),
    "max_priority_fee_per_gas": ("maxPriorityFeePerGas", "quantity"),
    "nonce": ("nonce", "quantity"),
    "type": ("type", "quantity"),
    "chainId": ("chainId", "quantity"),
    "eip712Meta": ("eip712Meta", "meta"),
}


def encode_tx_request(tx: Mapping[str, object]) -> dict[str, Any]:
    """Encode a call/estimate request (``from``, ``to``, ``data``, ``value``, ``gas``, fees) for the wire.

    Ints (or already-encoded ``0x`` quantities) become quantities, bytes become hex data, addresses are
    validated; ``None`` values are dropped. ZKsync's ``eip712Meta`` is encoded as zksync nodes expect it:
    ``gasPerPubdata`` a quantity, byte strings (factory deps, custom signature, paymaster input) as JSON
    arrays of numbers. The output of ``Eip712Transaction.to_rpc_request()`` passes through unchanged.

    Raises:
        InvalidRpcParams: On an unknown key or a value of the wrong kind.
    """
    if not isinstance(tx, Mapping):
        raise InvalidRpcParams(f"transaction request must be a mapping, got {type(tx).__name__}")
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if value is None:
            continue
        if key not in _TX_KEYS:
            raise InvalidRpcParams(f"transaction request: unknown key {key!r}")
        wire, kind = _TX_KEYS[key]
        if kind == "address":
            out[wire] = to_address(value, key)
        elif kind == "quantity":
            out[wire] = _request_quantity(value, key)
        elif kind == "data":
            out[wire] = hex_encode(_param_bytes(value, key))
        else:
            out[wire] = _encode_eip712_meta(value)
    return out


def _request_quantity(value: object, field: str) -> str:
    if isinstance(value, str):
        if not re.fullmatch(r"0x(0|[1-9a-fA-F][0-9a-fA-F]*)", value):
            raise InvalidRpcParams(f"{field}: not a canonical hex quantity: {value!r:.80}")
        return value.lower()
    return encode_quantity(value, field)


def _byte_array(value: object, field: str) -> list[int]:
    if isinstance(value, list | tuple) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value
    ):
        return list(value)
    return list(_param_bytes(value, field))


def _encode_eip712_meta(meta: object) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        raise InvalidRpcParams("eip712Meta: expected a mapping")
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None:
            continue
        if key == "gasPerPubdata":
            out[key] = _request_quantity(value, "eip712Meta.gasPerPubdata")
        elif key == "factoryDeps":
            if not isinstance(value, list | tuple):
                raise InvalidRpcParams("eip712Meta.factoryDeps: expected a list of bytecodes")
            out[key] = [_byte_array(dep, "eip712Meta.factoryDeps[]") for dep in value]
        elif key == "customSignature":
            out[key] = _byte_array(value, "eip712Meta.customSignature")
        elif key == "paymasterParams":
            if not isinstance(value, Mapping):
                raise InvalidRpcParams("eip712Meta.paymasterParams: expected a mapping")
            out[key] = {
                "paymaster": to_address(
                    value.get("paymaster"), "eip712Meta.paymasterParams.paymaster"
                ).lower(),
                "paymasterInput": _byte_array(
                    value.get("paymasterInput", b""), "eip712Meta.paymasterParams.paymasterInput"
                ),
            }
        else:
            raise InvalidRpcParams(f"eip712Meta: unknown key {key!r}")
    return out


def _param_bytes(value: object, field: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise InvalidRpcParams(f"{field}: expected bytes or hex text, got {type(value).__name__}")
    try:
        return hex_decode(value, field=field)
    except InvalidEncoding as exc:
        raise InvalidRpcParams(str(exc)) from exc


def local_tx_hash(raw: bytes) -> HexBytes | None:
    """The hash a node will report for a signed raw transaction, when it can be known from the bytes alone.

    For legacy and EIP-2718 typed Ethereum transactions it is keccak-256 of the raw bytes. ZKsync ``0x71``
    transactions are hashed by the node from the EIP-712 digest and the signature, so ``None`` is returned.
    """
    if not raw or raw[0] == 0x71:
        return None
    return HexBytes(keccak(raw))


# -- typed results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Log:
    """An event log from a receipt (byte fields are ``HexBytes``, as in web3.py's logs).

    Attributes:
        address: The emitting contract (checksummed).
        topics: The indexed topics, the event's signature hash first.
        data: The non-indexed data.
        log_index: Its position in the block (``None`` while pending).
        block_number: The block it is in (``None`` while pending).
        transaction_hash: The transaction that emitted it (``None`` while pending).
    """

    address: str
    topics: tuple[HexBytes, ...]
    data: HexBytes
    log_index: int | None
    block_number: int | None
    transaction_hash: HexBytes | None

    @classmethod
    def from_rpc(cls, obj: object) -> Log:
        """Parse a log object from a node answer.

        Raises:
            MalformedRpcResponse: If a field is missing or malformed.
        """
        obj = parse_object(obj, "log")
        topics = obj.get("topics")
        if not isinstance(topics, list):
            raise MalformedRpcResponse("log.topics: expected an array")
        return cls(
            address=parse_address(obj.get("address"), "log.address"),
            topics=tuple(parse_hash(t, "log.topics[]") for t in topics),
            data=HexBytes(parse_data(obj.get("data"), "log.data")),
            log_index=_optional(obj.get("logIndex"), parse_quantity, "log.logIndex"),
            block_number=_optional(obj.get("blockNumber"), parse_quantity, "log.blockNumber"),
            transaction_hash=_optional(obj.get("transactionHash"), parse_hash, "log.transactionHash"),
        )


def parse_logs(value: object, field: str) -> tuple[Log, ...]:
    """Decode an array of log objects (a receipt's ``logs``, ``eth_getLogs``).

    Raises:
        MalformedRpcResponse: If ``value`` is not an array of log objects.
    """
    if not isinstance(value, list):
        raise MalformedRpcResponse(f"{field}: expected an array")
    return tuple(Log.from_rpc(item) for item in value)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A transaction receipt; hashes are ``HexBytes`` as in web3.py (``bytes`` that print as 0x-hex).

    Attributes:
        transaction_hash: The transaction's hash.
        block_number: The block it was mined in.
        block_hash: That block's hash.
        transaction_index: Its position in the block.
        from_address: The sender (checksummed).
        to: The recipient, or ``None`` for a contract creation.
        contract_address: The created contract, if any.
        status: 1 on success, 0 on revert.
        gas_used: Gas used by this transaction.
        cumulative_gas_used: Gas used in the block up to and including it.
        effective_gas_price: The price per gas actually paid (``None`` if the node omits it).
        logs: Its event logs.
        raw: The node's receipt object as received (for chain-specific fields such as ZKsync's batch number).
    """

    transaction_hash: HexBytes
    block_number: int
    block_hash: HexBytes
    transaction_index: int
    from_address: str
    to: str | None
    contract_address: str | None
    status: int
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int | None
    logs: tuple[Log, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def success(self) -> bool:
        """``True`` if the transaction did not revert."""
        return self.status == 1

    @classmethod
    def from_rpc(cls, obj: object) -> Receipt:
        """Parse a receipt object from a node answer.

        Raises:
            MalformedRpcResponse: If a field is missing or malformed.
        """
        obj = parse_object(obj, "receipt")
        return cls(
            transaction_hash=parse_hash(obj.get("transactionHash"), "receipt.transactionHash"),
            block_number=parse_quantity(obj.get("blockNumber"), "receipt.blockNumber"),
            block_hash=parse_hash(obj.get("blockHash"), "receipt.blockHash"),
            transaction_index=parse_quantity(obj.get("transactionIndex"), "receipt.transactionIndex"),
            from_address=parse_address(obj.get("from"), "receipt.from"),
            to=_optional(obj.get("to"), parse_address, "receipt.to"),
            contract_address=_optional(obj.get("contractAddress"), parse_address, "receipt.contractAddress"),
            status=parse_quantity(obj.get("status"), "receipt.status"),
            gas_used=parse_quantity(obj.get("gasUsed"), "receipt.gasUsed"),
            cumulative_gas_used=parse_quantity(obj.get("cumulativeGasUsed"), "receipt.cumulativeGasUsed"),
            effective_gas_price=_optional(
                obj.get("effectiveGasPrice"), parse_quantity, "receipt.effectiveGasPrice"
            ),
            logs=parse_logs(obj.get("logs", []), "receipt.logs"),
            raw=dict(obj),
        )


class SendStatus(enum.Enum):
    """What is known about a raw transaction after trying to send it."""

    SENT = "sent"  # the node accepted it and returned its hash
    NOT_SENT = "not_sent"  # definitely not in the node: rejected with an error, or never delivered
    UNKNOWN = "unknown"  # the transport failed after the bytes may have reached the node


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The truthful outcome of sending a raw transaction (see :meth:`EthClient.try_send_raw_transaction`).

    Attributes:
        status: Sent, not sent or unknown.
        raw_transaction: The exact bytes sent; re-sending them is safe when the status is ``UNKNOWN``.
        tx_hash: The node's hash when sent; the locally computed hash otherwise (``None`` for ZKsync 0x71);
            a ``HexBytes``, as web3.py returns it.
        error: The error that made the outcome not ``SENT``.
    """

    status: SendStatus
    raw_transaction: bytes = field(repr=False)
    tx_hash: HexBytes | None
    error: SsoSignerError | None = None
