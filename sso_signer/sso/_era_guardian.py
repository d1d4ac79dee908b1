"""Guardian recovery on Era accounts: the ``GuardianRecoveryValidator`` module's calldata and state reads.

I/O-free. The Era module is a validator scoped by origin: every call names ``keccak256(origin)`` (the
"hashed origin domain"), and its selectors, events and errors are those of the official ZKsync SSO
``GuardianRecoveryValidator`` (``sso-sessions.md`` §6.2):

* the account proposes a guardian for an origin (:meth:`GuardianRecoveryValidator.propose_guardian`, a
  passkey-signed 0x71 transaction from the account to the module), the guardian accepts
  (:meth:`GuardianRecoveryValidator.add_guardian`, a transaction from the guardian);
* when the passkey is lost a ready guardian stores a request for a new passkey
  (:meth:`GuardianRecoveryValidator.init_recovery`);
* from 24 h to 72 h later anyone sends the *finishing transaction*: a 0x71 transaction from the account to
  the WebAuthValidator calling ``addValidationKey`` with exactly the requested passkey
  (:meth:`GuardianRecoveryValidator.finish_calldata`), whose custom signature names the module and carries no
  signature (:meth:`GuardianRecoveryValidator.finish_custom_signature`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.sso._guardian import _REQUEST_DELAY, _REQUEST_VALIDITY, _decode_error
from sso_signer.sso._owner import ERA_MAX_ORIGIN_LENGTH, _coordinates, validator_init_data
from sso_signer.sso._signature import abi_call, checksum_address, function_selector
from sso_signer.sso._signature import abi_decode_canonical as _decode

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "proposeGuardian": ("bytes32", "address"),
    "removeGuardian": ("bytes32", "address"),
    "addGuardian": ("bytes32", "address"),
    "initRecovery": ("address", "bytes32", "bytes32[2]", "bytes32"),
    "discardRecovery": ("bytes32",),
    "guardiansFor": ("bytes32", "address"),
    "guardianOf": ("bytes32", "address"),
    "getPendingRecoveryData": ("bytes32", "address"),
    "accountGuardianData": ("bytes32", "address", "address"),
}
_ERRORS: dict[str, tuple[str, ...]] = {
    "GUARDIAN_INVALID_WEBAUTH_VALIDATOR": (),
    "WEBAUTH_VALIDATOR_NOT_INSTALLED": (),
    "GUARDIAN_CANNOT_BE_SELF": (),
    "GUARDIAN_INVALID_ADDRESS": (),
    "GUARDIAN_INVALID_ACCOUNT": (),
    "GUARDIAN_NOT_PROPOSED": ("address",),
    "GUARDIAN_NOT_FOUND": ("address",),
    "GUARDIAN_RECOVERY_IN_PROGRESS": (),
    "GUARDIAN_INVALID_RECOVERY_CALL": (),
}
# The stand-in's own view (not the official module's, so not in SELECTORS): when a finish last validated.
_LAST_FINISH_ATTEMPT = ("lastFinishAttempt", ("bytes32", "address"))
_ADD_VALIDATION_KEY = function_selector("addValidationKey", ("bytes", "bytes32[2]", "string"))
_GUARDIAN = "(address,bool,uint64)"


@dataclass(frozen=True, slots=True)
class EraGuardian:
    """One guardian of an account on one origin (``guardiansFor`` / ``accountGuardianData``).

    Attributes:
        address: The guardian (checksummed; the zero address when the entry does not exist).
        is_ready: It accepted (``addGuardian``), so it may start a recovery.
        added_at: When the account proposed it (block timestamp).
    """

    address: str
    is_ready: bool
    added_at: int

    @property
    def exists(self) -> bool:
        """Whether the account proposed this guardian (and has not removed it)."""
        return int(self.address, 16) != 0


@dataclass(frozen=True, slots=True)
class EraRecoveryRequest:
    """An account's pending request on one origin (``getPendingRecoveryData``).

    Attributes:
        hashed_credential_id: ``keccak256`` of the new passkey's credential id.
        public_key: The new passkey's ``(x, y)``.
        timestamp: When the guardian stored it (0 when there is none).
        fulfilled: The requested passkey is on the account already. The module keeps a finished request
            until it expires or is discarded, and a fulfilled one cannot be finished again; the accounts'
            ``pending_recovery`` reads the account's passkeys to set this (decoding alone leaves it False).
    """

    hashed_credential_id: bytes
    public_key: tuple[int, int]
    timestamp: int
    fulfilled: bool = False

    @property
    def exists(self) -> bool:
        """Whether a request is stored."""
        return self.timestamp != 0

    @property
    def earliest_finish(self) -> int:
        """The first block timestamp at which the finishing transaction validates (``timestamp + 24 h``)."""
        return self.timestamp + _REQUEST_DELAY

    @property
    def expires_at(self) -> int:
        """The last block timestamp at which it validates (``timestamp + 72 h``, inclusive)."""
        return self.timestamp + _REQUEST_VALIDITY

    def finishable_at(self, block_timestamp: int) -> bool:
        """Whether the module accepts the finishing transaction in a block with this timestamp."""
        if not self.exists or self.fulfilled:
            return False
        return self.earliest_finish <= block_timestamp <= self.expires_at

    def matches(self, credential_id: bytes, public_key: tuple[int, int]) -> bool:
        """Whether the passkey ``(credential_id, public_key)`` is the one requested."""
        return (
            bytes(keccak(bytes(credential_id))) == self.hashed_credential_id
            and tuple(public_key) == self.public_key
        )


def _call(name: str, *values: object) -> bytes:
    return abi_call(name, _FUNCTIONS[name], values)


def _scoped(name: str, origin: str, address: str, field: str) -> bytes:
    """``name(keccak256(origin), address)``: the module's calls and views scoped by origin."""
    return _call(
        name, GuardianRecoveryValidator.hashed_origin(origin), checksum_address(address, field=field)
    )


def _guardian(values: Sequence[object]) -> EraGuardian:
    address, ready, added = values
    return EraGuardian(checksum_address(str(address).lower()), bool(ready), int(added))  # type: ignore[call-overload]


class GuardianRecoveryValidator:
    """The Era ``GuardianRecoveryValidator`` module without I/O: each method builds the calldata of the module
    function of its name, the finishing transaction's parts, or decodes what the module returns or reverts
    with. Every call is scoped by ``origin`` (the module stores ``keccak256(origin)``).

    Methods taking an address raise :class:`~sso_signer.exceptions.InvalidEncoding`
    (``ErrorCode.INVALID_ADDRESS``) for one that is not; every ``decode_*`` raises
    :class:`~sso_signer.exceptions.SsoEncodingError` for bytes that are not the canonical encoding it expects.
    """

    #: The finishing transaction validates from ``timestamp + 24 h`` ...
    REQUEST_DELAY_SECONDS: ClassVar[int] = _REQUEST_DELAY
    #: ... to ``timestamp + 72 h``; afterwards a guardian may start a new request.
    REQUEST_VALIDITY_SECONDS: ClassVar[int] = _REQUEST_VALIDITY
    #: The least ``gasLimit`` the module accepts on a finishing transaction (a starved finish would fail at
    #: the account's fee); unused gas is refunded.
    FINISH_MIN_GAS_LIMIT: ClassVar[int] = 2_000_000
    #: After a finish validated, the next validates this much later at the earliest (while the passkey is
    #: still missing).
    FINISH_RETRY_DELAY_SECONDS: ClassVar[int] = 3600
    #: Function name → 4-byte selector.
    SELECTORS: ClassVar[Mapping[str, bytes]] = {
        name: function_selector(name, types) for name, types in _FUNCTIONS.items()
    }
    #: Error name → 4-byte selector.
    ERROR_SELECTORS: ClassVar[Mapping[str, bytes]] = {
        name: function_selector(name, types) for name, types in _ERRORS.items()
    }

    @staticmethod
    def hashed_origin(origin: str) -> bytes:
        """``keccak256(bytes(origin))``: the module's scope (the origin the passkeys' assertions carry).

        Raises:
            SsoEncodingError (``BAD_DOMAIN_LENGTH``): If ``origin`` is not a non-empty string.
        """
        if not isinstance(origin, str) or not origin:
            raise SsoEncodingError("origin: a non-empty string required", rule=ErrorCode.BAD_DOMAIN_LENGTH)
        return bytes(keccak(origin.encode()))

    @staticmethod
    def propose_guardian(origin: str, guardian: str) -> bytes:
        """``proposeGuardian(keccak256(origin), guardian)``: the account's own call (a no-op if proposed).

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``guardian`` is not an address.
            SsoEncodingError (``INVALID_GUARDIAN``): If it is the zero address (``GUARDIAN_INVALID_ADDRESS``).
        """
        address = checksum_address(guardian, field="guardian")
        if int(address, 16) == 0:
            raise SsoEncodingError(
                "guardian: the zero address is refused by the module (GUARDIAN_INVALID_ADDRESS)",
                rule=ErrorCode.INVALID_GUARDIAN,
            )
        return _call("proposeGuardian", GuardianRecoveryValidator.hashed_origin(origin), address)

    @staticmethod
    def remove_guardian(origin: str, guardian: str) -> bytes:
        """``removeGuardian(keccak256(origin), guardian)``: the account's own call; removing a ready guardian
        discards the pending request."""
        return _scoped("removeGuardian", origin, guardian, "guardian")

    @staticmethod
    def add_guardian(origin: str, account: str) -> bytes:
        """``addGuardian(keccak256(origin), account)``: sent by the proposed guardian to accept."""
        return _scoped("addGuardian", origin, account, "account")

    @staticmethod
    def init_recovery(
        account: str, credential_id: bytes, public_key: P256PublicKey | tuple[int, int], origin: str
    ) -> bytes:
        """``initRecovery(account, keccak256(credentialId), [x, y], keccak256(origin))``: sent by a ready
        guardian, asking that the new passkey be added.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): If
                the WebAuthValidator would refuse the key in the finishing transaction.
        """
        address = checksum_address(account, field="account")
        validator_init_data(credential_id, public_key, origin, max_origin_length=ERA_MAX_ORIGIN_LENGTH)
        return _call(
            "initRecovery",
            address,
            bytes(keccak(bytes(credential_id))),
            [x.to_bytes(32, "big") for x in _coordinates(public_key)],
            GuardianRecoveryValidator.hashed_origin(origin),
        )

    @staticmethod
    def discard_recovery(origin: str) -> bytes:
        """``discardRecovery(keccak256(origin))``: the account's own call, deleting its pending request."""
        return _call("discardRecovery", GuardianRecoveryValidator.hashed_origin(origin))

    @staticmethod
    def finish_calldata(
        credential_id: bytes, public_key: P256PublicKey | tuple[int, int], origin: str
    ) -> bytes:
        """The finishing transaction's data: ``addValidationKey(credentialId, [x, y], origin)``, sent from the
        account to the WebAuthValidator (the module checks it is exactly the requested passkey).

        Raises:
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): As
                :meth:`init_recovery`.
        """
        return _ADD_VALIDATION_KEY + validator_init_data(
            credential_id, public_key, origin, max_origin_length=ERA_MAX_ORIGIN_LENGTH
        )

    @staticmethod
    def finish_custom_signature(module: str) -> bytes:
        """The finishing transaction's ``customSignature``: ``abi.encode(bytes "", address module, bytes "")``
        (no signature: the account asks ``module`` to validate it)."""
        address = checksum_address(module, field="module")
        return bytes(abi_encode(["bytes", "address", "bytes"], [b"", address, b""]))

    @staticmethod
    def guardians_for(origin: str, account: str) -> bytes:
        """``guardiansFor(keccak256(origin), account)`` (decode with :meth:`decode_guardians`)."""
        return _scoped("guardiansFor", origin, account, "account")

    @staticmethod
    def guardian_of(origin: str, guardian: str) -> bytes:
        """``guardianOf(keccak256(origin), guardian)``: the accounts that proposed it (decode with
        :meth:`decode_accounts`)."""
        return _scoped("guardianOf", origin, guardian, "guardian")

    @staticmethod
    def guardian_data(origin: str, account: str, guardian: str) -> bytes:
        """``accountGuardianData(keccak256(origin), account, guardian)`` (decode with
        :meth:`decode_guardian`)."""
        return _call(
            "accountGuardianData",
            GuardianRecoveryValidator.hashed_origin(origin),
            checksum_address(account, field="account"),
            checksum_address(guardian, field="guardian"),
        )

    @staticmethod
    def pending_recovery(origin: str, account: str) -> bytes:
        """``getPendingRecoveryData(keccak256(origin), account)`` (decode with
        :meth:`decode_pending_recovery`)."""
        return _scoped("getPendingRecoveryData", origin, account, "account")

    @staticmethod
    def last_finish_attempt(origin: str, account: str) -> bytes:
        """``lastFinishAttempt(keccak256(origin), account)``: when a finishing transaction last validated (a
        view of this project's module; decode with :meth:`decode_last_finish_attempt`)."""
        name, types = _LAST_FINISH_ATTEMPT
        return abi_call(
            name,
            types,
            (
                GuardianRecoveryValidator.hashed_origin(origin),
                checksum_address(account, field="account"),
            ),
        )

    @staticmethod
    def decode_last_finish_attempt(result: bytes) -> int:
        """Decode ``lastFinishAttempt``'s block timestamp (0: never)."""
        (timestamp,) = _decode("lastFinishAttempt result", ["uint256"], result)
        return int(cast("int", timestamp))

    @staticmethod
    def decode_guardians(result: bytes) -> tuple[EraGuardian, ...]:
        """Decode ``guardiansFor``'s ``(address addr, bool isReady, uint64 addedAt)[]``."""
        (entries,) = _decode("guardiansFor result", [f"{_GUARDIAN}[]"], result)
        return tuple(_guardian(entry) for entry in entries)

    @staticmethod
    def decode_guardian(result: bytes) -> EraGuardian:
        """Decode ``accountGuardianData``'s ``(address, bool, uint64)``."""
        return _guardian(_decode("accountGuardianData result", ["address", "bool", "uint64"], result))

    @staticmethod
    def decode_accounts(result: bytes) -> tuple[str, ...]:
        """Decode ``guardianOf``'s ``address[]`` into checksummed addresses."""
        (addresses,) = _decode("guardianOf result", ["address[]"], result)
        return tuple(checksum_address(str(a).lower()) for a in addresses)

    @staticmethod
    def decode_pending_recovery(result: bytes) -> EraRecoveryRequest:
        """Decode ``getPendingRecoveryData``'s ``(bytes32 hashedCredentialId, bytes32[2] rawPublicKey,
        uint256 timestamp)``."""
        (request,) = _decode("getPendingRecoveryData result", ["(bytes32,bytes32[2],uint256)"], result)
        hashed, key, timestamp = cast("tuple[bytes, tuple[bytes, bytes], int]", request)
        x, y = (int.from_bytes(word, "big") for word in key)
        return EraRecoveryRequest(bytes(hashed), (x, y), int(timestamp))

    @staticmethod
    def decode_error(revert_data: bytes) -> tuple[str, tuple[object, ...]] | None:
        """Decode revert data of a module call: ``(name, args)`` (addresses checksummed), or None when the
        selector is not one of the module's errors.

        Raises:
            SsoEncodingError: If the selector is the module's but the arguments do not decode.
        """
        return _decode_error(_ERRORS, revert_data)
