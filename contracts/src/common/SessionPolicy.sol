// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SessionPolicy
/// @notice What the session validators of both generations share: the enums (same numeric values on the wire),
/// the usage trackers, the condition test, the usage arithmetic and the state returned by `sessionState`.
/// @dev The SessionSpec structs are not here: the generations spell `expiresAt` and `UsageLimit.period` as
/// `uint48` (ERC-4337) and `uint256` (Era), which changes selectors and event topics, so each keeps its own.
/// Every innermost tracker mapping is keyed by the account, so validation only touches storage associated with
/// the sender (ERC-7562 and ZKsync's validation rules).
library SessionPolicy {
    enum Status {
        NotInitialized,
        Active,
        Closed
    }

    enum LimitType {
        Unlimited,
        Lifetime,
        Allowance
    }

    enum Condition {
        Unconstrained,
        Equal,
        Greater,
        Less,
        GreaterOrEqual,
        LessOrEqual,
        NotEqual
    }

    struct UsageTracker {
        mapping(address account => uint256) lifetimeUsage;
        mapping(uint64 periodId => mapping(address account => uint256)) allowanceUsage;
    }

    struct LimitState {
        uint256 remaining;
        address target;
        bytes4 selector;
        uint256 index;
    }

    struct SessionState {
        Status status;
        uint256 feesRemaining;
        LimitState[] transferValue;
        LimitState[] callValue;
        LimitState[] callParams;
    }

    /// @notice Counts `amount` against a limit for `account` if it fits.
    /// @return fits Whether `used + amount <= limit` (always true when unlimited); usage is recorded only then.
    /// @return used What was counted before (in `periodId` for an allowance).
    function consume(
        UsageTracker storage tracker,
        LimitType limitType,
        uint256 limit,
        uint256 amount,
        uint64 periodId,
        address account
    ) internal returns (bool fits, uint256 used) {
        if (limitType == LimitType.Lifetime) {
            used = tracker.lifetimeUsage[account];
            fits = used + amount <= limit;
            if (fits) tracker.lifetimeUsage[account] = used + amount;
        } else if (limitType == LimitType.Allowance) {
            used = tracker.allowanceUsage[periodId][account];
            fits = used + amount <= limit;
            if (fits) tracker.allowanceUsage[periodId][account] = used + amount;
        } else {
            fits = true;
        }
    }

    /// @notice What is left of a limit for `account` at `timestamp` (`2^256-1` when unlimited).
    function remaining(
        UsageTracker storage tracker,
        LimitType limitType,
        uint256 limit,
        uint256 period,
        address account,
        uint256 timestamp
    ) internal view returns (uint256) {
        if (limitType == LimitType.Unlimited) return type(uint256).max;
        uint256 used = limitType == LimitType.Lifetime
            ? tracker.lifetimeUsage[account]
            : tracker.allowanceUsage[uint64(timestamp / period)][account];
        return used >= limit ? 0 : limit - used;
    }

    /// @notice Whether `param` satisfies `condition` against `refValue` (both read as unsigned 256-bit words).
    function holds(Condition condition, bytes32 param, bytes32 refValue) internal pure returns (bool) {
        if (condition == Condition.Equal) return param == refValue;
        if (condition == Condition.Greater) return param > refValue;
        if (condition == Condition.Less) return param < refValue;
        if (condition == Condition.GreaterOrEqual) return param >= refValue;
        if (condition == Condition.LessOrEqual) return param <= refValue;
        if (condition == Condition.NotEqual) return param != refValue;
        return true;
    }
}
