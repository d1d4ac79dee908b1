// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {GuardianRecoveryValidator} from "../../src/era/GuardianRecoveryValidator.sol";
import {IEraModule} from "../../src/era/IEraModule.sol";
import {IEraModuleValidator} from "../../src/era/IEraModuleValidator.sol";
import {IEraWebAuthValidator} from "../../src/era/IEraWebAuthValidator.sol";
import {WebAuthValidator} from "../../src/era/WebAuthValidator.sol";

/// @dev The few Foundry cheatcodes these tests use (forge-std is not available here).
interface VmRecovery {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function prank(address sender) external;
    function warp(uint256 newTimestamp) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data, address emitter) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
    function record() external;
    function accesses(address target) external returns (bytes32[] memory readSlots, bytes32[] memory writeSlots);
}

/// @dev An Era account as the module sees it: it lists its validators and calls onInstall / onUninstall.
contract MockEraAccount {
    mapping(address => bool) public isModuleValidator;

    function setValidator(address validator, bool installed) external {
        isModuleValidator[validator] = installed;
    }

    function install(IEraModule module) external {
        module.onInstall("");
    }

    function uninstall(IEraModule module) external {
        module.onUninstall("");
    }
}

/// @dev Forge unit tests of the Era guardian recovery module: the official selectors, topics and errors, every
/// function's checks, the recovery window's boundaries, and the finishing transaction's validation.
contract GuardianRecoveryValidatorTest {
    VmRecovery private constant VM = VmRecovery(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    address private constant ACCOUNT = address(0xA11CE);
    address private constant GUARDIAN = address(0x9999);
    address private constant OTHER = address(0x8888);
    string private constant ORIGIN = "https://auth-test.zksync.dev";
    bytes32 private constant DOMAIN = 0x327b130a261bc807edebb2cff3455f46fd57523a748acf6fdbdb4195576655fe;
    bytes private constant CREDENTIAL_ID = hex"0102030405060708090a0b0c0d0e0f101112131415161718";
    // The P-256 generator: a key the WebAuthValidator accepts (it refuses points off the curve).
    bytes32 private constant X = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296;
    bytes32 private constant Y = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5;
    uint256 private constant T0 = 1_750_000_000;
    uint256 private constant _ATTEMPT_SLOT = 6; // lastFinishAttempt's slot (forge inspect ... storageLayout)

    GuardianRecoveryValidator private module;
    address private WEBAUTH;

    function setUp() public {
        VM.warp(T0);
        WEBAUTH = address(new WebAuthValidator());
        GuardianRecoveryValidator implementation = new GuardianRecoveryValidator();
        bytes memory init = abi.encodeCall(GuardianRecoveryValidator.initialize, (WEBAUTH));
        module = GuardianRecoveryValidator(address(new ERC1967Proxy(address(implementation), init)));
    }

    // ---------------------------------------------------------------- helpers

    function _propose(address account, address guardian) private {
        VM.prank(account);
        module.proposeGuardian(DOMAIN, guardian);
    }

    function _ready(address account, address guardian) private {
        _propose(account, guardian);
        VM.prank(guardian);
        require(module.addGuardian(DOMAIN, account), "newly ready");
    }

    function _initRecovery() private {
        _ready(ACCOUNT, GUARDIAN);
        VM.prank(GUARDIAN);
        module.initRecovery(ACCOUNT, keccak256(CREDENTIAL_ID), [X, Y], DOMAIN);
    }

    function _finishTx(address to, bytes memory data) private pure returns (Transaction memory transaction) {
        transaction.txType = 113;
        transaction.from = uint256(uint160(ACCOUNT));
        transaction.to = uint256(uint160(to));
        transaction.gasLimit = 2_000_000; // FINISH_MIN_GAS_LIMIT
        transaction.data = data;
        transaction.signature = abi.encode(bytes(""), address(0), bytes(""));
    }

    function _addKey(bytes memory credentialId, bytes32 x, string memory origin) private pure returns (bytes memory) {
        return abi.encodeCall(IEraWebAuthValidator.addValidationKey, (credentialId, [x, Y], origin));
    }

    function _validate(Transaction memory transaction) private returns (bool) {
        VM.prank(ACCOUNT);
        return module.validateTransaction(bytes32(0), transaction);
    }

    function _validKey() private view returns (Transaction memory) {
        return _finishTx(WEBAUTH, _addKey(CREDENTIAL_ID, X, ORIGIN));
    }

    /// @dev The finishing transaction's execution phase: the account's call to the WebAuthValidator, with `gas`.
    function _execute(uint256 gas) private returns (bool ok) {
        VM.prank(ACCOUNT);
        (ok,) = WEBAUTH.call{gas: gas}(_addKey(CREDENTIAL_ID, X, ORIGIN));
    }

    function _keyOnAccount() private view returns (bool) {
        bytes32[2] memory key = IEraWebAuthValidator(WEBAUTH).getAccountKey(ORIGIN, CREDENTIAL_ID, ACCOUNT);
        return key[0] == X && key[1] == Y;
    }

    /// @dev `lastFinishAttempt[DOMAIN][ACCOUNT]`: the account is the inner key, as Era's validation rules ask.
    function _attemptSlot() private pure returns (bytes32) {
        bytes32 slot = keccak256(abi.encode(DOMAIN, _ATTEMPT_SLOT));
        return keccak256(abi.encode(ACCOUNT, slot));
    }

    function _pendingSince() private view returns (uint256) {
        return module.getPendingRecoveryData(DOMAIN, ACCOUNT).timestamp;
    }

    // ---------------------------------------------------------------- format

    function test_selectors_topics_and_errors_are_the_official_ones() public view {
        require(GuardianRecoveryValidator.proposeGuardian.selector == 0x9f5d29c9, "proposeGuardian");
        require(GuardianRecoveryValidator.addGuardian.selector == 0x85431596, "addGuardian");
        require(GuardianRecoveryValidator.removeGuardian.selector == 0x3cab947d, "removeGuardian");
        require(GuardianRecoveryValidator.initRecovery.selector == 0x236ad679, "initRecovery");
        require(GuardianRecoveryValidator.discardRecovery.selector == 0x51bd1f69, "discardRecovery");
        require(GuardianRecoveryValidator.guardiansFor.selector == 0x511f723d, "guardiansFor");
        require(GuardianRecoveryValidator.guardianOf.selector == 0xcb339850, "guardianOf");
        require(GuardianRecoveryValidator.getPendingRecoveryData.selector == 0xab9d5fff, "getPendingRecoveryData");
        require(module.accountGuardianData.selector == 0x9b99752a, "accountGuardianData");
        require(
            GuardianRecoveryValidator.RecoveryInitiated.selector
                == 0x750203e1c6151c9136eca3be6c61d060ea236395244e97c72ee3735c131c3802,
            "RecoveryInitiated"
        );
        require(
            GuardianRecoveryValidator.RecoveryFinished.selector
                == 0x122f699d3998d7d483d87a65abbdba44780a412ca03b283c5c6fc45b6d7d94d2,
            "RecoveryFinished"
        );
        require(
            GuardianRecoveryValidator.RecoveryDiscarded.selector
                == 0xa4e8705d9ef0c51657f9c64b028c7199ff3cd3ee5d057d6e1088e64580853d13,
            "RecoveryDiscarded"
        );
        require(
            GuardianRecoveryValidator.GuardianProposed.selector
                == 0x3deaf0877005efc7ea2c571de4f96ff33bf60c0b32e188f1fa32bab3da8b870e,
            "GuardianProposed"
        );
        require(
            GuardianRecoveryValidator.GuardianAdded.selector
                == 0x6aba2dccf4edc3319e24e776ffc5d7f8fa89456e0f15421abf316d28d427ed33,
            "GuardianAdded"
        );
        require(
            GuardianRecoveryValidator.GuardianRemoved.selector
                == 0xb9c57fa4d0e004062979bfe03380ddabcf23ec66f36e471ee5b5ab67349485b2,
            "GuardianRemoved"
        );
        require(
            GuardianRecoveryValidator.HashedOriginDomainEnabledForAccount.selector
                == 0x49e308297bf7e3373130f54d11e9944d094c586954301b5c7da3b918195c7580,
            "HashedOriginDomainEnabledForAccount"
        );
        require(
            GuardianRecoveryValidator.HashedOriginDomainDisabledForAccount.selector
                == 0x1373f4151802c1c04091d06c3f13c1948e40afad22bd00382d4702808d0320eb,
            "HashedOriginDomainDisabledForAccount"
        );
        require(GuardianRecoveryValidator.GUARDIAN_INVALID_WEBAUTH_VALIDATOR.selector == 0xfe3b2a93, "e1");
        require(GuardianRecoveryValidator.WEBAUTH_VALIDATOR_NOT_INSTALLED.selector == 0x08a00225, "e2");
        require(GuardianRecoveryValidator.GUARDIAN_CANNOT_BE_SELF.selector == 0x8b1208ee, "e3");
        require(GuardianRecoveryValidator.GUARDIAN_INVALID_ADDRESS.selector == 0x878980d1, "e4");
        require(GuardianRecoveryValidator.GUARDIAN_INVALID_ACCOUNT.selector == 0xbc58cf81, "e5");
        require(GuardianRecoveryValidator.GUARDIAN_NOT_PROPOSED.selector == 0xd1a6009a, "e6");
        require(GuardianRecoveryValidator.GUARDIAN_NOT_FOUND.selector == 0xf3e26e73, "e7");
        require(GuardianRecoveryValidator.GUARDIAN_RECOVERY_IN_PROGRESS.selector == 0x60433b3e, "e8");
        require(GuardianRecoveryValidator.GUARDIAN_INVALID_RECOVERY_CALL.selector == 0xb7e2a153, "e9");
        require(keccak256(bytes(ORIGIN)) == DOMAIN, "the spec's hashed origin");
    }

    function test_interfaces() public view {
        require(module.supportsInterface(type(IERC165).interfaceId), "ERC-165");
        require(module.supportsInterface(type(IEraModuleValidator).interfaceId), "validator");
        require(module.supportsInterface(type(IEraModule).interfaceId), "module");
        require(!module.supportsInterface(0xffffffff), "not everything");
        require(!module.validateSignature(bytes32(0), ""), "guardians sign no messages");
    }

    // ---------------------------------------------------------------- initialisation and installation

    function test_initialize_once_through_the_proxy_never_on_the_implementation() public {
        require(module.webAuthValidator() == WEBAUTH, "bound");
        VM.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        module.initialize(OTHER);
        GuardianRecoveryValidator implementation = new GuardianRecoveryValidator();
        VM.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        implementation.initialize(WEBAUTH);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_INVALID_WEBAUTH_VALIDATOR.selector));
        new ERC1967Proxy(address(implementation), abi.encodeCall(GuardianRecoveryValidator.initialize, (address(0))));
    }

    function test_install_needs_the_passkey_validator_and_uninstall_forgets_everything() public {
        MockEraAccount account = new MockEraAccount();
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.WEBAUTH_VALIDATOR_NOT_INSTALLED.selector));
        account.install(module);
        account.setValidator(WEBAUTH, true);
        account.install(module);

        _ready(address(account), GUARDIAN);
        _propose(address(account), OTHER);
        VM.prank(GUARDIAN);
        module.initRecovery(address(account), keccak256(CREDENTIAL_ID), [X, Y], DOMAIN);
        account.uninstall(module);
        require(module.guardiansFor(DOMAIN, address(account)).length == 0, "guardians forgotten");
        require(module.guardianOf(DOMAIN, GUARDIAN).length == 0, "reverse index forgotten");
        require(module.getPendingRecoveryData(DOMAIN, address(account)).timestamp == 0, "request forgotten");
    }

    // ---------------------------------------------------------------- guardians

    function test_propose_checks_and_events() public {
        VM.prank(ACCOUNT);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_CANNOT_BE_SELF.selector));
        module.proposeGuardian(DOMAIN, ACCOUNT);
        VM.prank(ACCOUNT);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_INVALID_ADDRESS.selector));
        module.proposeGuardian(DOMAIN, address(0));

        VM.expectEmit(true, true, false, false, address(module));
        emit GuardianRecoveryValidator.HashedOriginDomainEnabledForAccount(ACCOUNT, DOMAIN);
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.GuardianProposed(ACCOUNT, DOMAIN, GUARDIAN);
        _propose(ACCOUNT, GUARDIAN);

        VM.recordLogs();
        _propose(ACCOUNT, GUARDIAN); // already proposed: silently nothing
        require(VM.getRecordedLogs().length == 0, "a second proposal is a no-op");

        GuardianRecoveryValidator.Guardian[] memory guardians = module.guardiansFor(DOMAIN, ACCOUNT);
        require(guardians.length == 1 && guardians[0].addr == GUARDIAN, "listed");
        require(!guardians[0].isReady && guardians[0].addedAt == T0, "proposed now, not ready");
        require(module.guardianOf(DOMAIN, GUARDIAN)[0] == ACCOUNT, "reverse index");
        (address addr, bool isReady,) = module.accountGuardianData(DOMAIN, ACCOUNT, GUARDIAN);
        require(addr == GUARDIAN && !isReady, "public getter");
        require(module.guardiansFor(keccak256("https://other.example"), ACCOUNT).length == 0, "scoped by domain");
    }

    function test_add_guardian_checks_and_returns_false_when_already_ready() public {
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_INVALID_ACCOUNT.selector));
        module.addGuardian(DOMAIN, address(0));
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_NOT_PROPOSED.selector, GUARDIAN));
        module.addGuardian(DOMAIN, ACCOUNT);

        _propose(ACCOUNT, GUARDIAN);
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.GuardianAdded(ACCOUNT, DOMAIN, GUARDIAN);
        VM.prank(GUARDIAN);
        require(module.addGuardian(DOMAIN, ACCOUNT), "newly ready");
        VM.prank(GUARDIAN);
        require(!module.addGuardian(DOMAIN, ACCOUNT), "already ready");
        require(module.guardiansFor(DOMAIN, ACCOUNT)[0].isReady, "ready");
    }

    function test_remove_guardian_discards_the_request_of_a_ready_one_and_disables_the_domain() public {
        VM.prank(ACCOUNT);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_NOT_FOUND.selector, GUARDIAN));
        module.removeGuardian(DOMAIN, GUARDIAN);

        _initRecovery();
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.RecoveryDiscarded(ACCOUNT, DOMAIN, keccak256(CREDENTIAL_ID));
        VM.expectEmit(true, true, false, false, address(module));
        emit GuardianRecoveryValidator.HashedOriginDomainDisabledForAccount(ACCOUNT, DOMAIN);
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.GuardianRemoved(ACCOUNT, DOMAIN, GUARDIAN);
        VM.prank(ACCOUNT);
        module.removeGuardian(DOMAIN, GUARDIAN);
        require(module.getPendingRecoveryData(DOMAIN, ACCOUNT).timestamp == 0, "request discarded");
        require(module.guardianOf(DOMAIN, GUARDIAN).length == 0, "reverse index");
        (address addr,,) = module.accountGuardianData(DOMAIN, ACCOUNT, GUARDIAN);
        require(addr == address(0), "entry deleted");
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_NOT_PROPOSED.selector, GUARDIAN));
        module.addGuardian(DOMAIN, ACCOUNT);
    }

    // ---------------------------------------------------------------- requests

    function test_init_recovery_needs_a_ready_guardian_and_one_request_at_a_time() public {
        _propose(ACCOUNT, GUARDIAN);
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_NOT_FOUND.selector, GUARDIAN));
        module.initRecovery(ACCOUNT, keccak256(CREDENTIAL_ID), [X, Y], DOMAIN);

        VM.prank(GUARDIAN);
        module.addGuardian(DOMAIN, ACCOUNT);
        VM.expectEmit(true, true, true, true, address(module));
        emit GuardianRecoveryValidator.RecoveryInitiated(ACCOUNT, DOMAIN, keccak256(CREDENTIAL_ID), GUARDIAN);
        VM.prank(GUARDIAN);
        module.initRecovery(ACCOUNT, keccak256(CREDENTIAL_ID), [X, Y], DOMAIN);
        GuardianRecoveryValidator.RecoveryRequest memory request = module.getPendingRecoveryData(DOMAIN, ACCOUNT);
        require(request.hashedCredentialId == keccak256(CREDENTIAL_ID), "credential");
        require(request.rawPublicKey[0] == X && request.rawPublicKey[1] == Y && request.timestamp == T0, "stored");

        VM.warp(T0 + 72 hours - 1);
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_RECOVERY_IN_PROGRESS.selector));
        module.initRecovery(ACCOUNT, keccak256("another"), [X, Y], DOMAIN);
        VM.warp(T0 + 72 hours);
        VM.prank(GUARDIAN);
        module.initRecovery(ACCOUNT, keccak256("another"), [X, Y], DOMAIN); // the old one expired
        require(module.getPendingRecoveryData(DOMAIN, ACCOUNT).timestamp == T0 + 72 hours, "replaced");
    }

    function test_discard_recovery_always_emits() public {
        _initRecovery();
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.RecoveryDiscarded(ACCOUNT, DOMAIN, keccak256(CREDENTIAL_ID));
        VM.prank(ACCOUNT);
        module.discardRecovery(DOMAIN);
        require(module.getPendingRecoveryData(DOMAIN, ACCOUNT).timestamp == 0, "deleted");
        VM.expectEmit(true, true, true, false, address(module));
        emit GuardianRecoveryValidator.RecoveryDiscarded(ACCOUNT, DOMAIN, bytes32(0));
        VM.prank(ACCOUNT);
        module.discardRecovery(DOMAIN);
    }

    // ---------------------------------------------------------------- finishing (validateTransaction)

    function test_the_finishing_transaction_is_valid_only_inside_the_window() public {
        _initRecovery();
        VM.warp(T0 + 24 hours - 1);
        require(!_validate(_validKey()), "too early");
        VM.warp(T0 + 24 hours);
        require(_validate(_validKey()), "from 24 h on");
        require(_execute(1_000_000), "the account's call adds the passkey");
        require(_keyOnAccount(), "recovered");
        require(!_validate(_validKey()), "no replay once the passkey is on the account");
        VM.warp(T0 + 72 hours);
        require(!_validate(_validKey()), "no replay later in the window either");
    }

    /// Attack: anyone may send the finishing transaction. Given gas for its validation but not for its execution,
    /// the official module's validation deleted the request and the call then ran out of gas: on Era validation's
    /// writes persist, so one cheap transaction cancelled the recovery (and could again after every new request).
    /// Here the request is never written by validation, and a starved finish is refused before it could cost
    /// the account a fee.
    function test_a_finishing_transaction_whose_execution_fails_leaves_the_recovery_pending() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        Transaction memory griefing = _validKey();
        griefing.gasLimit = 40_000;

        VM.record();
        require(!_validate(griefing), "a starved finish is refused in validation");
        (, bytes32[] memory writes) = VM.accesses(address(module));
        require(writes.length == 0, "a refused attempt writes nothing");
        require(!_execute(40_000), "its execution would run out of gas");
        require(!_keyOnAccount(), "nothing was added");

        // An execution that fails with enough gas (a squatted credential, below) leaves the request pending too.
        VM.record();
        require(_validate(_validKey()), "the real finishing transaction validates");
        (, writes) = VM.accesses(address(module));
        require(writes.length == 1, "validation writes only the attempt's time");
        require(writes[0] == _attemptSlot(), "keyed by the account");
        require(module.lastFinishAttempt(DOMAIN, ACCOUNT) == T0 + 25 hours, "recorded");
        require(_pendingSince() == T0, "the request is still pending");
        require(_execute(1_000_000), "and its call adds the passkey");
        require(_keyOnAccount(), "recovered");
        require(!_validate(_validKey()), "and it cannot be replayed");
    }

    function test_the_finish_costs_far_less_than_its_gas_floor() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        uint256 before = gasleft();
        require(_validate(_validKey()) && _execute(1_000_000), "finished");
        uint256 used = before - gasleft();
        require(used * 10 <= module.FINISH_MIN_GAS_LIMIT(), "the floor is at least ten times the finish's cost");
    }

    function test_a_gas_limit_below_the_floor_is_refused() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        Transaction memory low = _validKey();
        low.gasLimit = module.FINISH_MIN_GAS_LIMIT() - 1;
        require(!_validate(low), "below the floor");
        require(module.lastFinishAttempt(DOMAIN, ACCOUNT) == 0, "no attempt recorded");
        low.gasLimit = module.FINISH_MIN_GAS_LIMIT();
        require(_validate(low), "at the floor");
    }

    /// Attack: padding whose intrinsic cost (calldata, published bytecode, signature) eats the gas limit.
    function test_a_padded_finishing_transaction_is_refused() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        Transaction memory padded = _validKey();
        padded.data = bytes.concat(padded.data, new bytes(100_000));
        require(!_validate(padded), "appended calldata");
        padded = _validKey();
        padded.data = bytes.concat(padded.data, new bytes(32));
        require(!_validate(padded), "a single appended word");
        padded = _validKey();
        padded.factoryDeps = new bytes32[](1);
        require(!_validate(padded), "factoryDeps");
        padded = _validKey();
        padded.reservedDynamic = hex"01";
        require(!_validate(padded), "reserved bytes");
        padded = _validKey();
        padded.signature = bytes.concat(padded.signature, new bytes(32));
        require(!_validate(padded), "an oversized signature");
        padded = _validKey();
        padded.paymaster = uint256(uint160(OTHER));
        padded.paymasterInput = abi.encodeWithSelector(0x8c5a3445, new bytes(2_000));
        require(!_validate(padded), "an oversized paymasterInput");
        require(module.lastFinishAttempt(DOMAIN, ACCOUNT) == 0, "no attempt recorded");
        require(_validate(_validKey()), "the exact encoding validates");
    }

    /// Attack: a stranger registers the requested credential id to an account of their own, so every finish
    /// reverts in execution; each attempt would cost the account its fee. One attempt per delay at most.
    function test_a_failed_finish_blocks_another_attempt_for_the_retry_delay() public {
        _initRecovery();
        VM.prank(OTHER);
        IEraWebAuthValidator(WEBAUTH).addValidationKey(CREDENTIAL_ID, [X, Y], ORIGIN);
        VM.warp(T0 + 25 hours);
        require(_validate(_validKey()), "the first attempt validates");
        require(!_execute(1_000_000), "and fails in execution: the credential is someone else's");
        require(_pendingSince() == T0, "the request is still pending");
        VM.warp(T0 + 25 hours + 1 hours - 1);
        require(!_validate(_validKey()), "another attempt within the delay is refused");
        VM.warp(T0 + 26 hours);
        require(_validate(_validKey()), "one after it validates");
        require(module.lastFinishAttempt(DOMAIN, ACCOUNT) == T0 + 26 hours, "recorded again");
    }

    /// The request outlives the finish (the module cannot see the execution): removing the recovered passkey inside
    /// the window re-opens it until the account discards the request.
    function test_a_finished_request_stays_until_discarded_or_expired() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        require(_validate(_validKey()) && _execute(1_000_000), "finished");
        require(_pendingSince() == T0, "still listed");
        VM.prank(GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_RECOVERY_IN_PROGRESS.selector));
        module.initRecovery(ACCOUNT, keccak256("another"), [X, Y], DOMAIN);

        VM.prank(ACCOUNT);
        IEraWebAuthValidator(WEBAUTH).removeValidationKey(CREDENTIAL_ID, ORIGIN);
        VM.warp(T0 + 26 hours);
        require(_validate(_validKey()), "removed inside the window: the request applies again");
        VM.prank(ACCOUNT);
        module.discardRecovery(DOMAIN);
        require(!_validate(_validKey()), "discarded: nothing to finish");

        VM.prank(GUARDIAN);
        module.initRecovery(ACCOUNT, keccak256("another"), [X, Y], DOMAIN); // a new request may start
        require(_pendingSince() == T0 + 26 hours, "replaced");
    }

    function test_the_window_ends_at_72_hours() public {
        _initRecovery();
        VM.warp(T0 + 72 hours + 1);
        require(!_validate(_validKey()), "expired");
        VM.warp(T0 + 72 hours);
        require(_validate(_validKey()), "up to 72 h");
    }

    function test_the_finishing_transaction_must_add_exactly_the_requested_key() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        VM.expectRevert(abi.encodeWithSelector(GuardianRecoveryValidator.GUARDIAN_INVALID_RECOVERY_CALL.selector));
        _validate(_finishTx(WEBAUTH, hex"123456"));
        require(!_validate(_finishTx(OTHER, _addKey(CREDENTIAL_ID, X, ORIGIN))), "another target");
        bytes memory remove = abi.encodeCall(IEraWebAuthValidator.removeValidationKey, (CREDENTIAL_ID, ORIGIN));
        require(!_validate(_finishTx(WEBAUTH, remove)), "another function");
        require(!_validate(_finishTx(WEBAUTH, _addKey(hex"ff", X, ORIGIN))), "another credential");
        require(!_validate(_finishTx(WEBAUTH, _addKey(CREDENTIAL_ID, Y, ORIGIN))), "another key");
        require(!_validate(_finishTx(WEBAUTH, _addKey(CREDENTIAL_ID, X, "https://evil.example"))), "another domain");
        Transaction memory approval = _validKey();
        approval.paymaster = uint256(uint160(OTHER));
        approval.paymasterInput = abi.encodeWithSelector(0x949431dc, address(0x70), 1, bytes(""));
        require(!_validate(approval), "no approval-based paymaster");
        Transaction memory general = _validKey();
        general.paymaster = uint256(uint160(OTHER));
        general.paymasterInput = abi.encodeWithSelector(0x8c5a3445, bytes(""));
        require(_validate(general), "a general-flow paymaster may sponsor it");
    }

    /// Attack: anyone may send the finishing transaction; with a value the non-payable addValidationKey reverts in
    /// execution, after validation consumed the request, so a bystander could cancel every recovery for good.
    function test_a_finishing_transaction_with_value_is_refused_and_leaves_the_request() public {
        _initRecovery();
        VM.warp(T0 + 25 hours);
        Transaction memory paying = _validKey();
        paying.value = 1;
        require(!_validate(paying), "a value makes the call revert: refused in validation");
        require(module.getPendingRecoveryData(DOMAIN, ACCOUNT).timestamp == T0, "the request is still pending");
        require(_validate(_validKey()), "the real finishing transaction still works");
    }
}
