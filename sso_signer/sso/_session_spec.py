"""Session keys without I/O: the SessionSpec, its bytes, and the validator's rules (the Era ones at the end).

A session lets a secp256k1 key (e.g. a backend's) act for a smart account within a :class:`SessionSpec` the
account approved once with its passkey. The validator stores only ``keccak256(abi.encode(spec))``; every
session userOp carries the full spec in its signature. This module builds specs (validated at construction),
encodes them byte-for-byte as the official ZKsync SSO contracts do, builds the ``createSession`` /
``revokeKey(s)`` / view calldata, the session signature and nonce key, the period ids a call needs, and
:func:`check_call`, which applies the validator's rules to a call offline and names the rule it would break
(the contract's error name).

See ``docs/sessions.md``.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer.erc4337._execute import encode_execute_single
from sso_signer.exceptions import InvalidEncoding, InvalidInputError, InvalidSessionSpec, SsoEncodingError
from sso_signer.sso._signature import abi_call, abi_decode_canonical, checksum_address
from sso_signer.zksync._paymaster import APPROVAL_BASED_SELECTOR

_U256 = 2**256
_U48 = 2**48
_LIMIT = "(uint8,uint256,uint48)"
_CONSTRAINT = f"(uint8,uint64,bytes32,{_LIMIT})"
_CALL = f"(address,bytes4,uint256,{_LIMIT},{_CONSTRAINT}[])"
_TRANSFER = f"(address,uint256,{_LIMIT})"

#: Canonical ABI type of the ERC-4337 ``SessionSpec`` (Era spells ``uint48`` as ``uint256``: same bytes).
ERC4337_SESSION_SPEC_TYPE = f"(address,uint48,{_LIMIT},{_CALL}[],{_TRANSFER}[])"
#: The Era ``SessionSpec`` type (its own selectors and event topic; the same values encode to the same bytes).
ERA_SESSION_SPEC_TYPE = ERC4337_SESSION_SPEC_TYPE.replace("uint48", "uint256")
_LIMIT_STATE = "(uint256,address,bytes4,uint256)"
#: ABI type of ``SessionState`` (the return value of ``sessionState``).
SESSION_STATE_TYPE = f"(uint8,uint256,{_LIMIT_STATE}[],{_LIMIT_STATE}[],{_LIMIT_STATE}[])"


class LimitType(enum.IntEnum):
    """How a :class:`UsageLimit` counts (values are the wire ``uint8``)."""

    UNLIMITED = 0
    LIFETIME = 1
    ALLOWANCE = 2


class Condition(enum.IntEnum):
    """How a :class:`Constraint` compares an argument word with its ``ref_value`` (unsigned 256-bit)."""

    UNCONSTRAINED = 0
    EQUAL = 1
    GREATER = 2
    LESS = 3
    GREATER_OR_EQUAL = 4
    LESS_OR_EQUAL = 5
    NOT_EQUAL = 6

    def holds(self, param: int, ref_value: int) -> bool:
        """Whether ``param`` satisfies this condition against ``ref_value``.

        Args:
            param: The call's argument word, as an unsigned integer.
            ref_value: The constraint's reference word, as an unsigned integer.

        Returns:
            ``True`` when the contract would accept the word.
        """
        return {
            Condition.UNCONSTRAINED: True,
            Condition.EQUAL: param == ref_value,
            Condition.GREATER: param > ref_value,
            Condition.LESS: param < ref_value,
            Condition.GREATER_OR_EQUAL: param >= ref_value,
            Condition.LESS_OR_EQUAL: param <= ref_value,
            Condition.NOT_EQUAL: param != ref_value,
        }[self]


class SessionStatus(enum.IntEnum):
    """``sessionStatus(account, hash)``; expiry is not a status (an expired session reads ``ACTIVE``)."""

    NOT_INITIALIZED = 0
    ACTIVE = 1
    CLOSED = 2


def _instance(value: object, kind: type, name: str) -> None:
    if not isinstance(value, kind):
        raise InvalidSessionSpec(f"{name}: expected a {kind.__name__}, got {value!r}", field=name)


def _uint(value: object, bits: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
        raise InvalidSessionSpec(f"{name}: expected an integer in [0, 2**{bits}), got {value!r}", field=name)
    return value


def _address(value: object, name: str) -> str:
    try:
        return checksum_address(value, field=name)
    except InvalidEncoding as exc:
        raise InvalidSessionSpec(str(exc), field=name) from exc


def _selector(value: object, name: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            value = bytes.fromhex(value[2:])
    if not isinstance(value, bytes) or len(value) != 4:
        raise InvalidSessionSpec(
            f"{name}: expected 4 bytes (or 0x + 8 hex digits), got {value!r}", field=name
        )
    return bytes(value)


@dataclass(frozen=True, slots=True)
class UsageLimit:
    """A cap on a cumulative amount (fees, value, or a constrained argument's sum).

    Build with :meth:`unlimited`, :meth:`lifetime` or :meth:`allowance`. An ``ALLOWANCE`` period below 2
    seconds is refused: period 0 makes the validator panic, and period 1 lets a userOp with period id 0
    validate with no expiry on the official ERC-4337 contract (the session outlives ``expiresAt``).

    Attributes:
        limit_type: How the amount is counted.
        limit: The cap (ignored, and must be 0, for ``UNLIMITED``).
        period: Seconds per allowance period (``ALLOWANCE`` only; 0 otherwise).
    """

    limit_type: LimitType
    limit: int = 0
    period: int = 0

    def __post_init__(self) -> None:
        _instance(self.limit_type, LimitType, "limit_type")
        _uint(self.limit, 256, "limit")
        _uint(self.period, 48, "period")
        if self.limit_type is LimitType.ALLOWANCE:
            if self.period < 2:
                raise InvalidSessionSpec(
                    f"period: an allowance period must be at least 2 seconds, got {self.period} "
                    "(0 panics in the validator; 1 lets the session outlive its expiry)",
                    field="period",
                )
        elif self.period != 0:
            raise InvalidSessionSpec(
                f"period: only an allowance has a period, got {self.period}", field="period"
            )
        if self.limit_type is LimitType.UNLIMITED and self.limit != 0:
            raise InvalidSessionSpec(f"limit: an unlimited limit has no cap, got {self.limit}", field="limit")

    @classmethod
    def unlimited(cls) -> UsageLimit:
        """No cap."""
        return cls(LimitType.UNLIMITED)

    @classmethod
    def lifetime(cls, limit: int) -> UsageLimit:
        """At most ``limit`` over the whole session."""
        return cls(LimitType.LIFETIME, limit)

    @classmethod
    def allowance(cls, limit: int, period: int) -> UsageLimit:
        """At most ``limit`` per period of ``period`` seconds (periods are ``floor(t / period)``)."""
        return cls(LimitType.ALLOWANCE, limit, period)

    def period_id(self, timestamp: int) -> int:
        """The period id this limit needs in a userOp included at ``timestamp`` (0 unless ``ALLOWANCE``)."""
        return timestamp // self.period if self.limit_type is LimitType.ALLOWANCE else 0

    def _abi(self) -> tuple[int, int, int]:
        return (int(self.limit_type), self.limit, self.period)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A condition on one static argument of a call, optionally with a limit on the sum of its values.

    Attributes:
        condition: The comparison with ``ref_value``.
        index: The argument index (not a byte offset): the word at ``calldata[4 + 32*index : 36 + 32*index]``.
        ref_value: The reference word, as an unsigned integer (an address or amount).
        limit: A cap on the sum of this argument's values (e.g. an ERC-20 amount).
    """

    condition: Condition
    index: int
    ref_value: int = 0
    limit: UsageLimit = field(default_factory=UsageLimit.unlimited)

    def __post_init__(self) -> None:
        _instance(self.condition, Condition, "condition")
        _uint(self.index, 64, "index")
        _uint(self.ref_value, 256, "ref_value")

    def _abi(self) -> tuple[Any, ...]:
        return (int(self.condition), self.index, self.ref_value.to_bytes(32, "big"), self.limit._abi())


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """Calls (calldata of 4 bytes or more) the session may make to ``target`` with ``selector``.

    Attributes:
        target: The contract called.
        selector: The function selector (4 bytes).
        max_value_per_use: The most wei one call may send.
        value_limit: A cap on the wei all such calls send.
        constraints: Argument conditions, all checked, in order.
    """

    target: str
    selector: bytes
    max_value_per_use: int = 0
    value_limit: UsageLimit = field(default_factory=UsageLimit.unlimited)
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _address(self.target, "target"))
        object.__setattr__(self, "selector", _selector(self.selector, "selector"))
        _uint(self.max_value_per_use, 256, "max_value_per_use")
        object.__setattr__(self, "constraints", tuple(self.constraints))

    def _abi(self) -> tuple[Any, ...]:
        return (
            self.target,
            self.selector,
            self.max_value_per_use,
            self.value_limit._abi(),
            [c._abi() for c in self.constraints],
        )


@dataclass(frozen=True, slots=True)
class TransferPolicy:
    """Plain value transfers (empty calldata) the session may make to ``target``.

    Attributes:
        target: The recipient.
        max_value_per_use: The most wei one transfer may send.
        value_limit: A cap on the wei all transfers to ``target`` send.
    """

    target: str
    max_value_per_use: int
    value_limit: UsageLimit = field(default_factory=UsageLimit.unlimited)

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _address(self.target, "target"))
        _uint(self.max_value_per_use, 256, "max_value_per_use")

    def _abi(self) -> tuple[Any, ...]:
        return (self.target, self.max_value_per_use, self.value_limit._abi())


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What a session key may do for an account, and until when.

    Attributes:
        signer: The session key's address; a validator accepts each signer for one session only, ever.
        expires_at: Unix seconds after which the session is refused.
        fee_limit: A cap on the fees the session's userOps may cost (never ``UNLIMITED``).
        call_policies: Allowed contract calls; the first matching ``(target, selector)`` applies.
        transfer_policies: Allowed transfers; the first matching ``target`` applies.

    Raises:
        InvalidSessionSpec: At construction, naming the field, for any value the validator would refuse or
            mishandle (unlimited fees, an allowance period below 2, an out-of-range integer, a bad address).
    """

    signer: str
    expires_at: int
    fee_limit: UsageLimit
    call_policies: tuple[CallPolicy, ...] = ()
    transfer_policies: tuple[TransferPolicy, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "signer", _address(self.signer, "signer"))
        if int(self.signer, 16) == 0:
            raise InvalidSessionSpec("signer: the zero address cannot sign (ZeroSigner)", field="signer")
        _uint(self.expires_at, 48, "expires_at")
        if not isinstance(self.fee_limit, UsageLimit) or self.fee_limit.limit_type is LimitType.UNLIMITED:
            raise InvalidSessionSpec("fee_limit: fees must be limited (UnlimitedFees)", field="fee_limit")
        object.__setattr__(self, "call_policies", tuple(self.call_policies))
        object.__setattr__(self, "transfer_policies", tuple(self.transfer_policies))
        for i, policy in enumerate(self.call_policies):
            _instance(policy, CallPolicy, f"call_policies[{i}]")
        for i, transfer in enumerate(self.transfer_policies):
            _instance(transfer, TransferPolicy, f"transfer_policies[{i}]")

    def _abi(self) -> tuple[Any, ...]:
        return (
            self.signer,
            self.expires_at,
            self.fee_limit._abi(),
            [p._abi() for p in self.call_policies],
            [t._abi() for t in self.transfer_policies],
        )

    def encode(self) -> bytes:
        """``abi.encode(spec)``: one dynamic tuple, so the bytes start with the offset word ``0x20``."""
        return abi_encode([ERC4337_SESSION_SPEC_TYPE], [self._abi()])

    @classmethod
    def decode(cls, data: bytes) -> SessionSpec:
        """Read ``abi.encode(spec)`` (e.g. the data of a ``SessionCreated`` log) back into a spec.

        Args:
            data: The encoding, starting with its ``0x20`` offset word.

        Returns:
            The spec; ``decode(spec.encode()) == spec``.

        Raises:
            SsoEncodingError: If the bytes are not a canonical encoding of one spec.
            InvalidSessionSpec: If the spec holds a value this builder refuses (an allowance period below 2,
                unlimited fees), which the official contracts accept.
        """
        (value,) = abi_decode_canonical("SessionSpec", [ERC4337_SESSION_SPEC_TYPE], data)
        return _spec_from_abi(value)

    @property
    def session_hash(self) -> bytes:
        """``keccak256(abi.encode(spec))``: the session's id on chain (same value in both generations)."""
        return keccak(self.encode())

    @property
    def nonce_key(self) -> int:
        """``uint192(uint160(signer))``: the EntryPoint nonce key (lane) of the session's userOps, whose nonce
        is ``key << 64 | sequence``."""
        return int(self.signer, 16)

    def proof_digest(self, account: str) -> bytes:
        """``keccak256(abi.encode(sessionHash, account))``: what the session key signs (raw, no EIP-191
        prefix) to prove at creation that the account's new session is its own.

        Args:
            account: The smart account that creates the session.

        Returns:
            The 32-byte digest.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``account`` is not an address.
        """
        return keccak(
            abi_encode(
                ["bytes32", "address"], [self.session_hash, checksum_address(account, field="account")]
            )
        )

    def period_ids(self, call: SessionCall, timestamp: int) -> tuple[int, ...]:
        """The period ids a session userOp for ``call`` needs when included at ``timestamp``.

        One id per limit the call touches: the fee limit, the matched policy's value limit, then every
        constraint of the matched call policy (``floor(timestamp / period)`` for an allowance, 0 otherwise).
        The official SDKs always send two, which fails every policy with constraints; this sends the right
        number. A call no policy matches gets two (the validator refuses it by name anyway).

        Args:
            call: The call.
            timestamp: The expected inclusion time (avoid the first and last seconds of a period: the userOp
                is only valid within it, after its first second).

        Returns:
            The ids, in the validator's order.
        """
        fee = self.fee_limit.period_id(timestamp)
        if len(call.data) >= 4:
            found = self.call_policy(call.target, call.data[:4])
            if found is None:
                return (fee, 0)
            policy = found[1]
            return (
                fee,
                policy.value_limit.period_id(timestamp),
                *(c.limit.period_id(timestamp) for c in policy.constraints),
            )
        transfer = self.transfer_policy(call.target)
        return (fee, transfer.value_limit.period_id(timestamp) if transfer is not None else 0)

    def call_policy(self, target: str, selector: bytes) -> tuple[int, CallPolicy] | None:
        """The first call policy for ``(target, selector)`` and its position, as the validator matches it."""
        target = checksum_address(target, field="target")
        for i, policy in enumerate(self.call_policies):
            if policy.target == target and policy.selector == selector:
                return i, policy
        return None

    def transfer_policy(self, target: str) -> TransferPolicy | None:
        """The first transfer policy for ``target``, as the validator matches it."""
        target = checksum_address(target, field="target")
        return next((t for t in self.transfer_policies if t.target == target), None)


def _limit_from_abi(raw: tuple[int, int, int]) -> UsageLimit:
    try:
        return UsageLimit(LimitType(raw[0]), raw[1], raw[2])
    except ValueError as exc:
        if isinstance(exc, InvalidSessionSpec):
            raise
        raise InvalidSessionSpec(f"limit_type: unknown value {raw[0]}", field="limit_type") from exc


def _spec_from_abi(value: tuple[Any, ...]) -> SessionSpec:
    signer, expires_at, fee, calls, transfers = value
    try:
        return SessionSpec(
            signer,
            expires_at,
            _limit_from_abi(fee),
            tuple(
                CallPolicy(
                    c[0],
                    bytes(c[1]),
                    c[2],
                    _limit_from_abi(c[3]),
                    tuple(
                        Constraint(Condition(k[0]), k[1], int.from_bytes(k[2], "big"), _limit_from_abi(k[3]))
                        for k in c[4]
                    ),
                )
                for c in calls
            ),
            tuple(TransferPolicy(t[0], t[1], _limit_from_abi(t[2])) for t in transfers),
        )
    except ValueError as exc:
        if isinstance(exc, InvalidSessionSpec):
            raise
        raise InvalidSessionSpec(f"condition: unknown value ({exc})", field="condition") from exc


@dataclass(frozen=True, slots=True)
class LimitState:
    """What is left of one limit, as ``sessionState`` reports it.

    Attributes:
        remaining: What is left (``2**256 - 1`` when unlimited; periodic limits in the current period of
            the block the view ran in).
        target: The policy's target.
        selector: The call policy's selector (``b"\\x00" * 4`` for a transfer policy).
        index: For a constraint, its argument index; 0 otherwise.
    """

    remaining: int
    target: str
    selector: bytes
    index: int


@dataclass(frozen=True, slots=True)
class SessionState:
    """The answer of ``sessionState(account, spec)``.

    Attributes:
        status: The session's status for the account.
        fees_remaining: What is left of the fee limit.
        transfer_value: One entry per transfer policy, in order.
        call_value: One entry per call policy, in order.
        call_params: One entry per constraint with a limit (unlimited ones are left out), in policy order.
    """

    status: SessionStatus
    fees_remaining: int
    transfer_value: tuple[LimitState, ...]
    call_value: tuple[LimitState, ...]
    call_params: tuple[LimitState, ...]


@dataclass(frozen=True, slots=True)
class SessionCall:
    """The one call a session userOp makes: ``execute(single, target ‖ value ‖ data)``.

    Attributes:
        target: The called contract or transfer recipient.
        value: Wei sent.
        data: Calldata; empty for a transfer.
    """

    target: str
    value: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", checksum_address(self.target, field="target"))
        if not isinstance(self.value, int) or not 0 <= self.value < _U256:
            raise SsoEncodingError(f"value: expected a uint256, got {self.value!r}")
        object.__setattr__(self, "data", bytes(self.data))

    @property
    def call_data(self) -> bytes:
        """The userOp ``callData``: ERC-7579 ``execute`` with the single-call, revert-on-failure mode."""
        return encode_execute_single(self.target, self.value, self.data)


class SessionKeyValidator:
    """The ``SessionKeyValidator`` module without I/O: each method builds the calldata of the module function
    of its name, decodes what it returns, or builds the session userOp signature it reads.

    Every method that takes an address raises :class:`~sso_signer.exceptions.InvalidEncoding`
    (``ErrorCode.INVALID_ADDRESS``) for one that is not.
    """

    @staticmethod
    def create_session(spec: SessionSpec, proof: bytes) -> bytes:
        """``createSession(spec, proof)``, sent by the account to the validator: the call of the account's
        ``execute`` (``sso_signer.erc4337.encode_execute_single(validator, 0, ...)``) in a passkey-signed
        userOp.

        Args:
            spec: The session.
            proof: The session key's 65-byte ``r ‖ s ‖ v`` signature of :meth:`SessionSpec.proof_digest`.

        Returns:
            The calldata.
        """
        return abi_call("createSession", [ERC4337_SESSION_SPEC_TYPE, "bytes"], [spec._abi(), proof])

    @staticmethod
    def revoke_key(session_hash: bytes) -> bytes:
        """``revokeKey(sessionHash)`` (sent by the account; the session must be active)."""
        return abi_call("revokeKey", ["bytes32"], [session_hash])

    @staticmethod
    def revoke_keys(session_hashes: Sequence[bytes]) -> bytes:
        """``revokeKeys(sessionHashes)``; one inactive session reverts the whole call."""
        return abi_call("revokeKeys", ["bytes32[]"], [list(session_hashes)])

    @staticmethod
    def session_status(account: str, session_hash: bytes) -> bytes:
        """``sessionStatus(account, sessionHash)`` (the answer is a ``uint8``: 0 not initialized, 1 active,
        2 closed; expiry is not a status)."""
        account = checksum_address(account, field="account")
        return abi_call("sessionStatus", ["address", "bytes32"], [account, session_hash])

    @staticmethod
    def session_state(account: str, spec: SessionSpec) -> bytes:
        """``sessionState(account, spec)`` (remaining limits in the current period; decode the answer with
        :meth:`decode_session_state`)."""
        account = checksum_address(account, field="account")
        return abi_call("sessionState", ["address", ERC4337_SESSION_SPEC_TYPE], [account, spec._abi()])

    @staticmethod
    def decode_session_state(data: bytes) -> SessionState:
        """Decode the return data of ``sessionState``.

        Raises:
            SsoEncodingError: If the bytes do not decode as a ``SessionState``.
        """
        try:
            ((status, fees, transfers, calls, params),) = abi_decode([SESSION_STATE_TYPE], bytes(data))
            return SessionState(
                SessionStatus(status),
                fees,
                *(
                    tuple(
                        LimitState(e[0], checksum_address(e[1], field="target"), bytes(e[2]), e[3])
                        for e in entries
                    )
                    for entries in (transfers, calls, params)
                ),
            )
        except (DecodingError, ValueError, TypeError, OverflowError, IndexError) as exc:
            raise SsoEncodingError(f"not an ABI-encoded SessionState: {exc}") from exc

    @staticmethod
    def signature(
        validator: str, ecdsa_signature: bytes, spec: SessionSpec, period_ids: Sequence[int]
    ) -> bytes:
        """A session userOp signature: ``validator ‖ abi.encode(bytes sig, SessionSpec spec, uint48[] ids)``.

        Args:
            validator: The SessionKeyValidator address (the account picks the validator from these 20 bytes).
            ecdsa_signature: The session key's 65-byte ``r ‖ s ‖ v`` over the raw userOpHash; 65 zero bytes
                make the stub used for gas estimation.
            spec: The session.
            period_ids: From :meth:`SessionSpec.period_ids`.

        Returns:
            The signature bytes.

        Raises:
            SsoEncodingError: If the signature is not 65 bytes or a period id is not a uint48.
        """
        ids = _signature_ids(ecdsa_signature, period_ids, 48)
        head = bytes.fromhex(checksum_address(validator, field="validator")[2:])
        return head + abi_encode(
            ["bytes", ERC4337_SESSION_SPEC_TYPE, "uint48[]"], [ecdsa_signature, spec._abi(), ids]
        )

    # -- Era generation (0x71 transactions; same hash, status, revoke and state decoding) -----------------

    @staticmethod
    def era_create_session(spec: SessionSpec) -> bytes:
        """Era ``createSession(spec)`` (``0x5a0694d2``; no proof), sent by the account to the validator in a
        passkey-signed 0x71 transaction. ``spec.encode()`` is the validator's ``onInstall`` data that opens
        the session at installation."""
        return abi_call("createSession", [ERA_SESSION_SPEC_TYPE], [spec._abi()])

    @staticmethod
    def era_session_state(account: str, spec: SessionSpec) -> bytes:
        """Era ``sessionState(account, spec)`` (``0xb6d75019``); decode with :meth:`decode_session_state`."""
        account = checksum_address(account, field="account")
        return abi_call("sessionState", ["address", ERA_SESSION_SPEC_TYPE], [account, spec._abi()])

    @staticmethod
    def era_signature(
        validator: str, ecdsa_signature: bytes, spec: SessionSpec, period_ids: Sequence[int]
    ) -> bytes:
        """An Era session transaction's ``customSignature``:
        ``abi.encode(bytes sig, address validator, abi.encode(SessionSpec spec, uint64[] periodIds))``.

        Args:
            validator: The SessionKeyValidator address (the account picks the validator from it).
            ecdsa_signature: The session key's 65-byte ``r ‖ s ‖ v`` over the raw 0x71 EIP-712 signed hash.
            spec: The session.
            period_ids: One per limit the transaction touches, in the validator's order (fee, value limit,
                constraints; an approval-based paymaster's ``approve`` constraints come before the call's).

        Returns:
            The custom signature bytes.

        Raises:
            SsoEncodingError: If the signature is not 65 bytes or a period id is not a uint64.
            InvalidEncoding (``INVALID_ADDRESS``): If ``validator`` is not an address.
        """
        ids = _signature_ids(ecdsa_signature, period_ids, 64)
        validator_data = abi_encode([ERA_SESSION_SPEC_TYPE, "uint64[]"], [spec._abi(), ids])
        return abi_encode(
            ["bytes", "address", "bytes"],
            [bytes(ecdsa_signature), checksum_address(validator, field="validator"), validator_data],
        )


def _signature_ids(ecdsa_signature: bytes, period_ids: Sequence[int], bits: int) -> list[int]:
    if len(ecdsa_signature) != 65:
        raise SsoEncodingError(f"ecdsa_signature: expected 65 bytes, got {len(ecdsa_signature)}")
    ids = list(period_ids)
    if any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < 2**bits for i in ids):
        raise SsoEncodingError(f"period_ids: expected uint{bits} values, got {ids!r}")
    return ids


# ------------------------------------------------------------------------------------------ offline checks

#: The usage counter a limit writes: ``("fee",)``, ``("transfer", target)``, ``("call", target, selector)`` or
#: ``("param", target, selector, constraint position)``.
TrackerKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """What a session has used so far for one account, as the validator's trackers hold it.

    Attributes:
        status: The session's status for the account.
        lifetime: Used amount per tracker (lifetime limits).
        allowance: Used amount per ``(tracker, period id)`` (allowance limits).
    """

    status: SessionStatus = SessionStatus.ACTIVE
    lifetime: Mapping[TrackerKey, int] = field(default_factory=dict)
    allowance: Mapping[tuple[TrackerKey, int], int] = field(default_factory=dict)

    def used(self, limit: UsageLimit, key: TrackerKey, period_id: int) -> int:
        """The amount already counted against ``limit`` (0 for an unlimited one)."""
        if limit.limit_type is LimitType.LIFETIME:
            return self.lifetime.get(key, 0)
        if limit.limit_type is LimitType.ALLOWANCE:
            return self.allowance.get((key, period_id), 0)
        return 0


@dataclass(frozen=True, slots=True)
class SessionVerdict:
    """What the validator (and the EntryPoint's time check) would do with a session call.

    Attributes:
        rule: ``None`` when accepted, else the contract's error name (``"MaxValueExceeded"``,
            ``"ConditionViolated"``...) or ``"Expired"`` (EntryPoint ``AA22``: outside the validity window).
        args: The error's arguments, as the contract reverts with them.
        constraint: For constraint rules, the position of the constraint in its policy.
        valid_after: The start of the validity window (when accepted).
        valid_until: The end of the validity window (when accepted).
        usage: The usage after the call (when accepted), for checking a sequence of calls.
        expired: Refused because the session's ``expiresAt`` has passed (``rule`` is then ``"Expired"`` or,
            when a periodic limit's window lies after the expiry, ``"EmptyTimeRange"``).
    """

    rule: str | None
    args: tuple[Any, ...] = ()
    constraint: int | None = None
    valid_after: int = 0
    valid_until: int = 0
    usage: SessionUsage | None = None
    expired: bool = False

    @property
    def accepted(self) -> bool:
        """Whether the call would be accepted."""
        return self.rule is None


class _Refused(Exception):
    def __init__(self, rule: str, *args: Any, constraint: int | None = None) -> None:
        super().__init__(rule)
        self.rule = rule
        self.args_ = args
        self.constraint = constraint


class _Run:
    """The validator's running state for one call: the window and the usage written so far."""

    #: The validator's error names (the Era validator's are ``SESSION_*``).
    NAMES: ClassVar[Mapping[str, str]] = {
        "not_active": "SessionNotActive",
        "call_policy": "CallPolicyViolated",
        "data_length": "InvalidDataLength",
        "condition": "ConditionViolated",
        "lifetime": "LifetimeUsageExceeded",
        "allowance": "AllowanceExceeded",
        "transfer": "TransferPolicyViolated",
        "max_value": "MaxValueExceeded",
        "time": "EmptyTimeRange",
    }
    #: Era: a call's constraints before its value, 1-3 bytes of calldata are a transfer, and the block time
    #: is asserted (TimestampAsserter) instead of returned as a validity window.
    ERA: ClassVar[bool] = False

    def __init__(self, usage: SessionUsage, ids: Sequence[int], now: int, expires_at: int) -> None:
        self.lifetime = dict(usage.lifetime)
        self.allowance = dict(usage.allowance)
        self.ids = ids
        self.now = now
        self.valid_after = 0
        self.valid_until = expires_at

    def charge(
        self, limit: UsageLimit, key: TrackerKey, amount: int, position: int, constraint: int | None = None
    ) -> None:
        if position >= len(self.ids):
            raise _Refused("Panic", 0x32)  # the contract reads periodIds out of bounds
        period_id = self.ids[position]
        if limit.limit_type is LimitType.LIFETIME:
            used = self.lifetime.get(key, 0)
            if used + amount > limit.limit:
                raise _Refused(self.NAMES["lifetime"], used, limit.limit, constraint=constraint)
            self.lifetime[key] = used + amount
        elif limit.limit_type is LimitType.ALLOWANCE:
            start = period_id * limit.period
            end = start + limit.period - 1
            if self.ERA:  # the asserter checks the period before the allowance is counted
                self.assert_time(start, end)
            used = self.allowance.get((key, period_id), 0)
            if used + amount > limit.limit:
                raise _Refused(self.NAMES["allowance"], used, limit.limit, period_id, constraint=constraint)
            self.allowance[(key, period_id)] = used + amount
            if not self.ERA:  # the validity window narrows to the period
                self.valid_after = max(self.valid_after, min(start, _U48 - 1))
                self.valid_until = min(self.valid_until, end)
                if self.valid_until == 0 or self.valid_after > self.valid_until:
                    raise _Refused("EmptyTimeRange")

    def assert_time(self, start: int, end: int) -> None:
        # Era: the TimestampAsserter reverts outside [start, end]; what passes bounds when the tx may land.
        if not start <= self.now <= end:
            raise _Refused("TimestampOutOfRange", self.now, start, end)
        self.valid_after = max(self.valid_after, start)
        self.valid_until = min(self.valid_until, end)

    def policy(self, spec: SessionSpec, call: SessionCall) -> CallPolicy:
        found = spec.call_policy(call.target, call.data[:4])
        if found is None:
            raise _Refused(self.NAMES["call_policy"], call.target, call.data[:4])
        return found[1]

    def constraints(self, policy: CallPolicy, data: bytes, first: int) -> None:
        for i, constraint in enumerate(policy.constraints):
            end = 4 + 32 * constraint.index + 32
            if len(data) < end:
                raise _Refused(self.NAMES["data_length"], len(data), end, constraint=i)
            param = int.from_bytes(data[end - 32 : end], "big")
            if not constraint.condition.holds(param, constraint.ref_value):
                raise _Refused(
                    self.NAMES["condition"],
                    param.to_bytes(32, "big"),
                    constraint.ref_value.to_bytes(32, "big"),
                    int(constraint.condition),
                    constraint=i,
                )
            key = ("param", policy.target, policy.selector, i)
            self.charge(constraint.limit, key, param, first + i, constraint=i)

    def check(
        self,
        spec: SessionSpec,
        call: SessionCall,
        usage: SessionUsage,
        fee: int | None,
        approval: EraApproval | None,
    ) -> SessionVerdict:
        """The validator's rules, in the contract's order, then the EntryPoint's time check."""
        names, now = self.NAMES, self.now
        try:
            if usage.status is not SessionStatus.ACTIVE:
                raise _Refused(names["not_active"])
            if self.ERA:
                self.assert_time(0, spec.expires_at)
            first = 2
            if approval is not None:
                approve = self.policy(spec, approval.call)
                self.constraints(approve, approval.call.data, 2)
                first += len(approve.constraints)
            policy: CallPolicy | TransferPolicy | None
            key: TrackerKey
            if len(call.data) >= 4:
                policy, key = self.policy(spec, call), ("call", call.target, call.data[:4])
                if self.ERA:
                    self.constraints(policy, call.data, first)
            else:
                if call.data and not self.ERA:
                    raise _Refused(names["data_length"], len(call.data), 0)
                policy, key = spec.transfer_policy(call.target), ("transfer", call.target)
                if policy is None:
                    raise _Refused(names["transfer"], call.target)
            if call.value > policy.max_value_per_use:
                raise _Refused(names["max_value"], call.value, policy.max_value_per_use)
            self.charge(policy.value_limit, key, call.value, 1)
            if isinstance(policy, CallPolicy) and not self.ERA:
                self.constraints(policy, call.data, first)
            if fee is not None:
                self.charge(spec.fee_limit, ("fee",), fee, 0)
        except _Refused as refused:
            expired = refused.rule == names["time"] and now > spec.expires_at
            return SessionVerdict(refused.rule, refused.args_, refused.constraint, expired=expired)
        # The EntryPoint's time check, which refuses ``now <= validAfter`` ("not due"): a periodic limit's
        # first second is outside its window. An Era call has no window: every time assertion above held.
        if not self.ERA and not self.valid_after < now <= self.valid_until:
            return SessionVerdict(
                "Expired", (self.valid_after, self.valid_until), expired=now > spec.expires_at
            )
        after = SessionUsage(usage.status, self.lifetime, self.allowance)
        return SessionVerdict(None, valid_after=self.valid_after, valid_until=self.valid_until, usage=after)


def check_call(
    spec: SessionSpec,
    call: SessionCall,
    now: int,
    usage: SessionUsage | None = None,
    *,
    fee: int | None = 0,
    ids: Sequence[int] | None = None,
    generation: str = "erc4337",
) -> SessionVerdict:
    """Apply the session validator's rules to ``call`` offline, in the contract's order.

    ``generation="era"`` applies the Era validator's rules instead, as :func:`check_era_call` (the call is the
    0x71 transaction's ``to``/``value``/``data``; ``fee`` is ``maxFeePerGas × gasLimit``).

    Args:
        spec: The session.
        call: The call the session userOp makes.
        now: The expected inclusion time (unix seconds).
        usage: What the session has used (default: nothing, status active).
        fee: The userOp's maximum fee in wei (gas limits × effective price cap); ``None`` when a paymaster
            pays (the validator then counts no fee).
        ids: The period ids to send (default: :meth:`SessionSpec.period_ids` at ``now``).

    Returns:
        A :class:`SessionVerdict`: ``rule`` is ``None`` when the validator would accept and the EntryPoint
        would take ``now`` as within the returned window (``valid_after < now <= valid_until``), else the
        name of the first rule broken.

    Raises:
        InvalidInputError: If ``generation`` is neither ``"erc4337"`` nor ``"era"``.
    """
    if generation == "era":
        return check_era_call(spec, call, now, usage, fee=fee, ids=ids)
    if generation != "erc4337":
        raise InvalidInputError(f"generation: expected 'erc4337' or 'era', got {generation!r}")
    usage = usage if usage is not None else SessionUsage()
    ids = tuple(ids) if ids is not None else spec.period_ids(call, now)
    return _Run(usage, ids, now, spec.expires_at).check(spec, call, usage, fee, None)


# ------------------------------------------------------------------------------------ Era generation rules
#
# What differs on Era (``sso-sessions.md`` §4-5): a session transaction is a 0x71 transaction from the account
# whose ``to``/``value``/``data`` are the call; the validator checks constraints before value, reads 1-3 bytes
# of calldata as a transfer, charges ``maxFeePerGas × gasLimit``, names its errors ``SESSION_*``, and checks
# time through the chain's TimestampAsserter (a revert, not a validity window). An approval-based paymaster
# makes the session also pass its ``token.approve(paymaster, minAllowance)`` policy, whose constraints take
# the period ids after the value limit's.

#: ``approve(address,uint256)``: the call an approval-based paymaster needs the session to allow.
APPROVE_SELECTOR = keccak(text="approve(address,uint256)")[:4]


@dataclass(frozen=True, slots=True)
class EraApproval:
    """What an approval-based paymaster makes the Era validator check: ``token.approve(paymaster, amount)``.

    Attributes:
        token: The ERC-20 the paymaster takes.
        paymaster: The paymaster (the approved spender).
        min_allowance: The amount approved.
    """

    token: str
    paymaster: str
    min_allowance: int

    @classmethod
    def from_paymaster(cls, paymaster: str, paymaster_input: bytes) -> EraApproval | None:
        """The approval an ``approvalBased`` paymaster input implies, or ``None`` for another flow.

        Raises:
            SsoEncodingError: If the input has the ``approvalBased`` selector but not its two head words (the
                validator reverts ``INVALID_PAYMASTER_INPUT``).
        """
        data = bytes(paymaster_input)
        if len(data) < 4 or data[:4] != APPROVAL_BASED_SELECTOR:
            return None
        try:
            token, amount = abi_decode(["address", "uint256"], data[4:68])
        except (DecodingError, ValueError, OverflowError) as exc:
            raise SsoEncodingError(f"paymaster_input: not an approvalBased input ({exc})") from exc
        return cls(checksum_address(token), checksum_address(paymaster, field="paymaster"), amount)

    @property
    def call(self) -> SessionCall:
        """The ``approve`` call the validator checks against the session's policies."""
        data = APPROVE_SELECTOR + abi_encode(["address", "uint256"], [self.paymaster, self.min_allowance])
        return SessionCall(self.token, 0, data)


def era_period_ids(
    spec: SessionSpec, call: SessionCall, timestamp: int, approval: EraApproval | None = None
) -> tuple[int, ...]:
    """The period ids of an Era session transaction for ``call`` included at ``timestamp``.

    ``[fee, matched policy's value limit, approve constraints..., call constraints...]``: without a paymaster
    approval these are the ERC-4337 ids (:meth:`SessionSpec.period_ids`).
    """
    ids = spec.period_ids(call, timestamp)
    if approval is None:
        return ids
    found = spec.call_policy(approval.token, APPROVE_SELECTOR)
    extra = tuple(c.limit.period_id(timestamp) for c in found[1].constraints) if found is not None else ()
    return (*ids[:2], *extra, *ids[2:])


class _EraRun(_Run):
    """The Era validator's running state: its error names and rules (:attr:`_Run.ERA`)."""

    NAMES: ClassVar[Mapping[str, str]] = {
        "not_active": "SESSION_NOT_ACTIVE",
        "call_policy": "SESSION_CALL_POLICY_VIOLATED",
        "data_length": "SESSION_INVALID_DATA_LENGTH",
        "condition": "SESSION_CONDITION_FAILED",
        "lifetime": "SESSION_LIFETIME_USAGE_EXCEEDED",
        "allowance": "SESSION_ALLOWANCE_EXCEEDED",
        "transfer": "SESSION_TRANSFER_POLICY_VIOLATED",
        "max_value": "SESSION_MAX_VALUE_EXCEEDED",
        "time": "TimestampOutOfRange",
    }
    ERA = True


def check_era_call(
    spec: SessionSpec,
    call: SessionCall,
    now: int,
    usage: SessionUsage | None = None,
    *,
    fee: int | None = 0,
    ids: Sequence[int] | None = None,
    approval: EraApproval | None = None,
) -> SessionVerdict:
    """Apply the Era SessionKeyValidator's rules to a session transaction offline, in the contract's order.

    Args:
        spec: The session.
        call: The transaction's ``to``, ``value`` and ``data``.
        now: The expected inclusion time (unix seconds; the TimestampAsserter reads the block's).
        usage: What the session has used (default: nothing, status active).
        fee: ``maxFeePerGas × gasLimit``; ``None`` when a paymaster pays (no fee is counted).
        ids: The period ids to send (default: :func:`era_period_ids` at ``now``).
        approval: The approval-based paymaster's ``approve``, if the transaction uses one.

    Returns:
        A :class:`SessionVerdict` whose ``rule`` is ``None`` when accepted, else the contract's error name
        (``"SESSION_MAX_VALUE_EXCEEDED"``, ...), ``"TimestampOutOfRange"`` (the asserter: expired, or a period
        id of another period; ``expired`` tells which) or ``"Panic"`` (too few period ids). When accepted,
        ``valid_after``/``valid_until`` bound the inclusion time the asserter allows.
    """
    usage = usage if usage is not None else SessionUsage()
    ids = tuple(ids) if ids is not None else era_period_ids(spec, call, now, approval)
    return _EraRun(usage, ids, now, spec.expires_at).check(spec, call, usage, fee, approval)


def usage_from_state(spec: SessionSpec, state: SessionState, timestamp: int) -> SessionUsage:
    """The usage a ``sessionState(account, spec)`` answer implies (both generations report the same state).

    Each limit's used amount is ``limit - remaining``; periodic ones in the period of ``timestamp`` (the time
    of the block the view ran in), which is where a transaction included in that period is counted.

    Args:
        spec: The session the state was read for.
        state: The decoded answer.
        timestamp: The timestamp of the block the view ran in.

    Returns:
        The usage, for :func:`check_era_call` / ``check_call``.

    Raises:
        SsoEncodingError: If the state does not have the spec's shape (one entry per policy, per limited
            constraint).
    """
    lifetime: dict[TrackerKey, int] = {}
    allowance: dict[tuple[TrackerKey, int], int] = {}

    def note(limit: UsageLimit, key: TrackerKey, remaining: int) -> None:
        if limit.limit_type is LimitType.LIFETIME:
            lifetime[key] = max(limit.limit - remaining, 0)
        elif limit.limit_type is LimitType.ALLOWANCE:
            allowance[(key, limit.period_id(timestamp))] = max(limit.limit - remaining, 0)

    limited = [
        (policy, i, c)
        for policy in spec.call_policies
        for i, c in enumerate(policy.constraints)
        if c.limit.limit_type is not LimitType.UNLIMITED
    ]
    if (len(state.transfer_value), len(state.call_value), len(state.call_params)) != (
        len(spec.transfer_policies),
        len(spec.call_policies),
        len(limited),
    ):
        raise SsoEncodingError("sessionState: its entries do not match the spec's policies")
    note(spec.fee_limit, ("fee",), state.fees_remaining)
    # Reversed, so that the first policy of a repeated target (the one the validator uses) is noted last.
    for transfer, entry in reversed(list(zip(spec.transfer_policies, state.transfer_value, strict=True))):
        note(transfer.value_limit, ("transfer", transfer.target), entry.remaining)
    for policy, entry in reversed(list(zip(spec.call_policies, state.call_value, strict=True))):
        note(policy.value_limit, ("call", policy.target, policy.selector), entry.remaining)
    for (policy, i, constraint), entry in reversed(list(zip(limited, state.call_params, strict=True))):
        note(constraint.limit, ("param", policy.target, policy.selector, i), entry.remaining)
    return SessionUsage(state.status, lifetime, allowance)
