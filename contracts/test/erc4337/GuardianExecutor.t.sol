// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {EOAKeyValidator} from "../../src/erc4337/EOAKeyValidator.sol";
import {GuardianExecutor} from "../../src/erc4337/GuardianExecutor.sol";
import {IMSA} from "../../src/erc4337/IMSA.sol";
import {MSABeacon} from "../../src/erc4337/MSABeacon.sol";
import {MSAFactory} from "../../src/erc4337/MSAFactory.sol";
import {ModularSmartAccount} from "../../src/erc4337/ModularSmartAccount.sol";
import {WebAuthnValidator} from "../../src/erc4337/WebAuthnValidator.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev The cheatcodes these tests need beyond PasskeyTestBase's (time travel and recorded logs).
interface VmGuardian {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function warp(uint256 newTimestamp) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
}

/// @dev GuardianExecutor installed in the project's ModularSmartAccount: every function, every error, the delay
/// boundaries, and the whole story (the passkey is lost, a guardian adds a new one after the delay).
contract GuardianExecutorTest is PasskeyTestBase {
    VmGuardian private constant VMG = VmGuardian(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    address private constant EP = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    uint256 private constant NEW_PASSKEY = 0x2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe;
    bytes private constant NEW_CREDENTIAL_ID = hex"c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4";
    address private constant GUARDIAN = address(0x9999999999999999999999999999999999999999);
    address private constant OTHER = address(0x8888888888888888888888888888888888888888);
    address private constant NEW_OWNER = address(0x7777777777777777777777777777777777777777);
    uint48 private constant T0 = 1_750_000_000;
    bytes32 private constant USER_OP_HASH = keccak256("userOpHash");

    event GuardianProposed(address indexed account, address indexed guardian);
    event GuardianAdded(address indexed account, address indexed guardian);
    event GuardianRemoved(address indexed account, address indexed guardian);
    event RecoveryInitiated(
        address indexed account, address indexed guardian, GuardianExecutor.RecoveryRequest request, bytes recoveryData
    );
    event RecoveryFinished(address indexed account);
    event RecoveryDiscarded(address indexed account);

    WebAuthnValidator private webauthn;
    EOAKeyValidator private eoa;
    GuardianExecutor private executor;
    MSAFactory private factory;
    /// @dev Created with the passkey validator and the executor.
    ModularSmartAccount private account;
    /// @dev Created with the passkey validator only.
    ModularSmartAccount private bare;

    function setUp() public {
        VMG.warp(T0);
        webauthn = new WebAuthnValidator();
        eoa = new EOAKeyValidator();
        executor = new GuardianExecutor(address(webauthn), address(eoa));
        ModularSmartAccount implementation = new ModularSmartAccount();
        factory = new MSAFactory(address(new MSABeacon(address(implementation), address(this))));

        address[] memory modules = new address[](2);
        modules[0] = address(webauthn);
        modules[1] = address(executor);
        bytes[] memory data = new bytes[](2);
        data[0] = installData(PASSKEY);
        data[1] = "";
        account = _deploy(bytes32(uint256(1)), modules, data);

        address[] memory only = new address[](1);
        only[0] = address(webauthn);
        bytes[] memory onlyData = new bytes[](1);
        onlyData[0] = installData(PASSKEY);
        bare = _deploy(bytes32(uint256(2)), only, onlyData);
    }

    // ---------------------------------------------------------------- helpers

    function _deploy(bytes32 salt, address[] memory modules, bytes[] memory data)
        private
        returns (ModularSmartAccount)
    {
        bytes memory init = abi.encodeCall(IMSA.initializeAccount, (modules, data));
        return ModularSmartAccount(payable(factory.deployAccount(salt, init)));
    }

    /// @dev What a validated UserOperation does: the EntryPoint calls `execute(single, target ‖ 0 ‖ data)`.
    function _exec(ModularSmartAccount from, address target, bytes memory data) private {
        VM.prank(EP);
        from.execute(bytes32(0), abi.encodePacked(target, uint256(0), data));
    }

    function _propose(ModularSmartAccount from, address guardian) private {
        _exec(from, address(executor), abi.encodeCall(GuardianExecutor.proposeGuardian, (guardian)));
    }

    function _acceptedGuardian() private {
        _propose(account, GUARDIAN);
        VM.prank(GUARDIAN);
        executor.acceptGuardian(address(account));
    }

    function _passkeyData(uint256 privateKey, bytes memory credentialId) private pure returns (bytes memory) {
        return abi.encode(credentialId, passkeyXY(privateKey), ORIGIN);
    }

    function _initialize(GuardianExecutor.RecoveryType kind, bytes memory data) private {
        VM.prank(GUARDIAN);
        executor.initializeRecovery(address(account), kind, data);
    }

    /// @dev A passkey signature naming `credentialId` (which is not part of what the passkey signs).
    function _passkeySig(uint256 privateKey, bytes memory credentialId) private pure returns (bytes memory) {
        (bytes memory authData, string memory json, bytes32[2] memory rs,) =
            abi.decode(fatSignature(privateKey, USER_OP_HASH), (bytes, string, bytes32[2], bytes));
        return abi.encode(authData, json, rs, credentialId);
    }

    function _validates(uint256 privateKey, bytes memory credentialId) private returns (bool) {
        PackedUserOperation memory op;
        op.sender = address(account);
        op.signature = abi.encodePacked(address(webauthn), _passkeySig(privateKey, credentialId));
        VM.prank(EP);
        return account.validateUserOp(op, USER_OP_HASH, 0) == 0;
    }

    function _status(address guardian) private view returns (bool present, bool active) {
        return executor.guardianStatusFor(address(account), guardian);
    }

    function _pendingTimestamp() private view returns (uint48 ts) {
        (,, ts) = executor.pendingRecovery(address(account));
    }

    /// @dev The recorded logs of the executor, checked for `topic0` and `account` in topic 1.
    function _emitted(bytes32 topic0) private returns (bool seen) {
        VmGuardian.Log[] memory logs = VMG.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(executor) && logs[i].topics[0] == topic0) {
                check(logs[i].topics[1] == bytes32(uint256(uint160(address(account)))), "event for another account");
                seen = true;
            }
        }
    }

    // ---------------------------------------------------------------- constants and module surface

    function testConstantsAndModuleType() public view {
        check(executor.REQUEST_DELAY_TIME() == 24 hours, "delay");
        check(executor.REQUEST_VALIDITY_TIME() == 72 hours, "validity");
        check(executor.WEBAUTHN_VALIDATOR() == address(webauthn), "webauthn validator");
        check(executor.EOA_VALIDATOR() == address(eoa), "eoa validator");
        check(executor.isModuleType(2), "not an executor");
        check(!executor.isModuleType(1), "claims to be a validator");
    }

    function testInstalledAtCreation() public view {
        check(account.isModuleInstalled(2, address(executor), ""), "executor not installed at creation");
    }

    function testInstalledViaInstallModuleThenProposes() public {
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.NotInitialized.selector, address(bare)));
        VM.prank(address(bare));
        executor.proposeGuardian(GUARDIAN);

        VM.prank(EP);
        bare.installModule(2, address(executor), "");
        check(bare.isModuleInstalled(2, address(executor), ""), "installModule did not install");
        _propose(bare, GUARDIAN);
        (bool present, bool active) = executor.guardianStatusFor(address(bare), GUARDIAN);
        check(present && !active, "proposed guardian status");
    }

    // ---------------------------------------------------------------- proposeGuardian

    function testProposeGuardianStoresInactiveAndEmits() public {
        VMG.recordLogs();
        _propose(account, GUARDIAN);
        check(_emitted(GuardianProposed.selector), "GuardianProposed not emitted");
        (bool present, bool active) = _status(GUARDIAN);
        check(present && !active, "status after propose");
        address[] memory list = executor.guardiansFor(address(account));
        check(list.length == 1 && list[0] == GUARDIAN, "guardiansFor");
    }

    function testProposeGuardianRejectsZeroSelfAndDuplicate() public {
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianInvalidAddress.selector, address(0)));
        VM.prank(address(account));
        executor.proposeGuardian(address(0));

        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianInvalidAddress.selector, address(account)));
        VM.prank(address(account));
        executor.proposeGuardian(address(account));

        _propose(account, GUARDIAN);
        VM.expectRevert(
            abi.encodeWithSelector(GuardianExecutor.GuardianAlreadyPresent.selector, address(account), GUARDIAN)
        );
        VM.prank(address(account));
        executor.proposeGuardian(GUARDIAN);
    }

    // ---------------------------------------------------------------- acceptGuardian

    function testAcceptGuardianActivatesOnceAndEmits() public {
        _propose(account, GUARDIAN);
        VMG.recordLogs();
        VM.prank(GUARDIAN);
        check(executor.acceptGuardian(address(account)), "first accept returned false");
        check(_emitted(GuardianAdded.selector), "GuardianAdded not emitted");
        (bool present, bool active) = _status(GUARDIAN);
        check(present && active, "status after accept");

        VMG.recordLogs();
        VM.prank(GUARDIAN);
        check(!executor.acceptGuardian(address(account)), "second accept returned true");
        check(!_emitted(GuardianAdded.selector), "GuardianAdded emitted twice");
    }

    function testAcceptGuardianRequiresProposalAndInstalledModule() public {
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianNotFound.selector, address(account), OTHER));
        VM.prank(OTHER);
        executor.acceptGuardian(address(account));

        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.NotInitialized.selector, address(bare)));
        VM.prank(GUARDIAN);
        executor.acceptGuardian(address(bare));
    }

    // ---------------------------------------------------------------- removeGuardian

    function testRemoveGuardian() public {
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianNotFound.selector, address(account), OTHER));
        VM.prank(address(account));
        executor.removeGuardian(OTHER);

        _propose(account, OTHER);
        VMG.recordLogs();
        _exec(account, address(executor), abi.encodeCall(GuardianExecutor.removeGuardian, (OTHER)));
        check(_emitted(GuardianRemoved.selector), "GuardianRemoved not emitted");
        (bool present,) = _status(OTHER);
        check(!present, "removed guardian still present");
        check(executor.guardiansFor(address(account)).length == 0, "guardiansFor not empty");
    }

    function testRemovingAnActiveGuardianDiscardsThePendingRecovery() public {
        _acceptedGuardian();
        _initialize(GuardianExecutor.RecoveryType.Passkey, _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID));
        VMG.recordLogs();
        VM.prank(address(account));
        executor.removeGuardian(GUARDIAN);
        check(_emitted(RecoveryDiscarded.selector), "pending recovery kept");
        check(_pendingTimestamp() == 0, "request not deleted");
    }

    function testRemovingAProposedGuardianKeepsThePendingRecovery() public {
        _acceptedGuardian();
        _propose(account, OTHER);
        _initialize(GuardianExecutor.RecoveryType.Passkey, _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID));
        VM.prank(address(account));
        executor.removeGuardian(OTHER);
        check(_pendingTimestamp() == T0, "request of the active guardian discarded");
    }

    // ---------------------------------------------------------------- initializeRecovery

    function testInitializeRecoveryStoresHashAndEmits() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        VMG.recordLogs();
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        check(_emitted(RecoveryInitiated.selector), "RecoveryInitiated not emitted");
        (GuardianExecutor.RecoveryType kind, bytes32 hashed, uint48 ts) = executor.pendingRecovery(address(account));
        check(kind == GuardianExecutor.RecoveryType.Passkey, "type");
        check(hashed == keccak256(data), "hashedData");
        check(ts == T0, "timestamp");
    }

    function testInitializeRecoveryRequiresAnActiveGuardian() public {
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianNotFound.selector, address(account), GUARDIAN));
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);

        _propose(account, GUARDIAN);
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.GuardianNotActive.selector, address(account), GUARDIAN));
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
    }

    function testInitializeRecoveryChecksTypeValidatorAndData() public {
        _acceptedGuardian();
        VM.expectRevert(
            abi.encodeWithSelector(
                GuardianExecutor.UnsupportedRecoveryType.selector, GuardianExecutor.RecoveryType.None
            )
        );
        _initialize(GuardianExecutor.RecoveryType.None, hex"01");

        // The account has no EOA validator installed.
        VM.expectRevert(
            abi.encodeWithSelector(GuardianExecutor.ValidatorNotInstalled.selector, address(account), address(eoa))
        );
        _initialize(GuardianExecutor.RecoveryType.EOA, abi.encode(NEW_OWNER));

        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.EmptyRecoveryData.selector));
        _initialize(GuardianExecutor.RecoveryType.Passkey, "");
    }

    function testInitializeRecoveryRefusedWhileLiveThenReplacedAfterValidity() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);

        VMG.warp(T0 + 72 hours);
        VM.expectRevert(abi.encodeWithSelector(GuardianExecutor.RecoveryInProgress.selector, address(account)));
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);

        VMG.warp(T0 + 72 hours + 1);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        check(_pendingTimestamp() == T0 + 72 hours + 1, "stale request not replaced");
    }

    // ---------------------------------------------------------------- finalizeRecovery

    function testFinalizeWithoutRequestIsUnsupportedTypeNone() public {
        VM.expectRevert(
            abi.encodeWithSelector(
                GuardianExecutor.UnsupportedRecoveryType.selector, GuardianExecutor.RecoveryType.None
            )
        );
        executor.finalizeRecovery(address(account), hex"01");
    }

    function testFinalizeRejectsOtherData() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        VMG.warp(T0 + 24 hours + 1);
        bytes memory other = _passkeyData(PASSKEY, NEW_CREDENTIAL_ID);
        VM.expectRevert(
            abi.encodeWithSelector(GuardianExecutor.RecoveryDataMismatch.selector, keccak256(data), keccak256(other))
        );
        executor.finalizeRecovery(address(account), other);
    }

    function testFinalizeDelayBoundariesAreStrict() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        bytes memory invalid = abi.encodeWithSelector(GuardianExecutor.RecoveryTimestampInvalid.selector, T0);

        VM.expectRevert(invalid);
        executor.finalizeRecovery(address(account), data);
        VMG.warp(T0 + 24 hours);
        VM.expectRevert(invalid);
        executor.finalizeRecovery(address(account), data);
        VMG.warp(T0 + 72 hours);
        VM.expectRevert(invalid);
        executor.finalizeRecovery(address(account), data);

        VMG.warp(T0 + 72 hours - 1);
        executor.finalizeRecovery(address(account), data);
        check(_pendingTimestamp() == 0, "request not deleted");
    }

    function testFinalizeFirstSecondAfterDelayAddsThePasskeyAndCannotReplay() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        VMG.warp(T0 + 24 hours + 1);
        VMG.recordLogs();
        VM.prank(OTHER); // anyone may finalize
        bytes memory ret = executor.finalizeRecovery(address(account), data);
        check(ret.length == 0, "addValidationKey returns nothing");
        check(_emitted(RecoveryFinished.selector), "RecoveryFinished not emitted");
        check(webauthn.getAccountKey(ORIGIN, NEW_CREDENTIAL_ID, address(account))[0] != 0, "key not added");
        check(webauthn.keyCount(address(account)) == 2, "key count");

        VM.expectRevert(
            abi.encodeWithSelector(
                GuardianExecutor.UnsupportedRecoveryType.selector, GuardianExecutor.RecoveryType.None
            )
        );
        executor.finalizeRecovery(address(account), data);
    }

    function testFinalizeEoaRecoveryAddsOwner() public {
        _exec(account, address(account), abi.encodeCall(account.installModule, (1, address(eoa), "")));
        _acceptedGuardian();
        bytes memory data = abi.encode(NEW_OWNER);
        _initialize(GuardianExecutor.RecoveryType.EOA, data);
        VMG.warp(T0 + 24 hours + 1);
        executor.finalizeRecovery(address(account), data);
        check(eoa.isOwnerOf(address(account), NEW_OWNER), "owner not added");
    }

    function testUninstallForgetsGuardiansAndRequest() public {
        _acceptedGuardian();
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        _exec(account, address(account), abi.encodeCall(account.uninstallModule, (2, address(executor), "")));
        check(executor.guardiansFor(address(account)).length == 0, "guardians survive uninstall");
        check(_pendingTimestamp() == 0, "request survives uninstall");
    }

    // ---------------------------------------------------------------- discardRecovery

    function testDiscardRecoveryEmitsOnlyWhenARequestExisted() public {
        VMG.recordLogs();
        _exec(account, address(executor), abi.encodeCall(GuardianExecutor.discardRecovery, ()));
        check(!_emitted(RecoveryDiscarded.selector), "discarded nothing but emitted");

        _acceptedGuardian();
        _initialize(GuardianExecutor.RecoveryType.Passkey, _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID));
        VMG.recordLogs();
        _exec(account, address(executor), abi.encodeCall(GuardianExecutor.discardRecovery, ()));
        check(_emitted(RecoveryDiscarded.selector), "RecoveryDiscarded not emitted");
        check(_pendingTimestamp() == 0, "request not deleted");
    }

    // ---------------------------------------------------------------- the whole story

    function testLostPasskeyIsRecoveredByTheGuardian() public {
        check(_validates(PASSKEY, CREDENTIAL_ID), "old passkey does not work to begin with");
        check(!_validates(NEW_PASSKEY, NEW_CREDENTIAL_ID), "new passkey works before recovery");

        // The account (passkey-signed UserOperations) proposes, the guardian accepts.
        _acceptedGuardian();
        // The passkey is lost: the guardian asks for a new one.
        bytes memory data = _passkeyData(NEW_PASSKEY, NEW_CREDENTIAL_ID);
        _initialize(GuardianExecutor.RecoveryType.Passkey, data);
        VMG.warp(T0 + 24 hours + 1);
        executor.finalizeRecovery(address(account), data);

        check(_validates(NEW_PASSKEY, NEW_CREDENTIAL_ID), "new passkey refused after recovery");
        // With the new passkey the account revokes the lost one.
        _exec(
            account, address(webauthn), abi.encodeCall(WebAuthnValidator.removeValidationKey, (CREDENTIAL_ID, ORIGIN))
        );
        check(!_validates(PASSKEY, CREDENTIAL_ID), "lost passkey still accepted");
        check(_validates(NEW_PASSKEY, NEW_CREDENTIAL_ID), "new passkey refused after revoking the old one");
    }
}
