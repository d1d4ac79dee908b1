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

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Self, TypeVar, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from sso_signer._shell import AsyncShell, SyncShell, flow_constructor, flow_constructor_with, flow_method
from sso_signer.accounts._base import AccountMethods
from sso_signer.accounts._deployment import MsaDeployment
from sso_signer.accounts._era import add_passkey_calldata, remove_passkey_calldata
from sso_signer.accounts._fee_ceiling import _FeeCeilingMethods
from sso_signer.accounts._messages import Erc4337MessageMethods
from sso_signer.accounts._recovery import _RecoveryMethods
from sso_signer.accounts._removal import RemainingAccess, check_passkey_removal, msa_remaining_access_flow
from sso_signer.accounts._sessions import SessionSignRequest, _SessionMethods
from sso_signer.accounts._signer import (
    AnyProvider,
    AssertionProvider,
    AssertionRequest,
    AsyncAssertionProvider,
    PasskeySigner,
    ask,
    ask_async,
    assertion_provider,
)
from sso_signer.accounts._sponsorship import Paymaster, _SponsorshipMethods
from sso_signer.accounts._web3_tx import Connection, Erc4337TransactionMethods, connect
from sso_signer.erc4337 import (
    AsyncBundlerClient,
    AsyncEntryPoint,
    AsyncPaymasterClient,
    BundlerClient,
    Call,
    EntryPoint,
    GasEstimate,
    PaymasterClient,
    UserOperation,
    UserOperationReceipt,
    encode_execute,
    user_operation_hash,
)
from sso_signer.erc4337._bundler import GasPrice, _BundlerMethods
from sso_signer.erc4337._entry_point import _EntryPointMethods
from sso_signer.erc4337._execute import _as_call, encode_execute_batch, encode_execute_single
from sso_signer.exceptions import (
    ConfigurationError,
    EntryPointError,
    ErrorCode,
    InsufficientBalance,
    InvalidUserOperation,
    NotFound,
    SsoSignerError,
    StateError,
    UserOperationOutcomeUnknown,
    UserOperationRejected,
    UserOperationReverted,
)
from sso_signer.rpc import AsyncEthClient, EthClient, Receipt
from sso_signer.rpc._core import RpcCall, Sleep
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Batch, Flow, gather, relay
from sso_signer.sso._msa_calldata import (
    ACCOUNT_CREATED_TOPIC,
    deploy_account_calldata,
    passkey_account_init_data,
    passkey_stub_signature,
)
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH
from sso_signer.sso._signature import checksum_address

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

__all__ = ["AsyncErc4337Account", "Erc4337Account"]

_SEQUENCE_BITS: Final = 64  # an EntryPoint nonce is key << 64 | sequence
_POLL_INTERVAL: Final = 0.25

T = TypeVar("T")
# The clients a concrete account class talks through (sync or async).
E = TypeVar("E")
B = TypeVar("B")


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


@dataclass(frozen=True, slots=True)
class _Bundler:
    """A JSON-RPC step (call, batch or sleep) for the bundler; the other RPC steps go to the node."""

    step: RpcCall | Batch | Sleep


def _via_bundler(flow: Flow[T]) -> Generator[Any, Any, T]:
    """Run a plain flow's steps against the bundler, handing back its answers and errors."""
    return (yield from relay(flow, _Bundler))


class _Erc4337Methods(
    _SessionMethods,
    _SponsorshipMethods,
    Erc4337MessageMethods,
    Erc4337TransactionMethods,
    AccountMethods,
    _RecoveryMethods,
    _FeeCeilingMethods,
    Generic[E, B],
):
    """The ERC-4337 account's methods, written once as flows (see :mod:`sso_signer._shell`).

    The object remembers what it learnt of the account: whether it is deployed and the next nonce per key.
    A counterfactual account is known to be undeployed with every nonce 0, a freshly deployed one to be
    deployed with every nonce 0, one made with ``at()`` is unknown until the first operation reads it (one
    batch, ``eth_getCode`` + ``EntryPoint.getNonce``). A nonce moves on when the bundler accepts an op, so a
    steady stream of operations costs two bundler requests each (estimate, send) plus receipt polling.
    """

    eth: Any
    bundler: Any
    deployment: MsaDeployment
    signer: PasskeySigner
    provider: AnyProvider | None
    factory_data: bytes | None
    entry_point: Any
    _entry_point_type: ClassVar[Any]
    _bundler_step: ClassVar[Any] = _Bundler  # how a mixin's flow sends a step to the bundler

    def __init__(
        self,
        *,
        address: str,
        deployment: MsaDeployment,
        eth: E | Connection,
        bundler: B | Connection,
        credential: Any,
        provider: AssertionProvider | AsyncAssertionProvider | None = None,
        factory_data: bytes | None = None,
        run_preflight: bool = True,
        nonce_key: int = 0,
    ) -> None:
        asynchronous = isinstance(self, AsyncShell)
        self.eth = connect(eth, asynchronous=asynchronous)
        self.bundler = connect(bundler, asynchronous=asynchronous, entry_point=deployment.entry_point)
        if self.bundler.entry_point != deployment.entry_point:
            raise ConfigurationError(
                f"bundler client targets {self.bundler.entry_point}, the deployment {deployment.entry_point}",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        self.deployment = deployment
        self.signer = PasskeySigner(
            generation="erc4337",
            address=address,
            credential=credential,
            validator=deployment.webauthn_validator,
            chain_id=deployment.chain_id,
            run_preflight=run_preflight,
        )
        self.provider = assertion_provider(credential, provider)
        self.factory_data = factory_data
        self._stub: bytes | None = None
        self._deployed: bool | None = None
        self._nonces: dict[int, int] = {}
        self._nonces_zero = False  # every key without an entry in _nonces is known to be at sequence 0
        self.entry_point = self._entry_point_type(self.eth, deployment.entry_point)
        # The 192-bit key of this object's operations: processes sending for one account at once each use
        # their own, so their operations never compete for a nonce (docs/example-backend.md).
        self.nonce_key = nonce_key

    @classmethod
    def at(
        cls,
        address: str,
        *,
        deployment: MsaDeployment,
        eth: E | Connection,
        bundler: B | Connection,
        credential: Any,
        provider: Any = None,
        run_preflight: bool = True,
        nonce_key: int = 0,
    ) -> Self:
        """An account that already exists at ``address`` (its state is read by the first operation).

        ``nonce_key`` is the EntryPoint nonce key of its operations (see :meth:`build_user_operation`).
        """
        return cls(
            address=address,
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=credential,
            provider=provider,
            run_preflight=run_preflight,
            nonce_key=nonce_key,
        )

    @classmethod
    def constructor_clients(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``eth`` / ``bundler`` given as a URL or a web3.py ``Web3`` become the SDK's clients (see
        ``EthClient.from_web3``) before a constructor flow runs on them."""
        asynchronous = issubclass(cls, AsyncShell)
        deployment = kwargs.get("deployment")
        entry_point = getattr(deployment, "entry_point", None)
        out = {**kwargs, "eth": connect(kwargs.get("eth"), asynchronous=asynchronous)}
        if entry_point is not None:
            out["bundler"] = connect(
                kwargs.get("bundler"), asynchronous=asynchronous, entry_point=entry_point
            )
        return out

    @flow_constructor
    def counterfactual(
        cls: Any,  # noqa: N805 - a constructor flow: flow_constructor passes the class it was reached on
        *,
        deployment: MsaDeployment,
        eth: EthClient | AsyncEthClient | Connection,
        bundler: BundlerClient | AsyncBundlerClient | Connection,
        credential: Any,
        salt: bytes,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> Generator[Any, Any, Any]:
        """An account that its first UserOperation creates (``factory``/``factoryData`` in the op).

        The address is asked of ``EntryPoint.getSenderAddress``, which runs the factory call as the
        SenderCreator would; nothing is sent. The object assumes the account does not exist yet (nonce 0);
        if another sender creates it after this object was made, the first estimation says so and the object
        re-reads the chain. On the async class, await it.

        Raises:
            EntryPointError (``FACTORY_CALL_FAILED``): If the factory call fails: the account already exists
                (look it up, then use :meth:`at`), or the factory refuses the init data.
            EntryPointError: If the EntryPoint answers anything else (no EntryPoint code, wrong address).
            InvalidInputError: If the passkey breaks a validator rule (credential id or origin length, key).
        """
        factory_data = _creation(deployment, credential, salt, extra_modules)
        init_code = bytes.fromhex(deployment.factory[2:]) + factory_data
        entry_point = _EntryPointMethods(ETH_FLOWS, deployment.entry_point)
        account = cls(
            address=(yield from _EntryPointMethods.get_sender_address.flow(entry_point, init_code)),
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

    @flow_constructor_with
    def deploy(
        cls: Any,  # noqa: N805 - see counterfactual
        *,
        deployment: MsaDeployment,
        eth: EthClient | AsyncEthClient | Connection,
        bundler: BundlerClient | AsyncBundlerClient | Connection,
        credential: Any,
        salt: bytes,
        deployer: LocalAccount,
        provider: Any = None,
        extra_modules: Sequence[tuple[str, bytes]] = (),
        run_preflight: bool = True,
    ) -> Generator[Any, Any, tuple[Any, Receipt]]:
        """Create the account now with a direct ``deployAccount`` transaction from ``deployer``.

        The address differs from :meth:`counterfactual`'s for the same salt (the caller is in the salt); it
        is read from the factory's ``AccountCreated`` event. On the async class, await it.

        Returns:
            The account and the deployment receipt.

        Raises:
            TransactionReverted: If the factory call reverts (e.g. the account already exists).
            EntryPointError: If the receipt has no ``AccountCreated`` event from the factory.
        """
        factory_data = _creation(deployment, credential, salt, extra_modules)
        client = cast("_EthMethods", eth)  # constructor_clients made a URL or Web3 a client
        receipt = yield from _EthMethods.send_transaction.flow(
            client, deployer, to=deployment.factory, data=factory_data
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
        account._assume_new(deployed=True)
        return account, receipt

    def _assume_new(self, *, deployed: bool) -> None:
        """Record a state known without asking: an account created (or to be created) just now."""
        self._deployed = deployed
        self._nonces = {}
        self._nonces_zero = True

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

    # -- state -----------------------------------------------------------------------------------------------

    @flow_method
    def get_nonce(self, key: int = 0) -> Flow[int]:
        """The next EntryPoint nonce for ``key`` as the chain has it (passkey operations use key 0)."""
        entry_point = _EntryPointMethods(ETH_FLOWS, self.deployment.entry_point)
        return (yield from _EntryPointMethods.get_nonce.flow(entry_point, self.address, key))

    def _known_state(self, nonce_key: int) -> tuple[bool, int] | None:
        if self._deployed is None or (self._deployed is False and self.factory_data is None):
            return None  # unknown, or the caller dropped the factory data because the account exists now
        if nonce_key in self._nonces:
            return self._deployed, self._nonces[nonce_key]
        if self._nonces_zero:
            return self._deployed, nonce_key << _SEQUENCE_BITS
        return None

    def _state_flow(self, nonce_key: int) -> Generator[Any, Any, tuple[bool, int, bool]]:
        """``(deployed, nonce, read_now)``: from the cache, else from the chain (one request)."""
        known = self._known_state(nonce_key)
        if known is not None:
            return known[0], known[1], False
        # One JSON-RPC batch: whether the account has code, and its EntryPoint nonce.
        code, nonce = yield from gather(
            _EthMethods.get_code.flow(ETH_FLOWS, self.address),
            _EntryPointMethods.get_nonce.flow(self.entry_point, self.address, nonce_key),
        )
        deployed, nonce = bool(code), int(nonce)
        self._remember_state(nonce_key, deployed, nonce)
        return deployed, nonce, True

    def _remember_state(self, nonce_key: int, deployed: bool, nonce: int) -> None:
        if deployed is not self._deployed:
            self._deployed = deployed
            self._nonces = {}
            self._nonces_zero = not deployed  # no code, no validation: no key can have moved
        self._nonces[nonce_key] = nonce

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

    def _estimate_flow(
        self, op: UserOperation, stub: bytes | None = None
    ) -> Generator[Any, Any, GasEstimate]:
        signed = op.replace(signature=self.stub_signature() if stub is None else stub)
        estimate: GasEstimate = yield from _via_bundler(
            _BundlerMethods.estimate_user_operation_gas.flow(self.bundler, signed)
        )
        return estimate

    def _receipt_flow(
        self, user_op_hash: bytes, signed: UserOperation, timeout: float
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Wait for a sent op's receipt; given the signed op, the wait's errors carry it with the hash."""
        wait = _BundlerMethods.wait_for_user_operation_receipt.flow(
            self.bundler, user_op_hash, timeout=timeout, poll_interval=_POLL_INTERVAL, op=signed
        )
        try:
            receipt: UserOperationReceipt = yield from _via_bundler(wait)
        except UserOperationReverted:
            self.factory_data = None  # included: the account exists even though its call reverted
            raise
        except UserOperationOutcomeUnknown:
            self.forget_state()  # pooled, dropped or included (timeout, unreadable receipt): ask the chain
            raise
        self.factory_data = None  # created now; later ops must not carry initCode
        return receipt

    # -- UserOperations --------------------------------------------------------------------------------------

    @flow_method
    def build_user_operation(
        self,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        nonce_key: int | None = None,
        gas_price: GasPrice | None = None,
        gas: Mapping[str, int] | None = None,
        verification_margin: float = 1.2,
        paymaster: str | PaymasterClient | AsyncPaymasterClient | None = None,
        paymaster_data: bytes = b"",
        paymaster_context: Mapping[str, Any] | None = None,
    ) -> Generator[Any, Any, UserOperation]:
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
            nonce_key: The 2D nonce key (192 bits); default the account's ``nonce_key`` (0 unless given).
                Operations under different keys have independent sequences: senders that each use their
                own key (one per worker process) never take each other's nonce.
            gas_price: Fees; default the bundler's ``standard`` ``pimlico_getUserOperationGasPrice``.
            gas: Explicit ``call_gas_limit`` / ``verification_gas_limit`` / ``pre_verification_gas``; when
                given, no estimation is made (so a stale cached nonce is only found by the send, after
                signing: call :meth:`forget_state` first if another sender may have used the account).
            verification_margin: Factor on the estimated verification gas.
            paymaster: A paymaster paying for the operation (its gas limits come from the estimate, or from
                ``gas`` as ``paymaster_verification_gas_limit`` / ``paymaster_post_op_gas_limit``), or an
                ERC-7677 paymaster service client that fills the paymaster fields (stub data before the
                estimate, final data after it; docs/sponsorship.md). Default: the account's ``paymaster``
                (a client, a fixed ``PaymasterParams``, or ``None``).
            paymaster_data: Extra data for a fixed paymaster.
            paymaster_context: The ERC-7677 context for the service (default the client's).

        Returns:
            The UserOperation with gas and fees filled and an empty signature.

        Raises:
            UserOperationRejected: The bundler's simulation failed (typed by AA code).
            InvalidUserOperation (``INVALID_EXECUTE_CALLDATA``), InvalidEncoding (``INVALID_ADDRESS``): If a
                call is malformed.
            ConfigurationError (``SIGNER_CONFIGURATION``): If the account has no code and no factory data.
            SponsorshipRefused: The paymaster service (or its client's policy) refused; nothing was signed.
        """
        call_data = _call_data(calls, batch)
        sponsorship, paymaster, paymaster_data = self._paymaster_choice(
            paymaster, paymaster_data, paymaster_context
        )
        nonce_key = self.nonce_key if nonce_key is None else nonce_key
        deployed, nonce, read_now = yield from self._state_flow(nonce_key)
        if gas_price is None:
            prices_flow = _BundlerMethods.get_user_operation_gas_price.flow(self.bundler)
            gas_price = (yield from _via_bundler(prices_flow)).standard
        op = self._draft(deployed, nonce, call_data, gas_price, paymaster, paymaster_data)
        op = yield from self._paymaster_stub_flow(sponsorship, op)
        if gas is not None:
            return (
                yield from self._paymaster_final_flow(sponsorship, op.replace(**dict(gas)), estimated=False)
            )
        try:
            estimate = yield from self._estimate_flow(op)
        except UserOperationRejected as exc:
            # AA25: the nonce is not the next one; AA10: initCode for an account that already exists.
            if read_now or exc.aa_code not in ("AA25", "AA10"):
                raise
            # Someone else moved the account since this object last looked: read it again and estimate once
            # more. Nothing was signed yet, so the retry costs no passkey prompt.
            self.forget_state()
            deployed, nonce, _ = yield from self._state_flow(nonce_key)
            op = self._draft(deployed, nonce, call_data, gas_price, paymaster, paymaster_data)
            op = yield from self._paymaster_stub_flow(sponsorship, op)
            estimate = yield from self._estimate_flow(op)
        op = estimate.apply(op, verification_margin=verification_margin)
        return (yield from self._paymaster_final_flow(sponsorship, op, estimated=True))

    @flow_method
    def sign_user_operation(
        self, op: UserOperation, *, fee_ceiling: int | None = None, cost_ceiling: int | None = None
    ) -> Generator[Any, Any, UserOperation]:
        """``op`` with its passkey signature (``validator ‖ fat`` over the userOpHash).

        ``fee_ceiling`` / ``cost_ceiling`` replace the account's for this op (docs/accounts.md, "Fee
        ceiling").

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If ``op.sender`` is another account.
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): The op's fees are over the ceiling;
                the passkey is not asked.
            AssertionRejected: If the assertion would fail the validator's rules.
        """
        if op.sender != self.address:
            raise StateError(
                f"user operation sender is {op.sender}, this account is {self.address}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        self._check_user_operation_fees(op, fee_ceiling, cost_ceiling)
        signature = yield from self.signer.sign_user_operation(op, entry_point=self.deployment.entry_point)
        return op.replace(signature=signature)

    @flow_method
    def send_user_operation(self, op: UserOperation) -> Generator[Any, Any, HexBytes]:
        """Submit a signed ``op`` to the bundler; returns its userOpHash.

        This is also the re-send after :class:`~sso_signer.erc4337.UserOperationOutcomeUnknown`: pass its
        ``user_operation`` unchanged (no new passkey signature); "already known" returns the same hash. An
        accepted op moves this object's nonce for its key; a refusal or a lost answer makes it forget the
        cached state.

        Raises:
            UserOperationRejected: The bundler refused it (typed by AA code).
            UserOperationOutcomeUnknown: The answer was lost; the bundler may hold the op.
        """
        bundler = self.bundler
        flow = _BundlerMethods.send_user_operation.flow(bundler, op, chain_id=self.deployment.chain_id)
        try:
            user_op_hash: HexBytes = yield from _via_bundler(flow)
        except SsoSignerError:
            # Refused, or the answer was lost (UserOperationOutcomeUnknown): whether this nonce is used now
            # is not known here, so the next operation reads the chain.
            self.forget_state()
            raise
        if op.sender == self.address:
            self._deployed = True  # it exists, or the accepted op's initCode creates it before any later op
            self._nonces[op.nonce >> _SEQUENCE_BITS] = op.nonce + 1
        return user_op_hash

    @flow_method
    def send_calls(
        self,
        /,
        calls: Sequence[Call | tuple[str, int, bytes]],
        *,
        batch: bool | None = None,
        timeout: float = 60.0,
        fee_ceiling: int | None = None,
        cost_ceiling: int | None = None,
        **build: Any,
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Build, estimate, sign, send and wait: the account runs ``calls`` in one UserOperation.

        Args:
            calls: See :meth:`build_user_operation`.
            batch: See :meth:`build_user_operation`.
            timeout: Seconds to wait for inclusion.
            fee_ceiling: The highest ``maxFeePerGas`` (wei) to sign; default the account's ``fee_ceiling``.
            cost_ceiling: The most (wei) the op's gas × ``maxFeePerGas`` may reach; default the account's.
            build: More :meth:`build_user_operation` options.

        Returns:
            The bundler's receipt (``success`` is checked).

        Raises:
            InsufficientBalance: The calls send more wei than the account holds (a paymaster pays the gas,
                never the value), found when the bundler's estimate fails (or before building, with ``gas``
                given); nothing was signed or sent.
            UserOperationRejected: Simulation or submission failed (typed by AA code); nothing was sent.
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): The bundler's fees or gas are over a
                ceiling; nothing was signed.
            UserOperationReverted: Included, but a call reverted (carries the hash and the signed op).
            UserOperationOutcomeUnknown: Sent, then the outcome could not be learnt: the answer to the send
                was lost, or the receipt could not be read, or :class:`UserOperationTimeout` (not included in
                time). It holds the userOpHash and the signed op: poll the hash, or re-send the op with
                :meth:`send_user_operation`; never sign again. All three are ``AfterSendError``.
        """
        value = sum(_as_call(call).value for call in calls)
        nonce_key = build.get("nonce_key")
        nonce_key = self.nonce_key if nonce_key is None else nonce_key
        if value and build.get("gas") is not None:
            # No estimate will run the calls before the passkey signs: the balance is read first.
            yield from self._value_covered_flow(value, nonce_key)
        try:
            op = yield from _Erc4337Methods.build_user_operation.flow(self, calls, batch=batch, **build)
        except UserOperationRejected:
            # The estimate ran the calls and failed. A value above the balance makes it fail with a bare
            # FailedCall(): read the balance only now, so that a send that succeeds costs no extra request.
            yield from self._value_covered_flow(value, nonce_key)
            raise
        signed = yield from _Erc4337Methods.sign_user_operation.flow(
            self, op, fee_ceiling=fee_ceiling, cost_ceiling=cost_ceiling
        )
        user_op_hash = yield from _Erc4337Methods.send_user_operation.flow(self, signed)
        return (yield from self._receipt_flow(user_op_hash, signed, timeout))

    def _value_covered_flow(self, value: int, nonce_key: int) -> Generator[Any, Any, None]:
        """Refuse a value the account does not hold (the bundler's simulation would only say FailedCall())."""
        if value == 0:
            return  # nothing to pay from the balance: no request
        balance_flow = _EthMethods.get_balance.flow(ETH_FLOWS, self.address)
        if self._known_state(nonce_key) is None:
            # The build would read the account's state next: one batch reads it with the balance.
            code, nonce, balance = yield from gather(
                _EthMethods.get_code.flow(ETH_FLOWS, self.address),
                _EntryPointMethods.get_nonce.flow(self.entry_point, self.address, nonce_key),
                balance_flow,
            )
            self._remember_state(nonce_key, bool(code), int(nonce))
        else:
            balance = yield from balance_flow
        if value > balance:
            raise InsufficientBalance(
                f"account {self.address} holds {balance} wei but the calls send {value} wei (the value comes "
                f"from the account even when a paymaster pays the gas); fund it with at least "
                f"{value - balance} wei more; nothing was signed or sent",
                account=self.address,
                required=value,
                available=balance,
            )

    @flow_method
    def send(
        self, /, to: str, value: int = 0, data: bytes = b"", *, timeout: float = 60.0, **build: Any
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Run one call from the account (see :meth:`send_calls`)."""
        return (
            yield from _Erc4337Methods.send_calls.flow(
                self, [Call(to, value, data)], timeout=timeout, **build
            )
        )

    # -- passkeys ------------------------------------------------------------------------------------------

    @flow_method
    def remaining_access(self, credential_id: bytes, origin: str) -> Flow[RemainingAccess]:
        """What would still control the account once the passkey ``(origin, credential_id)`` is removed."""
        validator = self.deployment.webauthn_validator
        return (yield from msa_remaining_access_flow(validator, self.address, credential_id, origin))

    @flow_method
    def add_passkey(
        self,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        *,
        timeout: float = 60.0,
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Register another passkey (``addValidationKey`` on the WebAuthn validator, in a UserOperation).

        Raises:
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``):
                Checked before signing.
            UserOperationRejected: If the validator refuses it (e.g. the key is already registered).
        """
        data = add_passkey_calldata(
            credential_id, public_key, origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
        )
        call = Call(self.deployment.webauthn_validator, 0, data)
        return (yield from _Erc4337Methods.send_calls.flow(self, [call], timeout=timeout))

    @flow_method
    def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> Generator[Any, Any, UserOperationReceipt]:
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
        access = yield from _Erc4337Methods.remaining_access.flow(self, credential_id, origin)
        if access.registered is False:
            raise NotFound(
                f"passkey {bytes(credential_id).hex()} at {origin} is not registered to {access.account}",
                rule=ErrorCode.PASSKEY_NOT_OWNED_BY_ACCOUNT,
            )
        check_passkey_removal(access, credential_id=credential_id, origin=origin, force=force)
        call = Call(self.deployment.webauthn_validator, 0, remove_passkey_calldata(credential_id, origin))
        return (yield from _Erc4337Methods.send_calls.flow(self, [call], timeout=timeout))


class Erc4337Account(_Erc4337Methods[EthClient, BundlerClient], SyncShell):
    """A passkey-owned ERC-4337 ``ModularSmartAccount`` with blocking I/O (see :class:`AsyncErc4337Account`).

    Implements :class:`~sso_signer.accounts.PasskeyAccount`; adds the UserOperation steps
    (:meth:`build_user_operation`, :meth:`sign_user_operation`, :meth:`send_user_operation`), nonce keys and
    :meth:`forget_state`. Build it with :meth:`counterfactual` (created by its first UserOperation),
    :meth:`deploy` (created now by a direct factory transaction) or :meth:`at` (already exists).

    Args:
        address: The account address.
        deployment: Where the contracts live.
        eth: A client of the chain.
        bundler: A bundler client for the deployment's EntryPoint.
        credential: The passkey (a ``HeadlessPasskey`` or a ``PasskeyCredential`` with a provider).
        provider: Where assertions come from (an :class:`~sso_signer.accounts.AssertionProvider`).
        factory_data: ``deployAccount`` calldata for the initCode while the account is not deployed.
        run_preflight: Check each signature against the validator's rules before sending it.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``address`` is malformed.
        ConfigurationError (``SIGNER_CONFIGURATION``): If the bundler serves another EntryPoint than the
            deployment's.
    """

    _entry_point_type = EntryPoint
    entry_point: EntryPoint
    eth: EthClient
    bundler: BundlerClient

    def answer(self, step: Any) -> Any:
        if isinstance(step, AssertionRequest):
            return ask(self.provider, step)
        if isinstance(step, SessionSignRequest):
            return step.answer()
        if isinstance(step, _Bundler):
            return self.bundler.answer(step.step)
        if isinstance(step, Paymaster):
            return step.client.answer(step.step)
        return self.eth.answer(step)


class AsyncErc4337Account(_Erc4337Methods[AsyncEthClient, AsyncBundlerClient], AsyncShell):
    """The asyncio twin of :class:`Erc4337Account` (same arguments with ``AsyncEthClient`` and
    ``AsyncBundlerClient``, same methods as coroutines, errors and state tracking); an async assertion
    provider is awaited, a sync one runs in a worker thread."""

    _entry_point_type = AsyncEntryPoint
    entry_point: AsyncEntryPoint
    eth: AsyncEthClient
    bundler: AsyncBundlerClient

    async def answer(self, step: Any) -> Any:
        if isinstance(step, AssertionRequest):
            return await ask_async(self.provider, step)
        if isinstance(step, SessionSignRequest):
            return await step.answer_async()
        if isinstance(step, _Bundler):
            return await self.bundler.answer(step.step)
        if isinstance(step, Paymaster):
            return await step.client.answer(step.step)
        return await self.eth.answer(step)
