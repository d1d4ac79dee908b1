"""ZKsync Era EIP-712 transactions (type ``0x71``): model, signed hash, serialisation and parsing.

The signed hash is the EIP-712 hash the account's validation code recomputes
(``TransactionHelper.encodeHash``): domain ``EIP712Domain(string name,string version,uint256 chainId)`` with
name ``"zkSync"``, version ``"2"``, and the 13-field ``Transaction`` struct below, where addresses are
``uint256`` and factory deps are EraVM bytecode hashes.
For a passkey account this hash is the WebAuthn challenge.

The wire form is ``0x71 || RLP([...16 items...])``; see :meth:`Eip712Transaction.serialize` for the order.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from rlp.codec import consume_length_prefix
from rlp.exceptions import DecodingError

from sso_signer._keccak import keccak256 as _keccak256
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidTransaction
from sso_signer.zksync._bytecode import bytecode_hash
from sso_signer.zksync._checks import UINT256_MAX, check_address, check_bytes, check_uint
from sso_signer.zksync._paymaster import PaymasterParams

EIP712_TX_TYPE = 0x71
DEFAULT_GAS_PER_PUBDATA = 50_000
EIP712_DOMAIN_NAME = "zkSync"  # this casing is what the system contracts hash
EIP712_DOMAIN_VERSION = "2"

# The encoded types the system contracts hash; the typed-data form below is derived from them.
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
_TRANSACTION_TYPE = (
    "Transaction(uint256 txType,uint256 from,uint256 to,uint256 gasLimit,uint256 gasPerPubdataByteLimit,"
    "uint256 maxFeePerGas,uint256 maxPriorityFeePerGas,uint256 paymaster,uint256 nonce,uint256 value,"
    "bytes data,bytes32[] factoryDeps,bytes paymasterInput)"
)


def _members(encoded: str) -> tuple[Mapping[str, str], ...]:
    """The typed-data members of ``Name(type name,...)``."""
    members = (member.split(" ") for member in encoded[encoded.index("(") + 1 : -1].split(","))
    return tuple({"name": name, "type": kind} for kind, name in members)


#: The EIP-712 types of the signed struct, in the field order of the system contracts' type hash.
EIP712_TRANSACTION_TYPES: Mapping[str, Sequence[Mapping[str, str]]] = {
    "EIP712Domain": _members(_DOMAIN_TYPE),
    "Transaction": _members(_TRANSACTION_TYPE),
}

_FIELD_COUNT = 16
_QUANTITY_FIELDS = (
    "nonce",
    "value",
    "gas_limit",
    "max_fee_per_gas",
    "max_priority_fee_per_gas",
    "gas_per_pubdata",
)
_QUANTITIES = operator.attrgetter(*_QUANTITY_FIELDS)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class Eip712Transaction:
    """A ZKsync Era EIP-712 (type ``0x71``) transaction.

    Construction checks every field and normalises addresses to checksum form, lists to tuples and
    bytes-likes to ``bytes``, so an instance is always serialisable and hashable.

    Attributes:
        chain_id: The L2 chain id (300 Era Sepolia, 324 Era mainnet, 260 anvil-zksync).
        nonce: The account's sequential nonce.
        from_address: The account that initiates (and validates) the transaction.
        to: The callee, or ``None`` for a deployment (hashed as address 0, serialised as empty bytes).
        value: Wei sent along.
        data: Calldata.
        gas_limit: Gas limit (the account must cover ``gas_limit * max_fee_per_gas + value`` unless a
            paymaster pays).
        max_fee_per_gas: Fee cap in wei per gas.
        max_priority_fee_per_gas: Priority fee cap; may not exceed ``max_fee_per_gas``.
        gas_per_pubdata: Gas per pubdata byte limit (default 50000, the SDKs' default).
        factory_deps: Full EraVM bytecodes the transaction deploys or publishes.
        custom_signature: The account-specific signature blob (empty while building / estimating).
        paymaster_params: Paymaster and its input, or ``None``.

    Raises (at construction):
        InvalidTransaction (``INVALID_FIELD_TYPE``): A field has the wrong Python type.
        InvalidTransaction (``INTEGER_OUT_OF_RANGE``): An integer is out of range (``chain_id`` must be
            positive; all are uint256).
        InvalidEncoding (``INVALID_ADDRESS``): An address is malformed or has a bad checksum.
        InvalidTransaction (``PRIORITY_FEE_ABOVE_MAX_FEE``): ``max_priority_fee_per_gas > max_fee_per_gas``.
        InvalidBytecode: A factory dep breaks the EraVM bytecode rules (one of its subclasses).
    """

    chain_id: int
    nonce: int
    from_address: str
    to: str | None
    value: int = 0
    data: bytes = b""
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas_per_pubdata: int = DEFAULT_GAS_PER_PUBDATA
    factory_deps: tuple[bytes, ...] = ()
    custom_signature: bytes = b""
    paymaster_params: PaymasterParams | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        check_uint(self.chain_id, field="chain_id", minimum=1)
        quantities = _QUANTITIES(self)
        # A bare loop for the common all-valid case; the per-field check raises the error naming the culprit.
        for quantity in quantities:
            if type(quantity) is not int or quantity < 0 or quantity > UINT256_MAX:
                for name, value in zip(_QUANTITY_FIELDS, quantities, strict=True):
                    check_uint(value, field=name)
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise InvalidTransaction(
                f"max_priority_fee_per_gas {self.max_priority_fee_per_gas} exceeds "
                f"max_fee_per_gas {self.max_fee_per_gas}",
                rule=ErrorCode.PRIORITY_FEE_ABOVE_MAX_FEE,
            )
        set_(self, "from_address", check_address(self.from_address, field="from_address"))
        if self.to is not None:
            set_(self, "to", check_address(self.to, field="to"))
        set_(self, "data", check_bytes(self.data, field="data"))
        set_(self, "custom_signature", check_bytes(self.custom_signature, field="custom_signature"))
        deps_in = self.factory_deps
        if deps_in != ():  # most transactions deploy nothing
            if isinstance(deps_in, bytes | bytearray | str) or not isinstance(deps_in, Iterable):
                raise InvalidTransaction(
                    "factory_deps: expected a sequence of bytecodes", rule=ErrorCode.INVALID_FIELD_TYPE
                )
            deps = tuple(check_bytes(dep, field=f"factory_deps[{i}]") for i, dep in enumerate(deps_in))
            for dep in deps:
                bytecode_hash(dep)  # raises the InvalidBytecode subclass naming the broken rule
            set_(self, "factory_deps", deps)
        if self.paymaster_params is not None and not isinstance(self.paymaster_params, PaymasterParams):
            raise InvalidTransaction(
                f"paymaster_params: expected PaymasterParams, got {type(self.paymaster_params).__name__}",
                rule=ErrorCode.INVALID_FIELD_TYPE,
            )

    # -- EIP-712 -----------------------------------------------------------------------------------------

    @property
    def factory_dep_hashes(self) -> tuple[bytes, ...]:
        """The EraVM bytecode hashes of :attr:`factory_deps`, as they enter the signed hash."""
        return tuple(bytecode_hash(dep) for dep in self.factory_deps)

    def eip712_domain(self) -> dict[str, Any]:
        """The EIP-712 domain: ``{"name": "zkSync", "version": "2", "chainId": chain_id}``."""
        return {"name": EIP712_DOMAIN_NAME, "version": EIP712_DOMAIN_VERSION, "chainId": self.chain_id}

    def eip712_message(self) -> dict[str, Any]:
        """The ``Transaction`` struct values (addresses as ints, bytes as ``0x`` hex) a wallet signs."""
        paymaster = self.paymaster_params
        return {
            "txType": EIP712_TX_TYPE,
            "from": int(self.from_address, 16),
            "to": int(self.to, 16) if self.to is not None else 0,
            "gasLimit": self.gas_limit,
            "gasPerPubdataByteLimit": self.gas_per_pubdata,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
            "paymaster": int(paymaster.paymaster, 16) if paymaster is not None else 0,
            "nonce": self.nonce,
            "value": self.value,
            "data": _hex(self.data),
            "factoryDeps": [_hex(h) for h in self.factory_dep_hashes],
            "paymasterInput": _hex(paymaster.paymaster_input) if paymaster is not None else "0x",
        }

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 typed data (``types``, ``primaryType``, ``domain``, ``message``).

        It can be handed to ``eth_account.Account.sign_typed_data(full_message=...)`` or a wallet's
        ``eth_signTypedData_v4`` to sign as a secp256k1 owner.
        """
        return {
            "types": {name: [dict(f) for f in fields] for name, fields in EIP712_TRANSACTION_TYPES.items()},
            "primaryType": "Transaction",
            "domain": self.eip712_domain(),
            "message": self.eip712_message(),
        }

    def signed_hash(self) -> bytes:
        """The EIP-712 hash the account validates: ``keccak256(0x1901 || domainSeparator || structHash)``.

        For a passkey account this 32-byte value is the WebAuthn challenge. It does not cover
        :attr:`custom_signature`.

        Returns:
            The 32-byte signed hash.
        """
        # Hashed directly (every member is a static word or a hashed byte string): byte-identical to
        # eth-account's generic EIP-712 encoder (tests/zksync/test_fast_paths.py), many times faster.
        paymaster = self.paymaster_params
        words = (
            _TRANSACTION_TYPEHASH,
            _TX_TYPE_WORD,
            _address_word(self.from_address),
            _address_word(self.to) if self.to is not None else _ZERO_WORD,
            _word(self.gas_limit),
            _word(self.gas_per_pubdata),
            _word(self.max_fee_per_gas),
            _word(self.max_priority_fee_per_gas),
            _address_word(paymaster.paymaster) if paymaster is not None else _ZERO_WORD,
            _word(self.nonce),
            _word(self.value),
            _keccak(self.data),
            _keccak(b"".join(self.factory_dep_hashes)),
            _keccak(paymaster.paymaster_input if paymaster is not None else b""),
        )
        struct_hash = _keccak256(b"".join(words))
        return _keccak256(b"\x19\x01" + _domain_separator(self.chain_id) + struct_hash)

    def transaction_hash(self) -> bytes:
        """The L2 transaction hash a node reports: ``keccak256(signedHash || keccak256(customSignature))``.

        Meaningful only once :attr:`custom_signature` is set; prefer the hash ``eth_sendRawTransaction``
        returns.
        """
        return bytes(keccak(self.signed_hash() + keccak(self.custom_signature)))

    def to_rpc_request(self) -> dict[str, Any]:
        """The JSON transaction object for ``eth_estimateGas`` / ``eth_call`` / ``zks_estimateFee``.

        Quantities are ``0x`` hex; ZKsync fields go in ``eip712Meta``, where the node expects byte strings
        (factory deps, custom signature, paymaster input) as JSON arrays of numbers (``Vec<u8>``), not hex.
        Pass the result to the JSON-RPC client unchanged: re-encoding those arrays as quantities breaks them.

        Returns:
            A JSON-ready ``dict`` (``from``/``to``/``data`` lower-case hex; ``to`` omitted for a deployment).
        """
        meta: dict[str, Any] = {"gasPerPubdata": hex(self.gas_per_pubdata)}
        if self.factory_deps:
            meta["factoryDeps"] = [list(dep) for dep in self.factory_deps]
        if self.custom_signature:
            meta["customSignature"] = list(self.custom_signature)
        if self.paymaster_params is not None:
            meta["paymasterParams"] = {
                "paymaster": self.paymaster_params.paymaster.lower(),
                "paymasterInput": list(self.paymaster_params.paymaster_input),
            }
        request: dict[str, Any] = {
            "type": hex(EIP712_TX_TYPE),
            "chainId": hex(self.chain_id),
            "nonce": hex(self.nonce),
            "from": self.from_address.lower(),
        }
        if self.to is not None:
            request["to"] = self.to.lower()
        request.update(
            {
                "gas": hex(self.gas_limit),
                "maxFeePerGas": hex(self.max_fee_per_gas),
                "maxPriorityFeePerGas": hex(self.max_priority_fee_per_gas),
                "value": hex(self.value),
                "data": _hex(self.data),
                "eip712Meta": meta,
            }
        )
        return request

    # -- wire form ---------------------------------------------------------------------------------------

    def _rlp_items(self) -> list[Any]:
        paymaster: list[bytes] = []
        if self.paymaster_params is not None:
            params = self.paymaster_params
            paymaster = [_address_bytes(params.paymaster), params.paymaster_input]
        return [
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas_limit,
            _address_bytes(self.to) if self.to is not None else b"",
            self.value,
            self.data,
            # Slots 7-9 carry (v, r, s) of a secp256k1 signature in the legacy form; unsigned and
            # custom-signature transactions put (chainId, "", "") there, as every SDK does.
            self.chain_id,
            b"",
            b"",
            self.chain_id,
            _address_bytes(self.from_address),
            self.gas_per_pubdata,
            list(self.factory_deps),
            self.custom_signature,
            paymaster,
        ]

    def serialize(self, custom_signature: bytes | None = None) -> bytes:
        """Serialise to the raw form ``eth_sendRawTransaction`` takes.

        Layout: ``0x71 || RLP([nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
        chainId, "", "", chainId, from, gasPerPubdata, [factoryDeps...], customSignature,
        [paymaster, paymasterInput] or []])``, integers minimal big-endian (zero is the empty string).

        Args:
            custom_signature: Serialise with this signature instead of :attr:`custom_signature`; the same
                bytes as ``tx.replace(custom_signature=...).serialize()``, without the copy (a signer's path).

        Returns:
            The serialised transaction bytes.

        Raises:
            InvalidTransaction (``INVALID_FIELD_TYPE``): If ``custom_signature`` is not bytes-like.
        """
        signature = (
            self.custom_signature
            if custom_signature is None
            else check_bytes(custom_signature, field="custom_signature")
        )
        # Field by field in the order of _rlp_items (the description tests compare against ``rlp``).
        chain_id = _rlp_uint(self.chain_id)
        params = self.paymaster_params
        body = b"".join(
            (
                _rlp_uint(self.nonce),
                _rlp_uint(self.max_priority_fee_per_gas),
                _rlp_uint(self.max_fee_per_gas),
                _rlp_uint(self.gas_limit),
                _rlp_string(_address_bytes(self.to)) if self.to is not None else b"\x80",
                _rlp_uint(self.value),
                _rlp_string(self.data),
                chain_id,
                b"\x80",
                b"\x80",
                chain_id,
                _rlp_string(_address_bytes(self.from_address)),
                _rlp_uint(self.gas_per_pubdata),
                _rlp_list([_rlp_string(dep) for dep in self.factory_deps]),
                _rlp_string(signature),
                _rlp_list(
                    ()
                    if params is None
                    else (_rlp_string(_address_bytes(params.paymaster)), _rlp_string(params.paymaster_input))
                ),
            )
        )
        return _TYPE_PREFIX + _rlp_length(len(body), 0xC0) + body

    @classmethod
    def parse(cls, raw: bytes) -> Eip712Transaction:
        """Parse a serialised 0x71 transaction, accepting only the canonical encoding.

        Args:
            raw: ``0x71 || RLP(...)`` bytes, as produced by :meth:`serialize` or another SDK.

        Returns:
            The transaction; ``parse(raw).serialize() == raw``.

        Raises:
            InvalidTransaction (``INVALID_FIELD_TYPE``): If ``raw`` is not bytes-like.
            InvalidTransaction (``WRONG_TRANSACTION_TYPE``): If the first byte is not ``0x71``.
            InvalidTransaction (``MALFORMED_RLP``): If the RLP is invalid or non-canonical, or an item is a
                list where bytes belong (or the reverse).
            InvalidTransaction (``TRAILING_RLP_DATA``): If bytes follow the RLP list.
            InvalidTransaction (``WRONG_FIELD_COUNT``): If the list does not hold 16 items, or the paymaster
                list neither 0 nor 2.
            InvalidTransaction (``NON_CANONICAL_INTEGER``): If an integer has leading zero bytes.
            InvalidTransaction (``INTEGER_OUT_OF_RANGE``): If an integer exceeds 32 bytes or is out of its
                field's range.
            InvalidEncoding (``INVALID_ADDRESS``): If an address is not 20 bytes (``to`` may also be empty).
            InvalidTransaction (``CHAIN_ID_MISMATCH``): If the two chain-id slots differ.
            InvalidTransaction (``ECDSA_SIGNATURE_FIELDS_SET``): If the legacy ``r``/``s`` slots carry a
                signature.
            InvalidTransaction (``PRIORITY_FEE_ABOVE_MAX_FEE``): If the priority fee exceeds the fee cap.
            InvalidBytecode: If a factory dep breaks the EraVM bytecode rules (one of its subclasses).
            InvalidTransaction (``NON_CANONICAL_ENCODING``): If re-serialising the parsed fields gives
                different bytes.
        """
        data = check_bytes(raw, field="raw transaction")
        if not data or data[0] != EIP712_TX_TYPE:
            got = f"0x{data[0]:02x}" if data else "nothing"
            raise InvalidTransaction(
                f"raw transaction: expected type byte 0x71, got {got}", rule=ErrorCode.WRONG_TRANSACTION_TYPE
            )
        payload = data[1:]
        items = _decode_list(payload)
        if len(items) != _FIELD_COUNT:
            raise InvalidTransaction(
                f"raw transaction: expected {_FIELD_COUNT} RLP items, got {len(items)}",
                rule=ErrorCode.WRONG_FIELD_COUNT,
            )

        chain_id = _int(items[10], "chainId")
        v_slot = _int(items[7], "v/chainId slot")
        r_slot, s_slot = _bytes(items[8], "r slot"), _bytes(items[9], "s slot")
        if r_slot or s_slot:
            raise InvalidTransaction(
                "raw transaction: r/s slots are set; expected customSignature form",
                rule=ErrorCode.ECDSA_SIGNATURE_FIELDS_SET,
            )
        if v_slot != chain_id:
            raise InvalidTransaction(
                f"raw transaction: chain id slots differ ({v_slot} vs {chain_id})",
                rule=ErrorCode.CHAIN_ID_MISMATCH,
            )

        to_raw = _bytes(items[4], "to")
        paymaster_items = _list(items[15], "paymasterParams")
        paymaster: PaymasterParams | None = None
        if paymaster_items:
            if len(paymaster_items) != 2:
                raise InvalidTransaction(
                    f"paymasterParams: expected 0 or 2 items, got {len(paymaster_items)}",
                    rule=ErrorCode.WRONG_FIELD_COUNT,
                )
            paymaster = PaymasterParams(
                paymaster=_address(paymaster_items[0], "paymaster"),
                paymaster_input=_bytes(paymaster_items[1], "paymasterInput"),
            )
        tx = cls(
            chain_id=chain_id,
            nonce=_int(items[0], "nonce"),
            max_priority_fee_per_gas=_int(items[1], "maxPriorityFeePerGas"),
            max_fee_per_gas=_int(items[2], "maxFeePerGas"),
            gas_limit=_int(items[3], "gasLimit"),
            to=None if to_raw == b"" else _address(to_raw, "to"),
            value=_int(items[5], "value"),
            data=_bytes(items[6], "data"),
            from_address=_address(items[11], "from"),
            gas_per_pubdata=_int(items[12], "gasPerPubdata"),
            factory_deps=tuple(
                _bytes(dep, f"factoryDeps[{i}]") for i, dep in enumerate(_list(items[13], "factoryDeps"))
            ),
            custom_signature=_bytes(items[14], "customSignature"),
            paymaster_params=paymaster,
        )
        # Every check above should make this hold; it guards the round-trip promise against anything missed.
        if tx.serialize() != data:
            raise InvalidTransaction(
                "raw transaction: re-serialisation differs from the input",
                rule=ErrorCode.NON_CANONICAL_ENCODING,
            )
        return tx

    def replace(self, **changes: Any) -> Eip712Transaction:
        """Return a copy with some fields changed (checked again), e.g. ``tx.replace(custom_signature=sig)``.

        Raises:
            TypeError: If a keyword is not a field name (programming error, as with ``dataclasses.replace``).
            InvalidInputError: Any construction error of the new values (see the class docstring).
        """
        if len(changes) == 1 and "custom_signature" in changes:
            # Signing sets only the signature, on every transaction: copy the already-checked fields instead
            # of re-running every check (equal to dataclasses.replace; tests/zksync/test_fast_paths.py).
            copy = object.__new__(Eip712Transaction)
            for field in _FIELD_NAMES:
                object.__setattr__(copy, field, getattr(self, field))
            signature = check_bytes(changes["custom_signature"], field="custom_signature")
            object.__setattr__(copy, "custom_signature", signature)
            return copy
        return dataclasses.replace(self, **changes)


# -- EIP-712 helpers -------------------------------------------------------------------------------------

_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Eip712Transaction))

_ZERO_WORD = bytes(32)
_TX_TYPE_WORD = EIP712_TX_TYPE.to_bytes(32, "big")
_TYPE_PREFIX = bytes([EIP712_TX_TYPE])
_EMPTY_KECCAK = bytes(keccak(b""))
_DOMAIN_TYPEHASH = bytes(keccak(text=_DOMAIN_TYPE))
_TRANSACTION_TYPEHASH = bytes(keccak(text=_TRANSACTION_TYPE))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _keccak(data: bytes) -> bytes:
    return _EMPTY_KECCAK if not data else _keccak256(data)


@functools.lru_cache(maxsize=64)
def _domain_separator(chain_id: int) -> bytes:
    # One per chain; recomputing it is a third of the hashing work of a transaction.
    name, version = keccak(EIP712_DOMAIN_NAME.encode()), keccak(EIP712_DOMAIN_VERSION.encode())
    return bytes(keccak(_DOMAIN_TYPEHASH + name + version + _word(chain_id)))


# -- RLP helpers -----------------------------------------------------------------------------------------


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


# Direct canonical RLP encoders for the flat shape of a 0x71 transaction: the generic ``rlp.encode`` (kept
# for decoding, and the reference in tests/zksync/test_fast_paths.py) spends most of its time on sedes
# inference.


def _rlp_string(data: bytes) -> bytes:
    """RLP of a byte string."""
    size = len(data)
    if size < 56:
        if size == 1 and data[0] < 0x80:
            return data
        return _RLP_SHORT_PREFIX[size] + data
    return _rlp_length(size, 0x80) + data


def _rlp_uint(value: int) -> bytes:
    """RLP of an unsigned integer (at most 32 bytes): minimal big-endian bytes, zero as the empty string."""
    if value < 0x80:
        return _RLP_SMALL_INTS[value]
    size = (value.bit_length() + 7) // 8
    return _RLP_SHORT_PREFIX[size] + value.to_bytes(size, "big")


def _rlp_list(encoded_items: Sequence[bytes]) -> bytes:
    """RLP of a list whose items are already encoded."""
    body = b"".join(encoded_items)
    return _rlp_length(len(body), 0xC0) + body


_RLP_SMALL_INTS = (b"\x80", *(bytes([i]) for i in range(1, 0x80)))
_RLP_SHORT_PREFIX = tuple(bytes([0x80 + size]) for size in range(56))


def _decode_list(payload: bytes) -> list[Any]:
    if not payload:
        raise InvalidTransaction("raw transaction: no RLP after the type byte", rule=ErrorCode.MALFORMED_RLP)
    try:
        _prefix, kind, _length, end = consume_length_prefix(payload, 0)
    except DecodingError as exc:
        raise InvalidTransaction(
            f"raw transaction: bad RLP prefix ({exc})", rule=ErrorCode.MALFORMED_RLP
        ) from exc
    if kind is not list:
        raise InvalidTransaction(
            "raw transaction: top-level RLP item must be a list", rule=ErrorCode.MALFORMED_RLP
        )
    total = end + _length
    if total < len(payload):
        raise InvalidTransaction(
            f"raw transaction: {len(payload) - total} bytes after the RLP list",
            rule=ErrorCode.TRAILING_RLP_DATA,
        )
    try:
        decoded = rlp.decode(payload, strict=True)
    except DecodingError as exc:
        raise InvalidTransaction(
            f"raw transaction: invalid RLP ({exc})", rule=ErrorCode.MALFORMED_RLP
        ) from exc
    return _list(decoded, "raw transaction")  # the prefix said list


def _bytes(item: object, field: str) -> bytes:
    if not isinstance(item, bytes):
        raise InvalidTransaction(f"{field}: expected an RLP string, got a list", rule=ErrorCode.MALFORMED_RLP)
    return item


def _list(item: object, field: str) -> list[Any]:
    if not isinstance(item, list):
        raise InvalidTransaction(f"{field}: expected an RLP list, got a string", rule=ErrorCode.MALFORMED_RLP)
    return item


def _int(item: object, field: str) -> int:
    data = _bytes(item, field)
    if data[:1] == b"\x00":
        raise InvalidTransaction(
            f"{field}: integer has a leading zero byte", rule=ErrorCode.NON_CANONICAL_INTEGER
        )
    if len(data) > 32:
        raise InvalidTransaction(
            f"{field}: {len(data)}-byte integer exceeds 256 bits", rule=ErrorCode.INTEGER_OUT_OF_RANGE
        )
    return int.from_bytes(data, "big")


def _address(item: object, field: str) -> str:
    data = _bytes(item, field)
    if len(data) != 20:
        raise InvalidEncoding(f"{field}: expected 20 bytes, got {len(data)}", rule=ErrorCode.INVALID_ADDRESS)
    return str(to_checksum_address(data))


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])
