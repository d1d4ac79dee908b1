// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SessionPolicy} from "../common/SessionPolicy.sol";

/// @title SessionLib
/// @notice Wire types of ZKsync SSO session keys (ERC-4337 generation) and the usage-limit arithmetic.
/// @dev The structs are the wire format (field order, `uint48` periods): `keccak256(abi.encode(spec))` must equal
/// the official validator's session hash. The enums, trackers and usage arithmetic shared with the Era
/// generation are in `SessionPolicy`.
library SessionLib {
    struct UsageLimit {
        SessionPolicy.LimitType limitType;
        uint256 limit;
        uint48 period;
    }

    struct Constraint {
        SessionPolicy.Condition condition;
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
        SessionPolicy.UsageTracker storage tracker,
        uint256 amount,
        uint48 periodId,
        address account,
        TimeRange memory range
    ) internal {
        (bool fits, uint256 used) =
            SessionPolicy.consume(tracker, limit.limitType, limit.limit, amount, periodId, account);
        if (limit.limitType == SessionPolicy.LimitType.Lifetime) {
            if (!fits) revert LifetimeUsageExceeded(used, limit.limit);
        } else if (limit.limitType == SessionPolicy.LimitType.Allowance) {
            if (!fits) revert AllowanceExceeded(used, limit.limit, periodId);
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
    function remaining(
        UsageLimit memory limit,
        SessionPolicy.UsageTracker storage tracker,
        address account,
        uint256 timestamp
    ) internal view returns (uint256) {
        return SessionPolicy.remaining(tracker, limit.limitType, limit.limit, limit.period, account, timestamp);
    }
}
