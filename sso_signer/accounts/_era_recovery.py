"""Guardian recovery of Era accounts (the ``GuardianRecoveryValidator`` module): the account's side and the
reads both sides share (the guardian's side is :mod:`sso_signer.accounts._era_guardian`).

:class:`_EraRecoveryMethods` (a base of the Era account classes) proposes and removes guardians, lists them,
reads and discards a pending request. Each change is a passkey-signed 0x71 transaction from the account to the
module; the first proposal of an account without the module installs it in the same ``batchCall``.
Everything is scoped by an origin (the module keys it by ``keccak256(origin)``), by default the passkey's.

Refusals are found before anything is signed or sent (state reads, ``eth_call``, the gas estimate): a module
error becomes a typed error with the rule the ERC-4337 recovery uses (``NOT_A_GUARDIAN``...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer._shell import flow_method
from sso_signer.accounts._base import account_key_flow, passkey_logs_flow, registered_passkeys
from sso_signer.accounts._deployment import required_contract
from sso_signer.exceptions import (
    AlreadyExists,
    ErrorCode,
    ExecutionReverted,
    NotFound,
    SsoEncodingError,
    SsoSignerError,
)
from sso_signer.rpc import Receipt
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow
from sso_signer.sso._era_guardian import EraGuardian, EraRecoveryRequest, GuardianRecoveryValidator
from sso_signer.sso._signature import checksum_address

if TYPE_CHECKING:
    from sso_signer.accounts._deployment import EraNetwork
    from sso_signer.accounts._signer import PasskeySigner

_IS_MODULE_VALIDATOR: Final = bytes(keccak(text="isModuleValidator(address)"))[:4]
#: The account's own ``addModuleValidator(address,bytes)`` (``onlySelf``); the module takes no init data.
_ADD_MODULE_VALIDATOR: Final = bytes(keccak(text="addModuleValidator(address,bytes)"))[:4]


def _module(network: EraNetwork) -> str:
    """The network's ``GuardianRecoveryValidator`` (a ConfigurationError if it has none)."""
    return required_contract(
        network.recovery_validator,
        f"network {network.name!r} has no GuardianRecoveryValidator (EraNetwork.recovery_validator / "
        "recovery in the deployment JSON): guardian recovery needs the module",
    )


def _refusal(exc: ExecutionReverted, account: str, origin: str) -> SsoSignerError | None:
    """The typed error of a ``GuardianRecoveryValidator`` revert (None when not the module's)."""
    try:
        error = GuardianRecoveryValidator.decode_error(exc.revert.raw if exc.revert is not None else b"")
    except SsoEncodingError:
        return None
    name, args = error or ("", ())
    who = args[0] if args else "the caller"
    refusals: dict[str, tuple[type[SsoSignerError], ErrorCode, str]] = {
        "GUARDIAN_CANNOT_BE_SELF": (
            SsoEncodingError,
            ErrorCode.INVALID_GUARDIAN,
            "an account cannot guard itself",
        ),
        "GUARDIAN_INVALID_ADDRESS": (
            SsoEncodingError,
            ErrorCode.INVALID_GUARDIAN,
            "the zero address is refused",
        ),
        "GUARDIAN_INVALID_ACCOUNT": (SsoEncodingError, ErrorCode.SSO_ENCODING, "the zero account is refused"),
        "GUARDIAN_NOT_PROPOSED": (
            NotFound,
            ErrorCode.NOT_A_GUARDIAN,
            f"{account} has not proposed {who} as a guardian for {origin}",
        ),
        "GUARDIAN_NOT_FOUND": (
            NotFound,
            ErrorCode.NOT_A_GUARDIAN,
            f"{who} is not a ready guardian of {account} for {origin}",
        ),
        "GUARDIAN_RECOVERY_IN_PROGRESS": (
            AlreadyExists,
            ErrorCode.RECOVERY_IN_PROGRESS,
            f"a recovery of {account} for {origin} is pending (a new one may start 72 h after it began)",
        ),
        "WEBAUTH_VALIDATOR_NOT_INSTALLED": (
            NotFound,
            ErrorCode.RECOVERY_VALIDATOR_NOT_INSTALLED,
            f"{account} has not installed the WebAuthValidator the recovery adds a key to",
        ),
    }
    if name not in refusals:
        return None
    cls, rule, message = refusals[name]
    return cls(f"{message} (GuardianRecoveryValidator: {name})", rule=rule)


@contextmanager
def _refusals(account: str, origin: str) -> Iterator[None]:
    """Raise a module revert from inside as its typed error (any other revert as it is)."""
    try:
        yield
    except ExecutionReverted as exc:
        refusal = _refusal(exc, account, origin)
        if refusal is None:
            raise
        raise refusal from exc


def _view_flow(module: str, data: bytes) -> Flow[bytes]:
    return (yield from _EthMethods.call.flow(ETH_FLOWS, {"to": module, "data": data}))


def _guardian_flow(module: str, origin: str, account: str, guardian: str) -> Flow[EraGuardian]:
    data = GuardianRecoveryValidator.guardian_data(origin, account, guardian)
    return GuardianRecoveryValidator.decode_guardian((yield from _view_flow(module, data)))


def _pending_flow(module: str, origin: str, account: str) -> Flow[EraRecoveryRequest]:
    data = GuardianRecoveryValidator.pending_recovery(origin, account)
    return GuardianRecoveryValidator.decode_pending_recovery((yield from _view_flow(module, data)))


def _reported_request_flow(network: EraNetwork, origin: str, account: str) -> Flow[EraRecoveryRequest]:
    """The stored request, marked ``fulfilled`` when its passkey is on the account already: the module
    keeps a finished request until it expires or is discarded (see docs/recovery.md)."""
    request = yield from _pending_flow(_module(network), origin, account)
    if request.exists:
        validator = network.passkey_validator
        for key_origin, credential_id in registered_passkeys(
            (yield from passkey_logs_flow(validator, account))
        ):
            if key_origin == origin and request.matches(credential_id, request.public_key):
                key = yield from account_key_flow(validator, origin, credential_id, account)
                if key == request.public_key:  # still backed by the validator (not removed since)
                    return dataclasses.replace(request, fulfilled=True)
    return request


class _EraRecoveryMethods:
    """Guardian recovery for the Era account: each change is a passkey-signed 0x71 transaction."""

    network: EraNetwork
    if TYPE_CHECKING:  # given by the account classes

        @property
        def address(self) -> str: ...

        signer: PasskeySigner

    def _origin(self, origin: str | None) -> str:
        return str(self.signer.credential.origin) if origin is None else origin

    def _send_calls_flow(
        self, calls: list[tuple[str, int, bytes]], origin: str, timeout: float
    ) -> Generator[Any, Any, Receipt]:
        # The account class's own send_calls (this mixin sits below it in the account's bases): its gas
        # estimate runs the calls as the account, so a module refusal comes back before anything is signed.
        send_calls: Any = type(self).send_calls  # type: ignore[attr-defined]
        with _refusals(self.address, origin):
            receipt: Receipt = yield from send_calls.flow(self, calls, timeout=timeout)
        return receipt

    @flow_method
    def recovery_module_installed(self) -> Flow[bool]:
        """Whether the account has the network's ``GuardianRecoveryValidator`` installed (no code: False)."""
        data = _IS_MODULE_VALIDATOR + bytes(12) + bytes.fromhex(_module(self.network)[2:])
        try:
            answer = yield from _EthMethods.call.flow(ETH_FLOWS, {"to": self.address, "data": data})
            (installed,) = abi_decode(["bool"], answer)
        except (ExecutionReverted, DecodingError, ValueError, OverflowError):
            return False
        return bool(installed)

    @flow_method
    def propose_guardian(
        self, guardian: str, *, origin: str | None = None, timeout: float = 60.0
    ) -> Generator[Any, Any, Receipt]:
        """Propose ``guardian`` for ``origin`` (not ready until it accepts) in a passkey-signed transaction.

        An account without the module installs it in the same transaction: the account calls its own
        ``batchCall`` with ``addModuleValidator(module, "")`` then ``proposeGuardian`` (both succeed or
        neither happens).

        Args:
            guardian: The guardian's address (e.g. the dapp backend's key).
            origin: The origin whose passkeys it may recover (default: this passkey's).
            timeout: Seconds to wait for the receipt.

        Returns:
            The receipt.

        Raises:
            SsoEncodingError (``INVALID_GUARDIAN``): The zero address or the account itself.
            AlreadyExists (``GUARDIAN_ALREADY_PRESENT``): It is already proposed (the module would ignore it).
            NotFound (``RECOVERY_VALIDATOR_NOT_INSTALLED``): Installing the module was refused: the account
                lacks the WebAuthValidator a recovery adds the new passkey to.
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): The network has no GuardianRecoveryValidator.
            TransactionReverted, TransactionRejected, SendOutcomeUnknown: From :meth:`send`.
        """
        module, origin = _module(self.network), self._origin(origin)
        address = checksum_address(guardian, field="guardian")
        calls = [(module, 0, GuardianRecoveryValidator.propose_guardian(origin, address))]
        if not (yield from _EraRecoveryMethods.recovery_module_installed.flow(self)):
            install = _ADD_MODULE_VALIDATOR + bytes(abi_encode(["address", "bytes"], [module, b""]))
            calls.insert(0, (self.address, 0, install))  # its onInstall refusal comes from the estimate
        elif (yield from _guardian_flow(module, origin, self.address, address)).exists:
            raise AlreadyExists(
                f"{address} is already a guardian of {self.address} for {origin}",
                rule=ErrorCode.GUARDIAN_ALREADY_PRESENT,
            )
        return (yield from self._send_calls_flow(calls, origin, timeout))

    @flow_method
    def remove_guardian(
        self, guardian: str, *, origin: str | None = None, timeout: float = 60.0
    ) -> Generator[Any, Any, Receipt]:
        """Remove a guardian of ``origin``; removing a ready one also discards the pending request.

        Raises:
            NotFound (``NOT_A_GUARDIAN``): Not a guardian of the account for ``origin`` (nothing is signed).
            TransactionReverted, TransactionRejected, SendOutcomeUnknown: From :meth:`send`.
        """
        module, origin = _module(self.network), self._origin(origin)
        address = checksum_address(guardian, field="guardian")
        if not (yield from _guardian_flow(module, origin, self.address, address)).exists:
            raise NotFound(
                f"{address} is not a guardian of {self.address} for {origin}", rule=ErrorCode.NOT_A_GUARDIAN
            )
        data = GuardianRecoveryValidator.remove_guardian(origin, address)
        return (yield from self._send_calls_flow([(module, 0, data)], origin, timeout))

    @flow_method
    def list_guardians(self, *, origin: str | None = None) -> Flow[tuple[EraGuardian, ...]]:
        """The account's guardians for ``origin`` (default: this passkey's), proposed and ready."""
        data = GuardianRecoveryValidator.guardians_for(self._origin(origin), self.address)
        return GuardianRecoveryValidator.decode_guardians(
            (yield from _view_flow(_module(self.network), data))
        )

    @flow_method
    def pending_recovery(self, *, origin: str | None = None) -> Flow[EraRecoveryRequest]:
        """The pending request for ``origin`` (``exists`` is False when there is none; ``fulfilled`` when its
        passkey is on the account already, as the module keeps a finished request until it expires)."""
        return (yield from _reported_request_flow(self.network, self._origin(origin), self.address))

    @flow_method
    def discard_recovery(
        self, *, origin: str | None = None, timeout: float = 60.0
    ) -> Generator[Any, Any, Receipt]:
        """Discard the pending request for ``origin`` (the passkey was not lost after all).

        Raises:
            NotFound (``NO_PENDING_RECOVERY``): There is none (nothing is signed).
            TransactionReverted, TransactionRejected, SendOutcomeUnknown: From :meth:`send`.
        """
        module, origin = _module(self.network), self._origin(origin)
        if not (yield from _pending_flow(module, origin, self.address)).exists:
            raise NotFound(
                f"{self.address} has no pending recovery for {origin}", rule=ErrorCode.NO_PENDING_RECOVERY
            )
        data = GuardianRecoveryValidator.discard_recovery(origin)
        return (yield from self._send_calls_flow([(module, 0, data)], origin, timeout))
