"""The Era (native account abstraction) account lifecycle: create, find, send, add and remove passkeys.

An SSO account on ZKsync Era is a beacon proxy created by ``AAFactory.deployProxySsoAccount`` whose
WebAuthValidator holds the passkey (``sso-era.md`` §1-2). Everything it does is a type ``0x71`` transaction
*from the account*, whose ``customSignature`` is the passkey's fat signature wrapped for the validator.
Preparing one takes one JSON-RPC batch; the node estimates gas with a 65-byte dummy signature, so the passkey
check never runs (zksync-sso issue #30) and :func:`webauthn_validation_gas` adds it; nothing is signed that
the balance cannot pay; a reverted transaction raises ``TransactionReverted`` with the reason replayed.

Era accounts execute only on a ZKsync node; on plain anvil :meth:`EraAccount.verify_onchain` still runs the
deployed validator's ``validateTransaction`` on the exact ``Transaction`` struct, through ``eth_call``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer._shell import AsyncShell, SyncShell, flow_method
from sso_signer.accounts._base import AccountMethods, account_key_flow, validator_answer
from sso_signer.accounts._deployment import EraNetwork, FactoryInfo, read_factory_info
from sso_signer.accounts._era_recovery import _EraRecoveryMethods
from sso_signer.accounts._era_sessions import _EraSessionMethods
from sso_signer.accounts._fee_ceiling import _FeeCeilingMethods
from sso_signer.accounts._removal import RemainingAccess, check_passkey_removal, era_remaining_access_flow
from sso_signer.accounts._sessions import SessionSignRequest
from sso_signer.accounts._signer import (
    AnyProvider,
    AssertionProvider,
    AssertionRequest,
    AsyncAssertionProvider,
    PasskeyCredentialLike,
    PasskeySigner,
    ask,
    ask_async,
    assertion_provider,
)
from sso_signer.accounts._web3_tx import Connection, SignedEraTransaction, connect, era_transaction_flow
from sso_signer.erc4337 import Call
from sso_signer.exceptions import (
    AlreadyExists,
    ErrorCode,
    InsufficientBalance,
    InvalidInputError,
    MalformedRpcResponse,
    NotFound,
    RemoteError,
    RpcError,
    StateError,
    VerificationError,
)
from sso_signer.rpc import AsyncEthClient, EthClient, Receipt
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Batch, Flow
from sso_signer.rpc._types import parse_quantity
from sso_signer.sso._owner import (
    ERA_MAX_ORIGIN_LENGTH,
    PasskeyOwner,
    UniqueIdScheme,
    deploy_passkey_account_calldata,
    sso_account_address,
    validator_init_data,
)
from sso_signer.sso._signature import abi_call, checksum_address, decode_era_custom_signature
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._transaction import DEFAULT_GAS_PER_PUBDATA, EIP712_TX_TYPE

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from sso_signer.webauthn import P256PublicKey

__all__ = [
    "ACCOUNT_CREATED_TOPIC",
    "AsyncEraAccount",
    "EraAccount",
    "EraAccountCreation",
    "EraSendPlan",
    "OnchainVerification",
    "add_passkey_calldata",
    "create_era_account",
    "era_account_deploy_calldata",
    "era_transaction_struct",
    "find_account",
    "find_account_flow",
    "get_account_key",
    "predict_era_account_address",
    "prepare_era_transaction_flow",
    "remove_passkey_calldata",
    "webauthn_validation_gas",
]


# --- gas -------------------------------------------------------------------------------------------------

#: ``WebAuthValidator.validateTransaction`` (what the account calls, with the SDK's customSignature)
#: measured on anvil (EVM, osaka) by benchmarks/gas_era_validation.py for a browser-shaped assertion:
#: clientDataJSON 141 bytes, fat signature 512 bytes. Of that, ``validateSignature`` is 63,156: JSON parsing
#: 16.7k, JSON field reads 23.2k, the P-256 precompile call 7.4k, ABI decoding 1.7k, base64 2.0k, sha256
#: 1.3k, the call and the key's cold storage reads 10.9k; decoding the ``Transaction`` struct adds 3.3k.
MEASURED_EVM_VALIDATION_GAS = 66_444
#: Size of the fat signature of that measurement.
MEASURED_FAT_SIGNATURE_BYTES = 512
#: Per extra fat-signature byte: JSON parsing and hashing grow with clientDataJSON. The benchmark's shapes
#: give 134-154 gas per byte (Safari 480 B: 62,169; browser 512 B: 66,444; Chromium with an extra key 576 B:
#: 76,307); rounded up.
_GAS_PER_EXTRA_FAT_BYTE = 160
#: P-256 verification: anvil's EIP-7951 precompile charges 6,900; Era's P256Verify circuit charges 12,000.
EVM_P256_GAS = 6_900
ERA_P256_GAS = 12_000
#: EraVM does not price opcodes like the EVM and no ZKsync node can run here to measure it: the EVM figure is
#: doubled as a margin. Unused gas is refunded on ZKsync, so a margin costs balance headroom, not fees.
_ERAVM_MARGIN = 2.0
#: The custom signature is transaction data the bootloader copies and hashes; priced like L1 calldata
#: (16 gas per byte) as an upper bound, beyond the 65 dummy bytes the node already estimated with.
_GAS_PER_SIGNATURE_BYTE = 16
_DUMMY_SIGNATURE_BYTES = 65


def webauthn_validation_gas(custom_signature_length: int = 736) -> int:
    """Gas to add to a node's estimate for the WebAuthn validation it did not run.

    ``overhead = ceil(2 × (66,444 + 160 × max(0, fat − 512) + (12,000 − 6,900))) + 16 × (len − 65)``: the
    measured EVM cost of ``validateTransaction`` (see :data:`MEASURED_EVM_VALIDATION_GAS`), grown with a
    longer clientDataJSON, with Era's dearer P-256 circuit in place of anvil's precompile, doubled for EraVM,
    plus the custom signature's bytes. For the usual 736-byte custom signature: 153,824 gas (a sixtieth of
    the 10M the official SDK hard-codes).

    Args:
        custom_signature_length: Length of the ``customSignature`` blob (fat signature + envelope).

    Returns:
        The gas to add.

    Raises:
        InvalidInputError: If the length is negative or not an integer.
    """
    if isinstance(custom_signature_length, bool) or not isinstance(custom_signature_length, int):
        raise InvalidInputError("custom_signature_length: expected an integer")
    if custom_signature_length < 0:
        raise InvalidInputError("custom_signature_length: must not be negative")
    # The envelope adds 224 bytes to the fat signature (three head words, two length words, bytes[] tail).
    fat_length = max(custom_signature_length - 224, 0)
    evm = (
        MEASURED_EVM_VALIDATION_GAS
        + _GAS_PER_EXTRA_FAT_BYTE * max(0, fat_length - MEASURED_FAT_SIGNATURE_BYTES)
        + (ERA_P256_GAS - EVM_P256_GAS)
    )
    data = _GAS_PER_SIGNATURE_BYTE * max(0, custom_signature_length - _DUMMY_SIGNATURE_BYTES)
    return math.ceil(_ERAVM_MARGIN * evm) + data


# --- preparing -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EraSendPlan:
    """A transaction ready to sign, with the figures it was built from.

    Attributes:
        transaction: The unsigned 0x71 transaction (empty ``custom_signature``).
        node_estimate: The node's ``eth_estimateGas`` (secp256k1-path validation).
        validation_gas: What was added for WebAuthn validation (:func:`webauthn_validation_gas`).
        balance: The account's balance when prepared.
        gas_price: The node's ``eth_gasPrice``.
    """

    transaction: Eip712Transaction
    node_estimate: int
    validation_gas: int
    balance: int
    gas_price: int

    @property
    def max_cost(self) -> int:
        """What the account must hold: ``gasLimit × maxFeePerGas + value``, or only ``value`` when a paymaster
        pays the fee (unused gas is refunded either way)."""
        tx = self.transaction
        if tx.paymaster_params is not None:
            return tx.value
        return tx.gas_limit * tx.max_fee_per_gas + tx.value


def prepare_era_transaction_flow(
    account: str,
    *,
    to: str | None,
    value: int = 0,
    data: bytes = b"",
    gas_limit: int | None = None,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
    gas_per_pubdata: int = DEFAULT_GAS_PER_PUBDATA,
    paymaster: PaymasterParams | None = None,
    custom_signature_length: int = 736,
    validation_gas: int | None = None,
    min_gas_limit: int = 0,
) -> Flow[EraSendPlan]:
    """The I/O-free preparation behind :meth:`EraAccount.prepare` (``EthClient.run`` drives it too).

    ``validation_gas`` replaces :func:`webauthn_validation_gas` as what is added to the node's estimate (a
    session key's transaction is validated by another validator); an estimated limit below ``min_gas_limit``
    is raised to it (a recovery finish's floor).
    """
    account = checksum_address(account, field="account")
    to_checked = None if to is None else checksum_address(to, field="to")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError("value: expected a non-negative integer (wei)")
    if not isinstance(data, bytes | bytearray):
        raise InvalidInputError("data: expected bytes")
    data = bytes(data)
    draft = Eip712Transaction(
        chain_id=1,
        nonce=0,
        from_address=account,
        to=to_checked,
        value=value,
        data=data,
        gas_limit=0,
        max_fee_per_gas=0,
        max_priority_fee_per_gas=0,
        gas_per_pubdata=gas_per_pubdata,
        paymaster_params=paymaster,
    )
    calls = [
        RpcCall("eth_chainId"),
        RpcCall("eth_getTransactionCount", (account, "pending")),
        RpcCall("eth_gasPrice"),
        RpcCall("eth_maxPriorityFeePerGas"),
        RpcCall("eth_getBalance", (account, "latest")),
    ]
    if gas_limit is None:
        # The 0x71 form, so the node validates through the account (with its dummy signature); nonce, chain
        # and fees come back in the same batch, so the node fills them.
        unknown = ("chainId", "nonce", "gas", "maxFeePerGas", "maxPriorityFeePerGas")
        request = {key: item for key, item in draft.to_rpc_request().items() if key not in unknown}
        calls.append(RpcCall("eth_estimateGas", (request,)))
    results = yield Batch(calls, return_errors=True)
    chain_r, nonce_r, price_r, tip_r, balance_r = results[:5]
    for item in (chain_r, nonce_r, price_r, balance_r):
        if isinstance(item, RpcError):
            raise item
    node_estimate = 0
    validation = 0
    if gas_limit is None:
        if isinstance(results[5], RpcError):
            raise results[5]  # the call itself would fail (ExecutionReverted): nothing is signed
        node_estimate = parse_quantity(results[5], "eth_estimateGas")
        validation = (
            webauthn_validation_gas(custom_signature_length) if validation_gas is None else validation_gas
        )
        gas_limit = max(node_estimate + validation, min_gas_limit)
    gas_price = parse_quantity(price_r, "eth_gasPrice")
    if max_fee_per_gas is None:
        # ZKsync charges the batch's base fee and refunds the rest; 20 % headroom as viem gives the base fee.
        max_fee_per_gas = gas_price + gas_price // 5
    if max_priority_fee_per_gas is None:
        tip = 0 if isinstance(tip_r, RpcError) else parse_quantity(tip_r, "eth_maxPriorityFeePerGas")
        max_priority_fee_per_gas = min(tip, max_fee_per_gas)
    balance = parse_quantity(balance_r, "eth_getBalance")
    tx = draft.replace(
        chain_id=parse_quantity(chain_r, "eth_chainId"),
        nonce=parse_quantity(nonce_r, "eth_getTransactionCount"),
        gas_limit=gas_limit,
        max_fee_per_gas=max_fee_per_gas,
        max_priority_fee_per_gas=max_priority_fee_per_gas,
    )
    plan = EraSendPlan(tx, node_estimate, validation, balance, gas_price)
    if plan.max_cost > balance:
        raise InsufficientBalance(
            f"account {account} holds {balance} wei but the transaction may cost {plan.max_cost} wei "
            + (
                f"(value {value}; a paymaster pays the fee)"
                if paymaster is not None
                else f"(gasLimit {tx.gas_limit} × maxFeePerGas {tx.max_fee_per_gas} + value {value})"
            )
            + "; nothing was signed",
            account=account,
            required=plan.max_cost,
            available=balance,
        )
    return plan


# --- on-chain verification (works on plain anvil) ----------------------------------------------------------

_TX_STRUCT = (
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,"
    "uint256[4],bytes,bytes,bytes32[],bytes,bytes)"
)
_ADD_VALIDATION_KEY = bytes(keccak(text="addValidationKey(bytes,bytes32[2],string)"))[:4]
#: ``AccountCreated(address indexed accountAddress, bytes32 uniqueAccountId)``.
ACCOUNT_CREATED_TOPIC = bytes(keccak(text="AccountCreated(address,bytes32)"))

# The rule names of the project's WebAuthValidator.checkSignature (IEraWebAuthValidator.Rule).
_RULES = (
    "Valid",
    "SignatureOutOfRange",
    "HighS",
    "AuthDataTooShort",
    "MissingUserFlags",
    "ClientDataNotJson",
    "ChallengeMissing",
    "ChallengeLength",
    "ChallengeMismatch",
    "WrongType",
    "UnknownKey",
    "CrossOrigin",
    "BadSignature",
    "Malformed",
)


def era_transaction_struct(transaction: Eip712Transaction) -> tuple[Any, ...]:
    """The ``Transaction`` struct the bootloader hands to accounts and validators, as eth-abi values.

    Fields: txType 113, from/to/paymaster as uint256, gas figures, nonce, value, ``reserved[4]`` zero, data,
    signature (the custom signature), factory deps as EraVM bytecode hashes, paymaster input,
    ``reservedDynamic`` empty.
    """
    paymaster = transaction.paymaster_params
    return (
        EIP712_TX_TYPE,
        int(transaction.from_address, 16),
        int(transaction.to, 16) if transaction.to is not None else 0,
        transaction.gas_limit,
        transaction.gas_per_pubdata,
        transaction.max_fee_per_gas,
        transaction.max_priority_fee_per_gas,
        int(paymaster.paymaster, 16) if paymaster is not None else 0,
        transaction.nonce,
        transaction.value,
        [0, 0, 0, 0],
        transaction.data,
        transaction.custom_signature,
        list(transaction.factory_dep_hashes),
        paymaster.paymaster_input if paymaster is not None else b"",
        b"",
    )


@dataclass(frozen=True, slots=True)
class OnchainVerification:
    """What the deployed WebAuthValidator said about a transaction's custom signature.

    Attributes:
        valid: ``validateTransaction(signedHash, tx)`` returned true (called with the account as sender).
        rule: The first failing rule from ``checkSignature`` (``"Valid"`` when valid), or ``None`` when the
            validator does not have that function (the official one does not).
        signed_hash: The hash that was the challenge.
        validator: The validator named in the custom signature.
    """

    valid: bool
    rule: str | None
    signed_hash: bytes
    validator: str


# --- lifecycle -------------------------------------------------------------------------------------------


def find_account(client: EthClient, validator: str, origin: str, credential_id: bytes) -> str | None:
    """Blocking :func:`find_account_flow`."""
    found: str | None = client.run(find_account_flow(validator, origin, credential_id))
    return found


def find_account_flow(validator: str, origin: str, credential_id: bytes) -> Flow[str | None]:
    """The account a passkey is registered to: ``WebAuthValidator.registeredAddress(origin, credentialId)``.

    Returns:
        The checksummed account address, or ``None`` if the passkey is registered nowhere.

    Raises:
        RemoteError (``UNEXPECTED_VALIDATOR_ANSWER``): The answer is not an address (wrong contract).
        RpcError: The node failed.
    """
    data = abi_call("registeredAddress", ["string", "bytes"], [origin, bytes(credential_id)])
    answer = yield from _EthMethods.call.flow(
        ETH_FLOWS, {"to": checksum_address(validator, field="validator"), "data": data}
    )
    text = str(validator_answer(["address"], answer, "registeredAddress")[0])
    return None if int(text, 16) == 0 else checksum_address(text)


def get_account_key(
    client: EthClient, validator: str, origin: str, credential_id: bytes, account: str
) -> P256PublicKey | None:
    """The passkey public key stored for (origin, credential id, account): ``getAccountKey``.

    Returns:
        The key, or ``None`` if none is stored.

    Raises:
        RemoteError (``UNEXPECTED_VALIDATOR_ANSWER``): The answer is not a ``bytes32[2]`` or not a point on
            P-256.
    """
    from sso_signer.webauthn import P256PublicKey

    key = client.run(account_key_flow(validator, origin, credential_id, account))
    if key is None:
        raise RemoteError(
            "getAccountKey answered something that is not a bytes32[2]",
            rule=ErrorCode.UNEXPECTED_VALIDATOR_ANSWER,
        )
    if key == (0, 0):
        return None
    try:
        return P256PublicKey(*key)
    except InvalidInputError as exc:
        raise RemoteError(
            f"stored key is not a P-256 point: {exc}", rule=ErrorCode.UNEXPECTED_VALIDATOR_ANSWER
        ) from exc


def add_passkey_calldata(
    credential_id: bytes,
    public_key: P256PublicKey | tuple[int, int],
    origin: str,
    *,
    max_origin_length: int = ERA_MAX_ORIGIN_LENGTH,
) -> bytes:
    """Calldata of ``addValidationKey(bytes credentialId, bytes32[2] key, string origin)`` (the Era
    WebAuthValidator's and the ERC-4337 WebAuthnValidator's: the same function).

    Sent to the validator *from the account* (a passkey-signed 0x71 transaction or UserOperation); the
    validator stores the key under ``msg.sender``.

    Args:
        max_origin_length: The validator's origin limit (``ERA_MAX_ORIGIN_LENGTH`` by default, the ERC-4337
            validator's is ``ERC4337_MAX_ORIGIN_LENGTH``).

    Raises:
        SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): The
            checks the validator would revert on.
    """
    # validator_init_data applies the validator's checks; its encoding is exactly these three arguments.
    return _ADD_VALIDATION_KEY + validator_init_data(
        credential_id, public_key, origin, max_origin_length=max_origin_length
    )


def remove_passkey_calldata(credential_id: bytes, origin: str) -> bytes:
    """Calldata of ``WebAuthValidator.removeValidationKey(bytes credentialId, string origin)``.

    Raises:
        InvalidInputError: If the credential id is not bytes or the origin not text.
    """
    if not isinstance(credential_id, bytes | bytearray) or not isinstance(origin, str):
        raise InvalidInputError("remove_passkey_calldata: expected (bytes credential_id, str origin)")
    return abi_call("removeValidationKey", ["bytes", "string"], [bytes(credential_id), origin])


def predict_era_account_address(factory_info: FactoryInfo, *, deployer: str, unique_id: bytes) -> str:
    """The address ``deployProxySsoAccount(uniqueId, ...)`` sent by ``deployer`` creates (EraVM create2).

    Raises:
        SsoEncodingError (``INVALID_UNIQUE_ID``): If ``unique_id`` is not 32 bytes.
        InvalidEncoding (``INVALID_ADDRESS``): If ``deployer`` is malformed.
    """
    return sso_account_address(
        factory=factory_info.factory,
        deployer=deployer,
        unique_id=unique_id,
        beacon_proxy_bytecode_hash=factory_info.beacon_proxy_bytecode_hash,
        beacon=factory_info.beacon,
    )


@dataclass(frozen=True, slots=True)
class EraAccountCreation:
    """The result of :func:`create_era_account`.

    Attributes:
        address: The new account.
        unique_id: The uniqueId passed to the factory.
        deployer: The address that sent the deploy transaction (part of the create2 salt).
        receipt: The deploy transaction's receipt.
    """

    address: str
    unique_id: bytes
    deployer: str
    receipt: Receipt


def era_account_deploy_calldata(
    network: EraNetwork,
    owner: PasskeyOwner,
    *,
    k1_owners: Sequence[str] = (),
    unique_id: bytes | None = None,
    scheme: UniqueIdScheme = UniqueIdScheme.MODULAR,
) -> tuple[bytes, bytes]:
    """``deployProxySsoAccount`` calldata for a passkey account on ``network``, as the auth server builds it.

    Modules in ``deployModularAccount`` order: the network's session validator (no data) if it has one, the
    passkey validator with the passkey, then its recovery validator (no data) if it has one.

    Returns:
        ``(uniqueId, calldata)``.

    Raises:
        SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``,
            ``INVALID_UNIQUE_ID``), InvalidEncoding (``INVALID_ADDRESS``): See
            ``deploy_passkey_account_calldata``.
    """
    return deploy_passkey_account_calldata(
        owner,
        passkey_validator=network.passkey_validator,
        session_validator=network.session_validator,
        no_data_modules=[network.recovery_validator] if network.recovery_validator else [],
        k1_owners=k1_owners,
        unique_id=unique_id,
        scheme=scheme,
    )


def create_era_account(
    client: EthClient,
    network: EraNetwork,
    deployer: LocalAccount,
    owner: PasskeyOwner,
    *,
    unique_id: bytes | None = None,
    scheme: UniqueIdScheme = UniqueIdScheme.MODULAR,
    k1_owners: Sequence[str] = (),
    timeout: float = 60.0,
) -> EraAccountCreation:
    """Create an SSO account owned by a passkey through the network's AAFactory.

    The address is predicted first (factory immutables read from the chain), the passkey is checked not to be
    registered yet, then ``deployProxySsoAccount`` is sent by ``deployer`` and the ``AccountCreated`` event is
    compared with the prediction.

    Args:
        client: An ``EthClient`` / ``ZkSyncClient`` on a ZKsync node.
        network: The network (its factory, passkey validator and optional session/recovery validators).
        deployer: The EOA that sends (and pays for) the deployment; part of the address salt.
        owner: The passkey (credential id, public key, origin).
        unique_id: Explicit uniqueId; default from ``scheme`` (the auth server's scheme).
        scheme: uniqueId scheme when ``unique_id`` is ``None``.
        k1_owners: Extra secp256k1 owners.
        timeout: Seconds to wait for the receipt.

    Returns:
        The creation result.

    Raises:
        ConfigurationError (``MISSING_CONTRACT_ADDRESS``): The network has no factory.
        AlreadyExists (``PASSKEY_ALREADY_REGISTERED``): (origin, credential id) already belongs to an account.
        AlreadyExists (``ACCOUNT_ALREADY_EXISTS``): The predicted address already has code.
        VerificationError (``ACCOUNT_ADDRESS_MISMATCH``): The factory reported another address.
        TransactionReverted, RpcError: The deployment failed.
    """
    factory = network.require_factory()
    existing = find_account(client, network.passkey_validator, owner.origin, owner.credential_id)
    if existing is not None:
        raise AlreadyExists(
            f"passkey {owner.credential_id.hex()} at {owner.origin} already belongs to account {existing}",
            rule=ErrorCode.PASSKEY_ALREADY_REGISTERED,
        )
    info = read_factory_info(client, factory)
    unique, calldata = era_account_deploy_calldata(
        network, owner, k1_owners=k1_owners, unique_id=unique_id, scheme=scheme
    )
    deployer_address = checksum_address(str(deployer.address), field="deployer")
    predicted = predict_era_account_address(info, deployer=deployer_address, unique_id=unique)
    if client.get_code(predicted):
        raise AlreadyExists(
            f"an account already exists at {predicted} for this uniqueId and deployer",
            rule=ErrorCode.ACCOUNT_ALREADY_EXISTS,
        )
    receipt = client.send_transaction(deployer, factory, calldata, timeout=timeout)
    created = [
        log
        for log in receipt.logs
        if log.topics and log.topics[0] == ACCOUNT_CREATED_TOPIC and len(log.topics) > 1
    ]
    if not created:
        raise MalformedRpcResponse("deploy receipt has no AccountCreated event")
    address = checksum_address("0x" + created[0].topics[1][-20:].hex())
    if address != predicted:
        raise VerificationError(
            f"factory created {address}, predicted {predicted}", rule=ErrorCode.ACCOUNT_ADDRESS_MISMATCH
        )
    return EraAccountCreation(address, unique, deployer_address, receipt)


#: The client an Era account class talks through (sync or async).
C = TypeVar("C")


class _EraMethods(_EraSessionMethods, _EraRecoveryMethods, AccountMethods, _FeeCeilingMethods, Generic[C]):
    """The Era account's methods, written once as flows (see :mod:`sso_signer._shell`)."""

    _transaction_struct = staticmethod(era_transaction_struct)
    client: Any
    network: EraNetwork
    signer: PasskeySigner
    provider: AnyProvider | None

    def __init__(
        self,
        client: C | Connection,
        network: EraNetwork,
        address: str,
        passkey: PasskeyCredentialLike,
        *,
        provider: AssertionProvider | AsyncAssertionProvider | None = None,
        run_preflight: bool = True,
    ) -> None:
        self.client = connect(client, asynchronous=isinstance(self, AsyncShell))
        self.network = network
        self.signer = PasskeySigner(
            generation="era",
            address=address,
            credential=passkey,
            validator=network.passkey_validator,
            chain_id=network.chain_id,
            run_preflight=run_preflight,
        )
        self.provider = assertion_provider(passkey, provider)

    @flow_method
    def get_nonce(self) -> Flow[int]:
        """The nonce of the account's next transaction (pending transactions counted)."""
        return (yield from _EthMethods.get_transaction_count.flow(ETH_FLOWS, self.address, "pending"))

    # -- transactions ---------------------------------------------------------------------------------------

    @flow_method
    def prepare(
        self, /, to: str | None, value: int = 0, data: bytes = b"", **overrides: Any
    ) -> Flow[EraSendPlan]:
        """Fill nonce, fees and gas of a 0x71 transaction from the account in one JSON-RPC batch.

        Args:
            to: The callee, or ``None`` to deploy.
            value: Wei to send.
            data: Calldata.
            overrides: ``gas_limit`` (default the node's estimate + :func:`webauthn_validation_gas`),
                ``max_fee_per_gas`` (default ``eth_gasPrice × 1.2``), ``max_priority_fee_per_gas`` (default
                ``eth_maxPriorityFeePerGas``, 0 if unsupported, capped), ``gas_per_pubdata``, ``paymaster``
                (``PaymasterParams``: then the balance only has to cover ``value``).

        Returns:
            The plan with the unsigned transaction.

        Raises:
            InsufficientBalance: The balance cannot cover ``gasLimit × maxFeePerGas + value``.
            ExecutionReverted: The node's estimate reverted: the call would fail.
            InvalidEncoding (``INVALID_ADDRESS``), InvalidInputError: Malformed arguments.
            RpcError, RpcTransportError: The node failed.
        """
        return (
            yield from prepare_era_transaction_flow(self.address, to=to, value=value, data=data, **overrides)
        )

    @flow_method
    def sign_transaction(
        self,
        transaction: Eip712Transaction | Mapping[str, Any],
        *,
        fee_ceiling: int | None = None,
        cost_ceiling: int | None = None,
    ) -> Generator[Any, Any, SignedEraTransaction]:
        """Sign a 0x71 transaction with the passkey: the transaction with its ``custom_signature`` set.

        ``transaction`` is an ``Eip712Transaction`` or a web3.py-style dict (``from``/``to``/``value``/
        ``data``/``nonce``/``gas``/fees/``chainId``, ``int`` or ``0x`` hex; ``gasPerPubdata`` and paymaster
        as ZKsync libraries spell them): what a dict leaves out is filled as :meth:`prepare` fills it.
        The result is shaped like eth-account's ``SignedTransaction``: ``raw_transaction``, ``hash``.

        The WebAuthn challenge is the transaction's EIP-712 signed hash; the signature is low-s, preflighted
        against the Era validator's rules and wrapped as the official SDK does
        (``abi.encode(bytes fat, address validator, bytes[] [""])``). ``fee_ceiling`` / ``cost_ceiling``
        replace the account's for this transaction (docs/accounts.md, "Fee ceiling").

        Raises:
            StateError (``ACCOUNT_MISMATCH``): The transaction is from another account or for another chain.
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): ``maxFeePerGas`` or
                ``gasLimit × maxFeePerGas`` is over the ceiling; the passkey is not asked.
            AssertionRejected: The signature would fail a validator rule (subclass names the rule).
            InvalidTransaction: A malformed dict (the message names the key; ``docs/web3.md``).
        """
        signer = self.signer
        if not isinstance(transaction, Eip712Transaction):
            transaction = yield from era_transaction_flow(signer, transaction, prepare_era_transaction_flow)
        if transaction.from_address != signer.address or transaction.chain_id != signer.chain_id:
            raise StateError(
                f"transaction is from {transaction.from_address} on chain {transaction.chain_id}; "
                f"the signer is {signer.address} on chain {signer.chain_id}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        self._check_era_fees(transaction, fee_ceiling, cost_ceiling)
        fat = yield from signer.sign_digest(transaction.signed_hash(), purpose="transaction")
        return SignedEraTransaction.of(transaction.replace(custom_signature=signer.envelope(fat)))

    @flow_method
    def send_transaction(self, transaction: Eip712Transaction, *, timeout: float = 60.0) -> Flow[Receipt]:
        """Send a signed 0x71 transaction and wait for its successful receipt.

        Raises:
            InvalidInputError: The transaction has no custom signature.
            TransactionRejected: The node refused it (nothing was included).
            SendOutcomeUnknown: Sent (or maybe sent), outcome unknown; carries ``tx_hash`` (when known) and
                ``raw_transaction``: poll the hash or re-send the bytes, never re-sign.
            ReceiptTimeout: No receipt within ``timeout`` (a ``SendOutcomeUnknown``).
            TransactionReverted: Mined but failed; carries the reason recovered by replay.
        """
        if not isinstance(transaction, Eip712Transaction):
            raise InvalidInputError(
                f"transaction: expected the signed Eip712Transaction sign_transaction returns, got "
                f"{type(transaction).__name__} (sign a dict first; see docs/web3.md)"
            )
        if not transaction.custom_signature:
            raise InvalidInputError("transaction has no custom_signature: sign it first")
        # One flow from send to checked receipt: once the node has the bytes, every failure carries them and
        # the hash (an AfterSendError), so a caller never signs the same transfer twice.
        return (yield from _EthMethods.send_and_confirm.flow(ETH_FLOWS, transaction.serialize(), timeout))

    @flow_method
    def send(
        self,
        /,
        to: str | None,
        value: int = 0,
        data: bytes = b"",
        *,
        timeout: float = 60.0,
        fee_ceiling: int | None = None,
        cost_ceiling: int | None = None,
        **overrides: Any,
    ) -> Generator[Any, Any, Receipt]:
        """Prepare, sign and send a transaction from the account; wait for its receipt.

        Args:
            to: The callee (``None`` deploys ``data``).
            value: Wei to send.
            data: Calldata.
            timeout: Seconds to wait for the receipt.
            fee_ceiling: The highest ``maxFeePerGas`` (wei) to sign; default the account's ``fee_ceiling``.
            cost_ceiling: The most (wei) ``gasLimit × maxFeePerGas`` may reach; default the account's.
            overrides: See :meth:`prepare`.

        Raises:
            InsufficientBalance: Before signing, if the account cannot pay.
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): Before signing, if the node's fee or
                gas is over a ceiling.
            AssertionRejected: If the signature would be rejected.
            TransactionReverted, TransactionRejected, SendOutcomeUnknown: See :meth:`send_transaction`.
        """
        plan = yield from _EraMethods.prepare.flow(self, to, value, data, **overrides)
        signed = yield from _EraMethods.sign_transaction.flow(
            self, plan.transaction, fee_ceiling=fee_ceiling, cost_ceiling=cost_ceiling
        )
        return (yield from _EraMethods.send_transaction.flow(self, signed, timeout=timeout))

    @flow_method
    def send_calls(
        self,
        /,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        timeout: float = 60.0,
        fee_ceiling: int | None = None,
        cost_ceiling: int | None = None,
    ) -> Generator[Any, Any, Receipt]:
        """Run ``calls`` from the account in one transaction: one call is sent as is, several through the
        account's ``batchCall`` (each call must succeed; the values add up to the transaction's value).
        ``fee_ceiling`` / ``cost_ceiling``: see :meth:`send`.

        Raises:
            InvalidInputError: If ``calls`` is empty or malformed.
            See :meth:`send` for the rest.
        """
        checked = [call if isinstance(call, Call) else Call(*call) for call in calls]
        if not checked:
            raise InvalidInputError("send_calls: expected at least one call")
        ceilings = {"fee_ceiling": fee_ceiling, "cost_ceiling": cost_ceiling}
        if len(checked) == 1:
            only = checked[0]
            return (
                yield from _EraMethods.send.flow(
                    self, only.target, only.value, only.data, timeout=timeout, **ceilings
                )
            )
        # The official SsoAccount's batchCall(Call[]), Call = (target, allowFailure, value, callData).
        data = abi_call(
            "batchCall",
            ["(address,bool,uint256,bytes)[]"],
            [[(c.target, False, c.value, bytes(c.data)) for c in checked]],
        )
        value = sum(call.value for call in checked)
        return (
            yield from _EraMethods.send.flow(self, self.address, value, data, timeout=timeout, **ceilings)
        )

    @flow_method
    def verify_onchain(self, transaction: Eip712Transaction) -> Flow[OnchainVerification]:
        """Run the validator named in the custom signature on a signed transaction via ``eth_call`` (works on
        plain anvil, where the transaction itself cannot run): its ``validateTransaction``, called ``from``
        the account as during real validation (the key is looked up under ``msg.sender``), wherever the
        validator is deployed and the P-256 precompile sits at ``0x100`` (anvil ``--hardfork osaka``, Era).

        Raises:
            MalformedSignature (``INVALID_CUSTOM_SIGNATURE``): The custom signature is not a passkey envelope.
            ExecutionReverted: The validator reverted (undecodable input, as the official validator does).
            RemoteError (``UNEXPECTED_VALIDATOR_ANSWER``): The answer is not an ABI ``bool``.
        """
        envelope = decode_era_custom_signature(transaction.custom_signature)
        signed_hash = transaction.signed_hash()
        data = abi_call(
            "validateTransaction", ["bytes32", _TX_STRUCT], [signed_hash, era_transaction_struct(transaction)]
        )
        answer = yield from _EthMethods.call.flow(
            ETH_FLOWS, {"from": transaction.from_address, "to": envelope.validator, "data": data}
        )
        (valid,) = validator_answer(["bool"], answer, "validateTransaction")
        check = abi_call(
            "checkSignature",
            ["bytes32", "bytes", "address"],
            [signed_hash, envelope.fat, transaction.from_address],
        )
        rule: str | None = None  # an official validator has no checkSignature
        with contextlib.suppress(RpcError, DecodingError, ValueError, OverflowError):
            answer = yield from _EthMethods.call.flow(ETH_FLOWS, {"to": envelope.validator, "data": check})
            (index,) = abi_decode(["uint8"], answer)
            rule = _RULES[index] if index < len(_RULES) else f"Rule({index})"
        return OnchainVerification(bool(valid), rule, signed_hash, envelope.validator)

    # -- passkeys -----------------------------------------------------------------------------------------

    @flow_method
    def remaining_access(self, credential_id: bytes, origin: str) -> Flow[RemainingAccess]:
        """What would still control the account once the passkey ``(origin, credential_id)`` is removed."""
        validator = self.network.passkey_validator
        return (yield from era_remaining_access_flow(validator, self.address, credential_id, origin))

    @flow_method
    def add_passkey(
        self,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        *,
        timeout: float = 60.0,
    ) -> Generator[Any, Any, Receipt]:
        """Register another passkey on the account (``addValidationKey`` sent from the account).

        Raises:
            AlreadyExists (``PASSKEY_ALREADY_REGISTERED``): If (origin, credential id) already belongs to an
                account.
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``):
                Checked before signing.
        """
        calldata, validator = add_passkey_calldata(credential_id, public_key, origin), self.signer.validator
        owner = yield from find_account_flow(validator, origin, credential_id)
        if owner is not None:
            raise AlreadyExists(
                f"passkey {bytes(credential_id).hex()} at {origin} belongs to {owner}",
                rule=ErrorCode.PASSKEY_ALREADY_REGISTERED,
            )
        return (yield from _EraMethods.send.flow(self, validator, data=calldata, timeout=timeout))

    @flow_method
    def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> Generator[Any, Any, Receipt]:
        """Remove a passkey from the account (``removeValidationKey`` sent from the account).

        Args:
            credential_id: The passkey to remove (may be the one this object signs with).
            origin: Its origin.
            force: Remove it even when no other passkey or K1 owner remains: the account is then locked for
                good.
            timeout: Seconds to wait for the receipt.

        Raises:
            NotFound (``PASSKEY_NOT_OWNED_BY_ACCOUNT``): If the passkey is not registered to this account
                (checked first).
            RemovalWouldLockAccount: If it is the last way in and ``force`` is false (nothing is signed).
        """
        calldata, validator = remove_passkey_calldata(credential_id, origin), self.signer.validator
        owner = yield from find_account_flow(validator, origin, credential_id)
        if owner != self.address:
            raise NotFound(
                f"passkey {bytes(credential_id).hex()} at {origin} belongs to {owner or 'no account'}, "
                f"not {self.address}",
                rule=ErrorCode.PASSKEY_NOT_OWNED_BY_ACCOUNT,
            )
        access = yield from _EraMethods.remaining_access.flow(self, credential_id, origin)
        check_passkey_removal(access, credential_id=credential_id, origin=origin, force=force)
        return (yield from _EraMethods.send.flow(self, validator, data=calldata, timeout=timeout))


class EraAccount(_EraMethods[EthClient], SyncShell):
    """An Era SSO account driven by one of its passkeys, with blocking I/O (see :class:`AsyncEraAccount`).

    Implements :class:`~sso_signer.accounts.PasskeyAccount`; adds the 0x71 steps (:meth:`prepare`,
    :meth:`sign_transaction`, :meth:`send_transaction`) and :meth:`verify_onchain`.

    Args:
        client: An ``EthClient`` / ``ZkSyncClient`` on the account's chain.
        network: Where the validator lives.
        address: The account.
        passkey: The registered passkey (credential id, public key, origin, rp id), e.g. a
            ``HeadlessPasskey``.
        provider: Where assertions come from (an :class:`~sso_signer.accounts.AssertionProvider`); default the
            passkey itself.
        run_preflight: Check each signature against the validator's rules before using it (default).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``address`` is malformed.
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``provider`` is no assertion provider.
    """

    client: EthClient

    def answer(self, step: Any) -> Any:
        if isinstance(step, AssertionRequest):
            return ask(self.provider, step)
        if isinstance(step, SessionSignRequest):
            return step.answer()
        return self.client.answer(step)

    @classmethod
    def create(
        cls,
        client: EthClient,
        network: EraNetwork,
        deployer: LocalAccount,
        passkey: PasskeyCredentialLike,
        *,
        provider: AssertionProvider | AsyncAssertionProvider | None = None,
        **options: Any,
    ) -> tuple[EraAccount, Receipt]:
        """Create an account owned by ``passkey`` through the network's AAFactory, sent by ``deployer``.

        Args:
            options: ``unique_id``, ``scheme``, ``k1_owners``, ``timeout`` (see :func:`create_era_account`).

        Returns:
            The account and the deployment receipt.

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``), AlreadyExists (``PASSKEY_ALREADY_REGISTERED``,
                ``ACCOUNT_ALREADY_EXISTS``), VerificationError (``ACCOUNT_ADDRESS_MISMATCH``),
                TransactionReverted, RpcError: See :func:`create_era_account`.
        """
        created = create_era_account(client, network, deployer, passkey, **options)
        return cls(client, network, created.address, passkey, provider=provider), created.receipt

    @classmethod
    def find(
        cls, client: EthClient, network: EraNetwork, passkey: PasskeyCredentialLike, *, provider: Any = None
    ) -> EraAccount | None:
        """The account the passkey is registered to on ``network`` (``registeredAddress``), or ``None``."""
        address = find_account(client, network.passkey_validator, passkey.origin, passkey.credential_id)
        return None if address is None else cls(client, network, address, passkey, provider=provider)


class AsyncEraAccount(_EraMethods[AsyncEthClient], AsyncShell):
    """The asyncio twin of :class:`EraAccount`: same arguments (an ``AsyncEthClient``), methods and errors;
    an :class:`~sso_signer.accounts.AsyncAssertionProvider` is awaited (a sync one runs in a thread)."""

    client: AsyncEthClient

    async def answer(self, step: Any) -> Any:
        if isinstance(step, AssertionRequest):
            return await ask_async(self.provider, step)
        if isinstance(step, SessionSignRequest):
            return await step.answer_async()
        return await self.client.answer(step)
