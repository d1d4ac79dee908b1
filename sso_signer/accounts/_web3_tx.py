"""Transactions as web3.py users write them: dicts in, eth-account-shaped signed objects out.

A web3.py user writes ``{"from": ..., "to": ..., "value": ..., "data": ..., "nonce": ..., "gas": ...,
"maxFeePerGas": ..., "chainId": ...}`` with ``int`` or ``0x`` hex quantities and expects ``sign_transaction``
to return something with ``raw_transaction`` and ``hash`` (eth-account's ``SignedTransaction``). This module
turns such a dict into what each account signs and wraps the result:

* Era: the dict becomes an :class:`~sso_signer.zksync.Eip712Transaction` (ZKsync users' spellings of the
  0x71 extras are accepted: top-level ``gasPerPubdata`` / ``paymaster`` / ``paymasterInput`` /
  ``factoryDeps`` as viem writes them, or nested in ``customData`` (zksync-ethers) or ``eip712Meta``
  (zksync2-python)); fields left out are filled from the chain as :meth:`EraAccount.prepare` fills them. The
  result, :class:`SignedEraTransaction`, *is* the signed ``Eip712Transaction`` and adds ``raw_transaction``
  (``0x71 ‖ RLP``) and ``hash`` (the L2 transaction hash).
* ERC-4337: there is no transaction to sign, only a UserOperation running the call. The dict's
  ``to``/``value``/``data`` become the op's call, its fees the op's fees; :class:`SignedUserOperation` holds
  the signed op, ``raw_transaction`` = its ABI-encoded ``PackedUserOperation`` and ``hash`` = its
  userOpHash. Neither can go to ``eth_sendRawTransaction``: the op goes to the bundler
  (``send_user_operation``), and the chain transaction that includes it is the bundler's, with its own hash.

A malformed dict raises :class:`~sso_signer.exceptions.InvalidTransaction` naming the key
(``INVALID_FIELD_TYPE``, ``INTEGER_OUT_OF_RANGE``, ``WRONG_TRANSACTION_TYPE``, or
``UNSUPPORTED_TRANSACTION_FIELD`` for a key the account cannot honour), ``InvalidEncoding``
(``INVALID_ADDRESS``) for a bad address, and :class:`~sso_signer.exceptions.StateError`
(``ACCOUNT_MISMATCH``) when ``from`` or ``chainId`` is another account's or chain's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from eth_abi.abi import encode as abi_encode
from hexbytes import HexBytes

from sso_signer._shell import flow_method
from sso_signer.accounts._signer import PasskeySigner
from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, Call, UserOperation
from sso_signer.erc4337._bundler import GasPrice
from sso_signer.exceptions import ErrorCode, InvalidTransaction, StateError
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.rpc._flow import Flow
from sso_signer.sso._signature import checksum_address
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._transaction import DEFAULT_GAS_PER_PUBDATA, EIP712_TX_TYPE

if TYPE_CHECKING:
    from web3 import AsyncWeb3, Web3

#: What an account takes for a client besides the SDK's own: a URL, or a web3.py ``Web3`` / ``AsyncWeb3``.
Connection: TypeAlias = "str | Web3 | AsyncWeb3[Any]"

__all__ = [
    "Connection",
    "Erc4337TransactionMethods",
    "SignedEraTransaction",
    "SignedUserOperation",
    "connect",
    "era_transaction_flow",
    "read_erc4337_transaction",
]

_UINT256_MAX = 2**256 - 1
_TRANSACTION_FIELDS = tuple(Eip712Transaction.__dataclass_fields__)
_PACKED_USER_OPERATION = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"


# --- the signed objects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SignedEraTransaction(Eip712Transaction):
    """A signed 0x71 transaction, shaped like eth-account's ``SignedTransaction``.

    It is the :class:`~sso_signer.zksync.Eip712Transaction` with its ``custom_signature`` set (every field,
    ``serialize()``, ``signed_hash()`` and ``send_transaction`` work as on the plain one) and adds:

    Attributes:
        raw_transaction: ``0x71 ‖ RLP`` with the custom signature, for ``w3.eth.send_raw_transaction``.
        hash: The L2 transaction hash a ZKsync node reports for it.
    """

    def __eq__(self, other: object) -> bool:
        # Equal to the plain Eip712Transaction with the same fields (the signed one is no other transaction).
        if not isinstance(other, Eip712Transaction):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _TRANSACTION_FIELDS)

    __hash__ = Eip712Transaction.__hash__  # the fields' hash, as for the plain one it equals

    @property
    def raw_transaction(self) -> HexBytes:
        """``0x71 ‖ RLP`` of the signed transaction."""
        return HexBytes(self.serialize())

    @property
    def hash(self) -> HexBytes:
        """The L2 transaction hash (``keccak256(signedHash ‖ keccak256(customSignature))``)."""
        return HexBytes(self.transaction_hash())

    @classmethod
    def of(cls, transaction: Eip712Transaction) -> SignedEraTransaction:
        """The signed form of a transaction with its ``custom_signature`` set (fields copied as they are)."""
        signed = object.__new__(cls)
        for name in _TRANSACTION_FIELDS:
            object.__setattr__(signed, name, getattr(transaction, name))
        return signed


@dataclass(frozen=True, slots=True)
class SignedUserOperation:
    """What an ERC-4337 passkey account's ``sign_transaction`` returns: the signed UserOperation.

    Shaped like eth-account's ``SignedTransaction`` (``raw_transaction``, ``hash``), with ERC-4337 meanings:
    send :attr:`user_operation` to the bundler (``account.send_user_operation``), not ``raw_transaction`` to
    a node; the transaction that includes it is the bundler's, with another hash.

    Attributes:
        user_operation: The signed :class:`~sso_signer.erc4337.UserOperation`.
        raw_transaction: The ABI encoding of its ``PackedUserOperation`` (what ``EntryPoint.handleOps``
            receives).
        hash: Its userOpHash (what the passkey signed; ``eth_getUserOperationReceipt`` takes it).
    """

    user_operation: UserOperation
    raw_transaction: HexBytes
    hash: HexBytes

    @classmethod
    def of(cls, op: UserOperation, user_op_hash: bytes) -> SignedUserOperation:
        """Wrap a signed op with its packed form and ``user_op_hash``."""
        packed = abi_encode([_PACKED_USER_OPERATION], [op.packed()])
        return cls(op, HexBytes(packed), HexBytes(user_op_hash))


# --- reading a dict ---------------------------------------------------------------------------------------

# What both accounts read from a dict; each adds its own (ZKsync's 0x71 extras, an ERC-4337 paymaster).
_COMMON_KEYS = frozenset(
    {
        "from",
        "to",
        "value",
        "data",
        "nonce",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "gasPrice",
        "chainId",
        "type",
    }
)
_ERA_KEYS = _COMMON_KEYS | {
    "gas",
    "gasPerPubdata",
    "paymaster",
    "paymasterInput",
    "paymasterParams",
    "factoryDeps",
    "customData",
    "eip712Meta",
}
_META_KEYS = frozenset({"gasPerPubdata", "paymasterParams", "factoryDeps", "customSignature"})
_ERC4337_KEYS = _COMMON_KEYS | {"paymaster", "paymasterData"}
_ERC4337_REFUSED = {
    "gas": "an ERC-4337 UserOperation has three gas limits, estimated by the bundler; leave gas out "
    "(or build the op with build_user_operation(gas=...))",
    "accessList": "a UserOperation has no access list",
}


def _unsupported(key: str, why: str) -> InvalidTransaction:
    return InvalidTransaction(f"{key}: {why}", rule=ErrorCode.UNSUPPORTED_TRANSACTION_FIELD)


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidTransaction(
            f"{key}: expected a dict, got {type(value).__name__}", rule=ErrorCode.INVALID_FIELD_TYPE
        )
    for name in value:
        if not isinstance(name, str):
            raise InvalidTransaction(
                f"{key}: keys must be text, got {name!r}", rule=ErrorCode.INVALID_FIELD_TYPE
            )
    return value


def _check_keys(tx: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in tx:
        if key not in allowed:
            raise _unsupported(
                f"{where}{key}", f"not a field this account signs (known: {', '.join(sorted(allowed))})"
            )


def _quantity(value: object, key: str) -> int:
    """An ``int`` or ``0x`` hex quantity (eth-account accepts both)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith(("0x", "0X")) or len(text) == 2 or len(text) > 66:
            raise InvalidTransaction(
                f"{key}: expected an int or 0x-hex quantity, got {value[:80]!r}",
                rule=ErrorCode.INVALID_FIELD_TYPE,
            )
        try:
            number = int(text[2:], 16)
        except ValueError:
            raise InvalidTransaction(
                f"{key}: not a hex quantity: {value[:80]!r}", rule=ErrorCode.INVALID_FIELD_TYPE
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidTransaction(
            f"{key}: expected an int or 0x-hex quantity, got {type(value).__name__}",
            rule=ErrorCode.INVALID_FIELD_TYPE,
        )
    if not 0 <= number <= _UINT256_MAX:
        raise InvalidTransaction(f"{key}: {number} is not a uint256", rule=ErrorCode.INTEGER_OUT_OF_RANGE)
    return number


def _blob(value: object, key: str) -> bytes:
    """Bytes, ``0x`` hex text, or a list of byte values (how ``eip712Meta`` carries byte strings)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else None
        if text is None or len(text) % 2:
            raise InvalidTransaction(
                f"{key}: expected bytes or 0x-hex text of whole bytes", rule=ErrorCode.INVALID_FIELD_TYPE
            )
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise InvalidTransaction(f"{key}: not hex", rule=ErrorCode.INVALID_FIELD_TYPE) from None
    if isinstance(value, list | tuple) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value
    ):
        return bytes(value)
    raise InvalidTransaction(
        f"{key}: expected bytes or 0x-hex text, got {type(value).__name__}", rule=ErrorCode.INVALID_FIELD_TYPE
    )


def _optional(tx: Mapping[str, Any], key: str, read: Callable[[object, str], Any], where: str = "") -> Any:
    value = tx.get(key)
    return None if value is None else read(value, where + key)


def _address(value: object, key: str) -> str:
    return checksum_address(value, field=key)


def _check_identity(tx: Mapping[str, Any], signer: PasskeySigner) -> None:
    sender = _optional(tx, "from", _address)
    if sender is not None and sender != signer.address:
        raise StateError(
            f"from: {sender} is not this account ({signer.address})", rule=ErrorCode.ACCOUNT_MISMATCH
        )
    chain_id = _optional(tx, "chainId", _quantity)
    if chain_id is not None and chain_id != signer.chain_id:
        raise StateError(
            f"chainId: {chain_id}, but the account is on chain {signer.chain_id}",
            rule=ErrorCode.ACCOUNT_MISMATCH,
        )


def _fees(tx: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(maxFeePerGas, maxPriorityFeePerGas)``; a legacy ``gasPrice`` is both (what it pays per gas)."""
    price = _optional(tx, "gasPrice", _quantity)
    max_fee = _optional(tx, "maxFeePerGas", _quantity)
    tip = _optional(tx, "maxPriorityFeePerGas", _quantity)
    if price is not None:
        if max_fee is not None or tip is not None:
            raise _unsupported("gasPrice", "give gasPrice or maxFeePerGas/maxPriorityFeePerGas, not both")
        return price, price
    if max_fee is not None and tip is not None and tip > max_fee:
        raise InvalidTransaction(
            f"maxPriorityFeePerGas {tip} exceeds maxFeePerGas {max_fee}",
            rule=ErrorCode.PRIORITY_FEE_ABOVE_MAX_FEE,
        )
    return max_fee, tip


def _paymaster(params: object, key: str) -> PaymasterParams:
    fields = _mapping(params, key)
    _check_keys(fields, frozenset({"paymaster", "paymasterInput"}), f"{key}.")
    if fields.get("paymaster") is None:
        raise _unsupported(f"{key}.paymaster", "required")
    address = _address(fields["paymaster"], f"{key}.paymaster")
    return PaymasterParams(address, _optional(fields, "paymasterInput", _blob, f"{key}.") or b"")


def _era_extras(tx: Mapping[str, Any]) -> tuple[int, PaymasterParams | None, tuple[bytes, ...]]:
    """``gasPerPubdata``, paymaster and factory deps, wherever the caller's ZKsync library puts them."""
    found: dict[str, tuple[str, object]] = {}
    for nest in ("customData", "eip712Meta"):
        if tx.get(nest) is None:
            continue
        meta = _mapping(tx[nest], nest)
        _check_keys(meta, _META_KEYS, f"{nest}.")
        if meta.get("customSignature"):
            raise _unsupported(f"{nest}.customSignature", "the account sets it by signing")
        for key in ("gasPerPubdata", "paymasterParams", "factoryDeps"):
            if meta.get(key) is not None:
                found[key] = (f"{nest}.{key}", meta[key])
    for key in ("gasPerPubdata", "paymasterParams", "factoryDeps"):
        if tx.get(key) is not None:
            if key in found:
                raise _unsupported(key, f"given twice (also as {found[key][0]})")
            found[key] = (key, tx[key])
    if tx.get("paymaster") is not None or tx.get("paymasterInput") is not None:
        if "paymasterParams" in found:
            raise _unsupported("paymaster", f"given twice (also as {found['paymasterParams'][0]})")
        flat = {"paymaster": tx.get("paymaster"), "paymasterInput": tx.get("paymasterInput")}
        found["paymasterParams"] = ("", flat)

    gas_per_pubdata = DEFAULT_GAS_PER_PUBDATA
    if "gasPerPubdata" in found:
        gas_per_pubdata = _quantity(found["gasPerPubdata"][1], found["gasPerPubdata"][0])
    paymaster = None
    if "paymasterParams" in found:
        where, params = found["paymasterParams"]
        paymaster = _paymaster(params, where or "paymasterParams")
    deps: tuple[bytes, ...] = ()
    if "factoryDeps" in found:
        where, value = found["factoryDeps"]
        if not isinstance(value, list | tuple):
            raise InvalidTransaction(
                f"{where}: expected a list of bytecodes", rule=ErrorCode.INVALID_FIELD_TYPE
            )
        deps = tuple(_blob(dep, f"{where}[{i}]") for i, dep in enumerate(value))
    return gas_per_pubdata, paymaster, deps


def era_transaction_flow(
    signer: PasskeySigner, tx: Mapping[str, Any], prepare: Callable[..., Flow[Any]]
) -> Flow[Eip712Transaction]:
    """The unsigned 0x71 transaction a web3.py-style dict describes.

    When nonce, gas and both fees are all given, nothing is asked of the chain; otherwise ``prepare``
    (``prepare_era_transaction_flow``) fills what is missing in its one batch and checks the balance.

    Raises:
        InvalidTransaction, InvalidEncoding, StateError: See the module docstring.
        InsufficientBalance: Filling found the balance short (nothing is signed).
    """
    _check_keys(_mapping(tx, "transaction"), _ERA_KEYS, "")
    _check_identity(tx, signer)
    if tx.get("type") is not None and _quantity(tx["type"], "type") != EIP712_TX_TYPE:
        raise InvalidTransaction(
            f"type: an Era passkey account signs type 0x71 transactions, got {tx['type']!r}",
            rule=ErrorCode.WRONG_TRANSACTION_TYPE,
        )
    max_fee, tip = _fees(tx)
    gas_per_pubdata, paymaster, deps = _era_extras(tx)
    gas = _optional(tx, "gas", _quantity)
    if deps and gas is None:
        raise _unsupported("gas", "required with factoryDeps (the node's estimate would not count them)")
    nonce = _optional(tx, "nonce", _quantity)
    fields: dict[str, Any] = {
        "to": _optional(tx, "to", _address),
        "value": _optional(tx, "value", _quantity) or 0,
        "data": _optional(tx, "data", _blob) or b"",
        "gas_per_pubdata": gas_per_pubdata,
    }
    if nonce is not None and gas is not None and max_fee is not None and tip is not None:
        return Eip712Transaction(
            chain_id=signer.chain_id,
            nonce=nonce,
            from_address=signer.address,
            gas_limit=gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            paymaster_params=paymaster,
            factory_deps=deps,
            **fields,
        )
    plan = yield from prepare(
        signer.address,
        gas_limit=gas,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=tip,
        paymaster=paymaster,
        **fields,
    )
    transaction: Eip712Transaction = plan.transaction
    if transaction.chain_id != signer.chain_id:
        raise StateError(
            f"the node is on chain {transaction.chain_id}, the account on chain {signer.chain_id}",
            rule=ErrorCode.ACCOUNT_MISMATCH,
        )
    changes: dict[str, Any] = {} if nonce is None else {"nonce": nonce}
    if deps:
        changes["factory_deps"] = deps
    return transaction.replace(**changes) if changes else transaction


@dataclass(frozen=True, slots=True)
class Erc4337Request:
    """What a web3.py-style dict asks of an ERC-4337 account: one call, and the op options it sets."""

    call: Call
    build: dict[str, Any]
    nonce: int | None


def read_erc4337_transaction(tx: Mapping[str, Any], signer: PasskeySigner) -> Erc4337Request:
    """Read a web3.py-style dict for an ERC-4337 account (no I/O).

    Raises:
        InvalidTransaction, InvalidEncoding, StateError: See the module docstring.
    """
    _mapping(tx, "transaction")
    for key, why in _ERC4337_REFUSED.items():
        if key in tx:
            raise _unsupported(key, why)
    _check_keys(tx, _ERC4337_KEYS, "")
    _check_identity(tx, signer)
    if tx.get("type") is not None and _quantity(tx["type"], "type") != 2:
        raise InvalidTransaction(
            f"type: an ERC-4337 account runs EIP-1559-priced UserOperations (type 2), got {tx['type']!r}",
            rule=ErrorCode.WRONG_TRANSACTION_TYPE,
        )
    if tx.get("to") is None:
        raise _unsupported(
            "to", "required: a UserOperation runs a call from the account (it cannot deploy bare code)"
        )
    call = Call(
        _address(tx["to"], "to"), _optional(tx, "value", _quantity) or 0, _optional(tx, "data", _blob) or b""
    )
    build: dict[str, Any] = {}
    max_fee, tip = _fees(tx)
    if max_fee is not None or tip is not None:
        if max_fee is None or tip is None:
            raise _unsupported(
                "maxFeePerGas" if max_fee is None else "maxPriorityFeePerGas",
                "give both fees (or neither: the bundler's price is used)",
            )
        build["gas_price"] = GasPrice(max_fee, tip)
    if tx.get("paymaster") is not None:
        build["paymaster"] = _address(tx["paymaster"], "paymaster")
        build["paymaster_data"] = _optional(tx, "paymasterData", _blob) or b""
    elif tx.get("paymasterData") is not None:
        raise _unsupported("paymasterData", "given without paymaster")
    nonce = _optional(tx, "nonce", _quantity)
    if nonce is not None:
        build["nonce_key"] = nonce >> 64
    return Erc4337Request(call, build, nonce)


class Erc4337TransactionMethods:
    """``sign_transaction`` for the ERC-4337 account (a mixin of its flow methods)."""

    signer: PasskeySigner

    @flow_method
    def sign_transaction(
        self,
        transaction: UserOperation | Mapping[str, Any],
        *,
        fee_ceiling: int | None = None,
        cost_ceiling: int | None = None,
    ) -> Generator[Any, Any, SignedUserOperation]:
        """Sign a transaction dict as web3.py users write it (or a UserOperation) as a UserOperation.

        A dict's ``to``/``value``/``data`` become the op's one call, ``maxFeePerGas`` /
        ``maxPriorityFeePerGas`` (or ``gasPrice`` as both) its fees (default the bundler's), ``nonce`` its
        EntryPoint nonce (key and sequence; default the next one), ``paymaster`` / ``paymasterData`` its
        paymaster; the bundler estimates its gas (so ``gas`` is refused). Nothing is sent. ``fee_ceiling`` /
        ``cost_ceiling`` replace the account's for this op (docs/accounts.md, "Fee ceiling").

        Returns:
            :class:`SignedUserOperation`: the signed op, its packed form (``raw_transaction``) and its
            userOpHash (``hash``); send it with ``send_user_operation(signed.user_operation)``.

        Raises:
            InvalidTransaction: A malformed or unsupported key (the message names it).
            StateError (``ACCOUNT_MISMATCH``): ``from`` / ``chainId`` / the op's sender is not this account's.
            UserOperationRejected: The bundler's estimate failed (typed by AA code).
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): The op's fees are over the ceiling;
                the passkey is not asked.
        """
        methods: Any = type(self)  # the account's flow class (this mixin cannot import it)
        if isinstance(transaction, UserOperation):
            op = transaction
        else:
            request = read_erc4337_transaction(transaction, self.signer)
            op = yield from methods.build_user_operation.flow(self, [request.call], **request.build)
            if request.nonce is not None and request.nonce != op.nonce:
                # The caller's own nonce; the estimate does not depend on the sequence number.
                op = op.replace(nonce=request.nonce)
        signed: UserOperation = yield from methods.sign_user_operation.flow(
            self, op, fee_ceiling=fee_ceiling, cost_ceiling=cost_ceiling
        )
        return SignedUserOperation.of(signed, methods.user_operation_hash(self, signed))


# --- connections ------------------------------------------------------------------------------------------


def connect(value: Any, *, asynchronous: bool, entry_point: str | None = None) -> Any:
    """An account's client argument as the SDK client it stands for.

    A URL becomes an ``EthClient`` (or a ``BundlerClient`` when ``entry_point`` is given), a web3.py
    ``Web3`` / ``AsyncWeb3`` becomes one built with ``from_web3`` (same endpoint, headers, timeout, retries);
    the async twins for an async account. Anything else (an SDK client) is used as it is.
    """
    if not isinstance(value, str) and type(value).__module__.split(".", 1)[0] != "web3":
        return value
    if entry_point is not None:
        kind: Any = AsyncBundlerClient if asynchronous else BundlerClient
        options: dict[str, Any] = {"entry_point": entry_point}
    else:
        kind = AsyncEthClient if asynchronous else EthClient
        options = {}
    return kind(value, **options) if isinstance(value, str) else kind.from_web3(value, **options)
