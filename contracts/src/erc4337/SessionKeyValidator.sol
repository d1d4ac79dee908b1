// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    IERC7579Module,
    IERC7579Validator,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {SessionPolicy} from "../common/SessionPolicy.sol";
import {SessionLib} from "./SessionLib.sol";

/// @dev The account views the validator needs (both exist on ModularSmartAccount).
interface ISessionAccount {
    function isModuleInstalled(uint256 moduleTypeId, address module, bytes calldata context)
        external
        view
        returns (bool);
    function getValidators() external view returns (address[] memory);
    function getExecutors() external view returns (address[] memory);
}

/// @title SessionKeyValidator
/// @notice ERC-7579 validator letting a secp256k1 session key act for an account within a SessionSpec the account
/// approved (created by the account itself, e.g. through a passkey-signed userOp).
/// @dev Format-compatible with the ZKsync SSO ERC-4337 SessionKeyValidator: same selectors, SessionSpec encoding,
/// signature `abi.encode(bytes ecdsa, SessionSpec spec, uint48[] periodIds)` after the account strips the
/// 20-byte validator prefix, nonce key `uint160(signer)`, period arithmetic, errors and events. Two deliberate
/// differences make it stricter: an `Allowance` limit with a period below 2 is refused at creation
/// (`InvalidAllowancePeriod`), and a validity window that would end at timestamp 0 is refused at validation
/// (`EmptyTimeRange`), so no periodic limit can make a session outlive `expiresAt`.
contract SessionKeyValidator is IERC7579Validator, IERC165 {
    using SessionLib for SessionLib.UsageLimit;

    /// @dev `execute(bytes32,bytes)` of ERC-7579: the only call a session userOp may make.
    bytes4 private constant EXECUTE_SELECTOR = 0xe9ae5c53;
    uint256 private constant MIN_LIFETIME = 60;

    event SessionCreated(address indexed account, bytes32 indexed sessionHash, SessionLib.SessionSpec sessionSpec);
    event SessionRevoked(address indexed account, bytes32 indexed sessionHash);

    error NotInitialized(address account);
    error CallPolicyBanned(address target, bytes4 selector);
    error ZeroSigner();
    error InvalidSigner(address recovered, address expected);
    error SignerAlreadyUsed(address signer);
    error UnlimitedFees();
    error SessionAlreadyExists(bytes32 sessionHash);
    error SessionExpiresTooSoon(uint256 expiresAt);
    error SessionNotActive();
    error InvalidNonceKey(uint192 nonceKey, uint192 expectedNonceKey);
    error InvalidCallType(bytes1 callType, bytes1 expected);
    error InvalidExecType(bytes1 execType);
    error InvalidTopLevelSelector(bytes4 selector, bytes4 expected);
    error InvalidData();
    error DecodingError();
    error CallPolicyViolated(address target, bytes4 selector);
    error TransferPolicyViolated(address target);
    error MaxValueExceeded(uint256 value, uint256 maxValuePerUse);
    error InvalidDataLength(uint256 length, uint256 expectedLength);
    error ConditionViolated(bytes32 param, bytes32 refValue, SessionPolicy.Condition condition);
    /// @notice Not in the official validator: an `Allowance` period below 2 seconds (see the contract note).
    error InvalidAllowancePeriod(uint48 period);

    struct SessionStorage {
        mapping(address account => SessionPolicy.Status) status;
        SessionPolicy.UsageTracker fee;
        mapping(address target => SessionPolicy.UsageTracker) transferValue;
        mapping(address target => mapping(bytes4 selector => SessionPolicy.UsageTracker)) callValue;
        mapping(
            address target => mapping(bytes4 selector => mapping(uint256 position => SessionPolicy.UsageTracker))
        ) params;
    }

    /// @dev One userOp's call as the policies see it, kept in memory to stay within the stack.
    struct Use {
        address account;
        address target;
        uint256 value;
        uint48[] periodIds;
        SessionLib.TimeRange range;
    }

    /// @notice The session hash a signer was first used with (never cleared: a signer serves one session).
    mapping(address signer => bytes32 sessionHash) public sessionSigner;
    mapping(bytes32 sessionHash => SessionStorage) private _sessions;

    // ---------------------------------------------------------------- module

    /// @dev Installing opens no session: sessions are created by the account with `createSession`.
    function onInstall(bytes calldata) external {}

    /// @notice Revokes the sessions `abi.decode(data, (bytes32[]))` of the caller (each must be active).
    function onUninstall(bytes calldata data) external {
        if (data.length == 0) return;
        bytes32[] memory hashes = abi.decode(data, (bytes32[]));
        for (uint256 i = 0; i < hashes.length; ++i) {
            _revoke(hashes[i]);
        }
    }

    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    function isInitialized(address account) public view returns (bool) {
        return ISessionAccount(account).isModuleInstalled(MODULE_TYPE_VALIDATOR, address(this), "");
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IERC7579Validator).interfaceId
            || interfaceId == type(IERC7579Module).interfaceId;
    }

    /// @notice Session keys never sign ERC-1271 messages.
    function isValidSignatureWithSender(address, bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xffffffff;
    }

    // ---------------------------------------------------------------- sessions

    /// @notice Opens `spec` for the calling account. `proof` is the session key's 65-byte signature over the raw
    /// digest `keccak256(abi.encode(sessionHash, account))`, so nobody opens a session for a key they do not hold.
    function createSession(SessionLib.SessionSpec calldata spec, bytes calldata proof) external {
        address account = msg.sender;
        require(isInitialized(account), NotInitialized(account));
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            SessionLib.CallSpec calldata policy = spec.callPolicies[i];
            require(!_isBanned(account, policy.target), CallPolicyBanned(policy.target, policy.selector));
        }
        require(spec.signer != address(0), ZeroSigner());
        bytes32 sessionHash = keccak256(abi.encode(spec));
        address recovered = ECDSA.recoverCalldata(keccak256(abi.encode(sessionHash, account)), proof);
        require(recovered == spec.signer, InvalidSigner(recovered, spec.signer));
        require(sessionSigner[spec.signer] == bytes32(0), SignerAlreadyUsed(spec.signer));
        require(spec.feeLimit.limitType != SessionPolicy.LimitType.Unlimited, UnlimitedFees());
        _checkPeriods(spec);
        SessionStorage storage session = _sessions[sessionHash];
        require(session.status[account] == SessionPolicy.Status.NotInitialized, SessionAlreadyExists(sessionHash));
        require(spec.expiresAt >= block.timestamp + MIN_LIFETIME, SessionExpiresTooSoon(spec.expiresAt));
        session.status[account] = SessionPolicy.Status.Active;
        sessionSigner[spec.signer] = sessionHash;
        emit SessionCreated(account, sessionHash, spec);
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
        return _sessions[sessionHash].status[account];
    }

    /// @notice Status and what is left of every limit of `spec` for `account`, periodic limits in the current
    /// period. `callParams` lists only constraints with a limit, in policy order, `index` = argument index.
    function sessionState(address account, SessionLib.SessionSpec calldata spec)
        external
        view
        returns (SessionPolicy.SessionState memory state)
    {
        SessionStorage storage session = _sessions[keccak256(abi.encode(spec))];
        state.status = session.status[account];
        state.feesRemaining = spec.feeLimit.remaining(session.fee, account, block.timestamp);
        state.transferValue = new SessionPolicy.LimitState[](spec.transferPolicies.length);
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            SessionLib.TransferSpec calldata policy = spec.transferPolicies[i];
            state.transferValue[i] = SessionPolicy.LimitState({
                remaining: policy.valueLimit.remaining(session.transferValue[policy.target], account, block.timestamp),
                target: policy.target,
                selector: bytes4(0),
                index: 0
            });
        }
        state.callValue = new SessionPolicy.LimitState[](spec.callPolicies.length);
        uint256 limited = 0;
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            SessionLib.CallSpec calldata policy = spec.callPolicies[i];
            state.callValue[i] = SessionPolicy.LimitState({
                remaining: policy.valueLimit
                .remaining(session.callValue[policy.target][policy.selector], account, block.timestamp),
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
            SessionLib.CallSpec calldata policy = spec.callPolicies[i];
            for (uint256 j = 0; j < policy.constraints.length; ++j) {
                SessionLib.Constraint calldata c = policy.constraints[j];
                if (c.limit.limitType == SessionPolicy.LimitType.Unlimited) continue;
                state.callParams[k++] = SessionPolicy.LimitState({
                    remaining: c.limit
                    .remaining(session.params[policy.target][policy.selector][j], account, block.timestamp),
                    target: policy.target,
                    selector: policy.selector,
                    index: c.index
                });
            }
        }
    }

    // ---------------------------------------------------------------- validation

    /// @notice Applies the session's policies to the userOp, records the usage and returns the validity window.
    /// @dev A policy violation reverts with its named error; a bad session-key signature returns 1 without
    /// reverting (so estimation with a zero signature still runs the policy checks).
    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash) external returns (uint256) {
        (bytes memory signature, SessionLib.SessionSpec memory spec, uint48[] memory periodIds) =
            abi.decode(userOp.signature, (bytes, SessionLib.SessionSpec, uint48[]));
        require(spec.signer != address(0), ZeroSigner());
        SessionStorage storage session = _sessions[keccak256(abi.encode(spec))];
        _checkNonceKey(userOp.nonce, spec.signer);
        require(session.status[msg.sender] == SessionPolicy.Status.Active, SessionNotActive());

        Use memory use;
        use.account = msg.sender;
        use.periodIds = periodIds;
        use.range = SessionLib.TimeRange({validAfter: 0, validUntil: spec.expiresAt});
        bytes calldata data;
        (use.target, use.value, data) = _decodeExecute(userOp.callData);
        if (data.length >= 4) {
            _checkCall(spec, session, use, data);
        } else {
            require(data.length == 0, InvalidDataLength(data.length, 0));
            _checkTransfer(spec, session, use);
        }

        if (!_signedBy(userOpHash, signature, spec.signer)) return 1;

        // Checked last so that estimation with a stub signature is not refused for its placeholder gas values.
        if (userOp.paymasterAndData.length == 0) {
            spec.feeLimit.checkAndUpdate(session.fee, _maxFee(userOp), use.periodIds[0], use.account, use.range);
        }
        return uint256(use.range.validAfter) << 208 | uint256(use.range.validUntil) << 160;
    }

    // ---------------------------------------------------------------- internals

    function _checkNonceKey(uint256 nonce, address signer) private pure {
        uint192 nonceKey = uint192(nonce >> 64);
        require(nonceKey == uint192(uint160(signer)), InvalidNonceKey(nonceKey, uint192(uint160(signer))));
    }

    function _signedBy(bytes32 hash, bytes memory signature, address signer) private pure returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    function _revoke(bytes32 sessionHash) private {
        SessionStorage storage session = _sessions[sessionHash];
        require(session.status[msg.sender] == SessionPolicy.Status.Active, SessionNotActive());
        session.status[msg.sender] = SessionPolicy.Status.Closed;
        emit SessionRevoked(msg.sender, sessionHash);
    }

    /// @dev Calls a session must never make: this validator, the account, and the account's modules.
    function _isBanned(address account, address target) private view returns (bool) {
        if (target == address(this) || target == account) return true;
        address[] memory validators = ISessionAccount(account).getValidators();
        for (uint256 i = 0; i < validators.length; ++i) {
            if (validators[i] == target) return true;
        }
        address[] memory executors = ISessionAccount(account).getExecutors();
        for (uint256 i = 0; i < executors.length; ++i) {
            if (executors[i] == target) return true;
        }
        return false;
    }

    function _checkPeriods(SessionLib.SessionSpec calldata spec) private pure {
        _checkPeriod(spec.feeLimit);
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            _checkPeriod(spec.transferPolicies[i].valueLimit);
        }
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            SessionLib.CallSpec calldata policy = spec.callPolicies[i];
            _checkPeriod(policy.valueLimit);
            for (uint256 j = 0; j < policy.constraints.length; ++j) {
                _checkPeriod(policy.constraints[j].limit);
            }
        }
    }

    /// @dev Period 0 would divide by zero; period 1 gives the window `[0, 0]` for periodId 0, i.e. no expiry.
    function _checkPeriod(SessionLib.UsageLimit calldata limit) private pure {
        if (limit.limitType == SessionPolicy.LimitType.Allowance && limit.period < 2) {
            revert InvalidAllowancePeriod(limit.period);
        }
    }

    /// @dev `callData = execute(mode, abi.encode(bytes target ‖ value ‖ data))` with a single-call mode.
    function _decodeExecute(bytes calldata callData)
        private
        pure
        returns (address target, uint256 value, bytes calldata data)
    {
        require(callData.length >= 6, InvalidData());
        // The call type is checked before the selector, as the official validator does.
        require(callData[4] == 0x00, InvalidCallType(callData[4], 0x00));
        require(callData[5] == 0x00 || callData[5] == 0x01, InvalidExecType(callData[5]));
        require(
            bytes4(callData[:4]) == EXECUTE_SELECTOR, InvalidTopLevelSelector(bytes4(callData[:4]), EXECUTE_SELECTOR)
        );
        require(callData.length >= 100 && uint256(bytes32(callData[36:68])) == 0x40, InvalidData());
        uint256 length = uint256(bytes32(callData[68:100]));
        require(length <= callData.length - 100, InvalidData());
        bytes calldata execution = callData[100:100 + length];
        require(execution.length >= 52, DecodingError());
        target = address(bytes20(execution[:20]));
        value = uint256(bytes32(execution[20:52]));
        data = execution[52:];
    }

    function _checkCall(
        SessionLib.SessionSpec memory spec,
        SessionStorage storage session,
        Use memory use,
        bytes calldata data
    ) private {
        bytes4 selector = bytes4(data[:4]);
        address target = use.target;
        SessionLib.CallSpec memory policy;
        bool found = false;
        for (uint256 i = 0; i < spec.callPolicies.length; ++i) {
            if (spec.callPolicies[i].target == target && spec.callPolicies[i].selector == selector) {
                policy = spec.callPolicies[i];
                found = true;
                break;
            }
        }
        require(found, CallPolicyViolated(target, selector));
        require(use.value <= policy.maxValuePerUse, MaxValueExceeded(use.value, policy.maxValuePerUse));
        policy.valueLimit
            .checkAndUpdate(session.callValue[target][selector], use.value, use.periodIds[1], use.account, use.range);
        for (uint256 i = 0; i < policy.constraints.length; ++i) {
            SessionLib.Constraint memory c = policy.constraints[i];
            uint256 offset = 4 + 32 * uint256(c.index);
            require(data.length >= offset + 32, InvalidDataLength(data.length, offset + 32));
            bytes32 param = bytes32(data[offset:offset + 32]);
            require(
                SessionPolicy.holds(c.condition, param, c.refValue), ConditionViolated(param, c.refValue, c.condition)
            );
            c.limit
                .checkAndUpdate(
                    session.params[target][selector][i], uint256(param), use.periodIds[2 + i], use.account, use.range
                );
        }
    }

    function _checkTransfer(SessionLib.SessionSpec memory spec, SessionStorage storage session, Use memory use)
        private
    {
        for (uint256 i = 0; i < spec.transferPolicies.length; ++i) {
            SessionLib.TransferSpec memory policy = spec.transferPolicies[i];
            if (policy.target != use.target) continue;
            require(use.value <= policy.maxValuePerUse, MaxValueExceeded(use.value, policy.maxValuePerUse));
            policy.valueLimit
                .checkAndUpdate(session.transferValue[use.target], use.value, use.periodIds[1], use.account, use.range);
            return;
        }
        revert TransferPolicyViolated(use.target);
    }

    /// @dev The most the userOp can cost: gas limits (without paymaster gas) times the effective price cap.
    function _maxFee(PackedUserOperation calldata userOp) private view returns (uint256) {
        uint256 verificationGasLimit = uint128(bytes16(userOp.accountGasLimits));
        uint256 callGasLimit = uint128(uint256(userOp.accountGasLimits));
        uint256 maxPriorityFeePerGas = uint128(bytes16(userOp.gasFees));
        uint256 maxFeePerGas = uint128(uint256(userOp.gasFees));
        uint256 price = maxPriorityFeePerGas + block.basefee;
        if (maxFeePerGas < price) price = maxFeePerGas;
        return price * (userOp.preVerificationGas + verificationGasLimit + callGasLimit);
    }
}
