// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SessionPolicy} from "../common/SessionPolicy.sol";

/// @title EraSessionLib
/// @notice Wire types of ZKsync SSO session keys, Era generation.
/// @dev The same structs as the ERC-4337 generation except that `SessionSpec.expiresAt` and `UsageLimit.period`
/// are `uint256`: the same values give the same bytes (so the same session hash), but the type strings, hence
/// the `createSession` / `sessionState` selectors and the `SessionCreated` topic, differ.
library EraSessionLib {
    struct UsageLimit {
        SessionPolicy.LimitType limitType;
        uint256 limit;
        uint256 period;
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
        uint256 expiresAt;
        UsageLimit feeLimit;
        CallSpec[] callPolicies;
        TransferSpec[] transferPolicies;
    }
}
