// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {EOAKeyValidator} from "../../src/erc4337/EOAKeyValidator.sol";
import {IMSA} from "../../src/erc4337/IMSA.sol";
import {MSABeacon} from "../../src/erc4337/MSABeacon.sol";
import {MSAFactory} from "../../src/erc4337/MSAFactory.sol";
import {ModularSmartAccount} from "../../src/erc4337/ModularSmartAccount.sol";
import {SessionKeyValidator} from "../../src/erc4337/SessionKeyValidator.sol";
import {SessionPolicy} from "../../src/common/SessionPolicy.sol";
import {SessionLib} from "../../src/erc4337/SessionLib.sol";

/// @dev The Foundry cheatcodes these tests use (forge-std is not available here).
interface VmSessions {
    function prank(address sender) external;
    function warp(uint256 timestamp) external;
    function fee(uint256 baseFee) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert() external;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
}

/// @dev Six static arguments, one per condition.
interface IConstrained {
    function f(uint256 a0, uint256 a1, uint256 a2, uint256 a3, uint256 a4, uint256 a5) external;
}

/// @dev Drives SessionLib's limit arithmetic directly, with limits createSession would refuse.
contract SessionLibHarness {
    SessionPolicy.UsageTracker private tracker;

    function charge(uint48 period, uint48 periodId, uint48 expiresAt) external returns (uint48, uint48) {
        SessionLib.TimeRange memory range = SessionLib.TimeRange({validAfter: 0, validUntil: expiresAt});
        SessionLib.UsageLimit memory limit =
            SessionLib.UsageLimit({limitType: SessionPolicy.LimitType.Allowance, limit: 1 ether, period: period});
        SessionLib.checkAndUpdate(limit, tracker, 1, periodId, msg.sender, range);
        return (range.validAfter, range.validUntil);
    }
}

/// @dev The session validator in real accounts (installed at creation and later), every creation, validation
/// and revocation rule with its named error, the views, and the period arithmetic at its boundaries.
contract SessionKeyValidatorTest {
    VmSessions private constant VM = VmSessions(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    address private constant EP = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    uint256 private constant OWNER_KEY = 0xA11CE;
    uint256 private constant T0 = 1_750_000_000;
    address private constant R1 = 0x1111111111111111111111111111111111111111;
    address private constant R2 = 0x2222222222222222222222222222222222222222;
    address private constant TOKEN = 0x1d1499e622D69689cdf9004d05Ec547d650Ff211;
    bytes32 private constant OP_HASH = keccak256("a userOpHash");

    SessionKeyValidator private skv;
    EOAKeyValidator private eoa;
    MSAFactory private factory;
    ModularSmartAccount private account;
    uint256 private nextKey = 0x5E55;

    function setUp() public {
        VM.warp(T0);
        skv = new SessionKeyValidator();
        eoa = new EOAKeyValidator();
        factory = new MSAFactory(address(new MSABeacon(address(new ModularSmartAccount()), address(this))));
        account = _account(bytes32(0), true);
    }

    // ------------------------------------------------------------ helpers

    function check(bool condition, string memory what) internal pure {
        require(condition, what);
    }

    function _account(bytes32 salt, bool withSessions) private returns (ModularSmartAccount) {
        address[] memory modules = new address[](withSessions ? 2 : 1);
        bytes[] memory data = new bytes[](modules.length);
        address[] memory owners = new address[](1);
        owners[0] = VM.addr(OWNER_KEY);
        modules[0] = address(eoa);
        data[0] = abi.encode(owners);
        if (withSessions) {
            modules[1] = address(skv);
            data[1] = "";
        }
        return ModularSmartAccount(
            payable(factory.deployAccount(salt, abi.encodeCall(IMSA.initializeAccount, (modules, data))))
        );
    }

    function _limit(SessionPolicy.LimitType t, uint256 limit, uint48 period)
        private
        pure
        returns (SessionLib.UsageLimit memory)
    {
        return SessionLib.UsageLimit({limitType: t, limit: limit, period: period});
    }

    function _unlimited() private pure returns (SessionLib.UsageLimit memory) {
        return _limit(SessionPolicy.LimitType.Unlimited, 0, 0);
    }

    /// @dev A fresh signer key and a spec with one capped transfer policy to R1 and no call policy.
    function _transferSpec(uint256 key) private view returns (SessionLib.SessionSpec memory spec) {
        spec.signer = VM.addr(key);
        spec.expiresAt = uint48(block.timestamp + 1 days);
        spec.feeLimit = _limit(SessionPolicy.LimitType.Lifetime, 1 ether, 0);
        spec.transferPolicies = new SessionLib.TransferSpec[](1);
        spec.transferPolicies[0] = SessionLib.TransferSpec({
            target: R1, maxValuePerUse: 0.01 ether, valueLimit: _limit(SessionPolicy.LimitType.Lifetime, 0.015 ether, 0)
        });
    }

    /// @dev A call policy on IConstrained.f with one constraint per condition (ref 10); argument 0 (which must
    /// equal 10) also has an hourly allowance of 25 on its sum, so two calls an hour pass and a third does not.
    function _callSpec(uint256 key) private view returns (SessionLib.SessionSpec memory spec) {
        spec.signer = VM.addr(key);
        spec.expiresAt = uint48(block.timestamp + 1 days);
        spec.feeLimit = _limit(SessionPolicy.LimitType.Allowance, 1 ether, 1 days);
        spec.callPolicies = new SessionLib.CallSpec[](1);
        SessionLib.Constraint[] memory constraints = new SessionLib.Constraint[](6);
        for (uint256 i = 0; i < 6; ++i) {
            constraints[i] = SessionLib.Constraint({
                condition: SessionPolicy.Condition(i + 1),
                index: uint64(i),
                refValue: bytes32(uint256(10)),
                limit: _unlimited()
            });
        }
        constraints[0].limit = _limit(SessionPolicy.LimitType.Allowance, 25, 3600);
        spec.callPolicies[0] = SessionLib.CallSpec({
            target: TOKEN,
            selector: IConstrained.f.selector,
            maxValuePerUse: 1 ether,
            valueLimit: _limit(SessionPolicy.LimitType.Allowance, 1.5 ether, 1 days),
            constraints: constraints
        });
    }

    function _proof(uint256 key, SessionLib.SessionSpec memory spec, address who) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, keccak256(abi.encode(keccak256(abi.encode(spec)), who)));
        return abi.encodePacked(r, s, v);
    }

    function _create(uint256 key, SessionLib.SessionSpec memory spec) private {
        VM.prank(address(account));
        skv.createSession(spec, _proof(key, spec, address(account)));
    }

    function _goodArgs() private pure returns (uint256[6] memory) {
        return [uint256(10), 11, 9, 10, 10, 11];
    }

    function _fCall(uint256[6] memory a) private pure returns (bytes memory) {
        return abi.encodeCall(IConstrained.f, (a[0], a[1], a[2], a[3], a[4], a[5]));
    }

    function _execute(address target, uint256 value, bytes memory data) private pure returns (bytes memory) {
        return abi.encodeWithSelector(0xe9ae5c53, bytes32(0), abi.encodePacked(target, value, data));
    }

    function _op(uint256 key, SessionLib.SessionSpec memory spec, bytes memory callData, uint48[] memory periodIds)
        private
        pure
        returns (PackedUserOperation memory op)
    {
        op.nonce = uint256(uint160(spec.signer)) << 64;
        op.callData = callData;
        op.accountGasLimits = bytes32(uint256(300_000) << 128 | 100_000);
        op.preVerificationGas = 50_000;
        op.gasFees = bytes32(uint256(1 gwei) << 128 | 2 gwei);
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, OP_HASH);
        op.signature = abi.encode(abi.encodePacked(r, s, v), spec, periodIds);
    }

    function _ids(uint256 n, SessionLib.SessionSpec memory spec) private view returns (uint48[] memory ids) {
        ids = new uint48[](n);
        if (spec.feeLimit.limitType == SessionPolicy.LimitType.Allowance) {
            ids[0] = uint48(block.timestamp / spec.feeLimit.period);
        }
        if (spec.callPolicies.length > 0) {
            ids[1] = uint48(block.timestamp / 1 days);
            if (n > 2) ids[2] = uint48(block.timestamp / 3600);
        }
    }

    function _validate(PackedUserOperation memory op) private returns (uint256) {
        VM.prank(address(account));
        return skv.validateUserOp(op, OP_HASH);
    }

    function _newKey() private returns (uint256) {
        return ++nextKey;
    }

    // ------------------------------------------------------------ installation

    function testInstalledAtCreationAndSelectorsMatchTheOfficialOnes() public view {
        check(skv.isInitialized(address(account)), "not installed at creation");
        check(skv.isModuleType(1) && !skv.isModuleType(2), "module type");
        check(skv.createSession.selector == 0x054608e9, "createSession selector");
        check(skv.revokeKey.selector == 0x572f2210 && skv.revokeKeys.selector == 0x3ec59279, "revoke selectors");
        check(skv.sessionStatus.selector == 0x59130708 && skv.sessionState.selector == 0x66740450, "views");
        check(skv.sessionSigner.selector == 0x5dd48d06 && skv.validateUserOp.selector == 0x97003203, "others");
        check(
            SessionKeyValidator.SessionCreated.selector
                == 0x2fe3a315b5887bc614aaf65c4ed1b6f8f1b75530172d8dfbe1ea989e1b34b0d6,
            "SessionCreated topic"
        );
        check(
            SessionKeyValidator.SessionRevoked.selector
                == 0x006be5f629d8df9f032986474cfc3bfc82c9b1cd74dcb2fcb5b3d48f98a50024,
            "SessionRevoked topic"
        );
        check(skv.isValidSignatureWithSender(address(0), OP_HASH, "") == 0xffffffff, "sessions sign no 1271");
    }

    function testInstalledLaterWithInstallModule() public {
        account = _account(bytes32(uint256(1)), false);
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        bytes memory proof = _proof(key, spec, address(account));
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.NotInitialized.selector, address(account)));
        skv.createSession(spec, proof);
        VM.prank(EP);
        account.installModule(1, address(skv), "");
        _create(key, spec);
        check(uint8(skv.sessionStatus(address(account), keccak256(abi.encode(spec)))) == 1, "not active");
    }

    // ------------------------------------------------------------ creation

    function testCreateSessionRecordsStatusAndSigner() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(key, spec);
        bytes32 hash = keccak256(abi.encode(spec));
        check(skv.sessionStatus(address(account), hash) == SessionPolicy.Status.Active, "status");
        check(skv.sessionSigner(spec.signer) == hash, "signer index");
        check(skv.sessionStatus(address(0xBEEF), hash) == SessionPolicy.Status.NotInitialized, "other account");
    }

    function testCreationRefusals() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _callSpec(key);
        address[3] memory banned = [address(skv), address(account), address(eoa)];
        for (uint256 i = 0; i < banned.length; ++i) {
            spec.callPolicies[0].target = banned[i];
            bytes memory proof = _proof(key, spec, address(account));
            VM.prank(address(account));
            VM.expectRevert(
                abi.encodeWithSelector(
                    SessionKeyValidator.CallPolicyBanned.selector, banned[i], IConstrained.f.selector
                )
            );
            skv.createSession(spec, proof);
        }

        spec = _transferSpec(key);
        spec.signer = address(0);
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.ZeroSigner.selector));
        skv.createSession(spec, _proof(key, spec, address(account)));

        spec = _transferSpec(key);
        bytes memory strangerProof = _proof(key + 1000, spec, address(account));
        VM.prank(address(account));
        VM.expectRevert(
            abi.encodeWithSelector(SessionKeyValidator.InvalidSigner.selector, VM.addr(key + 1000), spec.signer)
        );
        skv.createSession(spec, strangerProof);

        spec.feeLimit = _unlimited();
        bytes memory unlimitedProof = _proof(key, spec, address(account));
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.UnlimitedFees.selector));
        skv.createSession(spec, unlimitedProof);

        spec = _transferSpec(key);
        spec.expiresAt = uint48(block.timestamp + 59);
        bytes memory soonProof = _proof(key, spec, address(account));
        VM.prank(address(account));
        VM.expectRevert(
            abi.encodeWithSelector(SessionKeyValidator.SessionExpiresTooSoon.selector, block.timestamp + 59)
        );
        skv.createSession(spec, soonProof);

        spec.expiresAt = uint48(block.timestamp + 60);
        _create(key, spec);
        // The signer is spent for good, for any spec and any account.
        SessionLib.SessionSpec memory other = _transferSpec(key);
        bytes memory otherProof = _proof(key, other, address(account));
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.SignerAlreadyUsed.selector, other.signer));
        skv.createSession(other, otherProof);
    }

    /// @dev The official contract accepts these; period 1 lets a session outlive its expiry there.
    function testAllowancePeriodsBelowTwoAreRefusedEverywhere() public {
        for (uint48 period = 0; period < 2; ++period) {
            uint256 key = _newKey();
            SessionLib.SessionSpec memory spec = _transferSpec(key);
            spec.transferPolicies[0].valueLimit = _limit(SessionPolicy.LimitType.Allowance, 1 ether, period);
            _expectPeriodRefused(key, spec, period);
            spec = _transferSpec(key);
            spec.feeLimit = _limit(SessionPolicy.LimitType.Allowance, 1 ether, period);
            _expectPeriodRefused(key, spec, period);
            spec = _callSpec(key);
            spec.callPolicies[0].constraints[3].limit = _limit(SessionPolicy.LimitType.Allowance, 1, period);
            _expectPeriodRefused(key, spec, period);
            spec = _callSpec(key);
            spec.callPolicies[0].valueLimit = _limit(SessionPolicy.LimitType.Allowance, 1, period);
            _expectPeriodRefused(key, spec, period);
        }
    }

    function _expectPeriodRefused(uint256 key, SessionLib.SessionSpec memory spec, uint48 period) private {
        bytes memory proof = _proof(key, spec, address(account));
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidAllowancePeriod.selector, period));
        skv.createSession(spec, proof);
    }

    /// @dev The official contract turns period 1 / id 0 into the window [0, 0], i.e. validUntil 0 = "no expiry"
    /// for the EntryPoint; here a window ending at 0 is empty, whatever the limit (second line of defence).
    function testWindowEndingAtZeroIsEmpty() public {
        SessionLibHarness harness = new SessionLibHarness();
        VM.expectRevert(abi.encodeWithSelector(SessionLib.EmptyTimeRange.selector));
        harness.charge(1, 0, uint48(T0));
        (uint48 validAfter, uint48 validUntil) = harness.charge(2, 0, uint48(T0));
        check(validAfter == 0 && validUntil == 1, "period 2 id 0 is [0, 1]");
        (validAfter, validUntil) = harness.charge(1, uint48(T0), uint48(T0));
        check(validAfter == T0 && validUntil == T0, "period 1 at a real time is that second");
    }

    // ------------------------------------------------------------ revocation and views

    function testRevocation() public {
        uint256 k1 = _newKey();
        uint256 k2 = _newKey();
        SessionLib.SessionSpec memory s1 = _transferSpec(k1);
        SessionLib.SessionSpec memory s2 = _transferSpec(k2);
        _create(k1, s1);
        _create(k2, s2);
        bytes32 h1 = keccak256(abi.encode(s1));
        bytes32 h2 = keccak256(abi.encode(s2));
        VM.prank(address(account));
        skv.revokeKey(h1);
        check(skv.sessionStatus(address(account), h1) == SessionPolicy.Status.Closed, "not closed");
        check(skv.sessionSigner(s1.signer) == h1, "signer freed");
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.SessionNotActive.selector));
        skv.revokeKey(h1);
        bytes32[] memory both = new bytes32[](2);
        both[0] = h2;
        both[1] = h1;
        VM.prank(address(account));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.SessionNotActive.selector));
        skv.revokeKeys(both);
        check(skv.sessionStatus(address(account), h2) == SessionPolicy.Status.Active, "batch not atomic");
        // A revoked session's userOps are refused.
        PackedUserOperation memory op = _op(k1, s1, _execute(R1, 1, ""), _ids(2, s1));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.SessionNotActive.selector));
        _validate(op);
        // Uninstalling with the hashes revokes them.
        bytes32[] memory one = new bytes32[](1);
        one[0] = h2;
        VM.prank(EP);
        account.uninstallModule(1, address(skv), abi.encode(one));
        check(skv.sessionStatus(address(account), h2) == SessionPolicy.Status.Closed, "uninstall did not revoke");
        check(!skv.isInitialized(address(account)), "still installed");
    }

    function testSessionState() public {
        VM.fee(0.5 gwei);
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _callSpec(key);
        spec.transferPolicies = _transferSpec(key).transferPolicies;
        _create(key, spec);
        check(
            _validate(_op(key, spec, _execute(TOKEN, 0.4 ether, _fCall(_goodArgs())), _ids(8, spec))) >> 160 != 0, "op"
        );
        check(_validate(_op(key, spec, _execute(R1, 0.004 ether, ""), _ids(2, spec))) & 1 == 0, "transfer");
        SessionPolicy.SessionState memory state = skv.sessionState(address(account), spec);
        check(state.status == SessionPolicy.Status.Active, "status");
        check(state.feesRemaining == 1 ether - 2 * 675_000 gwei, "fees");
        check(state.transferValue.length == 1 && state.transferValue[0].remaining == 0.011 ether, "transfer left");
        check(state.transferValue[0].target == R1 && state.transferValue[0].selector == bytes4(0), "transfer id");
        check(state.callValue.length == 1 && state.callValue[0].remaining == 1.1 ether, "call value left");
        check(state.callParams.length == 1, "only limited constraints are listed");
        check(state.callParams[0].remaining == 15 && state.callParams[0].index == 0, "param left");
        check(state.callParams[0].selector == IConstrained.f.selector, "param selector");
        VM.warp(block.timestamp + 3600);
        check(skv.sessionState(address(account), spec).callParams[0].remaining == 25, "new hour, full allowance");
    }

    // ------------------------------------------------------------ validation

    function testTransferWithinLimitsThenEachRefusal() public {
        VM.fee(0.5 gwei);
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(key, spec);
        uint48[] memory ids = _ids(2, spec);
        uint256 data = _validate(_op(key, spec, _execute(R1, 0.01 ether, ""), ids));
        check(data == uint256(spec.expiresAt) << 160, "window is [0, expiresAt]");

        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.MaxValueExceeded.selector, 0.011 ether, 0.01 ether));
        _validate(_op(key, spec, _execute(R1, 0.011 ether, ""), ids));
        VM.expectRevert(abi.encodeWithSelector(SessionLib.LifetimeUsageExceeded.selector, 0.01 ether, 0.015 ether));
        _validate(_op(key, spec, _execute(R1, 0.006 ether, ""), ids));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.TransferPolicyViolated.selector, R2));
        _validate(_op(key, spec, _execute(R2, 1, ""), ids));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidDataLength.selector, 3, 0));
        _validate(_op(key, spec, _execute(R1, 1, hex"010203"), ids));

        PackedUserOperation memory op = _op(key, spec, _execute(R1, 1, ""), ids);
        op.nonce = 7;
        VM.expectRevert(
            abi.encodeWithSelector(SessionKeyValidator.InvalidNonceKey.selector, 0, uint192(uint160(spec.signer)))
        );
        _validate(op);

        op = _op(key + 1000, spec, _execute(R1, 1, ""), ids);
        check(_validate(op) == 1, "a stranger's signature must return SIG_VALIDATION_FAILED");

        VM.expectRevert(abi.encodeWithSelector(bytes4(0x4e487b71), uint256(0x32)));
        _validate(_op(key, spec, _execute(R1, 1, ""), new uint48[](1)));
    }

    function testExecuteEnvelopeRules() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(key, spec);
        uint48[] memory ids = _ids(2, spec);
        bytes memory batch = abi.encodeWithSelector(0xe9ae5c53, bytes32(uint256(1) << 248), "");
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidCallType.selector, bytes1(0x01), bytes1(0)));
        _validate(_op(key, spec, batch, ids));
        bytes memory badExec = abi.encodeWithSelector(0xe9ae5c53, bytes32(uint256(2) << 240), "");
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidExecType.selector, bytes1(0x02)));
        _validate(_op(key, spec, badExec, ids));
        bytes memory other = abi.encodeWithSelector(0x12345678, bytes32(0), abi.encodePacked(R1, uint256(1)));
        VM.expectRevert(
            abi.encodeWithSelector(
                SessionKeyValidator.InvalidTopLevelSelector.selector, bytes4(0x12345678), bytes4(0xe9ae5c53)
            )
        );
        _validate(_op(key, spec, other, ids));
        bytes memory badOffset = _execute(R1, 1, "");
        badOffset[67] = 0x60;
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidData.selector));
        _validate(_op(key, spec, badOffset, ids));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.DecodingError.selector));
        _validate(_op(key, spec, abi.encodeWithSelector(0xe9ae5c53, bytes32(0), abi.encodePacked(R1)), ids));
        // Try mode (exec type 0x01) is allowed.
        bytes memory tryMode =
            abi.encodeWithSelector(0xe9ae5c53, bytes32(uint256(1) << 240), abi.encodePacked(R1, uint256(1)));
        check(_validate(_op(key, spec, tryMode, ids)) & 1 == 0, "try mode refused");
    }

    function testCallPolicyConditionsAndConstraintLimit() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _callSpec(key);
        _create(key, spec);
        uint48[] memory ids = _ids(8, spec);
        uint256[6] memory good = _goodArgs();
        uint256 data = _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(good)), ids));
        uint256 hour = block.timestamp / 3600;
        check(data == (hour * 3600) << 208 | (hour * 3600 + 3599) << 160, "window is the current hour");

        uint256[6] memory bad = [uint256(11), 10, 10, 9, 11, 10];
        for (uint256 i = 0; i < 6; ++i) {
            uint256[6] memory args = _goodArgs(); // a fresh copy: memory arrays are references
            args[i] = bad[i];
            VM.expectRevert(
                abi.encodeWithSelector(
                    SessionKeyValidator.ConditionViolated.selector,
                    bytes32(bad[i]),
                    bytes32(uint256(10)),
                    SessionPolicy.Condition(i + 1)
                )
            );
            _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(args)), ids));
        }
        bytes memory short = _fCall(good);
        assembly {
            mstore(short, 100) // drops arguments 3..5
        }
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.InvalidDataLength.selector, 100, 132));
        _validate(_op(key, spec, _execute(TOKEN, 0, short), ids));
        VM.expectRevert(
            abi.encodeWithSelector(SessionKeyValidator.CallPolicyViolated.selector, TOKEN, bytes4(0xa9059cbb))
        );
        _validate(_op(key, spec, _execute(TOKEN, 0, abi.encodeWithSelector(0xa9059cbb, R1, 1)), ids));
        VM.expectRevert(abi.encodeWithSelector(SessionKeyValidator.MaxValueExceeded.selector, 1.1 ether, 1 ether));
        _validate(_op(key, spec, _execute(TOKEN, 1.1 ether, _fCall(good)), ids));
        // The official SDKs' two period ids read past the array with constraints.
        VM.expectRevert(abi.encodeWithSelector(bytes4(0x4e487b71), uint256(0x32)));
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(good)), _ids(2, spec)));

        // Argument 0 sums to 20 of 25 this hour after a second call; a third exceeds the allowance.
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(good)), ids));
        VM.expectRevert(abi.encodeWithSelector(SessionLib.AllowanceExceeded.selector, 20, 25, uint64(hour)));
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(good)), ids));
    }

    function testPeriodBoundaries() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _callSpec(key);
        _create(key, spec);
        uint256 hourEnd = (block.timestamp / 3600 + 1) * 3600 - 1;
        VM.warp(hourEnd); // last second of the hour: still this period
        uint48[] memory ids = _ids(8, spec);
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), ids));
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), ids));
        VM.expectRevert();
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), ids));
        VM.warp(hourEnd + 1); // first second of the next hour: a fresh allowance
        uint48[] memory next = _ids(8, spec);
        check(next[2] == ids[2] + 1, "period id did not advance");
        uint256 data = _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), next));
        check(uint48(data >> 208) == hourEnd + 1 && uint48(data >> 160) == hourEnd + 3600, "next hour window");
        // A stale id is counted in its own bucket but its window is in the past: the EntryPoint refuses it.
        uint48[] memory stale = _ids(8, spec);
        stale[2] = ids[2] - 1;
        data = _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), stale));
        check(uint48(data >> 160) == hourEnd - 3600, "stale window");
        // An id whose window lies after expiry leaves no valid time at all.
        uint48[] memory late = _ids(8, spec);
        late[2] = uint48(spec.expiresAt / 3600 + 1);
        VM.expectRevert(abi.encodeWithSelector(SessionLib.EmptyTimeRange.selector));
        _validate(_op(key, spec, _execute(TOKEN, 0, _fCall(_goodArgs())), late));
    }

    function testFeeLimitCountsTheMaximumFeeOnlyWithoutPaymaster() public {
        VM.fee(0.5 gwei);
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        spec.feeLimit = _limit(SessionPolicy.LimitType.Lifetime, 675_000 gwei, 0);
        spec.transferPolicies[0].valueLimit = _unlimited();
        _create(key, spec);
        uint48[] memory ids = _ids(2, spec);
        _validate(_op(key, spec, _execute(R1, 1, ""), ids)); // min(2, 1 + 0.5) gwei × 450k gas
        VM.expectRevert(abi.encodeWithSelector(SessionLib.LifetimeUsageExceeded.selector, 675_000 gwei, 675_000 gwei));
        _validate(_op(key, spec, _execute(R1, 1, ""), ids));
        PackedUserOperation memory sponsored = _op(key, spec, _execute(R1, 1, ""), ids);
        sponsored.paymasterAndData = abi.encodePacked(address(0xFEE));
        check(_validate(sponsored) & 1 == 0, "a sponsored op pays no session fee");
    }

    /// @dev Expiry is a window, not a revert: the EntryPoint refuses a window that ended (AA22).
    function testExpiredSessionGetsAPastWindow() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(key, spec);
        VM.warp(spec.expiresAt + 1 days);
        uint256 data = _validate(_op(key, spec, _execute(R1, 1, ""), _ids(2, spec)));
        check(uint48(data >> 160) == spec.expiresAt && uint48(data >> 160) < block.timestamp, "expired window");
        check(skv.sessionStatus(address(account), keccak256(abi.encode(spec))) == SessionPolicy.Status.Active, "status");
    }

    function testAccountDispatchesSessionSignatures() public {
        uint256 key = _newKey();
        SessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(key, spec);
        PackedUserOperation memory op = _op(key, spec, _execute(R1, 0.001 ether, ""), _ids(2, spec));
        op.sender = address(account);
        op.signature = abi.encodePacked(address(skv), op.signature);
        VM.prank(EP);
        check(account.validateUserOp(op, OP_HASH, 0) == uint256(spec.expiresAt) << 160, "account path");
    }
}
