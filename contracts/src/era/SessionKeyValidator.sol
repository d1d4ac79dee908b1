// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {SessionPolicy} from "../common/SessionPolicy.sol";
import {EraSessionLib} from "./EraSessionLib.sol";
import {IEraModule} from "./IEraModule.sol";
import {IEraModuleValidator} from "./IEraModuleValidator.sol";

/// @dev The account views the validator needs (both exist on the official SsoAccount).
interface IEraSessionAccount {
    function isModuleValidator(address validator) external view returns (bool);
    function isHook(address hook) external view returns (bool);
}

/// @dev ZKsync's TimestampAsserter: reverts unless `start <= block.timestamp <= end`.
interface ITimestampAsserter {
    function assertTimestampInRange(uint256 start, uint256 end) external view;
}

/// @title EraSessionKeyValidator
/// @notice Session keys for ZKsync SSO accounts on Era (native account abstraction): a secp256k1 key acts for the
/// account in 0x71 transactions, within a SessionSpec the account approved (created by the account itself, in a
/// passkey-signed transaction or at installation).
/// @dev Format-compatible with the official Era SessionKeyValidator: same selectors, SessionSpec encoding (the
/// `uint256` spelling), custom signature `abi.encode(bytes ecdsa, address validator, abi.encode(spec, uint64[]
/// periodIds))`, period arithmetic, check order, storage layout, events and `SESSION_*` errors. Time is checked
/// through the chain's TimestampAsserter (a revert), so an out-of-period or expired transaction is refused in
/// validation. One deliberate difference: an `Allowance` limit with a period below 2 is refused at creation
/// (`SESSION_INVALID_ALLOWANCE_PERIOD`), as in this project's ERC-4337 validator: period 0 would divide by zero
/// in validation and in `sessionState`, and a spec accepted here is then one both generations accept.
contract EraSessionKeyValidator is IEraModuleValidator {
    /// @dev `approvalBased(address token, uint256 minAllowance, bytes innerInput)` of the IPaymasterFlow.
    bytes4 private constant APPROVAL_BASED = 0x949431dc;
    uint256 private constant MIN_LIFETIME = 60;

    event SessionCreated(address indexed account, bytes32 indexed sessionHash, EraSessionLib.SessionSpec sessionSpec);
    event SessionRevoked(address indexed account, bytes32 indexed sessionHash);

    error NOT_FROM_INITIALIZED_ACCOUNT(address account);
    error SESSION_CALL_POLICY_BANNED(address target, bytes4 selector);
    error SESSION_ZERO_SIGNER();
    error SESSION_SIGNER_USED(address signer);
    error SESSION_UNLIMITED_FEES();
    error SESSION_ALREADY_EXISTS(bytes32 sessionHash);
    error SESSION_EXPIRES_TOO_SOON(uint256 expiresAt);
    error SESSION_NOT_ACTIVE();
    error ADDRESS_CAST_OVERFLOW(uint256 value);
    error INVALID_PAYMASTER_INPUT(bytes input);
    error SESSION_CALL_POLICY_VIOLATED(address target, bytes4 selector);
    error SESSION_TRANSFER_POLICY_VIOLATED(address target);
    error SESSION_INVALID_DATA_LENGTH(uint256 actualLength, uint256 expectedMinimumLength);
    error SESSION_CONDITION_FAILED(bytes32 param, bytes32 refValue, SessionPolicy.Condition condition);
    error SESSION_MAX_VALUE_EXCEEDED(uint256 usedValue, uint256 maxValuePerUse);
    error SESSION_LIFETIME_USAGE_EXCEEDED(uint256 lifetimeUsage, uint256 maxUsage);
    error SESSION_ALLOWANCE_EXCEEDED(uint256 allowance, uint256 maxAllowance, uint64 period);
    error SESSION_INVALID_SIGNER(address recovered, address expected);
    error NO_TIMESTAMP_ASSERTER(uint256 chainId);
    /// @notice Not in the official validator: an `Allowance` period below 2 seconds (see the contract note).
    error SESSION_INVALID_ALLOWANCE_PERIOD(uint256 period);

    struct SessionStorage {
        mapping(address account => SessionPolicy.Status) status;
        SessionPolicy.UsageTracker fee;
        mapping(address target => SessionPolicy.UsageTracker) transferValue;
        mapping(address target => mapping(bytes4 selector => SessionPolicy.UsageTracker)) callValue;
        mapping(
            address target => mapping(bytes4 selector => mapping(uint256 position => SessionPolicy.UsageTracker))
        ) params;
    }

    // Storage layout of the official validator: slot 0 is a retired counter, slot 1 the sessions, slot 2 signers.
    uint256 private __DEPRECATED__sessionCounter;
    mapping(bytes32 sessionHash => SessionStorage) private sessions;
    /// @notice The session hash a signer was first used with (never cleared: a signer serves one session).
    mapping(address signer => bytes32 sessionHash) public sessionSigner;

    // ---------------------------------------------------------------- module

    /// @inheritdoc IEraModule
    /// @dev `data` is empty or `abi.encode(SessionSpec)`: the session is then created for the installing account
    /// (the account registers the validator before calling this).
    function onInstall(bytes calldata data) external override {
        if (data.length > 0) {
            _createSession(abi.decode(data, (EraSessionLib.SessionSpec)));
        }
    }

    /// @inheritdoc IEraModule
    /// @dev `data` is empty or `abi.encode(bytes32[] sessionHashes)`: those sessions (each must be active) are
    /// revoked. Other sessions stay active and serve again if the validator is reinstalled.
    function onUninstall(bytes calldata data) external override {
        if (data.length == 0) return;
        bytes32[] memory hashes = abi.decode(data, (bytes32[]));
        for (uint256 i = 0; i < hashes.length; ++i) {
            _revoke(hashes[i]);
        }
    }

    /// @notice Whether `account` has this validator installed.
    function isInitialized(address account) public view returns (bool) {
        return IEraSessionAccount(account).isModuleValidator(address(this));
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IEraModuleValidator).interfaceId
            || interfaceId == type(IEraModule).interfaceId;
    }

    /// @inheritdoc IEraModuleValidator
    /// @dev Session keys never sign ERC-1271 messages.
    function validateSignature(bytes32, bytes calldata) external pure returns (bool) {
        return false;
    }

    // ---------------------------------------------------------------- sessions

    /// @notice Opens `spec` for the calling account (no proof: generate fresh signer keys, since anyone can use
    /// up a signer address on this validator by opening a session for it first).
    function createSession(EraSessionLib.SessionSpec calldata spec) external {
        _createSession(spec);
    }

    /// @notice Closes an active session of the calling account for good.
    function revokeKey(bytes32 sessionHash) external {
        _revoke(sessionHash);
    }

    /// @notice Closes several sessions; one that is not active reverts the whole call.
    function revokeKeys(bytes32[] calldata sessionHashes) external {
        for (uint256 i = 0; i < sessionHashes.length; ++i) {
            _revoke(sessionHashes[i]);
        }
    }

    function sessionStatus(address account, bytes32 sessionHash) external view returns (SessionPolicy.Status) {
        return sessions[sessionHash].status[account];
    }

    /// @notice Status and what is left of every limit of `spec` for `account`, periodic limits in the current
    /// period. `callParams` lists only constraints with a limit, in policy order, `index` = argument index.
    function sessionState(address account, EraSessionLib.SessionSpec calldata spec)
        external
        view
        returns (SessionPolicy.SessionState memory state)
    {
        SessionStorage storage session = sessions[keccak256(abi.encode(spec))];
        state.status = session.status[account];
        state.feesRemaining = _remaining(spec.feeLimit, session.fee, account);
        state.transferValue = new SessionPolicy.LimitState[](spec.transferPolicies.length);
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            EraSessionLib.TransferSpec calldata policy = spec.transferPolicies[i];
            state.transferValue[i] = SessionPolicy.LimitState({
                remaining: _remaining(policy.valueLimit, session.transferValue[policy.target], account),
                target: policy.target,
                selector: bytes4(0),
                index: 0
            });
        }
        state.callValue = new SessionPolicy.LimitState[](spec.callPolicies.length);
        uint256 limited = 0;
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            EraSessionLib.CallSpec calldata policy = spec.callPolicies[i];
            state.callValue[i] = SessionPolicy.LimitState({
                remaining: _remaining(policy.valueLimit, session.callValue[policy.target][policy.selector], account),
                target: policy.target,
                selector: policy.selector,
                index: 0
            });
            for (uint256 j = 0; j < policy.constraints.length; ++j) {
                if (policy.constraints[j].limit.limitType != SessionPolicy.LimitType.Unlimited) ++limited;
            }
        }
        state.callParams = new SessionPolicy.LimitState[](limited);
        uint256 k = 0;
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            EraSessionLib.CallSpec calldata policy = spec.callPolicies[i];
            for (uint256 j = 0; j < policy.constraints.length; ++j) {
                EraSessionLib.Constraint calldata c = policy.constraints[j];
                if (c.limit.limitType == SessionPolicy.LimitType.Unlimited) continue;
                state.callParams[k++] = SessionPolicy.LimitState({
                    remaining: _remaining(c.limit, session.params[policy.target][policy.selector][j], account),
                    target: policy.target,
                    selector: policy.selector,
                    index: c.index
                });
            }
        }
    }

    // ---------------------------------------------------------------- validation

    /// @inheritdoc IEraModuleValidator
    /// @dev Applies the session's policies to the transaction and records the usage. A policy violation, a time
    /// outside the session or a period, and a signature by another key revert with their named error; a
    /// signature that recovers to no address returns false (the account then rejects the transaction).
    function validateTransaction(bytes32 signedHash, Transaction calldata transaction) external returns (bool) {
        (bytes memory signature,, bytes memory validatorData) =
            abi.decode(transaction.signature, (bytes, address, bytes));
        (EraSessionLib.SessionSpec memory spec, uint64[] memory periodIds) =
            abi.decode(validatorData, (EraSessionLib.SessionSpec, uint64[]));
        require(spec.signer != address(0), SESSION_ZERO_SIGNER());
        SessionStorage storage session = sessions[keccak256(abi.encode(spec))];
        require(session.status[msg.sender] == SessionPolicy.Status.Active, SESSION_NOT_ACTIVE());
        _assertTimestampInRange(0, spec.expiresAt);
        require(transaction.to <= type(uint160).max, ADDRESS_CAST_OVERFLOW(transaction.to));

        // Period ids: [0] fee, [1] the matched policy's value limit, then the constraints in the order checked
        // (those of the paymaster's `approve` policy first, when an approval-based paymaster is used).
        uint256 next = 2;
        if (transaction.paymasterInput.length >= 4 && bytes4(transaction.paymasterInput[:4]) == APPROVAL_BASED) {
            next = _checkApproval(spec, session, transaction, periodIds);
        }
        address target = address(uint160(transaction.to));
        if (transaction.data.length >= 4) {
            bytes4 selector = bytes4(transaction.data[:4]);
            EraSessionLib.CallSpec memory policy = _callPolicy(spec, target, selector);
            _checkConstraints(session, policy, transaction.data, periodIds, next);
            require(
                transaction.value <= policy.maxValuePerUse,
                SESSION_MAX_VALUE_EXCEEDED(transaction.value, policy.maxValuePerUse)
            );
            _consume(policy.valueLimit, session.callValue[target][selector], transaction.value, periodIds[1]);
        } else {
            // Fewer than 4 bytes of calldata (1-3 included) is a transfer, as in the official validator.
            EraSessionLib.TransferSpec memory policy = _transferPolicy(spec, target);
            require(
                transaction.value <= policy.maxValuePerUse,
                SESSION_MAX_VALUE_EXCEEDED(transaction.value, policy.maxValuePerUse)
            );
            _consume(policy.valueLimit, session.transferValue[target], transaction.value, periodIds[1]);
        }

        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(signedHash, signature);
        if (err != ECDSA.RecoverError.NoError || recovered == address(0)) return false;
        require(recovered == spec.signer, SESSION_INVALID_SIGNER(recovered, spec.signer));

        // Checked last: with a paymaster the fee is not the account's, so it is not counted.
        if (transaction.paymaster == 0) {
            _consume(spec.feeLimit, session.fee, transaction.maxFeePerGas * transaction.gasLimit, periodIds[0]);
        }
        return true;
    }

    // ---------------------------------------------------------------- internals

    function _createSession(EraSessionLib.SessionSpec memory spec) private {
        address account = msg.sender;
        require(isInitialized(account), NOT_FROM_INITIALIZED_ACCOUNT(account));
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            EraSessionLib.CallSpec memory policy = spec.callPolicies[i];
            require(!_isBanned(account, policy.target), SESSION_CALL_POLICY_BANNED(policy.target, policy.selector));
        }
        require(spec.signer != address(0), SESSION_ZERO_SIGNER());
        require(sessionSigner[spec.signer] == bytes32(0), SESSION_SIGNER_USED(spec.signer));
        require(spec.feeLimit.limitType != SessionPolicy.LimitType.Unlimited, SESSION_UNLIMITED_FEES());
        _checkPeriods(spec);
        bytes32 sessionHash = keccak256(abi.encode(spec));
        SessionStorage storage session = sessions[sessionHash];
        require(session.status[account] == SessionPolicy.Status.NotInitialized, SESSION_ALREADY_EXISTS(sessionHash));
        require(spec.expiresAt > block.timestamp + MIN_LIFETIME, SESSION_EXPIRES_TOO_SOON(spec.expiresAt));
        session.status[account] = SessionPolicy.Status.Active;
        sessionSigner[spec.signer] = sessionHash;
        emit SessionCreated(account, sessionHash, spec);
    }

    function _revoke(bytes32 sessionHash) private {
        SessionStorage storage session = sessions[sessionHash];
        require(session.status[msg.sender] == SessionPolicy.Status.Active, SESSION_NOT_ACTIVE());
        session.status[msg.sender] = SessionPolicy.Status.Closed;
        emit SessionRevoked(msg.sender, sessionHash);
    }

    /// @dev Calls a session must never make: this validator, the account, its module validators and its hooks.
    function _isBanned(address account, address target) private view returns (bool) {
        return target == address(this) || target == account || IEraSessionAccount(account).isModuleValidator(target)
            || IEraSessionAccount(account).isHook(target);
    }

    function _checkPeriods(EraSessionLib.SessionSpec memory spec) private pure {
        _checkPeriod(spec.feeLimit);
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            _checkPeriod(spec.transferPolicies[i].valueLimit);
        }
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            EraSessionLib.CallSpec memory policy = spec.callPolicies[i];
            _checkPeriod(policy.valueLimit);
            for (uint256 j = 0; j < policy.constraints.length; ++j) {
                _checkPeriod(policy.constraints[j].limit);
            }
        }
    }

    function _checkPeriod(EraSessionLib.UsageLimit memory limit) private pure {
        if (limit.limitType == SessionPolicy.LimitType.Allowance && limit.period < 2) {
            revert SESSION_INVALID_ALLOWANCE_PERIOD(limit.period);
        }
    }

    /// @dev The first call policy for `(target, selector)`, as the official validator matches it.
    function _callPolicy(EraSessionLib.SessionSpec memory spec, address target, bytes4 selector)
        private
        pure
        returns (EraSessionLib.CallSpec memory)
    {
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            if (spec.callPolicies[i].target == target && spec.callPolicies[i].selector == selector) {
                return spec.callPolicies[i];
            }
        }
        revert SESSION_CALL_POLICY_VIOLATED(target, selector);
    }

    function _transferPolicy(EraSessionLib.SessionSpec memory spec, address target)
        private
        pure
        returns (EraSessionLib.TransferSpec memory)
    {
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            if (spec.transferPolicies[i].target == target) return spec.transferPolicies[i];
        }
        revert SESSION_TRANSFER_POLICY_VIOLATED(target);
    }

    /// @dev An approval-based paymaster takes `minAllowance` of `token` from the account before the call: the
    /// session must allow `token.approve(paymaster, minAllowance)`, whose constraints are checked (and consume
    /// period ids from 2 on). Returns the position of the call's first constraint period id.
    function _checkApproval(
        EraSessionLib.SessionSpec memory spec,
        SessionStorage storage session,
        Transaction calldata transaction,
        uint64[] memory periodIds
    ) private returns (uint256) {
        bytes calldata input = transaction.paymasterInput;
        require(input.length >= 68, INVALID_PAYMASTER_INPUT(input));
        (address token, uint256 minAllowance) = abi.decode(input[4:68], (address, uint256));
        bytes memory approval = abi.encodeCall(IERC20.approve, (address(uint160(transaction.paymaster)), minAllowance));
        EraSessionLib.CallSpec memory policy = _callPolicy(spec, token, IERC20.approve.selector);
        _checkConstraints(session, policy, approval, periodIds, 2);
        return 2 + policy.constraints.length;
    }

    /// @dev Each constraint of `policy` in order: the argument word is present, meets its condition, and its
    /// value fits the constraint's limit (period id at `first + position`).
    function _checkConstraints(
        SessionStorage storage session,
        EraSessionLib.CallSpec memory policy,
        bytes memory data,
        uint64[] memory periodIds,
        uint256 first
    ) private {
        for (uint256 i = 0; i < policy.constraints.length; ++i) {
            EraSessionLib.Constraint memory c = policy.constraints[i];
            uint256 end = 4 + 32 * uint256(c.index) + 32;
            require(data.length >= end, SESSION_INVALID_DATA_LENGTH(data.length, end));
            bytes32 param;
            assembly ("memory-safe") {
                param := mload(add(data, end))
            }
            require(
                SessionPolicy.holds(c.condition, param, c.refValue),
                SESSION_CONDITION_FAILED(param, c.refValue, c.condition)
            );
            _consume(c.limit, session.params[policy.target][policy.selector][i], uint256(param), periodIds[first + i]);
        }
    }

    /// @dev Counts `amount` against `limit`; an allowance first asserts that now lies in period `periodId`.
    function _consume(
        EraSessionLib.UsageLimit memory limit,
        SessionPolicy.UsageTracker storage tracker,
        uint256 amount,
        uint64 periodId
    ) private {
        if (limit.limitType == SessionPolicy.LimitType.Allowance) {
            uint256 start = uint256(periodId) * limit.period;
            _assertTimestampInRange(start, start + limit.period - 1);
        }
        (bool fits, uint256 used) =
            SessionPolicy.consume(tracker, limit.limitType, limit.limit, amount, periodId, msg.sender);
        if (fits) return;
        if (limit.limitType == SessionPolicy.LimitType.Lifetime) {
            revert SESSION_LIFETIME_USAGE_EXCEEDED(used, limit.limit);
        }
        revert SESSION_ALLOWANCE_EXCEEDED(used, limit.limit, periodId);
    }

    function _remaining(
        EraSessionLib.UsageLimit calldata limit,
        SessionPolicy.UsageTracker storage tracker,
        address account
    ) private view returns (uint256) {
        return SessionPolicy.remaining(tracker, limit.limitType, limit.limit, limit.period, account, block.timestamp);
    }

    /// @dev ZKsync's TimestampAsserter of this chain (a system contract; none elsewhere, so sessions only work on
    /// anvil-zksync 260, Era Sepolia 300 and Era mainnet 324).
    function _assertTimestampInRange(uint256 start, uint256 end) private view {
        address asserter;
        if (block.chainid == 260) asserter = 0x0000000000000000000000000000000000808012;
        else if (block.chainid == 300) asserter = 0xa64EC71Ee812ac62923c85cf0796aA58573c4Cf3;
        else if (block.chainid == 324) asserter = 0x958F70e4Fd676c9CeAaFe5c48cB78CDD08b4880d;
        else revert NO_TIMESTAMP_ASSERTER(block.chainid);
        ITimestampAsserter(asserter).assertTimestampInRange(start, end);
    }
}
