// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {IEraModule} from "./IEraModule.sol";
import {IEraModuleValidator} from "./IEraModuleValidator.sol";
import {IEraWebAuthValidator} from "./IEraWebAuthValidator.sol";

/// @dev The account's view of its installed validators (the official SsoAccount's ValidatorManager).
interface IEraValidatorManager {
    function isModuleValidator(address validator) external view returns (bool);
}

/// @title GuardianRecoveryValidator
/// @notice Guardian recovery for Era SSO accounts, call- and event-compatible with the official
///         `GuardianRecoveryValidator` (same selectors, event topics and custom errors; sso-sessions spec 6.2).
/// @dev Everything is scoped by `hashedOriginDomain = keccak256(bytes(origin))`. An account proposes guardians for
///      a domain, a guardian accepts (`addGuardian`), and when the passkey is lost a ready guardian stores a request
///      for a new passkey (`initRecovery`). Strictly nothing is signed to finish it: after 24 h and up to 72 h
///      anyone sends a 0x71 transaction from the account calling `WebAuthValidator.addValidationKey` with exactly
///      the requested key, and the account routes its validation here (`validateTransaction`).
///      Deviations (the calls, calldata and signature layout the official module accepts are unchanged):
///      - the official contract asserts the window through ZKsync's TimestampAsserter (block.timestamp is not
///        readable in Era validation); this one reads block.timestamp, for the EVM chains it is tested on, and
///        returns false outside `[timestamp + 24 h, timestamp + 72 h]`;
///      - validation does not consume the request. The official module deletes it in `validateTransaction`, and on
///        Era validation's writes persist when the execution then fails: anyone could cancel a recovery by sending
///        the finishing transaction with gas for its validation but not its execution (or with a value, or with
///        a general paymaster whose `postTransaction` reverts). Here the request stays until it expires, is
///        discarded or its guardian removed, and validation refuses the finishing transaction once the requested
///        passkey is on the account (the account's call added it: the recovery is finished, a replay is refused).
///        So a failed finish leaves the request pending and the next one may succeed. A failed attempt costs the
///        account its fee (it pays unless a paymaster does), so validation bounds them: a finishing transaction
///        must carry at least `FINISH_MIN_GAS_LIMIT`, exactly the ABI encoding of the call (no padding, no
///        factoryDeps, the official signature's length, a bounded paymasterInput), and validates at most once per
///        `FINISH_RETRY_DELAY` (`lastFinishAttempt`, the only slot validation writes): a stranger can have about
///        48 h / 1 h failed attempts charged to the account (by registering the requested credential id first). `getPendingRecoveryData` keeps returning a
///        finished request until then (the module never learns the credential id and origin behind its hashes
///        outside a finishing transaction, so it cannot tell), a new request waits for its expiry (the recovered
///        account may `discardRecovery`), and `RecoveryFinished` is not emitted (validation cannot know the
///        outcome): the finish shows as the WebAuthValidator's `PasskeyCreated`. Removing the recovered passkey
///        while the request is still within its window lets the finishing transaction add it again: discard the
///        request (or remove its guardian) first;
///      - a finishing transaction with a value is refused (the non-payable call would revert).
contract GuardianRecoveryValidator is Initializable, IEraModuleValidator {
    using EnumerableSet for EnumerableSet.AddressSet;
    using EnumerableSet for EnumerableSet.Bytes32Set;

    struct Guardian {
        address addr;
        bool isReady;
        uint64 addedAt;
    }

    struct RecoveryRequest {
        bytes32 hashedCredentialId;
        bytes32[2] rawPublicKey;
        uint256 timestamp;
    }

    uint256 public constant REQUEST_VALIDITY_TIME = 72 hours;
    uint256 public constant REQUEST_DELAY_TIME = 24 hours;
    /// @notice The least `gasLimit` a finishing transaction may carry: about 16 times what the finish costs on the
    ///         EVM (validation and the `addValidationKey` call, 119,139 gas measured by the forge test), so that the call cannot run out of gas
    ///         and a stranger cannot make it fail at the account's fee. Unused gas is refunded on Era: a high
    ///         limit costs only up-front balance.
    uint256 public constant FINISH_MIN_GAS_LIMIT = 2_000_000;
    /// @notice After a finishing attempt validated, the next one validates this much later at the earliest (a
    ///         success puts the key on the account, which refuses any further attempt): a stranger can make at
    ///         most one failing attempt per delay be charged to the account.
    uint256 public constant FINISH_RETRY_DELAY = 1 hours;
    /// @dev The official finishing signature, `abi.encode(bytes "", address module, bytes "")`.
    uint256 private constant FINISH_MAX_SIGNATURE_LENGTH = 160;
    /// @dev Room for a general-flow paymaster's input (its selector and a signed blob).
    uint256 private constant FINISH_MAX_PAYMASTER_INPUT_LENGTH = 1024;
    /// @dev `approvalBased(address,uint256,bytes)`: a paymaster flow that would move the account's tokens.
    bytes4 private constant APPROVAL_BASED_FLOW = 0x949431dc;

    /// @notice The passkey validator whose `addValidationKey` a recovery finishes with.
    address public webAuthValidator;

    mapping(bytes32 domain => mapping(address account => EnumerableSet.AddressSet)) private accountGuardians;
    mapping(bytes32 domain => mapping(address guardian => EnumerableSet.AddressSet)) private guardedAccounts;
    mapping(address account => EnumerableSet.Bytes32Set) private accountDomains;
    mapping(bytes32 domain => mapping(address account => RecoveryRequest)) private pendingRecoveryData;
    /// @notice A guardian's entry for `(domain, account)`: zero when it was never proposed (or was removed).
    mapping(bytes32 domain => mapping(address account => mapping(address guardian => Guardian))) public
        accountGuardianData;
    /// @notice When a finishing transaction of `account`'s request on `domain` last validated (0: never).
    mapping(bytes32 domain => mapping(address account => uint256)) public lastFinishAttempt;

    event RecoveryInitiated(
        address indexed account,
        bytes32 indexed hashedOriginDomain,
        bytes32 indexed hashedCredentialId,
        address guardian
    );
    event RecoveryFinished(
        address indexed account, bytes32 indexed hashedOriginDomain, bytes32 indexed hashedCredentialId
    );
    event RecoveryDiscarded(
        address indexed account, bytes32 indexed hashedOriginDomain, bytes32 indexed hashedCredentialId
    );
    event GuardianProposed(address indexed account, bytes32 indexed hashedOriginDomain, address indexed guardian);
    event GuardianAdded(address indexed account, bytes32 indexed hashedOriginDomain, address indexed guardian);
    event GuardianRemoved(address indexed account, bytes32 indexed hashedOriginDomain, address indexed guardian);
    event HashedOriginDomainEnabledForAccount(address indexed account, bytes32 indexed hashedOriginDomain);
    event HashedOriginDomainDisabledForAccount(address indexed account, bytes32 indexed hashedOriginDomain);

    error GUARDIAN_INVALID_WEBAUTH_VALIDATOR();
    error WEBAUTH_VALIDATOR_NOT_INSTALLED();
    error GUARDIAN_CANNOT_BE_SELF();
    error GUARDIAN_INVALID_ADDRESS();
    error GUARDIAN_INVALID_ACCOUNT();
    error GUARDIAN_NOT_PROPOSED(address guardian);
    error GUARDIAN_NOT_FOUND(address guardian);
    error GUARDIAN_RECOVERY_IN_PROGRESS();
    error GUARDIAN_INVALID_RECOVERY_CALL();

    /// @dev Deployed behind a proxy; the implementation itself is never initialized.
    constructor() {
        _disableInitializers();
    }

    /// @notice Binds the module to the passkey validator (once, through the proxy).
    function initialize(address _webAuthValidator) external initializer {
        require(_webAuthValidator != address(0), GUARDIAN_INVALID_WEBAUTH_VALIDATOR());
        webAuthValidator = _webAuthValidator;
    }

    // ---------------------------------------------------------------- module

    /// @notice The account installs the module; it must already have the passkey validator.
    function onInstall(bytes calldata) external view override {
        require(IEraValidatorManager(msg.sender).isModuleValidator(webAuthValidator), WEBAUTH_VALIDATOR_NOT_INSTALLED());
    }

    /// @notice The account uninstalls the module: its guardians and requests of every domain are forgotten.
    function onUninstall(bytes calldata) external override {
        EnumerableSet.Bytes32Set storage domains = accountDomains[msg.sender];
        while (domains.length() > 0) {
            bytes32 domain = domains.at(domains.length() - 1);
            EnumerableSet.AddressSet storage guardians = accountGuardians[domain][msg.sender];
            while (guardians.length() > 0) {
                _removeGuardian(domain, guardians.at(guardians.length() - 1));
            }
        }
    }

    // ---------------------------------------------------------------- guardians (account side)

    /// @notice Proposes `newGuardian` for the calling account on `hashedOriginDomain` (a no-op if already there).
    function proposeGuardian(bytes32 hashedOriginDomain, address newGuardian) external {
        require(newGuardian != msg.sender, GUARDIAN_CANNOT_BE_SELF());
        require(newGuardian != address(0), GUARDIAN_INVALID_ADDRESS());
        EnumerableSet.AddressSet storage guardians = accountGuardians[hashedOriginDomain][msg.sender];
        if (guardians.contains(newGuardian)) return;
        if (guardians.length() == 0 && accountDomains[msg.sender].add(hashedOriginDomain)) {
            emit HashedOriginDomainEnabledForAccount(msg.sender, hashedOriginDomain);
        }
        guardians.add(newGuardian);
        guardedAccounts[hashedOriginDomain][newGuardian].add(msg.sender);
        accountGuardianData[hashedOriginDomain][msg.sender][newGuardian] =
            Guardian(newGuardian, false, uint64(block.timestamp));
        emit GuardianProposed(msg.sender, hashedOriginDomain, newGuardian);
    }

    /// @notice Removes a guardian of the calling account; removing a ready one discards the pending request.
    function removeGuardian(bytes32 hashedOriginDomain, address guardianToRemove) external {
        require(
            accountGuardians[hashedOriginDomain][msg.sender].contains(guardianToRemove),
            GUARDIAN_NOT_FOUND(guardianToRemove)
        );
        _removeGuardian(hashedOriginDomain, guardianToRemove);
    }

    /// @notice Deletes the calling account's pending request on `hashedOriginDomain` (emitted even if none).
    function discardRecovery(bytes32 hashedOriginDomain) external {
        bytes32 credential = pendingRecoveryData[hashedOriginDomain][msg.sender].hashedCredentialId;
        delete pendingRecoveryData[hashedOriginDomain][msg.sender];
        emit RecoveryDiscarded(msg.sender, hashedOriginDomain, credential);
    }

    // ---------------------------------------------------------------- guardians (guardian side)

    /// @notice Called by a proposed guardian of `accountToGuard` to become ready.
    /// @return False when the caller was already ready.
    function addGuardian(bytes32 hashedOriginDomain, address accountToGuard) external returns (bool) {
        require(accountToGuard != address(0), GUARDIAN_INVALID_ACCOUNT());
        Guardian storage guardian = accountGuardianData[hashedOriginDomain][accountToGuard][msg.sender];
        require(guardian.addr == msg.sender, GUARDIAN_NOT_PROPOSED(msg.sender));
        if (guardian.isReady) return false;
        guardian.isReady = true;
        emit GuardianAdded(accountToGuard, hashedOriginDomain, msg.sender);
        return true;
    }

    /// @notice Called by a ready guardian of `accountToRecover`: the passkey `(hashedCredentialId, rawPublicKey)`
    ///         on `hashedOriginDomain` may be added from 24 h to 72 h from now.
    function initRecovery(
        address accountToRecover,
        bytes32 hashedCredentialId,
        bytes32[2] calldata rawPublicKey,
        bytes32 hashedOriginDomain
    ) external {
        require(
            accountGuardianData[hashedOriginDomain][accountToRecover][msg.sender].isReady,
            GUARDIAN_NOT_FOUND(msg.sender)
        );
        RecoveryRequest storage pending = pendingRecoveryData[hashedOriginDomain][accountToRecover];
        require(
            pending.timestamp == 0 || pending.timestamp + REQUEST_VALIDITY_TIME <= block.timestamp,
            GUARDIAN_RECOVERY_IN_PROGRESS()
        );
        pendingRecoveryData[hashedOriginDomain][accountToRecover] =
            RecoveryRequest(hashedCredentialId, rawPublicKey, block.timestamp);
        emit RecoveryInitiated(accountToRecover, hashedOriginDomain, hashedCredentialId, msg.sender);
    }

    // ---------------------------------------------------------------- validation (finishing a recovery)

    /// @notice Accepts the account's transaction that adds exactly the requested passkey within the window, while
    ///         that passkey is not on the account yet, at most once per `FINISH_RETRY_DELAY`.
    /// @dev Reverts `GUARDIAN_INVALID_RECOVERY_CALL` for calldata shorter than a selector, as the official module.
    ///      Refuses a finishing transaction whose execution a stranger could make fail at the account's fee: a
    ///      `gasLimit` below `FINISH_MIN_GAS_LIMIT`, calldata longer than the exact ABI encoding of the call,
    ///      factoryDeps, reserved dynamic bytes, a signature longer than the official one or an oversized
    ///      paymasterInput. Writes only the time of this attempt (`lastFinishAttempt`, keyed by the account, as
    ///      Era's validation rules allow), never the request: a finish whose execution fails leaves it pending,
    ///      and the next attempt validates `FINISH_RETRY_DELAY` later. Reads the account's key slot of the
    ///      WebAuthValidator.
    function validateTransaction(bytes32, Transaction calldata transaction) external override returns (bool) {
        bytes calldata data = transaction.data;
        require(data.length >= 4, GUARDIAN_INVALID_RECOVERY_CALL());
        if (address(uint160(transaction.to)) != webAuthValidator) return false;
        if (bytes4(data[:4]) != IEraWebAuthValidator.addValidationKey.selector) return false;
        // Anyone may send this transaction: a value only makes the non-payable call revert.
        if (transaction.value != 0) return false;
        // Too little gas, or padding whose intrinsic cost eats it, would make the call fail at the account's fee.
        if (transaction.gasLimit < FINISH_MIN_GAS_LIMIT) return false;
        if (transaction.factoryDeps.length != 0 || transaction.reservedDynamic.length != 0) return false;
        if (transaction.signature.length > FINISH_MAX_SIGNATURE_LENGTH) return false;
        bytes calldata paymasterInput = transaction.paymasterInput;
        if (paymasterInput.length > FINISH_MAX_PAYMASTER_INPUT_LENGTH) return false;
        if (paymasterInput.length >= 4 && bytes4(paymasterInput[:4]) == APPROVAL_BASED_FLOW) return false;

        (bytes memory credentialId, bytes32[2] memory rawPublicKey, string memory originDomain) =
            abi.decode(data[4:], (bytes, bytes32[2], string));
        // Exactly the canonical encoding: selector, 4 head words, then each dynamic argument's length and words.
        if (data.length != 4 + 6 * 32 + _paddedLength(credentialId.length) + _paddedLength(bytes(originDomain).length))
        {
            return false;
        }
        bytes32 domain = keccak256(bytes(originDomain));
        RecoveryRequest storage request = pendingRecoveryData[domain][msg.sender];
        bytes32 hashedCredentialId = keccak256(credentialId);
        if (request.timestamp == 0 || request.hashedCredentialId != hashedCredentialId) return false;
        if (request.rawPublicKey[0] != rawPublicKey[0] || request.rawPublicKey[1] != rawPublicKey[1]) return false;
        uint256 start = request.timestamp + REQUEST_DELAY_TIME;
        if (block.timestamp < start || block.timestamp > request.timestamp + REQUEST_VALIDITY_TIME) return false;
        // The passkey is on the account: this recovery finished (a replay), or the call would revert anyway.
        bytes32[2] memory present =
            IEraWebAuthValidator(webAuthValidator).getAccountKey(originDomain, credentialId, msg.sender);
        if (present[0] != 0 || present[1] != 0) return false;
        // The key is still missing, so any earlier attempt failed: one failing attempt per delay at most.
        uint256 last = lastFinishAttempt[domain][msg.sender];
        if (last != 0 && block.timestamp < last + FINISH_RETRY_DELAY) return false;
        lastFinishAttempt[domain][msg.sender] = block.timestamp;
        return true;
    }

    /// @notice Guardians cannot sign messages for the account.
    function validateSignature(bytes32, bytes calldata) external pure override returns (bool) {
        return false;
    }

    function supportsInterface(bytes4 interfaceId) external pure override returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IEraModuleValidator).interfaceId
            || interfaceId == type(IEraModule).interfaceId;
    }

    // ---------------------------------------------------------------- views

    /// @notice The guardians of `addr` on `hashedOriginDomain`, proposed and ready.
    function guardiansFor(bytes32 hashedOriginDomain, address addr) external view returns (Guardian[] memory result) {
        EnumerableSet.AddressSet storage guardians = accountGuardians[hashedOriginDomain][addr];
        result = new Guardian[](guardians.length());
        for (uint256 i = 0; i < result.length; ++i) {
            result[i] = accountGuardianData[hashedOriginDomain][addr][guardians.at(i)];
        }
    }

    /// @notice The accounts that proposed `guardian` on `hashedOriginDomain`.
    function guardianOf(bytes32 hashedOriginDomain, address guardian) external view returns (address[] memory) {
        return guardedAccounts[hashedOriginDomain][guardian].values();
    }

    /// @notice The pending request of `account` on `hashedOriginDomain` (zero when none).
    function getPendingRecoveryData(bytes32 hashedOriginDomain, address account)
        external
        view
        returns (RecoveryRequest memory)
    {
        return pendingRecoveryData[hashedOriginDomain][account];
    }

    // ---------------------------------------------------------------- internals

    function _paddedLength(uint256 length) private pure returns (uint256) {
        return (length + 31) / 32 * 32;
    }

    function _removeGuardian(bytes32 domain, address guardian) private {
        bool wasReady = accountGuardianData[domain][msg.sender][guardian].isReady;
        EnumerableSet.AddressSet storage guardians = accountGuardians[domain][msg.sender];
        guardians.remove(guardian);
        guardedAccounts[domain][guardian].remove(msg.sender);
        delete accountGuardianData[domain][msg.sender][guardian];
        if (wasReady) {
            RecoveryRequest storage pending = pendingRecoveryData[domain][msg.sender];
            if (pending.timestamp != 0) {
                bytes32 credential = pending.hashedCredentialId;
                delete pendingRecoveryData[domain][msg.sender];
                emit RecoveryDiscarded(msg.sender, domain, credential);
            }
        }
        if (guardians.length() == 0 && accountDomains[msg.sender].remove(domain)) {
            emit HashedOriginDomainDisabledForAccount(msg.sender, domain);
        }
        emit GuardianRemoved(msg.sender, domain, guardian);
    }
}
