"""Guardian recovery on ERC-4337 accounts: the ``GuardianExecutor`` module's calldata, events and state reads.

I/O-free. The module is an ERC-7579 executor (type 2) installed with empty data; its selectors, events and
errors are those of the official ZKsync SSO ``GuardianExecutor`` (``docs/recovery.md``):

* the account proposes a guardian (:func:`propose_guardian_calldata`, sent by the account itself, i.e. a
  UserOperation whose call targets the module), the guardian accepts (:func:`accept_guardian_calldata`, a
  transaction from the guardian);
* when the account's key is lost an active guardian asks for a new one (:func:`initialize_recovery_calldata`
  with :func:`passkey_recovery_data` or :func:`eoa_recovery_data`);
* strictly after :data:`REQUEST_DELAY_SECONDS` and strictly before :data:`REQUEST_VALIDITY_SECONDS` anyone
  finalizes it (:func:`finalize_recovery_calldata`) with the same data; the account then calls its validator.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.crypto import keccak

from sso_signer.exceptions import SsoEncodingError
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH, validator_init_data
from sso_signer.sso._signature import checksum_address

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

__all__ = [
    "GUARDIAN_ERROR_SELECTORS",
    "GUARDIAN_EVENT_TOPICS",
    "GUARDIAN_EXECUTOR_MODULE_TYPE",
    "GUARDIAN_SELECTORS",
    "REQUEST_DELAY_SECONDS",
    "REQUEST_VALIDITY_SECONDS",
    "GuardianEvent",
    "GuardianExecutorError",
    "GuardianStatus",
    "RecoveryRequest",
    "RecoveryType",
    "accept_guardian_calldata",
    "decode_guardian_error",
    "decode_guardian_event",
    "decode_guardian_status",
    "decode_guardians",
    "decode_pending_recovery",
    "discard_recovery_calldata",
    "eoa_recovery_data",
    "finalize_recovery_calldata",
    "guardian_status_calldata",
    "guardians_for_calldata",
    "initialize_recovery_calldata",
    "install_guardian_executor_calldata",
    "passkey_recovery_data",
    "pending_recovery_calldata",
    "propose_guardian_calldata",
    "remove_guardian_calldata",
]

#: ERC-7579 module type id of the executor.
GUARDIAN_EXECUTOR_MODULE_TYPE = 2
#: ``REQUEST_DELAY_TIME``: a request is finalizable only strictly after ``timestamp + 24 h``.
REQUEST_DELAY_SECONDS = 24 * 3600
#: ``REQUEST_VALIDITY_TIME``: ... and strictly before ``timestamp + 72 h``; afterwards it may be replaced.
REQUEST_VALIDITY_SECONDS = 72 * 3600


def _selector(signature: str) -> bytes:
    return bytes(keccak(text=signature)[:4])


_FUNCTIONS = {
    "proposeGuardian": "proposeGuardian(address)",
    "acceptGuardian": "acceptGuardian(address)",
    "removeGuardian": "removeGuardian(address)",
    "initializeRecovery": "initializeRecovery(address,uint8,bytes)",
    "finalizeRecovery": "finalizeRecovery(address,bytes)",
    "discardRecovery": "discardRecovery()",
    "guardiansFor": "guardiansFor(address)",
    "guardianStatusFor": "guardianStatusFor(address,address)",
    "pendingRecovery": "pendingRecovery(address)",
}
#: Function name → 4-byte selector.
GUARDIAN_SELECTORS: dict[str, bytes] = {name: _selector(sig) for name, sig in _FUNCTIONS.items()}

_INSTALL_MODULE = _selector("installModule(uint256,address,bytes)")

_EVENTS = {
    "GuardianProposed": "GuardianProposed(address,address)",
    "GuardianAdded": "GuardianAdded(address,address)",
    "GuardianRemoved": "GuardianRemoved(address,address)",
    "RecoveryInitiated": "RecoveryInitiated(address,address,(uint8,bytes32,uint48),bytes)",
    "RecoveryFinished": "RecoveryFinished(address)",
    "RecoveryDiscarded": "RecoveryDiscarded(address)",
}
#: Event name → topic0.
GUARDIAN_EVENT_TOPICS: dict[str, bytes] = {name: bytes(keccak(text=sig)) for name, sig in _EVENTS.items()}
_EVENT_BY_TOPIC = {topic: name for name, topic in GUARDIAN_EVENT_TOPICS.items()}

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
#: Error name → 4-byte selector.
GUARDIAN_ERROR_SELECTORS: dict[str, bytes] = {
    name: _selector(f"{name}({','.join(types)})") for name, types in _ERRORS.items()
}
_ERROR_BY_SELECTOR = {selector: name for name, selector in GUARDIAN_ERROR_SELECTORS.items()}


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
        return self.timestamp + REQUEST_DELAY_SECONDS + 1

    @property
    def expires_at(self) -> int:
        """The first block timestamp at which it can no longer be finalized (``timestamp + 72 h``)."""
        return self.timestamp + REQUEST_VALIDITY_SECONDS

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
        name: The event name (a key of :data:`GUARDIAN_EVENT_TOPICS`).
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
        name: The error name (a key of :data:`GUARDIAN_ERROR_SELECTORS`).
        args: Its arguments: addresses checksummed, ``bytes32`` as bytes, integers as int.
    """

    name: str
    args: tuple[object, ...]


# --- calldata --------------------------------------------------------------------------------------------


def _call(name: str, types: Sequence[str], values: Sequence[object]) -> bytes:
    return GUARDIAN_SELECTORS[name] + bytes(abi_encode(list(types), list(values)))


def install_guardian_executor_calldata(executor: str) -> bytes:
    """``installModule(2, executor, "")``: the account's own call installing the module on an existing account
    (at creation, pass ``(executor, b"")`` among the account's initial modules instead).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``executor`` is not an address.
    """
    return _INSTALL_MODULE + bytes(
        abi_encode(
            ["uint256", "address", "bytes"],
            [GUARDIAN_EXECUTOR_MODULE_TYPE, checksum_address(executor, field="executor"), b""],
        )
    )


def propose_guardian_calldata(guardian: str) -> bytes:
    """``proposeGuardian(guardian)``: the account's own call (the call of a UserOperation to the module).

    Args:
        guardian: The guardian's address (an EOA or a contract; not zero, not the account).

    Returns:
        The calldata.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``guardian`` is not an address.
        SsoEncodingError: If ``guardian`` is the zero address (the module would revert).
    """
    address = checksum_address(guardian, field="guardian")
    if int(address, 16) == 0:
        raise SsoEncodingError("guardian: the zero address is refused by the module (GuardianInvalidAddress)")
    return _call("proposeGuardian", ["address"], [address])


def accept_guardian_calldata(account: str) -> bytes:
    """``acceptGuardian(account)``: sent by the proposed guardian.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
    """
    return _call("acceptGuardian", ["address"], [checksum_address(account, field="account")])


def remove_guardian_calldata(guardian: str) -> bytes:
    """``removeGuardian(guardian)``: the account's own call; removing an active guardian discards a pending
    recovery.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``guardian`` is not an address.
    """
    return _call("removeGuardian", ["address"], [checksum_address(guardian, field="guardian")])


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
        BadCredentialIdLength, BadDomainLength, EmptyPublicKey, SsoEncodingError: If the WebAuthn validator
            would refuse the key when the recovery is finalized.
    """
    return validator_init_data(credential_id, public_key, origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH)


def eoa_recovery_data(new_owner: str) -> bytes:
    """Recovery data adding an EOA owner: ``abi.encode(address newOwner)`` (the ``addOwner`` argument).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``new_owner`` is not an address.
    """
    return bytes(abi_encode(["address"], [checksum_address(new_owner, field="new_owner")]))


def initialize_recovery_calldata(account: str, recovery_type: RecoveryType, data: bytes) -> bytes:
    """``initializeRecovery(account, recoveryType, data)``: sent by an active guardian.

    Args:
        account: The account to recover.
        recovery_type: :attr:`RecoveryType.PASSKEY` or :attr:`RecoveryType.EOA`.
        data: :func:`passkey_recovery_data` or :func:`eoa_recovery_data` output.

    Returns:
        The calldata.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
        SsoEncodingError: If the type is ``NONE`` or unknown, or ``data`` is empty (the module would revert).
    """
    kind = _recovery_type(recovery_type)
    if kind is RecoveryType.NONE:
        raise SsoEncodingError("recovery_type: NONE is refused by the module (UnsupportedRecoveryType)")
    if not isinstance(data, bytes | bytearray) or not data:
        raise SsoEncodingError("data: non-empty recovery data bytes required (EmptyRecoveryData)")
    return _call(
        "initializeRecovery",
        ["address", "uint8", "bytes"],
        [checksum_address(account, field="account"), int(kind), bytes(data)],
    )


def finalize_recovery_calldata(account: str, data: bytes) -> bytes:
    """``finalizeRecovery(account, data)``: anyone may send it within the window, with the request's data.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
        SsoEncodingError: If ``data`` is not bytes.
    """
    if not isinstance(data, bytes | bytearray):
        raise SsoEncodingError("data: recovery data bytes required")
    return _call(
        "finalizeRecovery", ["address", "bytes"], [checksum_address(account, field="account"), bytes(data)]
    )


def discard_recovery_calldata() -> bytes:
    """``discardRecovery()``: the account's own call, deleting its pending request."""
    return GUARDIAN_SELECTORS["discardRecovery"]


def guardians_for_calldata(account: str) -> bytes:
    """``guardiansFor(account)`` (``eth_call``; decode with :func:`decode_guardians`).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
    """
    return _call("guardiansFor", ["address"], [checksum_address(account, field="account")])


def guardian_status_calldata(account: str, guardian: str) -> bytes:
    """``guardianStatusFor(account, guardian)`` (decode with :func:`decode_guardian_status`).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
    """
    return _call(
        "guardianStatusFor",
        ["address", "address"],
        [checksum_address(account, field="account"), checksum_address(guardian, field="guardian")],
    )


def pending_recovery_calldata(account: str) -> bytes:
    """``pendingRecovery(account)`` (decode with :func:`decode_pending_recovery`).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
    """
    return _call("pendingRecovery", ["address"], [checksum_address(account, field="account")])


# --- decoding --------------------------------------------------------------------------------------------


def _decode(what: str, types: Sequence[str], data: bytes) -> tuple[object, ...]:
    """Strict ABI decoding: the bytes must be the canonical encoding of what they decode to."""
    try:
        values = tuple(abi_decode(list(types), bytes(data)))
        canonical = bytes(abi_encode(list(types), list(values)))
    except (DecodingError, EncodingError, ValueError, TypeError, OverflowError) as exc:
        raise SsoEncodingError(f"{what}: does not decode as ({','.join(types)}): {exc}") from exc
    if canonical != bytes(data):
        raise SsoEncodingError(f"{what}: not canonically ABI-encoded")
    return values


def _recovery_type(value: object) -> RecoveryType:
    try:
        return RecoveryType(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SsoEncodingError(f"recovery type {value!r} is not 0 (none), 1 (EOA) or 2 (passkey)") from exc


def _request(values: Sequence[object]) -> RecoveryRequest:
    kind, hashed, timestamp = values
    return RecoveryRequest(_recovery_type(kind), bytes(hashed), int(timestamp))  # type: ignore[call-overload]


def decode_pending_recovery(result: bytes) -> RecoveryRequest:
    """Decode the ``pendingRecovery(account)`` return data.

    Raises:
        SsoEncodingError: If it is not ``(uint8 type, bytes32 hashedData, uint48 timestamp)``.
    """
    return _request(_decode("pendingRecovery result", ["uint8", "bytes32", "uint48"], result))


def decode_guardian_status(result: bytes) -> GuardianStatus:
    """Decode the ``guardianStatusFor`` return data.

    Raises:
        SsoEncodingError: If it is not ``(bool, bool)``.
    """
    present, active = _decode("guardianStatusFor result", ["bool", "bool"], result)
    return GuardianStatus(bool(present), bool(active))


def decode_guardians(result: bytes) -> tuple[str, ...]:
    """Decode the ``guardiansFor`` return data into checksummed addresses (proposed and active).

    Raises:
        SsoEncodingError: If it is not ``address[]``.
    """
    (addresses,) = _decode("guardiansFor result", ["address[]"], result)
    return tuple(checksum_address(str(a).lower()) for a in addresses)  # type: ignore[attr-defined]


def _topic_address(topic: bytes, what: str) -> str:
    if len(topic) != 32 or any(topic[:12]):
        raise SsoEncodingError(f"{what}: topic is not an ABI-encoded address")
    return checksum_address("0x" + topic[12:].hex())


def decode_guardian_event(topics: Sequence[bytes], data: bytes) -> GuardianEvent:
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
    name = _EVENT_BY_TOPIC.get(bytes(topics[0]))
    if name is None:
        raise SsoEncodingError(f"topic0 0x{bytes(topics[0]).hex()} is not a GuardianExecutor event")
    expected = 2 if name in ("RecoveryFinished", "RecoveryDiscarded") else 3
    if len(topics) != expected:
        raise SsoEncodingError(f"{name}: {len(topics)} topics, expected {expected}")
    account = _topic_address(bytes(topics[1]), f"{name}.account")
    if expected == 2:
        if data:
            raise SsoEncodingError(f"{name}: unexpected log data")
        return GuardianEvent(name, account)
    guardian = _topic_address(bytes(topics[2]), f"{name}.guardian")
    if name != "RecoveryInitiated":
        if data:
            raise SsoEncodingError(f"{name}: unexpected log data")
        return GuardianEvent(name, account, guardian)
    request, recovery_data = _decode("RecoveryInitiated data", ["(uint8,bytes32,uint48)", "bytes"], data)
    return GuardianEvent(
        name,
        account,
        guardian,
        _request(request),  # type: ignore[arg-type]
        bytes(recovery_data),  # type: ignore[call-overload]
    )


def decode_guardian_error(revert_data: bytes) -> GuardianExecutorError | None:
    """Decode revert data of a ``GuardianExecutor`` call.

    Args:
        revert_data: The revert data (selector ‖ arguments).

    Returns:
        The error, or None when the selector is not one of the module's errors.

    Raises:
        SsoEncodingError: If the selector is the module's but the arguments do not decode.
    """
    name = _ERROR_BY_SELECTOR.get(bytes(revert_data[:4]))
    if name is None:
        return None
    values = _decode(f"{name} arguments", _ERRORS[name], bytes(revert_data[4:]))
    args = tuple(checksum_address(v.lower()) if isinstance(v, str) else v for v in values)
    return GuardianExecutorError(name, args)
