"""Session keys, Era generation, without I/O: the Era validator's rules applied offline, the period ids of a
0x71 session transaction, and the usage a ``sessionState`` answer implies.

The spec, its bytes and hash, the status and the state are the ERC-4337 generation's (``_session_spec``); what
differs on Era (``sso-sessions.md`` §4-5): a session transaction is a 0x71 transaction from the account whose
``to``/``value``/``data`` are the call, the validator checks constraints before value, reads 1-3 bytes of
calldata as a transfer, charges ``maxFeePerGas × gasLimit``, names its errors ``SESSION_*``, and checks time
through the chain's TimestampAsserter (a revert, not a validity window). An approval-based paymaster makes the
session also pass its ``token.approve(paymaster, minAllowance)`` policy, whose constraints take the period ids
after the value limit's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer.exceptions import SsoEncodingError
from sso_signer.sso._session_spec import (
    CallPolicy,
    LimitType,
    SessionCall,
    SessionSpec,
    SessionState,
    SessionStatus,
    SessionUsage,
    SessionVerdict,
    TrackerKey,
    UsageLimit,
    _Refused,
)
from sso_signer.sso._signature import checksum_address

__all__ = ["EraApproval", "check_era_call", "era_period_ids", "usage_from_state"]

#: ``approve(address,uint256)``: the call an approval-based paymaster needs the session to allow.
APPROVE_SELECTOR = keccak(text="approve(address,uint256)")[:4]
#: ``approvalBased(address token, uint256 minAllowance, bytes innerInput)`` (IPaymasterFlow).
APPROVAL_BASED_SELECTOR = bytes.fromhex("949431dc")


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


class _EraRun:
    """The Era validator's running state for one transaction: usage written so far, and the time asserted."""

    def __init__(self, usage: SessionUsage, ids: Sequence[int], now: int, expires_at: int) -> None:
        self.lifetime = dict(usage.lifetime)
        self.allowance = dict(usage.allowance)
        self.ids = ids
        self.now = now
        self.valid_after = 0
        self.valid_until = expires_at

    def assert_time(self, start: int, end: int) -> None:
        # The TimestampAsserter reverts outside [start, end]; what passes also bounds when the tx may land.
        if not start <= self.now <= end:
            raise _Refused("TimestampOutOfRange", self.now, start, end)
        self.valid_after = max(self.valid_after, start)
        self.valid_until = min(self.valid_until, end)

    def charge(
        self, limit: UsageLimit, key: TrackerKey, amount: int, position: int, constraint: int | None = None
    ) -> None:
        if position >= len(self.ids):
            raise _Refused("Panic", 0x32, constraint=constraint)  # the contract reads past periodIds
        period_id = self.ids[position]
        if limit.limit_type is LimitType.LIFETIME:
            used = self.lifetime.get(key, 0)
            if used + amount > limit.limit:
                raise _Refused("SESSION_LIFETIME_USAGE_EXCEEDED", used, limit.limit, constraint=constraint)
            self.lifetime[key] = used + amount
        elif limit.limit_type is LimitType.ALLOWANCE:
            start = period_id * limit.period
            self.assert_time(start, start + limit.period - 1)
            used = self.allowance.get((key, period_id), 0)
            if used + amount > limit.limit:
                raise _Refused(
                    "SESSION_ALLOWANCE_EXCEEDED", used, limit.limit, period_id, constraint=constraint
                )
            self.allowance[(key, period_id)] = used + amount

    def constraints(self, policy: CallPolicy, data: bytes, first: int) -> None:
        for i, constraint in enumerate(policy.constraints):
            end = 4 + 32 * constraint.index + 32
            if len(data) < end:
                raise _Refused("SESSION_INVALID_DATA_LENGTH", len(data), end, constraint=i)
            param = int.from_bytes(data[end - 32 : end], "big")
            if not constraint.condition.holds(param, constraint.ref_value):
                raise _Refused(
                    "SESSION_CONDITION_FAILED",
                    param.to_bytes(32, "big"),
                    constraint.ref_value.to_bytes(32, "big"),
                    int(constraint.condition),
                    constraint=i,
                )
            key = ("param", policy.target, policy.selector, i)
            self.charge(constraint.limit, key, param, first + i, constraint=i)


def _policy(spec: SessionSpec, call: SessionCall) -> CallPolicy:
    found = spec.call_policy(call.target, call.data[:4])
    if found is None:
        raise _Refused("SESSION_CALL_POLICY_VIOLATED", call.target, call.data[:4])
    return found[1]


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
    run = _EraRun(usage, ids, now, spec.expires_at)
    try:
        if usage.status is not SessionStatus.ACTIVE:
            raise _Refused("SESSION_NOT_ACTIVE")
        run.assert_time(0, spec.expires_at)
        first = 2
        if approval is not None:
            approve = _policy(spec, approval.call)
            run.constraints(approve, approval.call.data, 2)
            first = 2 + len(approve.constraints)
        if len(call.data) >= 4:
            policy = _policy(spec, call)
            run.constraints(policy, call.data, first)
            if call.value > policy.max_value_per_use:
                raise _Refused("SESSION_MAX_VALUE_EXCEEDED", call.value, policy.max_value_per_use)
            run.charge(policy.value_limit, ("call", call.target, call.data[:4]), call.value, 1)
        else:
            transfer = spec.transfer_policy(call.target)
            if transfer is None:
                raise _Refused("SESSION_TRANSFER_POLICY_VIOLATED", call.target)
            if call.value > transfer.max_value_per_use:
                raise _Refused("SESSION_MAX_VALUE_EXCEEDED", call.value, transfer.max_value_per_use)
            run.charge(transfer.value_limit, ("transfer", call.target), call.value, 1)
        if fee is not None:
            run.charge(spec.fee_limit, ("fee",), fee, 0)
    except _Refused as refused:
        expired = refused.rule == "TimestampOutOfRange" and now > spec.expires_at
        return SessionVerdict(refused.rule, refused.args_, refused.constraint, expired=expired)
    after = SessionUsage(usage.status, run.lifetime, run.allowance)
    return SessionVerdict(None, valid_after=run.valid_after, valid_until=run.valid_until, usage=after)


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
