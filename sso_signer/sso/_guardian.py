"""Guardian recovery on ERC-4337 accounts: the ``GuardianExecutor`` module's calldata, events and state reads.

I/O-free. The module is an ERC-7579 executor (type 2) installed with empty data; its selectors, events and
errors are those of the official ZKsync SSO ``GuardianExecutor`` (``docs/recovery.md``):

* the account proposes a guardian (:meth:`GuardianExecutor.propose_guardian`, sent by the account itself,
  i.e. a UserOperation whose call targets the module), the guardian accepts
  (:meth:`GuardianExecutor.accept_guardian`, a transaction from the guardian);
* when the account's key is lost an active guardian asks for a new one
  (:meth:`GuardianExecutor.initialize_recovery` with a passkey's or an EOA's recovery data);
* strictly after ``REQUEST_DELAY_SECONDS`` and strictly before ``REQUEST_VALIDITY_SECONDS`` anyone finalizes
  it (:meth:`GuardianExecutor.finalize_recovery`) with the same data; the account then calls its validator.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH, validator_init_data
from sso_signer.sso._signature import abi_call, checksum_address, function_selector
from sso_signer.sso._signature import abi_decode_canonical as _decode

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

# Function name → argument types.
_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "proposeGuardian": ("address",),
    "acceptGuardian": ("address",),
    "removeGuardian": ("address",),
    "initializeRecovery": ("address", "uint8", "bytes"),
    "finalizeRecovery": ("address", "bytes"),
    "discardRecovery": (),
    "guardiansFor": ("address",),
    "guardianStatusFor": ("address", "address"),
    "pendingRecovery": ("address",),
}
_EVENTS = {
    "GuardianProposed": "GuardianProposed(address,address)",
    "GuardianAdded": "GuardianAdded(address,address)",
    "GuardianRemoved": "GuardianRemoved(address,address)",
    "RecoveryInitiated": "RecoveryInitiated(address,address,(uint8,bytes32,uint48),bytes)",
    "RecoveryFinished": "RecoveryFinished(address)",
    "RecoveryDiscarded": "RecoveryDiscarded(address)",
}
# Error name → argument types, in declaration order.
_ERRORS: dict[str, tuple[str, ...]] = {
    "NotInitialized": ("address",),
    "GuardianInvalidAddress": ("address",),
    "GuardianAlreadyPresent": ("address", "address"),
    "GuardianNotFound": ("address", "address"),
    "GuardianNotActive": ("address", "address"),
    "ValidatorNotInstalled": ("address", "address"),
    "UnsupportedRecoveryType": ("uint8",),
    "EmptyRecoveryData": (),
    "RecoveryInProgress": ("address",),
    "RecoveryDataMismatch": ("bytes32", "bytes32"),
    "NoRecoveryInProgress": ("address",),
    "RecoveryTimestampInvalid": ("uint48",),
}
_REQUEST_DELAY = 24 * 3600
_REQUEST_VALIDITY = 72 * 3600


class RecoveryType(enum.IntEnum):
    """What a recovery adds, numbered as the contract (the official auth server's ``WebAuthn = 1`` is not)."""

    NONE = 0
    EOA = 1
    PASSKEY = 2


@dataclass(frozen=True, slots=True)
class RecoveryRequest:
    """An account's ``pendingRecovery`` entry.

    Attributes:
        recovery_type: What the request adds (:attr:`RecoveryType.NONE` when there is no request).
        hashed_data: ``keccak256(data)`` of the recovery data the finalizer must present.
        timestamp: When the guardian initialized it (0 when there is no request).
    """

    recovery_type: RecoveryType
    hashed_data: bytes
    timestamp: int

    @property
    def exists(self) -> bool:
        """Whether a request is stored."""
        return self.timestamp != 0

    @property
    def earliest_finalize(self) -> int:
        """The first block timestamp at which ``finalizeRecovery`` succeeds (``timestamp + 24 h + 1``)."""
        return self.timestamp + _REQUEST_DELAY + 1

    @property
    def expires_at(self) -> int:
        """The first block timestamp at which it can no longer be finalized (``timestamp + 72 h``)."""
        return self.timestamp + _REQUEST_VALIDITY

    def finalizable_at(self, block_timestamp: int) -> bool:
        """Whether ``finalizeRecovery`` accepts the request in a block with this timestamp.

        Args:
            block_timestamp: The block's timestamp (seconds).

        Returns:
            True when a request exists and ``timestamp + 24 h < block_timestamp < timestamp + 72 h``.
        """
        return self.exists and self.earliest_finalize <= block_timestamp < self.expires_at

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is the recovery data this request was made with."""
        return bytes(keccak(bytes(data))) == self.hashed_data


@dataclass(frozen=True, slots=True)
class GuardianStatus:
    """``guardianStatusFor(account, guardian)``.

    Attributes:
        is_present: The account proposed the guardian (and has not removed it).
        is_active: The guardian accepted, so it may initialize a recovery.
    """

    is_present: bool
    is_active: bool


@dataclass(frozen=True, slots=True)
class GuardianEvent:
    """One decoded ``GuardianExecutor`` log.

    Attributes:
        name: The event name (a key of :attr:`GuardianExecutor.EVENT_TOPICS`).
        account: The account it is about (checksummed).
        guardian: The guardian, for the guardian events and ``RecoveryInitiated``.
        request: The stored request, for ``RecoveryInitiated``.
        recovery_data: The recovery data, for ``RecoveryInitiated``.
    """

    name: str
    account: str
    guardian: str | None = None
    request: RecoveryRequest | None = None
    recovery_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class GuardianExecutorError:
    """A decoded ``GuardianExecutor`` custom error (revert data).

    Attributes:
        name: The error name (a key of :attr:`GuardianExecutor.ERROR_SELECTORS`).
        args: Its arguments: addresses checksummed, ``bytes32`` as bytes, integers as int.
    """

    name: str
    args: tuple[object, ...]


def _call(name: str, *values: object) -> bytes:
    return abi_call(name, _FUNCTIONS[name], values)


def _account(account: str) -> str:
    return checksum_address(account, field="account")


def _decode_error(
    errors: Mapping[str, Sequence[str]], revert_data: bytes
) -> tuple[str, tuple[object, ...]] | None:
    """``(name, args)`` of a module's custom error (addresses checksummed), or None for another selector."""
    name = next((n for n, t in errors.items() if function_selector(n, t) == bytes(revert_data[:4])), None)
    if name is None:
        return None
    values = _decode(f"{name} arguments", errors[name], bytes(revert_data[4:]))
    return name, tuple(checksum_address(v.lower()) if isinstance(v, str) else v for v in values)


def _recovery_type(value: object) -> RecoveryType:
    try:
        return RecoveryType(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SsoEncodingError(f"recovery type {value!r} is not 0 (none), 1 (EOA) or 2 (passkey)") from exc


def _request(values: Sequence[object]) -> RecoveryRequest:
    kind, hashed, timestamp = values
    return RecoveryRequest(_recovery_type(kind), bytes(hashed), int(timestamp))  # type: ignore[call-overload]


def _topic_address(topic: bytes, what: str) -> str:
    if len(topic) != 32 or any(topic[:12]):
        raise SsoEncodingError(f"{what}: topic is not an ABI-encoded address")
    return checksum_address("0x" + topic[12:].hex())


class GuardianExecutor:
    """The ``GuardianExecutor`` module without I/O: each method builds the calldata of the module function of
    its name, a recovery data blob, or decodes what the module returns, logs or reverts with.

    Every method that takes an address raises :class:`~sso_signer.exceptions.InvalidEncoding`
    (``ErrorCode.INVALID_ADDRESS``) for one that is not; every ``decode_*`` raises
    :class:`~sso_signer.exceptions.SsoEncodingError` for bytes that are not the canonical encoding it expects.
    """

    #: ERC-7579 module type id of the executor.
    MODULE_TYPE: ClassVar[int] = 2
    #: ``REQUEST_DELAY_TIME``: a request is finalizable only strictly after ``timestamp + 24 h``.
    REQUEST_DELAY_SECONDS: ClassVar[int] = _REQUEST_DELAY
    #: ``REQUEST_VALIDITY_TIME``: ... and strictly before ``timestamp + 72 h``; afterwards it may be replaced.
    REQUEST_VALIDITY_SECONDS: ClassVar[int] = _REQUEST_VALIDITY
    #: Function name → 4-byte selector.
    SELECTORS: ClassVar[Mapping[str, bytes]] = {
        name: function_selector(name, types) for name, types in _FUNCTIONS.items()
    }
    #: Event name → topic0.
    EVENT_TOPICS: ClassVar[Mapping[str, bytes]] = {
        name: bytes(keccak(text=sig)) for name, sig in _EVENTS.items()
    }
    #: Error name → 4-byte selector.
    ERROR_SELECTORS: ClassVar[Mapping[str, bytes]] = {
        name: function_selector(name, types) for name, types in _ERRORS.items()
    }

    @staticmethod
    def install(executor: str) -> bytes:
        """``installModule(2, executor, "")``: the account's own call installing the module on an existing
        account (at creation, pass ``(executor, b"")`` among the account's initial modules instead)."""
        return abi_call(
            "installModule",
            ["uint256", "address", "bytes"],
            [GuardianExecutor.MODULE_TYPE, checksum_address(executor, field="executor"), b""],
        )

    @staticmethod
    def propose_guardian(guardian: str) -> bytes:
        """``proposeGuardian(guardian)``: the account's own call (the call of a UserOperation to the module).

        Args:
            guardian: The guardian's address (an EOA or a contract; not zero, not the account).

        Returns:
            The calldata.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``guardian`` is not an address.
            SsoEncodingError (``INVALID_GUARDIAN``): If ``guardian`` is the zero address (the module would
                revert).
        """
        address = checksum_address(guardian, field="guardian")
        if int(address, 16) == 0:
            raise SsoEncodingError(
                "guardian: the zero address is refused by the module (GuardianInvalidAddress)",
                rule=ErrorCode.INVALID_GUARDIAN,
            )
        return _call("proposeGuardian", address)

    @staticmethod
    def accept_guardian(account: str) -> bytes:
        """``acceptGuardian(account)``: sent by the proposed guardian."""
        return _call("acceptGuardian", _account(account))

    @staticmethod
    def remove_guardian(guardian: str) -> bytes:
        """``removeGuardian(guardian)``: the account's own call; removing an active guardian discards a
        pending recovery."""
        return _call("removeGuardian", checksum_address(guardian, field="guardian"))

    @staticmethod
    def initialize_recovery(account: str, recovery_type: RecoveryType, data: bytes) -> bytes:
        """``initializeRecovery(account, recoveryType, data)``: sent by an active guardian.

        Args:
            account: The account to recover.
            recovery_type: :attr:`RecoveryType.PASSKEY` or :attr:`RecoveryType.EOA`.
            data: :meth:`passkey_recovery_data` or :meth:`eoa_recovery_data` output.

        Returns:
            The calldata.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
            SsoEncodingError: If the type is ``NONE`` or unknown, or ``data`` is empty (the module would
                revert).
        """
        kind = _recovery_type(recovery_type)
        if kind is RecoveryType.NONE:
            raise SsoEncodingError("recovery_type: NONE is refused by the module (UnsupportedRecoveryType)")
        if not isinstance(data, bytes | bytearray) or not data:
            raise SsoEncodingError("data: non-empty recovery data bytes required (EmptyRecoveryData)")
        return _call("initializeRecovery", _account(account), int(kind), bytes(data))

    @staticmethod
    def finalize_recovery(account: str, data: bytes) -> bytes:
        """``finalizeRecovery(account, data)``: anyone may send it within the window, with the request's data.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
            SsoEncodingError: If ``data`` is not bytes.
        """
        if not isinstance(data, bytes | bytearray):
            raise SsoEncodingError("data: recovery data bytes required")
        return _call("finalizeRecovery", _account(account), bytes(data))

    @staticmethod
    def discard_recovery() -> bytes:
        """``discardRecovery()``: the account's own call, deleting its pending request."""
        return _call("discardRecovery")

    @staticmethod
    def guardians_for(account: str) -> bytes:
        """``guardiansFor(account)`` (``eth_call``; decode with :meth:`decode_guardians`)."""
        return _call("guardiansFor", _account(account))

    @staticmethod
    def guardian_status_for(account: str, guardian: str) -> bytes:
        """``guardianStatusFor(account, guardian)`` (decode with :meth:`decode_guardian_status`)."""
        return _call("guardianStatusFor", _account(account), checksum_address(guardian, field="guardian"))

    @staticmethod
    def pending_recovery(account: str) -> bytes:
        """``pendingRecovery(account)`` (decode with :meth:`decode_pending_recovery`)."""
        return _call("pendingRecovery", _account(account))

    @staticmethod
    def passkey_recovery_data(
        credential_id: bytes, public_key: P256PublicKey | tuple[int, int], origin: str
    ) -> bytes:
        """Recovery data adding a passkey: the ``addValidationKey`` arguments without selector.

        Args:
            credential_id: The new passkey's raw credential id.
            public_key: Its P-256 public key, or ``(x, y)``.
            origin: The origin its assertions will carry.

        Returns:
            ``abi.encode(bytes credentialId, bytes32[2] [x, y], string origin)``.

        Raises:
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): If
                the WebAuthn validator would refuse the key when the recovery is finalized.
        """
        return validator_init_data(
            credential_id, public_key, origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
        )

    @staticmethod
    def eoa_recovery_data(new_owner: str) -> bytes:
        """Recovery data adding an EOA owner: ``abi.encode(address newOwner)`` (the ``addOwner`` argument)."""
        return bytes(abi_encode(["address"], [checksum_address(new_owner, field="new_owner")]))

    @staticmethod
    def decode_pending_recovery(result: bytes) -> RecoveryRequest:
        """Decode the ``pendingRecovery(account)`` return data ``(uint8 type, bytes32 hashedData, uint48
        timestamp)``."""
        return _request(_decode("pendingRecovery result", ["uint8", "bytes32", "uint48"], result))

    @staticmethod
    def decode_guardian_status(result: bytes) -> GuardianStatus:
        """Decode the ``guardianStatusFor`` return data ``(bool, bool)``."""
        present, active = _decode("guardianStatusFor result", ["bool", "bool"], result)
        return GuardianStatus(bool(present), bool(active))

    @staticmethod
    def decode_guardians(result: bytes) -> tuple[str, ...]:
        """Decode the ``guardiansFor`` return data into checksummed addresses (proposed and active)."""
        (addresses,) = _decode("guardiansFor result", ["address[]"], result)
        return tuple(checksum_address(str(a).lower()) for a in addresses)

    @staticmethod
    def decode_event(topics: Sequence[bytes], data: bytes) -> GuardianEvent:
        """Decode one ``GuardianExecutor`` log.

        Args:
            topics: The log's topics (topic0 first), each 32 bytes.
            data: The log's data.

        Returns:
            The event.

        Raises:
            SsoEncodingError: If topic0 is not a ``GuardianExecutor`` event or the log does not decode.
        """
        if not topics:
            raise SsoEncodingError("log has no topics")
        name = next((n for n, t in GuardianExecutor.EVENT_TOPICS.items() if t == bytes(topics[0])), None)
        if name is None:
            raise SsoEncodingError(f"topic0 0x{bytes(topics[0]).hex()} is not a GuardianExecutor event")
        expected = 2 if name in ("RecoveryFinished", "RecoveryDiscarded") else 3
        if len(topics) != expected:
            raise SsoEncodingError(f"{name}: {len(topics)} topics, expected {expected}")
        account = _topic_address(bytes(topics[1]), f"{name}.account")
        guardian = _topic_address(bytes(topics[2]), f"{name}.guardian") if expected == 3 else None
        if name != "RecoveryInitiated":
            if data:
                raise SsoEncodingError(f"{name}: unexpected log data")
            return GuardianEvent(name, account, guardian)
        request, recovery_data = _decode("RecoveryInitiated data", ["(uint8,bytes32,uint48)", "bytes"], data)
        return GuardianEvent(
            name,
            account,
            guardian,
            _request(request),
            bytes(recovery_data),
        )

    @staticmethod
    def decode_error(revert_data: bytes) -> GuardianExecutorError | None:
        """Decode revert data of a ``GuardianExecutor`` call.

        Args:
            revert_data: The revert data (selector ‖ arguments).

        Returns:
            The error, or None when the selector is not one of the module's errors.

        Raises:
            SsoEncodingError: If the selector is the module's but the arguments do not decode.
        """
        found = _decode_error(_ERRORS, revert_data)
        return None if found is None else GuardianExecutorError(*found)
