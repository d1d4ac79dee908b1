"""The ERC-4337 passkey account lifecycle: init data, factory calldata, counterfactual address, and building,
estimating, signing and sending UserOperations through a bundler.

An account is ``MSAFactory.deployAccount(salt, initializeAccount([webauthnValidator, ...], [passkey, ...]))``.
Its address depends on the factory's *caller* (``keccak256(caller ‖ salt)``): created by a UserOperation's
initCode the caller is the EntryPoint's SenderCreator, so the address comes from
``EntryPoint.getSenderAddress``; created by a direct transaction it is read from the ``AccountCreated`` event.

Gas is estimated by the bundler with a well-formed *stub* signature: a real WebAuthn assertion (UP+UV,
``webauthn.get``, the account's origin and credential id, low-s) over a zero challenge by a throw-away key.
The validator then returns "invalid" instead of reverting, so the simulation runs the same path as the real
signature and the estimate fits it.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer.erc4337 import (
    AsyncBundlerClient,
    AsyncEntryPoint,
    BundlerClient,
    Call,
    EntryPoint,
    GasEstimate,
    GasPrice,
    UserOperation,
    UserOperationReceipt,
    encode_execute,
    encode_execute_batch,
    encode_execute_single,
    entry_point_flows,
    user_operation_hash,
)
from sso_signer.exceptions import (
    ConfigurationError,
    EntryPointError,
    ErrorCode,
    ExecutionReverted,
    InvalidUserOperation,
    NotFound,
    SsoEncodingError,
    SsoSignerError,
    StateError,
    UserOperationOutcomeUnknown,
    UserOperationRejected,
    UserOperationReverted,
)
from sso_signer.rpc import (
    AsyncEthClient,
    Batch,
    EthClient,
    Flow,
    Receipt,
    RpcCall,
    Sleep,
    answer,
    answer_async,
    drive,
    drive_async,
    eth_flows,
    gather,
    relay,
)
from sso_signer.sso._era_account import remove_passkey_calldata
from sso_signer.sso._msa_stack import MsaDeployment
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH, PasskeyOwner, validator_init_data
from sso_signer.sso._passkey_removal import (
    RemainingAccess,
    check_passkey_removal,
    msa_remaining_access_flow,
)
from sso_signer.sso._signature import FatSignature, checksum_address, erc4337_passkey_signature
from sso_signer.sso._signer import AssertionProvider, AsyncAssertionProvider, Erc4337PasskeyAccount
from sso_signer.webauthn import HeadlessPasskey

__all__ = [
    "ACCOUNT_CREATED_TOPIC",
    "DEPLOY_ACCOUNT_SELECTOR",
    "INITIALIZE_ACCOUNT_SELECTOR",
    "STUB_CLIENT_DATA_PADDING",
    "AsyncMsaPasskeyAccount",
    "MsaPasskeyAccount",
    "account_salt",
    "deploy_account_calldata",
    "initialize_account_calldata",
    "passkey_account_init_data",
    "passkey_stub_signature",
]

# Covers the extra member some browsers append to clientDataJSON (see passkey_stub_signature).
STUB_CLIENT_DATA_PADDING: Final = 96

INITIALIZE_ACCOUNT_SELECTOR: Final = keccak(b"initializeAccount(address[],bytes[])")[:4]
DEPLOY_ACCOUNT_SELECTOR: Final = keccak(b"deployAccount(bytes32,bytes)")[:4]
ACCOUNT_CREATED_TOPIC: Final = keccak(b"AccountCreated(address,address)")
_IS_VALID_SIGNATURE: Final = keccak(b"isValidSignature(bytes32,bytes)")[:4]
_ERC1271_MAGIC: Final = bytes.fromhex("1626ba7e")
_SEQUENCE_BITS: Final = 64  # an EntryPoint nonce is key << 64 | sequence
_POLL_INTERVAL: Final = 0.25

T = TypeVar("T")


def initialize_account_calldata(modules: Sequence[str], data: Sequence[bytes]) -> bytes:
    """``initializeAccount(address[] modules, bytes[] data)`` calldata (the beacon proxy's init call).

    Args:
        modules: Module addresses, installed in this order.
        data: Each module's ``onInstall`` data.

    Returns:
        The calldata (selector ``0xf0efd465``).

    Raises:
        SsoEncodingError (``INVALID_INIT_DATA``): If the lists differ in length or are empty.
        InvalidEncoding (``INVALID_ADDRESS``): If a module is not an address.
    """
    if len(modules) != len(data) or not modules:
        raise SsoEncodingError(
            f"modules ({len(modules)}) and data ({len(data)}): equal, non-empty lists",
            rule=ErrorCode.INVALID_INIT_DATA,
        )
    checked = [checksum_address(m, field=f"modules[{i}]") for i, m in enumerate(modules)]
    encoded = abi_encode(["address[]", "bytes[]"], [checked, [bytes(d) for d in data]])
    return INITIALIZE_ACCOUNT_SELECTOR + encoded


def passkey_account_init_data(
    owner: PasskeyOwner, *, webauthn_validator: str, extra_modules: Sequence[tuple[str, bytes]] = ()
) -> bytes:
    """The ``initData`` of a passkey account: the WebAuthn validator with the passkey, then extra modules.

    Args:
        owner: The passkey (credential id, public key, origin as clientDataJSON will carry it).
        webauthn_validator: The ``WebAuthnValidator`` address.
        extra_modules: ``(module, onInstall data)`` pairs installed after the validator (executors,
            other validators).

    Returns:
        ``initializeAccount([validator, ...], [abi.encode(credentialId, [x, y], origin), ...])`` calldata.

    Raises:
        BadCredentialIdLength, BadDomainLength, EmptyPublicKey: If the passkey breaks a validator rule.
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
    """
    init = validator_init_data(
        owner.credential_id, owner.public_key, owner.origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
    )
    modules = [webauthn_validator, *(m for m, _ in extra_modules)]
    data = [init, *(d for _, d in extra_modules)]
    return initialize_account_calldata(modules, data)


def deploy_account_calldata(salt: bytes, init_data: bytes) -> bytes:
    """``MSAFactory.deployAccount(bytes32 salt, bytes initData)`` calldata (selector ``0x574caef3``).

    Raises:
        SsoEncodingError (``INVALID_INIT_DATA``): If ``salt`` is not 32 bytes.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) != 32:
        raise SsoEncodingError("salt: expected 32 bytes", rule=ErrorCode.INVALID_INIT_DATA)
    return DEPLOY_ACCOUNT_SELECTOR + abi_encode(["bytes32", "bytes"], [bytes(salt), bytes(init_data)])


def account_salt(user_id: str | None = None) -> bytes:
    """The account salt the official SDK derives: ``keccak256(ascii(hex(utf8(userId))))``, or 32 random bytes.

    Args:
        user_id: An application user id, or ``None`` for a random salt.

    Returns:
        32 bytes.
    """
    if user_id is None:
        return secrets.token_bytes(32)
    return keccak(user_id.encode("utf-8").hex().encode("ascii"))


def passkey_stub_signature(
    validator: str, owner: PasskeyOwner, *, rp_id: str, client_data_padding: int = STUB_CLIENT_DATA_PADDING
) -> bytes:
    """A gas-estimation stub: ``validator ‖ fat`` of a real assertion over 32 zero bytes by a throw-away key.

    It is well-formed for the ``WebAuthnValidator`` (UP+UV, ``webauthn.get``, the owner's origin and
    credential id, low-s), so validation *returns* failure without reverting. Its clientDataJSON carries one
    extra member so that it is at least as long as a browser's (Chrome sometimes appends a ~100-byte member):
    ``preVerificationGas`` grows with the signature's length and must cover the real one.

    Args:
        validator: The WebAuthn validator address (the 20-byte prefix).
        owner: The real passkey (its credential id and origin are copied).
        rp_id: The relying party id hashed into authenticatorData.
        client_data_padding: Length of the extra clientDataJSON member's value (0 for none).

    Returns:
        The stub ``userOp.signature``.
    """
    throwaway = HeadlessPasskey.generate(rp_id=rp_id, origin=owner.origin, credential_id=owner.credential_id)
    extra = {"padding": "x" * client_data_padding} if client_data_padding > 0 else None
    assertion = throwaway.sign(bytes(32), origin=owner.origin, extra_client_data=extra)
    return erc4337_passkey_signature(validator, FatSignature.from_assertion(assertion))


def _call_data(calls: Sequence[Call | tuple[str, int, bytes]], batch: bool | None) -> bytes:
    if not calls:
        return b""
    if batch is True:
        return encode_execute_batch(calls)
    if batch is False:
        if len(calls) != 1:
            raise InvalidUserOperation(
                f"single mode runs exactly one call, got {len(calls)}",
                rule=ErrorCode.INVALID_EXECUTE_CALLDATA,
            )
        first = calls[0]
        call = first if isinstance(first, Call) else Call(*first)
        return encode_execute_single(call.target, call.value, call.data)
    return encode_execute(calls)


def _account_created(receipt: Receipt, factory: str) -> str:
    created = [
        log for log in receipt.logs if log.address == factory and log.topics[:1] == (ACCOUNT_CREATED_TOPIC,)
    ]
    if len(created) != 1 or len(created[0].topics) < 2:
        raise EntryPointError(f"no AccountCreated event from {factory} in the receipt")
    return checksum_address("0x" + created[0].topics[1][-20:].hex())


def _creation(
    deployment: MsaDeployment, credential: Any, salt: bytes, extra_modules: Sequence[tuple[str, bytes]]
) -> bytes:
    """``deployAccount`` calldata for a passkey account (shared by counterfactual and direct creation)."""
    init_data = passkey_account_init_data(
        credential, webauthn_validator=deployment.webauthn_validator, extra_modules=extra_modules
    )
    return deploy_account_calldata(salt, init_data)


def _check_removal(access: RemainingAccess, credential_id: bytes, origin: str, force: bool) -> None:
    if access.registered is False:
        raise NotFound(
            f"passkey {bytes(credential_id).hex()} at {origin} is not registered to {access.account}",
            rule=ErrorCode.PASSKEY_NOT_OWNED_BY_ACCOUNT,
        )
    check_passkey_removal(access, credential_id=credential_id, origin=origin, force=force)


def _sender_address_flow(deployment: MsaDeployment, factory_data: bytes) -> Flow[str]:
    init_code = bytes.fromhex(deployment.factory[2:]) + factory_data
    return (yield from entry_point_flows.get_sender_address(deployment.entry_point, init_code))


# -- account flows -------------------------------------------------------------------------------------------
#
# An operation touches two endpoints (the node and the bundler) and the passkey, so the account's flows yield
# ``_Remote`` steps tagged with their endpoint and ``_Sign`` steps; the sync and async classes only drive
# them. The state, nonce, gas price and resync logic lives once, in ``_MsaAccountCore``.


@dataclass(frozen=True, slots=True)
class _Remote:
    """One JSON-RPC step (call, batch or sleep) for the bundler (``bundler``) or the node."""

    bundler: bool
    step: RpcCall | Batch | Sleep


@dataclass(frozen=True, slots=True)
class _Sign:
    """Ask the passkey for the signature of ``op``; the flow receives ``userOp.signature``."""

    op: UserOperation


_AccountFlow = Generator[_Remote | _Sign, Any, T]


def _via(flow: Flow[T], *, bundler: bool) -> _AccountFlow[T]:
    """Run a plain flow's steps against one endpoint, handing back its answers and errors."""
    return (yield from relay(flow, lambda step: _Remote(bundler, step)))


def _chain_state_flow(address: str, entry_point: str, nonce_key: int) -> Flow[tuple[bool, int]]:
    """Whether the account has code, and its EntryPoint nonce: one JSON-RPC batch, one round trip."""
    code, nonce = yield from gather(
        eth_flows.get_code(address), entry_point_flows.get_nonce(entry_point, address, nonce_key)
    )
    return bool(code), int(nonce)


def _stale_state(exc: UserOperationRejected) -> bool:
    """Whether a rejection at estimation says the cached deployment or nonce was out of date."""
    # AA25: the nonce is not the next one; AA10: initCode for an account that already exists.
    return exc.aa_code in ("AA25", "AA10")


class _MsaAccountCore:
    """What the sync and async accounts share: configuration, the cached account state and the flows.

    The state is what this object learnt of the account: whether it is deployed and the next nonce per key.
    A counterfactual account is known to be undeployed with every nonce 0, a freshly deployed one to be
    deployed with every nonce 0, one made with ``at()`` is unknown until the first operation reads it (one
    batch, ``eth_getCode`` + ``EntryPoint.getNonce``). A nonce moves on when the bundler accepts an op.
    """

    bundler: BundlerClient | AsyncBundlerClient

    def __init__(
        self,
        *,
        address: str,
        deployment: MsaDeployment,
        bundler: BundlerClient | AsyncBundlerClient,
        credential: Any,
        provider: AssertionProvider | AsyncAssertionProvider | Any | None,
        factory_data: bytes | None,
        run_preflight: bool,
    ) -> None:
        if bundler.entry_point != deployment.entry_point:
            raise ConfigurationError(
                f"bundler client targets {bundler.entry_point}, the deployment uses {deployment.entry_point}",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        self.deployment = deployment
        self.signer = Erc4337PasskeyAccount(
            address=address,
            credential=credential,
            validator=deployment.webauthn_validator,
            chain_id=deployment.chain_id,
            provider=provider,
            run_preflight=run_preflight,
        )
        self.factory_data = factory_data
        self._stub: bytes | None = None
        self.bundler = bundler
        self._deployed: bool | None = None
        self._nonces: dict[int, int] = {}
        self._nonces_zero = False  # every key without an entry in _nonces is known to be at sequence 0

    def _assume_new(self, *, deployed: bool) -> None:
        """Record a state known without asking: an account created (or to be created) just now."""
        self._deployed = deployed
        self._nonces = {}
        self._nonces_zero = True

    @property
    def address(self) -> str:
        """The account address (checksummed)."""
        return self.signer.address

    def forget_state(self) -> None:
        """Forget the cached deployment state and nonces; the next operation reads them from the chain.

        The account object counts the nonces of the operations it sends. Another sender on the same account
        and nonce key (another process, another account object) makes the count stale: the next estimation
        is then rejected with ``AA25`` and the account re-reads the chain and estimates again by itself,
        before anything is signed. Call this after sending through another path, to skip that extra trip.
        """
        self._deployed = None
        self._nonces = {}
        self._nonces_zero = False

    def stub_signature(self) -> bytes:
        """The gas-estimation stub for this account (see :func:`passkey_stub_signature`); made once."""
        if self._stub is None:
            credential = self.signer.credential
            self._stub = passkey_stub_signature(
                self.deployment.webauthn_validator, credential, rp_id=credential.rp_id
            )
        return self._stub

    def user_operation_hash(self, op: UserOperation) -> bytes:
        """The v0.8 userOpHash of ``op`` on this chain and EntryPoint."""
        deployment = self.deployment
        return user_operation_hash(op, entry_point=deployment.entry_point, chain_id=deployment.chain_id)

    # -- flows -----------------------------------------------------------------------------------------------

    def _known_state(self, nonce_key: int) -> tuple[bool, int] | None:
        if self._deployed is None or (self._deployed is False and self.factory_data is None):
            return None  # unknown, or the caller dropped the factory data because the account exists now
        if nonce_key in self._nonces:
            return self._deployed, self._nonces[nonce_key]
        if self._nonces_zero:
            return self._deployed, nonce_key << _SEQUENCE_BITS
        return None

    def _state_flow(self, nonce_key: int) -> _AccountFlow[tuple[bool, int, bool]]:
        """``(deployed, nonce, read_now)``: from the cache, else from the chain (one request)."""
        known = self._known_state(nonce_key)
        if known is not None:
            return known[0], known[1], False
        chain_state = _chain_state_flow(self.address, self.deployment.entry_point, nonce_key)
        deployed, nonce = yield from _via(chain_state, bundler=False)
        if deployed is not self._deployed:
            self._deployed = deployed
            self._nonces = {}
            self._nonces_zero = not deployed  # no code, no validation: no key can have moved
        self._nonces[nonce_key] = nonce
        return deployed, nonce, True

    def _draft(
        self,
        deployed: bool,
        nonce: int,
        call_data: bytes,
        gas_price: GasPrice,
        paymaster: str | None,
        paymaster_data: bytes,
    ) -> UserOperation:
        if not deployed and self.factory_data is None:
            raise ConfigurationError(
                f"{self.address} has no code and no factory data to create it",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        return UserOperation(
            sender=self.address,
            nonce=nonce,
            call_data=call_data,
            max_fee_per_gas=gas_price.max_fee_per_gas,
            max_priority_fee_per_gas=gas_price.max_priority_fee_per_gas,
            factory=None if deployed else self.deployment.factory,
            factory_data=b"" if deployed else (self.factory_data or b""),
            paymaster=paymaster,
            paymaster_data=paymaster_data,
        )

    def _estimate_flow(self, op: UserOperation) -> _AccountFlow[GasEstimate]:
        bundler = self.bundler
        flow = bundler.flows.estimate_user_operation_gas(
            op.replace(signature=self.stub_signature()), bundler.entry_point
        )
        return (yield from _via(flow, bundler=True))

    def _build_flow(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        batch: bool | None = None,
        nonce_key: int = 0,
        gas_price: GasPrice | None = None,
        gas: Mapping[str, int] | None = None,
        verification_margin: float = 1.2,
        paymaster: str | None = None,
        paymaster_data: bytes = b"",
    ) -> _AccountFlow[UserOperation]:
        call_data = _call_data(calls, batch)
        deployed, nonce, read_now = yield from self._state_flow(nonce_key)
        if gas_price is None:
            prices_flow = self.bundler.flows.cached_user_operation_gas_price(self.bundler.gas_price_cache)
            gas_price = (yield from _via(prices_flow, bundler=True)).standard
        op = self._draft(deployed, nonce, call_data, gas_price, paymaster, paymaster_data)
        if gas is not None:
            return op.replace(**dict(gas))
        try:
            estimate = yield from self._estimate_flow(op)
        except UserOperationRejected as exc:
            if read_now or not _stale_state(exc):
                raise
            # Someone else moved the account since this object last looked: read it again and estimate once
            # more. Nothing was signed yet, so the retry costs no passkey prompt.
            self.forget_state()
            deployed, nonce, _ = yield from self._state_flow(nonce_key)
            op = self._draft(deployed, nonce, call_data, gas_price, paymaster, paymaster_data)
            estimate = yield from self._estimate_flow(op)
        return estimate.apply(op, verification_margin=verification_margin)

    def _sign_flow(self, op: UserOperation) -> _AccountFlow[UserOperation]:
        if op.sender != self.address:
            raise StateError(
                f"user operation sender is {op.sender}, this account is {self.address}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        signature = yield _Sign(op)
        return op.replace(signature=signature)

    def _send_flow(self, op: UserOperation) -> _AccountFlow[bytes]:
        bundler = self.bundler
        flow = bundler.flows.send_user_operation(
            op, bundler.entry_point, self.deployment.chain_id, bundler.gas_price_cache
        )
        try:
            user_op_hash = yield from _via(flow, bundler=True)
        except SsoSignerError:
            # Refused, or the answer was lost (UserOperationOutcomeUnknown): whether this nonce is used now
            # is not known here, so the next operation reads the chain.
            self.forget_state()
            raise
        if op.sender == self.address:
            self._deployed = True  # it exists, or the accepted op's initCode creates it before any later op
            self._nonces[op.nonce >> _SEQUENCE_BITS] = op.nonce + 1
        return user_op_hash

    def _execute_flow(
        self, calls: Sequence[Call | tuple[str, int, bytes]], batch: bool | None, timeout: float, build: Any
    ) -> _AccountFlow[UserOperationReceipt]:
        op = yield from self._build_flow(calls, batch=batch, **build)
        signed = yield from self._sign_flow(op)
        user_op_hash = yield from self._send_flow(signed)
        # Given the signed op, the wait's errors carry it along with the hash (never sign it again).
        wait = self.bundler.flows.wait_for_user_operation_receipt(
            user_op_hash, timeout, _POLL_INTERVAL, True, signed
        )
        try:
            receipt = yield from _via(wait, bundler=True)
        except UserOperationReverted:
            self.factory_data = None  # included: the account exists even though its call reverted
            raise
        except UserOperationOutcomeUnknown:
            self.forget_state()  # pooled, dropped or included (timeout, unreadable receipt): ask the chain
            raise
        self.factory_data = None  # created now; later ops must not carry initCode
        return receipt

    def _remaining_access_flow(self, credential_id: bytes, origin: str) -> Flow[RemainingAccess]:
        validator = self.deployment.webauthn_validator
        return (yield from msa_remaining_access_flow(validator, self.address, credential_id, origin))

    def _is_valid_signature_flow(self, hash_: bytes, signature: bytes) -> Flow[bool]:
        if not (yield from eth_flows.get_code(self.address)):
            raise NotFound(
                f"{self.address} has no code; ERC-1271 needs a deployed account",
                rule=ErrorCode.ACCOUNT_NOT_DEPLOYED,
            )
        data = _IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [bytes(hash_), bytes(signature)])
        try:
            result = yield from eth_flows.call({"to": self.address, "data": data})
        except ExecutionReverted:
            return False
        return result[:4] == _ERC1271_MAGIC


class MsaPasskeyAccount(_MsaAccountCore):
    """A passkey-owned ERC-4337 ``ModularSmartAccount``: address, deployment and UserOperations.

    Build it with :meth:`counterfactual` (created by its first UserOperation), :meth:`deploy` (created now by
    a direct factory transaction) or :meth:`at` (already exists).

    The object remembers what it learnt of the account (deployed or not, the next nonce per key) and counts
    the operations it sends, so a steady stream of operations costs two bundler requests each (estimate,
    send) plus receipt polling; see :meth:`forget_state` for another sender on the same account.

    Args:
        address: The account address.
        deployment: Where the contracts live.
        eth: A client of the chain.
        bundler: A bundler client for the deployment's EntryPoint.
        credential: The passkey (a ``HeadlessPasskey`` or a ``PasskeyCredential`` with a provider).
        provider: Where assertions come from (see :class:`~sso_signer.sso.PasskeySigner`).
        factory_data: ``deployAccount`` calldata for the initCode while the account is not deployed.
        run_preflight: Check each signature against the validator's rules before sending it.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``address`` is malformed.
        ConfigurationError (``SIGNER_CONFIGURATION``): If the bundler serves another EntryPoint than the
            deployment's.
    """

    bundler: BundlerClient

    def __init__(
        self,
        *,
        address: str,
        deployment: MsaDeployment,
        eth: EthClient,
        bundler: BundlerClient,
        credential: Any,
        provider: AssertionProvider | AsyncAssertionProvider | Any | None = None,
        factory_data: bytes | None = None,
        run_preflight: bool = True,
    ) -> None:
        super().__init__(
            address=address,
            deployment=deployment,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )
        self.eth = eth
        self.entry_point = EntryPoint(eth, deployment.entry_point)

    def __repr__(self) -> str:
        return f"MsaPasskeyAccount({self.address}, chain {self.deployment.chain_id})"

    def _run(self, flow: _AccountFlow[T]) -> T:
        """Drive an account flow with blocking I/O and a synchronous passkey."""
        return drive(flow, self._answer)

    def _answer(self, step: _Remote | _Sign) -> Any:
        if isinstance(step, _Sign):
            return self.signer.sign_user_operation(step.op, entry_point=self.deployment.entry_point)
        return answer(self.bundler.rpc if step.bundler else self.eth.rpc, step.step)

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def counterfactual(
        cls,
        *,
        deployment: MsaDeployment,
        eth: EthClient,
        bundler: BundlerClient,
        credential: Any,
        salt: bytes,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> MsaPasskeyAccount:
        """An account that its first UserOperation creates (``factory``/``factoryData`` in the op).

        The address is asked of ``EntryPoint.getSenderAddress``, which runs the factory call as the
        SenderCreator would; nothing is sent. The object assumes the account does not exist yet (nonce 0);
        if another sender creates it after this object was made, the first estimation says so and the object
        re-reads the chain.

        Raises:
            EntryPointError (``FACTORY_CALL_FAILED``): If the factory call fails: the account already exists
                (look it up, then use
                :meth:`at`), or the factory refuses the init data.
            EntryPointError: If the EntryPoint answers anything else (no EntryPoint code, wrong address).
            BadCredentialIdLength, BadDomainLength, EmptyPublicKey: If the passkey breaks a validator rule.
        """
        factory_data = _creation(deployment, credential, salt, extra_modules)
        account = cls(
            address=eth.run(_sender_address_flow(deployment, factory_data)),
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )
        account._assume_new(deployed=False)
        return account

    @classmethod
    def deploy(
        cls,
        *,
        deployment: MsaDeployment,
        eth: EthClient,
        bundler: BundlerClient,
        credential: Any,
        salt: bytes,
        deployer: LocalAccount,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> tuple[MsaPasskeyAccount, Receipt]:
        """Create the account now with a direct ``deployAccount`` transaction from ``deployer``.

        The address differs from :meth:`counterfactual`'s for the same salt (the caller is in the salt); it
        is read from the factory's ``AccountCreated`` event.

        Returns:
            The account and the deployment receipt.

        Raises:
            TransactionReverted: If the factory call reverts (e.g. the account already exists).
            EntryPointError: If the receipt has no ``AccountCreated`` event from the factory.
        """
        factory_data = _creation(deployment, credential, salt, extra_modules)
        receipt = eth.send_transaction(deployer, to=deployment.factory, data=factory_data)
        account = cls(
            address=_account_created(receipt, deployment.factory),
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )
        account._assume_new(deployed=True)
        return account, receipt

    @classmethod
    def at(
        cls,
        address: str,
        *,
        deployment: MsaDeployment,
        eth: EthClient,
        bundler: BundlerClient,
        credential: Any,
        provider: Any = None,
        run_preflight: bool = True,
    ) -> MsaPasskeyAccount:
        """An account that already exists at ``address`` (its state is read by the first operation)."""
        return cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )

    # -- state -----------------------------------------------------------------------------------------------

    def is_deployed(self) -> bool:
        """Whether the account has code on chain (always asks the node)."""
        return bool(self.eth.get_code(self.address))

    def get_nonce(self, key: int = 0) -> int:
        """The next EntryPoint nonce for ``key`` as the chain has it (passkey operations use key 0)."""
        return self.entry_point.get_nonce(self.address, key)

    def get_balance(self) -> int:
        """The account's ether balance in wei."""
        return self.eth.get_balance(self.address)

    # -- UserOperations --------------------------------------------------------------------------------------

    def build_user_operation(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        nonce_key: int = 0,
        gas_price: GasPrice | None = None,
        gas: Mapping[str, int] | None = None,
        verification_margin: float = 1.2,
        paymaster: str | None = None,
        paymaster_data: bytes = b"",
    ) -> UserOperation:
        """An unsigned UserOperation running ``calls``, with initCode while the account is not deployed.

        Requests: the account state from the node while this object does not know it (one batch), the
        bundler's gas price unless ``gas_price`` is given or the bundler client has a fresh one cached, and
        the estimate unless ``gas`` is given. An estimate rejected for a stale nonce (``AA25``) or for
        initCode on an existing account (``AA10``) while the state came from the cache is retried once after
        reading the chain.

        Args:
            calls: What the account executes (``(target, value, data)`` or :class:`~sso_signer.erc4337.Call`);
                an empty list creates the account without a call.
            batch: Force batch (True) or single (False) mode; default single for one call, batch otherwise.
            nonce_key: The 2D nonce key (0 for passkey operations).
            gas_price: Fees; default the bundler's ``standard`` ``pimlico_getUserOperationGasPrice``.
            gas: Explicit ``call_gas_limit`` / ``verification_gas_limit`` / ``pre_verification_gas``; when
                given, no estimation is made (so a stale cached nonce is only found by the send, after
                signing: call :meth:`forget_state` first if another sender may have used the account).
            verification_margin: Factor on the estimated verification gas.
            paymaster: A paymaster paying for the operation (its gas limits come from the estimate, or from
                ``gas`` as ``paymaster_verification_gas_limit`` / ``paymaster_post_op_gas_limit``).
            paymaster_data: Extra data for the paymaster.

        Returns:
            The UserOperation with gas and fees filled and an empty signature.

        Raises:
            UserOperationRejected: The bundler's simulation failed (typed by AA code).
            InvalidExecuteCalldata, InvalidUserOperationAddress: If a call is malformed.
            ConfigurationError (``SIGNER_CONFIGURATION``): If the account has no code and no factory data.
        """
        return self._run(
            self._build_flow(
                calls, batch, nonce_key, gas_price, gas, verification_margin, paymaster, paymaster_data
            )
        )

    def sign_user_operation(self, op: UserOperation) -> UserOperation:
        """``op`` with its passkey signature (``validator ‖ fat`` over the userOpHash).

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If ``op.sender`` is another account.
            AssertionRejected: If the assertion would fail the validator's rules.
        """
        return self._run(self._sign_flow(op))

    def send_user_operation(self, op: UserOperation) -> bytes:
        """Submit a signed ``op`` to the bundler; returns its userOpHash.

        This is also the re-send after :class:`~sso_signer.erc4337.UserOperationOutcomeUnknown`: pass its
        ``user_operation`` unchanged (no new passkey signature); "already known" returns the same hash. An
        accepted op moves this object's nonce for its key; a refusal or a lost answer makes it forget the
        cached state.

        Raises:
            UserOperationRejected: The bundler refused it (typed by AA code).
            UserOperationOutcomeUnknown: The answer was lost; the bundler may hold the op.
        """
        return self._run(self._send_flow(op))

    def execute(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        timeout: float = 60.0,
        **build: Any,
    ) -> UserOperationReceipt:
        """Build, estimate, sign, send and wait: the account runs ``calls``.

        Args:
            calls: See :meth:`build_user_operation`.
            batch: See :meth:`build_user_operation`.
            timeout: Seconds to wait for inclusion.
            build: More :meth:`build_user_operation` options.

        Returns:
            The bundler's receipt (``success`` is checked).

        Raises:
            UserOperationRejected: Simulation or submission failed (typed by AA code); nothing was sent.
            UserOperationReverted: Included, but a call reverted (carries the hash and the signed op).
            UserOperationOutcomeUnknown: Sent, then the outcome could not be learnt: the answer to the send
                was lost, or the receipt could not be read, or :class:`UserOperationTimeout` (not included in
                time). It holds the userOpHash and the signed op: poll the hash, or re-send the op with
                :meth:`send_user_operation`; never sign again. All three are ``AfterSendError``.
        """
        return self._run(self._execute_flow(calls, batch, timeout, build))

    # -- ERC-1271 --------------------------------------------------------------------------------------------

    def sign_message(self, message: bytes | str) -> bytes:
        """ERC-1271 signature of an EIP-191 message (ERC-7739 PersonalSign under ``zksync-sso-1271``)."""
        return self.signer.sign_message(message)

    def sign_typed_data(self, typed_data: Mapping[str, Any]) -> bytes:
        """ERC-1271 signature of EIP-712 typed data (ERC-7739 TypedDataSign)."""
        return self.signer.sign_typed_data(typed_data)

    def is_valid_signature(self, hash_: bytes, signature: bytes) -> bool:
        """Ask the account (``isValidSignature`` by ``eth_call``) whether ``signature`` fits ``hash_``.

        An invalid signature may make the account revert instead of returning ``0xffffffff`` (solady's
        off-chain path at gas price 0, or an uninstalled validator); both count as invalid.

        Raises:
            NotFound (``ACCOUNT_NOT_DEPLOYED``): If the account has no code.
        """
        return bool(self.eth.run(self._is_valid_signature_flow(hash_, signature)))

    # -- passkeys ------------------------------------------------------------------------------------------

    def remaining_access(self, credential_id: bytes, origin: str) -> RemainingAccess:
        """What would still control the account once the passkey ``(origin, credential_id)`` is removed."""
        access: RemainingAccess = self.eth.run(self._remaining_access_flow(credential_id, origin))
        return access

    def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> UserOperationReceipt:
        """Remove a passkey (``removeValidationKey`` on the WebAuthn validator, in a UserOperation).

        Args:
            credential_id: The passkey to remove (may be the one this object signs with).
            origin: Its origin.
            force: Remove it even when nothing else could sign for the account: the account is then locked
                for good (every later operation fails validation, AA24).
            timeout: Seconds to wait for inclusion.

        Raises:
            NotFound (``PASSKEY_NOT_OWNED_BY_ACCOUNT``): If the passkey is not registered to the account
                (checked first).
            RemovalWouldLockAccount: If it is the last way in and ``force`` is false (nothing is signed).
        """
        access = self.remaining_access(credential_id, origin)
        _check_removal(access, credential_id, origin, force)
        call = (self.deployment.webauthn_validator, 0, remove_passkey_calldata(credential_id, origin))
        return self.execute([call], timeout=timeout)


class AsyncMsaPasskeyAccount(_MsaAccountCore):
    """The asyncio twin of :class:`MsaPasskeyAccount` (same arguments, errors and state tracking).

    Args:
        address: The account address.
        deployment: Where the contracts live.
        eth: An :class:`~sso_signer.rpc.AsyncEthClient` of the chain.
        bundler: An :class:`~sso_signer.erc4337.AsyncBundlerClient` for the deployment's EntryPoint.
        credential: The passkey.
        provider: Where assertions come from (an async provider can wait for a user in a browser).
        factory_data: ``deployAccount`` calldata while the account is not deployed.
        run_preflight: Check each signature against the validator's rules before sending it.
    """

    bundler: AsyncBundlerClient

    def __init__(
        self,
        *,
        address: str,
        deployment: MsaDeployment,
        eth: AsyncEthClient,
        bundler: AsyncBundlerClient,
        credential: Any,
        provider: AssertionProvider | AsyncAssertionProvider | Any | None = None,
        factory_data: bytes | None = None,
        run_preflight: bool = True,
    ) -> None:
        super().__init__(
            address=address,
            deployment=deployment,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )
        self.eth = eth
        self.entry_point = AsyncEntryPoint(eth, deployment.entry_point)

    def __repr__(self) -> str:
        return f"AsyncMsaPasskeyAccount({self.address}, chain {self.deployment.chain_id})"

    async def _run(self, flow: _AccountFlow[T]) -> T:
        """Drive an account flow with asyncio I/O; an async passkey provider is awaited."""
        return await drive_async(flow, self._answer)

    async def _answer(self, step: _Remote | _Sign) -> Any:
        if isinstance(step, _Sign):
            return await self.signer.asign_user_operation(step.op, entry_point=self.deployment.entry_point)
        return await answer_async(self.bundler.rpc if step.bundler else self.eth.rpc, step.step)

    @classmethod
    async def counterfactual(
        cls,
        *,
        deployment: MsaDeployment,
        eth: AsyncEthClient,
        bundler: AsyncBundlerClient,
        credential: Any,
        salt: bytes,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> AsyncMsaPasskeyAccount:
        """See :meth:`MsaPasskeyAccount.counterfactual`."""
        factory_data = _creation(deployment, credential, salt, extra_modules)
        account = cls(
            address=await eth.run(_sender_address_flow(deployment, factory_data)),
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )
        account._assume_new(deployed=False)
        return account

    @classmethod
    async def deploy(
        cls,
        *,
        deployment: MsaDeployment,
        eth: AsyncEthClient,
        bundler: AsyncBundlerClient,
        credential: Any,
        salt: bytes,
        deployer: LocalAccount,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> tuple[AsyncMsaPasskeyAccount, Receipt]:
        """See :meth:`MsaPasskeyAccount.deploy`."""
        factory_data = _creation(deployment, credential, salt, extra_modules)
        receipt = await eth.send_transaction(deployer, to=deployment.factory, data=factory_data)
        account = cls(
            address=_account_created(receipt, deployment.factory),
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )
        account._assume_new(deployed=True)
        return account, receipt

    @classmethod
    def at(
        cls,
        address: str,
        *,
        deployment: MsaDeployment,
        eth: AsyncEthClient,
        bundler: AsyncBundlerClient,
        credential: Any,
        provider: Any = None,
        run_preflight: bool = True,
    ) -> AsyncMsaPasskeyAccount:
        """See :meth:`MsaPasskeyAccount.at`."""
        return cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )

    async def is_deployed(self) -> bool:
        """See :meth:`MsaPasskeyAccount.is_deployed`."""
        return bool(await self.eth.get_code(self.address))

    async def get_nonce(self, key: int = 0) -> int:
        """See :meth:`MsaPasskeyAccount.get_nonce`."""
        return await self.entry_point.get_nonce(self.address, key)

    async def get_balance(self) -> int:
        """The account's ether balance in wei."""
        return await self.eth.get_balance(self.address)

    async def build_user_operation(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        nonce_key: int = 0,
        gas_price: GasPrice | None = None,
        gas: Mapping[str, int] | None = None,
        verification_margin: float = 1.2,
        paymaster: str | None = None,
        paymaster_data: bytes = b"",
    ) -> UserOperation:
        """See :meth:`MsaPasskeyAccount.build_user_operation`."""
        return await self._run(
            self._build_flow(
                calls, batch, nonce_key, gas_price, gas, verification_margin, paymaster, paymaster_data
            )
        )

    async def sign_user_operation(self, op: UserOperation) -> UserOperation:
        """See :meth:`MsaPasskeyAccount.sign_user_operation` (awaits an async assertion provider)."""
        return await self._run(self._sign_flow(op))

    async def send_user_operation(self, op: UserOperation) -> bytes:
        """See :meth:`MsaPasskeyAccount.send_user_operation` (also the re-send after a lost answer)."""
        return await self._run(self._send_flow(op))

    async def execute(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        timeout: float = 60.0,
        **build: Any,
    ) -> UserOperationReceipt:
        """See :meth:`MsaPasskeyAccount.execute`."""
        return await self._run(self._execute_flow(calls, batch, timeout, build))

    async def sign_message(self, message: bytes | str) -> bytes:
        """See :meth:`MsaPasskeyAccount.sign_message`."""
        return await self.signer.asign_message(message)

    async def sign_typed_data(self, typed_data: Mapping[str, Any]) -> bytes:
        """See :meth:`MsaPasskeyAccount.sign_typed_data`."""
        return await self.signer.asign_typed_data(typed_data)

    async def is_valid_signature(self, hash_: bytes, signature: bytes) -> bool:
        """See :meth:`MsaPasskeyAccount.is_valid_signature`."""
        return bool(await self.eth.run(self._is_valid_signature_flow(hash_, signature)))

    async def remaining_access(self, credential_id: bytes, origin: str) -> RemainingAccess:
        """See :meth:`MsaPasskeyAccount.remaining_access`."""
        access: RemainingAccess = await self.eth.run(self._remaining_access_flow(credential_id, origin))
        return access

    async def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> UserOperationReceipt:
        """See :meth:`MsaPasskeyAccount.remove_passkey`."""
        access = await self.remaining_access(credential_id, origin)
        _check_removal(access, credential_id, origin, force)
        call = (self.deployment.webauthn_validator, 0, remove_passkey_calldata(credential_id, origin))
        return await self.execute([call], timeout=timeout)
