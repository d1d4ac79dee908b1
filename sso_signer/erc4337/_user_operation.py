"""The ERC-4337 v0.8 UserOperation: unpacked model, packed on-chain form, JSON-RPC form and its EIP-712 hash.

The EntryPoint v0.8 hashes the *packed* struct (``initCode``, ``accountGasLimits``, ``gasFees``,
``paymasterAndData``) under the EIP-712 domain ``ERC4337`` / ``1``; bundlers speak the *unpacked* v0.7+
JSON object.
:class:`UserOperation` keeps the unpacked fields (the ones a caller sets) and derives both forms from them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sso_signer._codec import checksum_address, hex_decode, hex_encode
from sso_signer.exceptions import ErrorCode, InvalidUserOperation, MalformedRpcResponse
from sso_signer.rpc._types import parse_data, parse_quantity

__all__ = [
    "EIP712_DOMAIN_TYPE",
    "ENTRY_POINT_V08",
    "PACKED_USEROP_TYPEHASH",
    "SENDER_CREATOR_V08",
    "UserOperation",
    "decode_nonce",
    "eip712_struct_hash",
    "encode_nonce",
    "entry_point_domain_separator",
    "pack_uint128_pair",
    "user_operation_hash",
]

ENTRY_POINT_V08: Final = "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"
"""Canonical EntryPoint v0.8 address (CREATE2 through the deterministic deployer)."""

SENDER_CREATOR_V08: Final = "0x449ED7C3e6Fee6a97311d4b55475DF59C44AdD33"
"""The SenderCreator of the canonical EntryPoint v0.8: the ``msg.sender`` a factory sees for an initCode."""

_PACKED_USEROP_TYPE: Final = (
    b"PackedUserOperation(address sender,uint256 nonce,bytes initCode,bytes callData,"
    b"bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,bytes paymasterAndData)"
)
PACKED_USEROP_TYPEHASH: Final = keccak(_PACKED_USEROP_TYPE)
EIP712_DOMAIN_TYPE: Final = (
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)

_U64: Final = (1 << 64) - 1
_U128: Final = (1 << 128) - 1
_U192: Final = (1 << 192) - 1
_U256: Final = (1 << 256) - 1


def _check_uint(value: object, bits_max: int, field: str) -> int:
    # bool is an int subclass; a True nonce is always a bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidUserOperation(
            f"{field}: expected an int, got {type(value).__name__}", rule=ErrorCode.FIELD_OUT_OF_RANGE
        )
    if value < 0 or value > bits_max:
        raise InvalidUserOperation(
            f"{field}: {value} is outside 0..{bits_max}", rule=ErrorCode.FIELD_OUT_OF_RANGE
        )
    return value


def _check_address(value: object, field: str) -> str:
    """A 20-byte address (raw bytes, or text through the SDK's one address check) as checksummed text."""
    if isinstance(value, bytes) and len(value) == 20:
        return to_checksum_address(value)
    return checksum_address(value, field=field)


def _check_bytes(value: object, field: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidUserOperation(
        f"{field}: expected bytes, got {type(value).__name__}", rule=ErrorCode.USER_OPERATION_FIELD_TYPE
    )


def _optional_address(value: Any) -> Any:
    # Some bundlers send "0x" or null for an absent factory/paymaster; both mean "none".
    return None if value in (None, "", "0x", "0X") else value


@functools.cache
def _struct_layout(type_string: bytes) -> tuple[bytes, tuple[str, ...], tuple[bool, ...]]:
    # The ABI types of ``typeHash ‖ encodeData`` and which fields are hashed (``bytes``, ``string``).
    fields = type_string[type_string.index(b"(") + 1 : -1].decode().split(",")
    types = [field.split()[0] for field in fields]
    hashed = tuple(kind in ("bytes", "string") for kind in types)
    abi_types = ("bytes32", *("bytes32" if h else kind for kind, h in zip(types, hashed, strict=True)))
    return keccak(type_string), abi_types, hashed


def eip712_struct_hash(type_string: bytes, *values: Any) -> bytes:
    """EIP-712 ``hashStruct`` of a struct whose fields are atomic types, ``bytes`` or ``string``.

    Args:
        type_string: The struct's encoded type, ``Name(type1 name1,...)``.
        values: The field values in order (``bytes`` for ``bytes`` and ``string`` fields: they are hashed).

    Returns:
        ``keccak256(typeHash ‖ encodeData)``.
    """
    typehash, abi_types, hashed = _struct_layout(type_string)
    data = [keccak(value) if h else value for value, h in zip(values, hashed, strict=True)]
    return keccak(abi_encode(abi_types, [typehash, *data]))


def encode_nonce(key: int, sequence: int) -> int:
    """Build a 2D EntryPoint nonce ``key << 64 | sequence``.

    Args:
        key: The nonce key (uint192). SSO passkey and EOA flows use key 0.
        sequence: The sequence number within the key (uint64).

    Returns:
        The 256-bit nonce.

    Raises:
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``key`` does not fit 192 bits or ``sequence`` 64
            bits.
    """
    _check_uint(key, _U192, "nonce key")
    _check_uint(sequence, _U64, "nonce sequence")
    return key << 64 | sequence


def decode_nonce(nonce: int) -> tuple[int, int]:
    """Split a 2D nonce into ``(key, sequence)``.

    Raises:
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``nonce`` is not a uint256.
    """
    _check_uint(nonce, _U256, "nonce")
    return nonce >> 64, nonce & _U64


def pack_uint128_pair(high: int, low: int) -> bytes:
    """Pack two uint128 values into one bytes32 (``high << 128 | low``), like ``accountGasLimits``.

    Raises:
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If a value does not fit 128 bits.
    """
    _check_uint(high, _U128, "high uint128")
    _check_uint(low, _U128, "low uint128")
    return (high << 128 | low).to_bytes(32, "big")


def entry_point_domain_separator(*, entry_point: str, chain_id: int) -> bytes:
    """The EIP-712 domain separator of an EntryPoint v0.8 (name ``ERC4337``, version ``1``).

    Args:
        entry_point: The EntryPoint address.
        chain_id: The chain ID.

    Returns:
        The 32-byte domain separator.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``entry_point`` is not an address.
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``chain_id`` is not a uint256.
    """
    address = _check_address(entry_point, "entry_point")
    _check_uint(chain_id, _U256, "chain_id")
    return eip712_struct_hash(EIP712_DOMAIN_TYPE, b"ERC4337", b"1", chain_id, address)


@dataclass(frozen=True, slots=True)
class UserOperation:
    """An ERC-4337 v0.8 UserOperation in its unpacked (JSON-RPC) form.

    Every field is checked on construction; :meth:`replace` returns a checked copy. ``factory`` /
    ``paymaster`` of ``None`` mean "no initCode" / "no paymaster"; their companion fields must then be
    empty/zero.

    Attributes:
        sender: The account address (checksummed).
        nonce: The 2D nonce (``key << 64 | sequence``).
        call_data: What the EntryPoint calls on the account (``execute(...)`` for SSO accounts).
        call_gas_limit: Gas for the call phase (uint128).
        verification_gas_limit: Gas for account creation + validation (uint128).
        pre_verification_gas: Gas paid to the bundler for calldata and overhead.
        max_fee_per_gas: EIP-1559 fee cap (uint128).
        max_priority_fee_per_gas: EIP-1559 tip (uint128).
        factory: The factory of a counterfactual account, or ``None``.
        factory_data: Calldata for the factory (``deployAccount(salt, initData)``).
        paymaster: The paymaster address, or ``None``.
        paymaster_verification_gas_limit: Gas for the paymaster's validation (uint128).
        paymaster_post_op_gas_limit: Gas for the paymaster's postOp (uint128).
        paymaster_data: Extra data for the paymaster.
        signature: The account signature (for SSO: ``validator(20) ‖ validator-specific payload``).
    """

    sender: str
    nonce: int
    call_data: bytes = b""
    call_gas_limit: int = 0
    verification_gas_limit: int = 0
    pre_verification_gas: int = 0
    max_fee_per_gas: int = 0
    max_priority_fee_per_gas: int = 0
    factory: str | None = None
    factory_data: bytes = b""
    paymaster: str | None = None
    paymaster_verification_gas_limit: int = 0
    paymaster_post_op_gas_limit: int = 0
    paymaster_data: bytes = b""
    signature: bytes = b""

    def __post_init__(self) -> None:
        # object.__setattr__ because the dataclass is frozen; checks run before anyone sees the object.
        setter = object.__setattr__
        setter(self, "sender", _check_address(self.sender, "sender"))
        _check_uint(self.nonce, _U256, "nonce")
        for name in ("call_data", "factory_data", "paymaster_data", "signature"):
            setter(self, name, _check_bytes(getattr(self, name), name))
        for name in (
            "call_gas_limit",
            "verification_gas_limit",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "paymaster_verification_gas_limit",
            "paymaster_post_op_gas_limit",
        ):
            _check_uint(getattr(self, name), _U128, name)
        _check_uint(self.pre_verification_gas, _U256, "pre_verification_gas")
        if self.factory is None:
            if self.factory_data:
                raise InvalidUserOperation(
                    "factory_data is set but factory is None", rule=ErrorCode.ORPHAN_FACTORY_DATA
                )
        else:
            setter(self, "factory", _check_address(self.factory, "factory"))
        if self.paymaster is None:
            if (
                self.paymaster_data
                or self.paymaster_verification_gas_limit
                or self.paymaster_post_op_gas_limit
            ):
                raise InvalidUserOperation(
                    "paymaster gas limits or data are set but paymaster is None",
                    rule=ErrorCode.ORPHAN_PAYMASTER_FIELDS,
                )
        else:
            setter(self, "paymaster", _check_address(self.paymaster, "paymaster"))

    # --- packed (on-chain) fields ---------------------------------------------------------------------------

    @property
    def init_code(self) -> bytes:
        """``factory(20) ‖ factoryData``, or empty when there is no factory."""
        if self.factory is None:
            return b""
        return hex_decode(self.factory, length=20) + self.factory_data

    @property
    def account_gas_limits(self) -> bytes:
        """``verificationGasLimit << 128 | callGasLimit`` as bytes32."""
        return pack_uint128_pair(self.verification_gas_limit, self.call_gas_limit)

    @property
    def gas_fees(self) -> bytes:
        """``maxPriorityFeePerGas << 128 | maxFeePerGas`` as bytes32."""
        return pack_uint128_pair(self.max_priority_fee_per_gas, self.max_fee_per_gas)

    @property
    def paymaster_and_data(self) -> bytes:
        """``paymaster(20) ‖ uint128 verificationGas ‖ uint128 postOpGas ‖ paymasterData``, or empty."""
        if self.paymaster is None:
            return b""
        return (
            hex_decode(self.paymaster, length=20)
            + self.paymaster_verification_gas_limit.to_bytes(16, "big")
            + self.paymaster_post_op_gas_limit.to_bytes(16, "big")
            + self.paymaster_data
        )

    @property
    def nonce_key(self) -> int:
        """The uint192 key half of the nonce."""
        return self.nonce >> 64

    @property
    def nonce_sequence(self) -> int:
        """The uint64 sequence half of the nonce."""
        return self.nonce & _U64

    @property
    def required_prefund(self) -> int:
        """The most the EntryPoint may charge: the sum of all gas limits times ``maxFeePerGas``."""
        gas = (
            self.verification_gas_limit
            + self.call_gas_limit
            + self.pre_verification_gas
            + self.paymaster_verification_gas_limit
            + self.paymaster_post_op_gas_limit
        )
        return gas * self.max_fee_per_gas

    def packed(self) -> tuple[str, int, bytes, bytes, bytes, int, bytes, bytes, bytes]:
        """The ``PackedUserOperation`` tuple in ABI order, for ``eth_abi`` or a contract call.

        Returns:
            ``(sender, nonce, initCode, callData, accountGasLimits, preVerificationGas, gasFees,
            paymasterAndData, signature)``.
        """
        return (
            self.sender,
            self.nonce,
            self.init_code,
            self.call_data,
            self.account_gas_limits,
            self.pre_verification_gas,
            self.gas_fees,
            self.paymaster_and_data,
            self.signature,
        )

    def struct_hash(self) -> bytes:
        """keccak256 of the EIP-712 ``PackedUserOperation`` struct (the signature is not part of it)."""
        return eip712_struct_hash(_PACKED_USEROP_TYPE, *self.packed()[:-1])

    def hash(self, *, entry_point: str = ENTRY_POINT_V08, chain_id: int) -> bytes:
        """The userOpHash the account signs; see :func:`user_operation_hash`."""
        return user_operation_hash(self, entry_point=entry_point, chain_id=chain_id)

    def replace(self, **changes: Any) -> UserOperation:
        """A checked copy with some fields changed (``dataclasses.replace``).

        Raises:
            InvalidUserOperation: If the changed operation is malformed (see the field checks).
        """
        return dataclasses.replace(self, **changes)

    # --- JSON-RPC form --------------------------------------------------------------------------------------

    def to_rpc(self) -> dict[str, str]:
        """The v0.7+ unpacked JSON object bundlers expect, quantities as 0x-hex; unused factory/paymaster keys
        are omitted.

        Returns:
            A dict ready for ``eth_sendUserOperation`` / ``eth_estimateUserOperationGas``.
        """
        out = {
            "sender": self.sender,
            "nonce": hex(self.nonce),
            "callData": hex_encode(self.call_data),
            "callGasLimit": hex(self.call_gas_limit),
            "verificationGasLimit": hex(self.verification_gas_limit),
            "preVerificationGas": hex(self.pre_verification_gas),
            "maxFeePerGas": hex(self.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(self.max_priority_fee_per_gas),
            "signature": hex_encode(self.signature),
        }
        if self.factory is not None:
            out["factory"] = self.factory
            out["factoryData"] = hex_encode(self.factory_data)
        if self.paymaster is not None:
            out["paymaster"] = self.paymaster
            out["paymasterVerificationGasLimit"] = hex(self.paymaster_verification_gas_limit)
            out["paymasterPostOpGasLimit"] = hex(self.paymaster_post_op_gas_limit)
            out["paymasterData"] = hex_encode(self.paymaster_data)
        return out

    @classmethod
    def from_rpc(cls, data: Mapping[str, Any]) -> UserOperation:
        """Parse a JSON-RPC UserOperation, unpacked (v0.7+) or packed (``initCode``/``paymasterAndData``).

        Args:
            data: The JSON object. Missing gas/fee quantities default to 0, a missing signature to empty.

        Returns:
            The checked :class:`UserOperation`.

        Raises:
            InvalidUserOperation (``INVALID_USER_OPERATION_JSON``): If a key is missing or a value is not hex
                of the right shape.
            InvalidUserOperation: If the decoded fields fail the model's checks.
        """
        if not isinstance(data, Mapping):
            raise InvalidUserOperation(
                f"expected a JSON object, got {type(data).__name__}",
                rule=ErrorCode.INVALID_USER_OPERATION_JSON,
            )

        def qty(key: str, required: bool = False) -> int:
            value = data.get(key)
            if value is None and required:
                raise MalformedRpcResponse(f"{key}: missing")
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                return value or 0
            return parse_quantity(value, key)

        def blob(key: str, least: int = 0) -> bytes:
            value = b"" if data.get(key) is None else parse_data(data[key], key)
            if value and len(value) < least:
                raise MalformedRpcResponse(f"{key}: {len(value)} bytes, need at least {least}")
            return value

        try:
            if "sender" not in data:
                raise MalformedRpcResponse("sender: missing")
            factory: str | None = _optional_address(data.get("factory"))
            factory_data = blob("factoryData")
            if init_code := blob("initCode", 20):
                factory, factory_data = hex_encode(init_code[:20]), init_code[20:]
            paymaster: str | None = _optional_address(data.get("paymaster"))
            pm_verification = qty("paymasterVerificationGasLimit")
            pm_post_op = qty("paymasterPostOpGasLimit")
            pm_data = blob("paymasterData")
            if pad := blob("paymasterAndData", 52):
                paymaster, pm_data = hex_encode(pad[:20]), pad[52:]
                pm_verification = int.from_bytes(pad[20:36], "big")
                pm_post_op = int.from_bytes(pad[36:52], "big")
            return cls(
                sender=data["sender"],
                nonce=qty("nonce", required=True),
                call_data=blob("callData"),
                call_gas_limit=qty("callGasLimit"),
                verification_gas_limit=qty("verificationGasLimit"),
                pre_verification_gas=qty("preVerificationGas"),
                max_fee_per_gas=qty("maxFeePerGas"),
                max_priority_fee_per_gas=qty("maxPriorityFeePerGas"),
                factory=factory,
                factory_data=factory_data,
                paymaster=paymaster,
                paymaster_verification_gas_limit=pm_verification,
                paymaster_post_op_gas_limit=pm_post_op,
                paymaster_data=pm_data,
                signature=blob("signature"),
            )
        except MalformedRpcResponse as exc:
            raise InvalidUserOperation(str(exc), rule=ErrorCode.INVALID_USER_OPERATION_JSON) from exc


def user_operation_hash(op: UserOperation, *, entry_point: str = ENTRY_POINT_V08, chain_id: int) -> bytes:
    """The EntryPoint v0.8 userOpHash: ``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``.

    Equals ``EntryPoint.getUserOpHash(op)`` unless the initCode starts with the EIP-7702 marker.

    Args:
        op: The UserOperation (its signature is ignored).
        entry_point: The EntryPoint address (the EIP-712 verifyingContract).
        chain_id: The chain ID.

    Returns:
        The 32-byte hash; a passkey signs it as the WebAuthn challenge.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``entry_point`` is not an address.
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``chain_id`` is not a uint256.
    """
    domain = entry_point_domain_separator(entry_point=entry_point, chain_id=chain_id)
    return keccak(b"\x19\x01" + domain + op.struct_hash())
