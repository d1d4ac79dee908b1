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
from collections.abc import Mapping, Sequence
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer.erc4337 import (
    AccountNotDeployed,
    AsyncBundlerClient,
    AsyncEntryPoint,
    BundlerClient,
    Call,
    EntryPoint,
    EntryPointError,
    GasPrice,
    InvalidExecuteCalldata,
    UserOperation,
    UserOperationReceipt,
    encode_execute,
    encode_execute_batch,
    encode_execute_single,
    entry_point_flows,
    user_operation_hash,
)
from sso_signer.rpc import AsyncEthClient, EthClient, ExecutionReverted, Flow, Receipt, eth_flows, gather
from sso_signer.sso._errors import AccountMismatch, InvalidInitData, SsoSignerConfigError
from sso_signer.sso._msa_stack import MsaDeployment
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH, PasskeyOwner, validator_init_data
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


def initialize_account_calldata(modules: Sequence[str], data: Sequence[bytes]) -> bytes:
    """``initializeAccount(address[] modules, bytes[] data)`` calldata (the beacon proxy's init call).

    Args:
        modules: Module addresses, installed in this order.
        data: Each module's ``onInstall`` data.

    Returns:
        The calldata (selector ``0xf0efd465``).

    Raises:
        InvalidInitData: If the lists differ in length or are empty.
        MalformedAddress: If a module is not an address.
    """
    if len(modules) != len(data) or not modules:
        raise InvalidInitData(f"modules ({len(modules)}) and data ({len(data)}): equal, non-empty lists")
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
        MalformedAddress: If an address is malformed.
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
        InvalidInitData: If ``salt`` is not 32 bytes.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) != 32:
        raise InvalidInitData("salt: expected 32 bytes")
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
            raise InvalidExecuteCalldata(f"single mode runs exactly one call, got {len(calls)}")
        first = calls[0]
        call = first if isinstance(first, Call) else Call(*first)
        return encode_execute_single(call.target, call.value, call.data)
    return encode_execute(calls)


def _draft(
    sender: str,
    nonce: int,
    call_data: bytes,
    gas_price: GasPrice,
    creation: tuple[str, bytes] | None,
    paymaster: str | None,
    paymaster_data: bytes,
) -> UserOperation:
    return UserOperation(
        sender=sender,
        nonce=nonce,
        call_data=call_data,
        max_fee_per_gas=gas_price.max_fee_per_gas,
        max_priority_fee_per_gas=gas_price.max_priority_fee_per_gas,
        factory=None if creation is None else creation[0],
        factory_data=b"" if creation is None else creation[1],
        paymaster=paymaster,
        paymaster_data=paymaster_data,
    )


def _state_flow(address: str, entry_point: str, nonce_key: int) -> Flow[tuple[bool, int]]:
    """Whether the account has code, and its EntryPoint nonce: one JSON-RPC batch, one round trip."""
    code, nonce = yield from gather(
        eth_flows.get_code(address), entry_point_flows.get_nonce(entry_point, address, nonce_key)
    )
    return bool(code), int(nonce)


def _account_created(receipt: Receipt, factory: str) -> str:
    created = [
        log for log in receipt.logs if log.address == factory and log.topics[:1] == (ACCOUNT_CREATED_TOPIC,)
    ]
    if len(created) != 1 or len(created[0].topics) < 2:
        raise EntryPointError(f"no AccountCreated event from {factory} in the receipt")
    return checksum_address("0x" + created[0].topics[1][-20:].hex())


class MsaPasskeyAccount:
    """A passkey-owned ERC-4337 ``ModularSmartAccount``: address, deployment and UserOperations.

    Build it with :meth:`counterfactual` (created by its first UserOperation), :meth:`deploy` (created now by
    a direct factory transaction) or :meth:`at` (already exists).

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
        MalformedAddress: If ``address`` is malformed.
        SsoSignerConfigError: If the bundler serves another EntryPoint than the deployment's.
    """

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
        if bundler.entry_point != deployment.entry_point:
            raise SsoSignerConfigError(
                f"bundler client targets {bundler.entry_point}, the deployment uses {deployment.entry_point}"
            )
        self.deployment = deployment
        self.eth = eth
        self.bundler = bundler
        self.entry_point = EntryPoint(eth, deployment.entry_point)
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

    def __repr__(self) -> str:
        return f"MsaPasskeyAccount({self.address}, chain {self.deployment.chain_id})"

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
        SenderCreator would; nothing is sent.

        Raises:
            EntryPointError: If the factory call fails (bad init data, wrong factory).
            BadCredentialIdLength, BadDomainLength, EmptyPublicKey: If the passkey breaks a validator rule.
        """
        init_data = passkey_account_init_data(
            credential, webauthn_validator=deployment.webauthn_validator, extra_modules=extra_modules
        )
        factory_data = deploy_account_calldata(salt, init_data)
        init_code = bytes.fromhex(deployment.factory[2:]) + factory_data
        address = EntryPoint(eth, deployment.entry_point).get_sender_address(init_code)
        return cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )

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
        init_data = passkey_account_init_data(
            credential, webauthn_validator=deployment.webauthn_validator, extra_modules=extra_modules
        )
        receipt = eth.send_transaction(
            deployer, to=deployment.factory, data=deploy_account_calldata(salt, init_data)
        )
        address = _account_created(receipt, deployment.factory)
        account = cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )
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
        """An account that already exists at ``address``."""
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

    @property
    def address(self) -> str:
        """The account address (checksummed)."""
        return self.signer.address

    def is_deployed(self) -> bool:
        """Whether the account has code on chain."""
        return bool(self.eth.get_code(self.address))

    def get_nonce(self, key: int = 0) -> int:
        """The next EntryPoint nonce for ``key`` (passkey operations use key 0)."""
        return self.entry_point.get_nonce(self.address, key)

    def get_balance(self) -> int:
        """The account's ether balance in wei."""
        return self.eth.get_balance(self.address)

    def stub_signature(self) -> bytes:
        """The gas-estimation stub for this account (see :func:`passkey_stub_signature`); made once."""
        if self._stub is None:
            credential = self.signer.credential
            self._stub = passkey_stub_signature(
                self.deployment.webauthn_validator, credential, rp_id=credential.rp_id
            )
        return self._stub

    # -- UserOperations --------------------------------------------------------------------------------------

    def user_operation_hash(self, op: UserOperation) -> bytes:
        """The v0.8 userOpHash of ``op`` on this chain and EntryPoint."""
        deployment = self.deployment
        return user_operation_hash(op, entry_point=deployment.entry_point, chain_id=deployment.chain_id)

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

        Args:
            calls: What the account executes (``(target, value, data)`` or :class:`~sso_signer.erc4337.Call`);
                an empty list creates the account without a call.
            batch: Force batch (True) or single (False) mode; default single for one call, batch otherwise.
            nonce_key: The 2D nonce key (0 for passkey operations).
            gas_price: Fees; default the bundler's ``standard`` ``pimlico_getUserOperationGasPrice``.
            gas: Explicit ``call_gas_limit`` / ``verification_gas_limit`` / ``pre_verification_gas``; when
                given, no estimation is made.
            verification_margin: Factor on the estimated verification gas.
            paymaster: A paymaster paying for the operation (its gas limits come from the estimate, or from
                ``gas`` as ``paymaster_verification_gas_limit`` / ``paymaster_post_op_gas_limit``).
            paymaster_data: Extra data for the paymaster.

        Returns:
            The UserOperation with gas and fees filled and an empty signature.

        Raises:
            UserOperationRejected: The bundler's simulation failed (typed by AA code).
            InvalidExecuteCalldata, InvalidUserOperationAddress: If a call is malformed.
        """
        call_data = _call_data(calls, batch)
        deployed, nonce = self.eth.run(_state_flow(self.address, self.deployment.entry_point, nonce_key))
        if not deployed and self.factory_data is None:
            raise SsoSignerConfigError(f"{self.address} has no code and no factory data to create it")
        if gas_price is None:
            gas_price = self.bundler.get_user_operation_gas_price().standard
        op = _draft(
            self.address,
            nonce,
            call_data,
            gas_price,
            None if deployed else (self.deployment.factory, self.factory_data or b""),
            paymaster,
            paymaster_data,
        )
        if gas is not None:
            return op.replace(**dict(gas))
        estimate = self.bundler.estimate_user_operation_gas(op.replace(signature=self.stub_signature()))
        return estimate.apply(op, verification_margin=verification_margin)

    def sign_user_operation(self, op: UserOperation) -> UserOperation:
        """``op`` with its passkey signature (``validator ‖ fat`` over the userOpHash).

        Raises:
            AccountMismatch: If ``op.sender`` is another account.
            PreflightError: If the assertion would fail the validator's rules.
        """
        if op.sender != self.address:
            raise AccountMismatch(f"user operation sender is {op.sender}, this account is {self.address}")
        signature = self.signer.sign_user_operation(op, entry_point=self.deployment.entry_point)
        return op.replace(signature=signature)

    def send_user_operation(self, op: UserOperation) -> bytes:
        """Submit a signed ``op`` to the bundler; returns its userOpHash.

        This is also the re-send after :class:`~sso_signer.erc4337.UserOperationOutcomeUnknown`: pass its
        ``user_operation`` unchanged (no new passkey signature); "already known" returns the same hash.

        Raises:
            UserOperationRejected: The bundler refused it (typed by AA code).
            UserOperationOutcomeUnknown: The answer was lost; the bundler may hold the op.
        """
        return self.bundler.send_user_operation(op, chain_id=self.deployment.chain_id)

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
            UserOperationRejected: Simulation or submission failed (typed by AA code).
            UserOperationReverted: Included, but a call reverted.
            UserOperationTimeout: Not included in time.
            UserOperationOutcomeUnknown: The bundler's answer to the send was lost; the error holds the
                userOpHash and the signed op to re-send with :meth:`send_user_operation`.
        """
        op = self.sign_user_operation(self.build_user_operation(calls, batch=batch, **build))
        receipt = self.bundler.send_and_wait(op, timeout=timeout, chain_id=self.deployment.chain_id)
        if self.factory_data is not None and receipt.success:
            self.factory_data = None  # created now; later ops must not carry initCode
        return receipt

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
            AccountNotDeployed: If the account has no code.
        """
        if not self.is_deployed():
            raise AccountNotDeployed(f"{self.address} has no code; ERC-1271 needs a deployed account")
        data = _IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [bytes(hash_), bytes(signature)])
        try:
            result = self.eth.call({"to": self.address, "data": data})
        except ExecutionReverted:
            return False
        return result[:4] == _ERC1271_MAGIC


class AsyncMsaPasskeyAccount:
    """The asyncio twin of :class:`MsaPasskeyAccount` (same arguments and errors, async clients).

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
        if bundler.entry_point != deployment.entry_point:
            raise SsoSignerConfigError(
                f"bundler client targets {bundler.entry_point}, the deployment uses {deployment.entry_point}"
            )
        self.deployment = deployment
        self.eth = eth
        self.bundler = bundler
        self.entry_point = AsyncEntryPoint(eth, deployment.entry_point)
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

    def __repr__(self) -> str:
        return f"AsyncMsaPasskeyAccount({self.address}, chain {self.deployment.chain_id})"

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
        init_data = passkey_account_init_data(
            credential, webauthn_validator=deployment.webauthn_validator, extra_modules=extra_modules
        )
        factory_data = deploy_account_calldata(salt, init_data)
        init_code = bytes.fromhex(deployment.factory[2:]) + factory_data
        address = await AsyncEntryPoint(eth, deployment.entry_point).get_sender_address(init_code)
        return cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            factory_data=factory_data,
            run_preflight=run_preflight,
        )

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
        init_data = passkey_account_init_data(
            credential, webauthn_validator=deployment.webauthn_validator, extra_modules=extra_modules
        )
        receipt = await eth.send_transaction(
            deployer, to=deployment.factory, data=deploy_account_calldata(salt, init_data)
        )
        account = cls(
            address=_account_created(receipt, deployment.factory),
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
        )
        return account, receipt

    @property
    def address(self) -> str:
        """The account address (checksummed)."""
        return self.signer.address

    async def is_deployed(self) -> bool:
        """Whether the account has code on chain."""
        return bool(await self.eth.get_code(self.address))

    async def get_nonce(self, key: int = 0) -> int:
        """The next EntryPoint nonce for ``key``."""
        return await self.entry_point.get_nonce(self.address, key)

    async def get_balance(self) -> int:
        """The account's ether balance in wei."""
        return await self.eth.get_balance(self.address)

    def stub_signature(self) -> bytes:
        """See :meth:`MsaPasskeyAccount.stub_signature`."""
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
        call_data = _call_data(calls, batch)
        state = _state_flow(self.address, self.deployment.entry_point, nonce_key)
        deployed, nonce = await self.eth.run(state)
        if not deployed and self.factory_data is None:
            raise SsoSignerConfigError(f"{self.address} has no code and no factory data to create it")
        if gas_price is None:
            gas_price = (await self.bundler.get_user_operation_gas_price()).standard
        op = _draft(
            self.address,
            nonce,
            call_data,
            gas_price,
            None if deployed else (self.deployment.factory, self.factory_data or b""),
            paymaster,
            paymaster_data,
        )
        if gas is not None:
            return op.replace(**dict(gas))
        estimate = await self.bundler.estimate_user_operation_gas(op.replace(signature=self.stub_signature()))
        return estimate.apply(op, verification_margin=verification_margin)

    async def sign_user_operation(self, op: UserOperation) -> UserOperation:
        """See :meth:`MsaPasskeyAccount.sign_user_operation` (awaits an async assertion provider)."""
        if op.sender != self.address:
            raise AccountMismatch(f"user operation sender is {op.sender}, this account is {self.address}")
        signature = await self.signer.asign_user_operation(op, entry_point=self.deployment.entry_point)
        return op.replace(signature=signature)

    async def send_user_operation(self, op: UserOperation) -> bytes:
        """See :meth:`MsaPasskeyAccount.send_user_operation` (also the re-send after a lost answer)."""
        return await self.bundler.send_user_operation(op, chain_id=self.deployment.chain_id)

    async def execute(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        timeout: float = 60.0,
        **build: Any,
    ) -> UserOperationReceipt:
        """See :meth:`MsaPasskeyAccount.execute`."""
        op = await self.sign_user_operation(await self.build_user_operation(calls, batch=batch, **build))
        receipt = await self.bundler.send_and_wait(op, timeout=timeout, chain_id=self.deployment.chain_id)
        if self.factory_data is not None and receipt.success:
            self.factory_data = None
        return receipt

    async def sign_message(self, message: bytes | str) -> bytes:
        """See :meth:`MsaPasskeyAccount.sign_message`."""
        return await self.signer.asign_message(message)

    async def sign_typed_data(self, typed_data: Mapping[str, Any]) -> bytes:
        """See :meth:`MsaPasskeyAccount.sign_typed_data`."""
        return await self.signer.asign_typed_data(typed_data)

    async def is_valid_signature(self, hash_: bytes, signature: bytes) -> bool:
        """See :meth:`MsaPasskeyAccount.is_valid_signature`."""
        if not await self.is_deployed():
            raise AccountNotDeployed(f"{self.address} has no code; ERC-1271 needs a deployed account")
        data = _IS_VALID_SIGNATURE + abi_encode(["bytes32", "bytes"], [bytes(hash_), bytes(signature)])
        try:
            result = await self.eth.call({"to": self.address, "data": data})
        except ExecutionReverted:
            return False
        return result[:4] == _ERC1271_MAGIC
