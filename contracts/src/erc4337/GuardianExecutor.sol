// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {
    IERC7579Execution,
    IERC7579Module,
    IERC7579ModuleConfig,
    MODULE_TYPE_EXECUTOR,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {EnumerableMap} from "@openzeppelin/contracts/utils/structs/EnumerableMap.sol";

/// @title GuardianExecutor
/// @notice ERC-7579 executor that lets guardians chosen by an account add a new owner key to it after a delay:
/// the account proposes a guardian, the guardian accepts, and when the account's key is lost any active guardian
/// requests a recovery which anyone may finalize between 24 h and 72 h later. Finalizing makes the account call
/// its WebAuthn validator (`addValidationKey`) or its EOA validator (`addOwner`) through `executeFromExecutor`.
/// @dev ABI-, event- and error-compatible with the ZKsync SSO ERC-4337 `GuardianExecutor` module (selectors in
/// docs/recovery.md). Recovery `data` is the ABI-encoded argument list of the validator call, without selector.
contract GuardianExecutor is IERC7579Module {
    using EnumerableMap for EnumerableMap.AddressToUintMap;

    enum RecoveryType {
        None,
        EOA,
        Passkey
    }

    struct RecoveryRequest {
        RecoveryType recoveryType;
        bytes32 hashedData;
        uint48 timestamp;
    }

    /// @notice A recovery may be finalized only strictly after this long.
    uint256 public constant REQUEST_DELAY_TIME = 24 hours;
    /// @notice ... and only strictly before this long; after it a new request may replace the stale one.
    uint256 public constant REQUEST_VALIDITY_TIME = 72 hours;

    /// @notice The WebAuthn (passkey) validator a `Passkey` recovery adds a key to.
    address public immutable WEBAUTHN_VALIDATOR;
    /// @notice The EOA validator an `EOA` recovery adds an owner to.
    address public immutable EOA_VALIDATOR;

    /// @dev Guardian value bit 0: accepted (active); present but 0 = proposed only.
    uint256 private constant ACTIVE = 1;

    mapping(address account => EnumerableMap.AddressToUintMap guardians) private accountGuardians;
    /// @notice The account's recovery request (zero when none).
    mapping(address account => RecoveryRequest) public pendingRecovery;

    event GuardianProposed(address indexed account, address indexed guardian);
    event GuardianAdded(address indexed account, address indexed guardian);
    event GuardianRemoved(address indexed account, address indexed guardian);
    event RecoveryInitiated(
        address indexed account, address indexed guardian, RecoveryRequest request, bytes recoveryData
    );
    event RecoveryFinished(address indexed account);
    event RecoveryDiscarded(address indexed account);

    /// @dev Same selector as the ERC-7579 reference module error.
    error NotInitialized(address smartAccount);
    error GuardianInvalidAddress(address guardian);
    error GuardianAlreadyPresent(address account, address guardian);
    error GuardianNotFound(address account, address guardian);
    error GuardianNotActive(address account, address guardian);
    error ValidatorNotInstalled(address account, address validator);
    error UnsupportedRecoveryType(RecoveryType recoveryType);
    error EmptyRecoveryData();
    error RecoveryInProgress(address account);
    error RecoveryDataMismatch(bytes32 savedHash, bytes32 providedHash);
    error NoRecoveryInProgress(address account);
    error RecoveryTimestampInvalid(uint48 timestamp);

    constructor(address webAuthValidator, address eoaValidator) {
        WEBAUTHN_VALIDATOR = webAuthValidator;
        EOA_VALIDATOR = eoaValidator;
    }

    // ---------------------------------------------------------------- module lifecycle

    /// @notice Nothing to set up: guardians are added afterwards (`data` is ignored, expected empty).
    function onInstall(bytes calldata) external {}

    /// @notice Forgets every guardian of the calling account and its pending request.
    function onUninstall(bytes calldata) external {
        accountGuardians[msg.sender].clear();
        delete pendingRecovery[msg.sender];
    }

    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_EXECUTOR;
    }

    // ---------------------------------------------------------------- guardians (account side)

    /// @notice Proposes `guardian` for the calling account; it is inactive until it calls `acceptGuardian`.
    function proposeGuardian(address guardian) external {
        _requireInstalled(msg.sender);
        require(guardian != address(0) && guardian != msg.sender, GuardianInvalidAddress(guardian));
        require(accountGuardians[msg.sender].set(guardian, 0), GuardianAlreadyPresent(msg.sender, guardian));
        emit GuardianProposed(msg.sender, guardian);
    }

    /// @notice Removes a proposed or active guardian of the calling account. Removing an active guardian also
    /// discards any pending recovery (the remover cannot tell which guardian started it, so it errs to safety).
    function removeGuardian(address guardian) external {
        (bool present, uint256 value) = accountGuardians[msg.sender].tryGet(guardian);
        require(present, GuardianNotFound(msg.sender, guardian));
        accountGuardians[msg.sender].remove(guardian);
        if (value & ACTIVE != 0) _discardRecovery(msg.sender);
        emit GuardianRemoved(msg.sender, guardian);
    }

    /// @notice Deletes the calling account's pending recovery request, if any.
    function discardRecovery() external {
        _discardRecovery(msg.sender);
    }

    // ---------------------------------------------------------------- guardians (guardian side)

    /// @notice Called by a proposed guardian of `account` to become active.
    /// @return newlyActive False when the caller was already active.
    function acceptGuardian(address account) external returns (bool newlyActive) {
        _requireInstalled(account);
        (bool present, uint256 value) = accountGuardians[account].tryGet(msg.sender);
        require(present, GuardianNotFound(account, msg.sender));
        if (value & ACTIVE != 0) return false;
        accountGuardians[account].set(msg.sender, value | ACTIVE);
        emit GuardianAdded(account, msg.sender);
        return true;
    }

    /// @notice Called by an active guardian of `account` to request that `data` (the validator call's arguments:
    /// `abi.encode(address)` for `EOA`, `abi.encode(bytes credentialId, bytes32[2] key, string origin)` for
    /// `Passkey`) be applied after the delay. A stale request (older than the validity time) is replaced.
    function initializeRecovery(address account, RecoveryType recoveryType, bytes calldata data) external {
        (bool present, uint256 value) = accountGuardians[account].tryGet(msg.sender);
        require(present, GuardianNotFound(account, msg.sender));
        require(value & ACTIVE != 0, GuardianNotActive(account, msg.sender));
        _requireInstalled(account);
        _requireValidatorInstalled(account, recoveryType);
        require(data.length > 0, EmptyRecoveryData());
        uint48 previous = pendingRecovery[account].timestamp;
        require(previous == 0 || previous + REQUEST_VALIDITY_TIME < block.timestamp, RecoveryInProgress(account));

        RecoveryRequest memory request = RecoveryRequest(recoveryType, keccak256(data), uint48(block.timestamp));
        pendingRecovery[account] = request;
        emit RecoveryInitiated(account, msg.sender, request, data);
    }

    // ---------------------------------------------------------------- finalization (anyone)

    /// @notice Applies `account`'s pending request with its `data` once the delay has passed: the account calls
    /// its validator, so the new key is the account's own from then on.
    /// @return returnData What the validator call returned.
    function finalizeRecovery(address account, bytes calldata data) external returns (bytes memory returnData) {
        RecoveryRequest memory request = pendingRecovery[account];
        address validator = _requireValidatorInstalled(account, request.recoveryType);
        bytes32 provided = keccak256(data);
        require(request.hashedData == provided, RecoveryDataMismatch(request.hashedData, provided));
        require(request.timestamp != 0, NoRecoveryInProgress(account));
        uint256 ts = request.timestamp;
        require(
            ts + REQUEST_DELAY_TIME < block.timestamp && block.timestamp < ts + REQUEST_VALIDITY_TIME,
            RecoveryTimestampInvalid(request.timestamp)
        );

        // Effects before the external call: the request cannot be replayed from inside it.
        delete pendingRecovery[account];
        bytes4 selector = request.recoveryType == RecoveryType.EOA
            ? bytes4(keccak256("addOwner(address)"))
            : bytes4(keccak256("addValidationKey(bytes,bytes32[2],string)"));
        // ERC-7579 single execution: target ‖ value ‖ calldata.
        bytes memory execution = abi.encodePacked(validator, uint256(0), selector, data);
        bytes[] memory results = IERC7579Execution(account).executeFromExecutor(bytes32(0), execution);
        emit RecoveryFinished(account);
        return results[0];
    }

    // ---------------------------------------------------------------- views

    /// @notice Every guardian of `account`, proposed or active.
    function guardiansFor(address account) external view returns (address[] memory) {
        return accountGuardians[account].keys();
    }

    /// @notice Whether `guardian` was proposed by `account`, and whether it accepted.
    function guardianStatusFor(address account, address guardian)
        external
        view
        returns (bool isPresent, bool isActive)
    {
        uint256 value;
        (isPresent, value) = accountGuardians[account].tryGet(guardian);
        isActive = value & ACTIVE != 0;
    }

    // ---------------------------------------------------------------- internals

    function _discardRecovery(address account) private {
        if (pendingRecovery[account].timestamp == 0) return;
        delete pendingRecovery[account];
        emit RecoveryDiscarded(account);
    }

    function _requireInstalled(address account) private view {
        require(
            IERC7579ModuleConfig(account).isModuleInstalled(MODULE_TYPE_EXECUTOR, address(this), ""),
            NotInitialized(account)
        );
    }

    /// @dev The validator a recovery of `recoveryType` writes to, which `account` must have installed.
    function _requireValidatorInstalled(address account, RecoveryType recoveryType)
        private
        view
        returns (address validator)
    {
        if (recoveryType == RecoveryType.EOA) validator = EOA_VALIDATOR;
        else if (recoveryType == RecoveryType.Passkey) validator = WEBAUTHN_VALIDATOR;
        else revert UnsupportedRecoveryType(recoveryType);
        require(
            IERC7579ModuleConfig(account).isModuleInstalled(MODULE_TYPE_VALIDATOR, validator, ""),
            ValidatorNotInstalled(account, validator)
        );
    }
}
