// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title SessionLib
/// @notice Wire types of ZKsync SSO session keys (ERC-4337 generation) and the usage-limit arithmetic.
/// @dev The structs and enums are the wire format (field order, `uint48` periods): `keccak256(abi.encode(spec))`
/// must equal the official validator's session hash. Trackers keep every innermost mapping keyed by the account
/// so that validation only touches storage associated with the sender (ERC-7562).
library SessionLib {
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

    struct UsageLimit {
        LimitType limitType;
        uint256 limit;
        uint48 period;
    }

    struct Constraint {
        Condition condition;
        uint64 index;
        bytes32 refValue;
        UsageLimit limit;
    }

    struct CallSpec {
        address target;
        bytes4 selector;
        uint256 maxValuePerUse;
        UsageLimit valueLimit;
        Constraint[] constraints;
    }

    struct TransferSpec {
        address target;
        uint256 maxValuePerUse;
        UsageLimit valueLimit;
    }

    struct SessionSpec {
        address signer;
        uint48 expiresAt;
        UsageLimit feeLimit;
        CallSpec[] callPolicies;
        TransferSpec[] transferPolicies;
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

    struct UsageTracker {
        mapping(address account => uint256) lifetimeUsage;
        mapping(uint64 periodId => mapping(address account => uint256)) allowanceUsage;
    }

    /// @dev A validity window `[validAfter, validUntil]`, as the EntryPoint reads it.
    struct TimeRange {
        uint48 validAfter;
        uint48 validUntil;
    }

    error LifetimeUsageExceeded(uint256 used, uint256 limit);
    error AllowanceExceeded(uint256 used, uint256 limit, uint64 periodId);
    error EmptyTimeRange();

    /// @notice Checks that `amount` more fits `limit` for `account` and records it; narrows `range` to the period.
    /// @dev The period window is computed in 256 bits (no uint48 wrap-around). A window that ends at 0 is refused:
    /// the EntryPoint would read `validUntil = 0` as "no expiry", which let an `Allowance` with `period = 1`
    /// outlive the session's `expiresAt` in the official contract.
    function checkAndUpdate(
        UsageLimit memory limit,
        UsageTracker storage tracker,
        uint256 amount,
        uint48 periodId,
        address account,
        TimeRange memory range
    ) internal {
        if (limit.limitType == LimitType.Lifetime) {
            uint256 used = tracker.lifetimeUsage[account];
            if (used + amount > limit.limit) revert LifetimeUsageExceeded(used, limit.limit);
            tracker.lifetimeUsage[account] = used + amount;
        } else if (limit.limitType == LimitType.Allowance) {
            uint256 used = tracker.allowanceUsage[periodId][account];
            if (used + amount > limit.limit) revert AllowanceExceeded(used, limit.limit, periodId);
            tracker.allowanceUsage[periodId][account] = used + amount;
            uint256 start = uint256(periodId) * limit.period;
            uint256 end = start + limit.period - 1; // period >= 2 is enforced at creation; 0 panics here
            if (start > range.validAfter) {
                range.validAfter = uint48(start > type(uint48).max ? type(uint48).max : start);
            }
            if (end < range.validUntil) range.validUntil = uint48(end);
            if (range.validUntil == 0 || range.validAfter > range.validUntil) revert EmptyTimeRange();
        }
    }

    /// @notice What is left of `limit` for `account` at time `timestamp` (`2^256-1` when unlimited).
    function remaining(UsageLimit memory limit, UsageTracker storage tracker, address account, uint256 timestamp)
        internal
        view
        returns (uint256)
    {
        if (limit.limitType == LimitType.Unlimited) return type(uint256).max;
        uint256 used = limit.limitType == LimitType.Lifetime
            ? tracker.lifetimeUsage[account]
            : tracker.allowanceUsage[uint64(timestamp / limit.period)][account];
        return used >= limit.limit ? 0 : limit.limit - used;
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
