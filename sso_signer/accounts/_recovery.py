"""Guardian recovery of ERC-4337 accounts (the ``GuardianExecutor`` module): both sides, as flows.

* The account's side (:class:`_RecoveryMethods`, mixed into the ERC-4337 account classes): propose and
  remove guardians, list them, read and discard a pending recovery. Each change is a passkey-signed
  UserOperation; proposing the first guardian also installs the module.
* The guardian's side (:class:`Guardian` / :class:`AsyncGuardian`): an EOA (a dapp backend's key) accepts a
  guardianship, asks for a new passkey when the user lost theirs, and finalizes it after the delay.

Refusals are found before anything is signed: the module call is simulated (``eth_call`` from the account,
or the guardian transaction's gas estimate) and the module's custom error becomes a typed error with its rule
(``ErrorCode.RECOVERY_TOO_EARLY``, ``NOT_A_GUARDIAN``, ...). After a transaction or UserOperation has left,
the errors are the send paths' own (``AfterSendError`` family, carrying the hash).
"""

from __future__ import annotations

import datetime
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, NoReturn

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount

from sso_signer._shell import AsyncShell, SyncShell, flow_method
from sso_signer.accounts._deployment import MsaDeployment, required_contract
from sso_signer.accounts._era_guardian import _EraGuardianMethods
from sso_signer.erc4337 import Call, UserOperationReceipt
from sso_signer.exceptions import (
    AlreadyExists,
    ConfigurationError,
    ErrorCode,
    ExecutionReverted,
    InvalidRpcParams,
    NotFound,
    SsoEncodingError,
    SsoSignerError,
    StateError,
)
from sso_signer.rpc import AsyncEthClient, EthClient, Receipt
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow, gather
from sso_signer.rpc._types import parse_quantity
from sso_signer.sso._guardian import GuardianExecutor, GuardianStatus, RecoveryRequest, RecoveryType
from sso_signer.sso._signature import abi_call, checksum_address

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

__all__ = ["AsyncGuardian", "Guardian"]


def _executor(deployment: MsaDeployment) -> str:
    return required_contract(
        deployment.guardian_executor,
        "the deployment has no GuardianExecutor (guardian_executor / guardianExecutor in the deployment "
        "JSON): guardian recovery needs the module deployed",
    )


def _when(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC (block timestamp {timestamp})"


def _chain_time_flow() -> Flow[int]:
    """The timestamp the next block will have at least: the pending block's where the node has one."""
    try:
        block = yield from _EthMethods.get_block.flow(ETH_FLOWS, "pending")
    except SsoSignerError:
        block = None
    if block is None or "timestamp" not in block:
        block = yield from _EthMethods.get_block.flow(ETH_FLOWS, "latest")
    if block is None:
        return 0
    return parse_quantity(block.get("timestamp", "0x0"), "block.timestamp")


def _raise_refusal_flow(exc: ExecutionReverted, account: str) -> Flow[NoReturn]:
    """Raise the typed error for a ``GuardianExecutor`` revert (``exc`` itself when the revert is not the
    module's). A ``RecoveryTimestampInvalid`` is told apart (too early or expired) from the chain's clock."""
    refusal = yield from _refusal_flow(exc, account)
    if refusal is exc:
        raise exc
    raise refusal from exc


def _refusal_flow(exc: ExecutionReverted, account: str) -> Flow[SsoSignerError]:
    raw = exc.revert.raw if exc.revert is not None else b""
    try:
        error = GuardianExecutor.decode_error(raw)
    except SsoEncodingError:
        error = None
    if error is None:
        return exc
    name, args = error.name, error.args
    if name == "RecoveryTimestampInvalid":
        request = RecoveryRequest(RecoveryType.NONE, b"", int(args[0]))  # type: ignore[call-overload]
        now = yield from _chain_time_flow()
        if now >= request.expires_at:
            return StateError(
                f"the recovery of {account} started at {_when(request.timestamp)} expired at "
                f"{_when(request.expires_at)}: a guardian must start a new one",
                rule=ErrorCode.RECOVERY_EXPIRED,
            )
        wait = max(request.earliest_finalize - now, 0)
        return StateError(
            f"the recovery of {account} cannot be finalized yet: the 24 h delay ends after "
            f"{_when(request.earliest_finalize - 1)} (about {wait} s from now); finalize later, before "
            f"{_when(request.expires_at)}",
            rule=ErrorCode.RECOVERY_TOO_EARLY,
        )
    refusals: dict[str, tuple[type[SsoSignerError], ErrorCode, str]] = {
        "NotInitialized": (
            NotFound,
            ErrorCode.GUARDIAN_MODULE_NOT_INSTALLED,
            f"{account} has not installed the GuardianExecutor module: the account proposes a guardian "
            "first (Erc4337Account.propose_guardian installs it)",
        ),
        "GuardianInvalidAddress": (
            SsoEncodingError,
            ErrorCode.INVALID_GUARDIAN,
            f"guardian {args[0] if args else ''}: the zero address and the account itself are refused",
        ),
        "GuardianAlreadyPresent": (
            AlreadyExists,
            ErrorCode.GUARDIAN_ALREADY_PRESENT,
            f"{args[1] if len(args) > 1 else 'the guardian'} is already a guardian of {account}",
        ),
        "GuardianNotFound": (
            NotFound,
            ErrorCode.NOT_A_GUARDIAN,
            f"{args[1] if len(args) > 1 else 'the caller'} is not a guardian of {account} (the account "
            "proposes guardians: Erc4337Account.propose_guardian)",
        ),
        "GuardianNotActive": (
            StateError,
            ErrorCode.GUARDIAN_NOT_ACTIVE,
            f"{args[1] if len(args) > 1 else 'the guardian'} was proposed by {account} but has not accepted "
            "yet (Guardian.accept)",
        ),
        "ValidatorNotInstalled": (
            NotFound,
            ErrorCode.RECOVERY_VALIDATOR_NOT_INSTALLED,
            f"{account} has not installed the validator {args[1] if len(args) > 1 else ''} the recovery "
            "would add a key to",
        ),
        "NoRecoveryInProgress": (
            NotFound,
            ErrorCode.NO_PENDING_RECOVERY,
            f"{account} has no pending recovery",
        ),
        "RecoveryInProgress": (
            AlreadyExists,
            ErrorCode.RECOVERY_IN_PROGRESS,
            f"a recovery of {account} is already pending (finalize it, or the account discards it; a new one "
            "may start 72 h after it began)",
        ),
        "RecoveryDataMismatch": (
            StateError,
            ErrorCode.RECOVERY_DATA_MISMATCH,
            f"the recovery data is not what the pending recovery of {account} was started with",
        ),
        "EmptyRecoveryData": (
            SsoEncodingError,
            ErrorCode.SSO_ENCODING,
            f"the recovery data for {account} is empty",
        ),
    }
    if name == "UnsupportedRecoveryType" and args and args[0] != 0:
        return exc  # not reachable through this API: only NONE (no request) is refused this way
    cls, rule, message = refusals["NoRecoveryInProgress" if name == "UnsupportedRecoveryType" else name]
    return cls(f"{message} (GuardianExecutor: {name})", rule=rule)


def _simulate_flow(executor: str, sender: str, data: bytes, account: str) -> Flow[None]:
    """``eth_call`` the module as ``sender`` would call it; a module refusal raises its typed error."""
    try:
        yield from _EthMethods.call.flow(ETH_FLOWS, {"from": sender, "to": executor, "data": data})
    except ExecutionReverted as exc:
        yield from _raise_refusal_flow(exc, account)


def _installed_flow(account: str, executor: str) -> Flow[bool]:
    """Whether ``account`` has the executor installed (an account without code has nothing installed)."""
    data = abi_call(
        "isModuleInstalled", ["uint256", "address", "bytes"], [GuardianExecutor.MODULE_TYPE, executor, b""]
    )
    try:
        answer = yield from _EthMethods.call.flow(ETH_FLOWS, {"to": account, "data": data})
    except ExecutionReverted:
        return False
    try:
        (installed,) = abi_decode(["bool"], answer)
    except (DecodingError, ValueError, OverflowError):
        return False  # no code (empty answer) or not an ERC-7579 account
    return bool(installed)


def _created_with(factory_data: bytes | None, module: str) -> bool:
    """Whether the initCode of an account not created yet lists ``module`` among its initial modules.

    The init data ABI-encodes each module address as a word of its own; an address word of the executor
    anywhere else in ``deployAccount`` calldata is not a thing the factory takes.
    """
    return bool(factory_data) and bytes(12) + bytes.fromhex(module[2:]) in bytes(factory_data or b"")


def _view_flow(executor: str, data: bytes) -> Flow[bytes]:
    return (yield from _EthMethods.call.flow(ETH_FLOWS, {"to": executor, "data": data}))


def _pending_flow(executor: str, account: str) -> Flow[RecoveryRequest]:
    answer = yield from _view_flow(executor, GuardianExecutor.pending_recovery(account))
    return GuardianExecutor.decode_pending_recovery(answer)


def _guardians_flow(executor: str, account: str) -> Flow[dict[str, GuardianStatus]]:
    addresses = GuardianExecutor.decode_guardians(
        (yield from _view_flow(executor, GuardianExecutor.guardians_for(account)))
    )
    answers = yield from gather(
        *(_view_flow(executor, GuardianExecutor.guardian_status_for(account, g)) for g in addresses)
    )
    return {g: GuardianExecutor.decode_guardian_status(a) for g, a in zip(addresses, answers, strict=True)}


def _recovery_data_flow(executor: str, account: str, request: RecoveryRequest) -> Flow[bytes]:
    """The data the pending request was started with, from its ``RecoveryInitiated`` log (newest first).

    Raises:
        NotFound: If no log of the module carries it (the node prunes or limits logs: pass the data).
    """
    topic = bytes(12) + bytes.fromhex(account[2:])
    logs = yield from _EthMethods.get_logs.flow(
        ETH_FLOWS, executor, [GuardianExecutor.EVENT_TOPICS["RecoveryInitiated"], topic]
    )
    for log in reversed(logs):
        try:
            event = GuardianExecutor.decode_event(log.topics, log.data)
        except SsoEncodingError:
            continue
        if event.recovery_data is not None and request.matches(event.recovery_data):
            return event.recovery_data
    raise NotFound(
        f"no RecoveryInitiated log of {executor} carries the data of the pending recovery of {account}: "
        "pass the recovery data (GuardianExecutor.passkey_recovery_data of the new passkey)"
    )


# --- the account's side ---------------------------------------------------------------------------------


class _RecoveryMethods:
    """Guardian recovery for the ERC-4337 account: each change is a passkey-signed UserOperation."""

    address: str  # given by AccountMethods, beside this mixin in the account's bases
    deployment: MsaDeployment
    factory_data: bytes | None

    def _send_calls_flow(
        self, calls: list[Call], timeout: float
    ) -> Generator[Any, Any, UserOperationReceipt]:
        # The account class's own send_calls (this mixin sits below it in the account's bases).
        send_calls: Any = type(self).send_calls  # type: ignore[attr-defined]
        receipt: UserOperationReceipt = yield from send_calls.flow(self, calls, timeout=timeout)
        return receipt

    @flow_method
    def guardian_module_installed(self) -> Flow[bool]:
        """Whether the account has the deployment's ``GuardianExecutor`` installed (False while undeployed).

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the deployment has no GuardianExecutor.
        """
        return (yield from _installed_flow(self.address, _executor(self.deployment)))

    @flow_method
    def propose_guardian(
        self, guardian: str, *, timeout: float = 60.0
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Propose ``guardian`` (inactive until it accepts: :meth:`Guardian.accept`), in one UserOperation.

        The module is installed in the same UserOperation when the account does not have it yet (an account
        not created yet is created by it too).

        Args:
            guardian: The guardian's address (an EOA, e.g. the dapp backend's key, or a contract).
            timeout: Seconds to wait for inclusion.

        Returns:
            The UserOperation's receipt.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``guardian`` is not an address.
            SsoEncodingError (``INVALID_GUARDIAN``): If it is the zero address or the account itself.
            AlreadyExists (``GUARDIAN_ALREADY_PRESENT``): If it is already proposed or active.
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the deployment has no GuardianExecutor.
            UserOperationRejected, AfterSendError: From :meth:`send_calls`.
        """
        executor = _executor(self.deployment)
        address = checksum_address(guardian, field="guardian")
        if address == self.address:
            raise SsoEncodingError(
                f"guardian {address}: an account cannot be its own guardian (GuardianInvalidAddress)",
                rule=ErrorCode.INVALID_GUARDIAN,
            )
        propose = GuardianExecutor.propose_guardian(address)
        calls = [Call(executor, 0, propose)]
        if (yield from _installed_flow(self.address, executor)):
            yield from _simulate_flow(executor, self.address, propose, self.address)
        elif not _created_with(self.factory_data, executor):
            calls.insert(0, Call(self.address, 0, GuardianExecutor.install(executor)))
        return (yield from self._send_calls_flow(calls, timeout))

    @flow_method
    def remove_guardian(
        self, guardian: str, *, timeout: float = 60.0
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Remove a proposed or active guardian; removing an active one also discards a pending recovery.

        Raises:
            NotFound (``NOT_A_GUARDIAN``): If ``guardian`` is not a guardian of the account (nothing signed).
            UserOperationRejected, AfterSendError: From :meth:`send_calls`.
        """
        executor = _executor(self.deployment)
        remove = GuardianExecutor.remove_guardian(guardian)
        yield from _simulate_flow(executor, self.address, remove, self.address)
        return (yield from self._send_calls_flow([Call(executor, 0, remove)], timeout))

    @flow_method
    def list_guardians(self) -> Flow[dict[str, GuardianStatus]]:
        """The account's guardians, proposed and active, with their status (in the module's order)."""
        return (yield from _guardians_flow(_executor(self.deployment), self.address))

    @flow_method
    def pending_recovery(self) -> Flow[RecoveryRequest]:
        """The pending recovery request (``exists`` is False when there is none; see
        :class:`~sso_signer.sso.RecoveryRequest` for its window)."""
        return (yield from _pending_flow(_executor(self.deployment), self.address))

    @flow_method
    def discard_recovery(self, *, timeout: float = 60.0) -> Generator[Any, Any, UserOperationReceipt]:
        """Discard the pending recovery (the passkey was not lost after all), in a UserOperation.

        Raises:
            NotFound (``NO_PENDING_RECOVERY``): If there is none (nothing is signed).
            UserOperationRejected, AfterSendError: From :meth:`send_calls`.
        """
        executor = _executor(self.deployment)
        if not (yield from _pending_flow(executor, self.address)).exists:
            raise NotFound(f"{self.address} has no pending recovery", rule=ErrorCode.NO_PENDING_RECOVERY)
        call = Call(executor, 0, GuardianExecutor.discard_recovery())
        return (yield from self._send_calls_flow([call], timeout))


# --- the guardian's side --------------------------------------------------------------------------------


class _GuardianMethods:
    """A guardian EOA's side of the recovery, written once for :class:`Guardian` and its async twin."""

    eth: Any
    signer: LocalAccount
    _deployment: MsaDeployment | None

    def __init__(self, eth: Any, signer: LocalAccount, *, deployment: MsaDeployment | None = None) -> None:
        if not isinstance(signer, LocalAccount):
            raise InvalidRpcParams("signer: expected an eth_account LocalAccount")
        self.eth = eth
        self.signer = signer
        self._deployment = deployment
        if deployment is not None:
            _executor(deployment)  # a deployment given must have the module: refused here, not at first use

    @property
    def executor(self) -> str:
        """The ``GuardianExecutor`` of the ERC-4337 deployment (an Era-only guardian has none).

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If no deployment (or one without it) was given.
        """
        if self._deployment is None:
            raise ConfigurationError(
                "this guardian was made without an MsaDeployment: ERC-4337 recovery needs "
                "Guardian(..., deployment=...) (the era_* methods take the EraNetwork instead)",
                rule=ErrorCode.MISSING_CONTRACT_ADDRESS,
            )
        return _executor(self._deployment)

    @property
    def address(self) -> str:
        """The guardian's address (checksummed)."""
        return checksum_address(self.signer.address)

    def __repr__(self) -> str:
        where = f"executor {self.executor}" if self._deployment is not None else "Era"
        return f"{type(self).__name__}({self.address}, {where})"

    def _send_flow(self, account: str, data: bytes, timeout: float) -> Flow[Receipt]:
        try:
            receipt: Receipt = yield from _EthMethods.send_transaction.flow(
                ETH_FLOWS, self.signer, to=self.executor, data=data, timeout=timeout
            )
        except ExecutionReverted as exc:  # the gas estimate: nothing was sent
            yield from _raise_refusal_flow(exc, account)
        return receipt

    @flow_method
    def status(self, account: str) -> Flow[GuardianStatus]:
        """Whether ``account`` proposed this guardian, and whether it accepted."""
        account = checksum_address(account, field="account")
        data = GuardianExecutor.guardian_status_for(account, self.address)
        return GuardianExecutor.decode_guardian_status((yield from _view_flow(self.executor, data)))

    @flow_method
    def accept(self, account: str, *, timeout: float = 120.0) -> Flow[Receipt | None]:
        """Accept the guardianship ``account`` proposed (``acceptGuardian``).

        Returns:
            The receipt, or None when this guardian is already active (nothing is sent).

        Raises:
            NotFound (``NOT_A_GUARDIAN``): If ``account`` has not proposed this guardian.
            NotFound (``GUARDIAN_MODULE_NOT_INSTALLED``): If ``account`` has not installed the module.
            AfterSendError: After the transaction left (it carries the hash).
        """
        account = checksum_address(account, field="account")
        if (yield from _GuardianMethods.status.flow(self, account)).is_active:
            return None
        return (yield from self._send_flow(account, GuardianExecutor.accept_guardian(account), timeout))

    @flow_method
    def initiate_recovery(
        self,
        account: str,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        *,
        timeout: float = 120.0,
    ) -> Flow[Receipt]:
        """Ask that the passkey ``(credential_id, public_key, origin)`` be added to ``account`` after 24 h.

        The new passkey is the user's new key (the validator's ``addValidationKey`` arguments are the
        recovery data). Anyone may then finalize it strictly after 24 h and strictly before 72 h
        (:meth:`finalize_recovery`); meanwhile the account's own passkey may discard it.

        Returns:
            The receipt.

        Raises:
            NotFound (``NOT_A_GUARDIAN``), StateError (``GUARDIAN_NOT_ACTIVE``): Not this account's active
                guardian.
            AlreadyExists (``RECOVERY_IN_PROGRESS``): A request younger than 72 h is pending.
            NotFound (``GUARDIAN_MODULE_NOT_INSTALLED``, ``RECOVERY_VALIDATOR_NOT_INSTALLED``): The account
                lacks the module or the WebAuthn validator.
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): The
                validator would refuse the key.
            AfterSendError: After the transaction left.
        """
        account = checksum_address(account, field="account")
        data = GuardianExecutor.passkey_recovery_data(credential_id, public_key, origin)
        initialize = GuardianExecutor.initialize_recovery(account, RecoveryType.PASSKEY, data)
        return (yield from self._send_flow(account, initialize, timeout))

    @flow_method
    def pending_recovery(self, account: str) -> Flow[RecoveryRequest]:
        """``account``'s pending recovery request (``exists`` is False when there is none)."""
        return (yield from _pending_flow(self.executor, checksum_address(account, field="account")))

    @flow_method
    def finalize_recovery(
        self, account: str, data: bytes | None = None, *, timeout: float = 120.0
    ) -> Flow[Receipt]:
        """Apply ``account``'s pending recovery: the account adds the new key (anyone may send this).

        Args:
            account: The account being recovered.
            data: The recovery data the request was started with; default: read from the module's
                ``RecoveryInitiated`` log.
            timeout: Seconds to wait for the receipt.

        Returns:
            The receipt.

        Raises:
            NotFound (``NO_PENDING_RECOVERY``): There is no pending request (nothing is sent).
            StateError (``RECOVERY_TOO_EARLY`` / ``RECOVERY_EXPIRED``): Outside the window (24 h, 72 h).
            StateError (``RECOVERY_DATA_MISMATCH``): ``data`` is not the request's.
            NotFound: ``data`` not given and no log carries it.
            AfterSendError: After the transaction left.
        """
        account = checksum_address(account, field="account")
        request = yield from _pending_flow(self.executor, account)
        if not request.exists:
            raise NotFound(f"{account} has no pending recovery", rule=ErrorCode.NO_PENDING_RECOVERY)
        if data is None:
            data = yield from _recovery_data_flow(self.executor, account, request)
        finalize = GuardianExecutor.finalize_recovery(account, data)
        return (yield from self._send_flow(account, finalize, timeout))


class Guardian(_GuardianMethods, _EraGuardianMethods, SyncShell):
    """A guardian of ERC-4337 passkey accounts: an EOA (e.g. a dapp backend's key) that may recover them.

    The account proposes it (:meth:`Erc4337Account.propose_guardian`), it accepts (:meth:`accept`); when the
    user loses the passkey it asks for a new one (:meth:`initiate_recovery`) and, strictly after 24 h,
    finalizes it (:meth:`finalize_recovery`). Blocking I/O; :class:`AsyncGuardian` is the asyncio twin.

    Era accounts are recovered with the ``era_*`` methods (:meth:`era_accept`, :meth:`era_initiate_recovery`,
    :meth:`era_finish_recovery`), which take the account's ``EraNetwork``.

    Args:
        eth: A client of the chain.
        signer: The guardian's key (it signs and pays for its transactions; never shown in ``repr``).
        deployment: Where the ``GuardianExecutor`` lives (may be omitted for an Era-only guardian).

    Raises:
        ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the deployment has no GuardianExecutor.
    """

    eth: EthClient

    def __init__(
        self, eth: EthClient, signer: LocalAccount, *, deployment: MsaDeployment | None = None
    ) -> None:
        super().__init__(eth, signer, deployment=deployment)

    def answer(self, step: Any) -> Any:
        return self.eth.answer(step)


class AsyncGuardian(_GuardianMethods, _EraGuardianMethods, AsyncShell):
    """The asyncio twin of :class:`Guardian` (an ``AsyncEthClient``; the same methods, awaitable)."""

    eth: AsyncEthClient

    def __init__(
        self, eth: AsyncEthClient, signer: LocalAccount, *, deployment: MsaDeployment | None = None
    ) -> None:
        super().__init__(eth, signer, deployment=deployment)

    async def answer(self, step: Any) -> Any:
        return await self.eth.answer(step)
