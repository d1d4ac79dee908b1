// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {SessionPolicy} from "../../src/common/SessionPolicy.sol";
import {EraSessionLib} from "../../src/era/EraSessionLib.sol";
import {IEraModule} from "../../src/era/IEraModule.sol";
import {IEraModuleValidator} from "../../src/era/IEraModuleValidator.sol";
import {EraSessionKeyValidator} from "../../src/era/SessionKeyValidator.sol";
import {EraTestAccount} from "../../src/era/test/EraTestAccount.sol";
import {EraTestTimestampAsserter} from "../../src/era/test/EraTestTimestampAsserter.sol";

/// @dev The Foundry cheatcodes these tests use (forge-std is not available here).
interface VmEraSessions {
    function warp(uint256 timestamp) external;
    function chainId(uint256 newChainId) external;
    function etch(address target, bytes calldata code) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data, address emitter) external;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
}

/// @dev Six static arguments, one per condition.
interface IConstrainedEra {
    function f(uint256 a0, uint256 a1, uint256 a2, uint256 a3, uint256 a4, uint256 a5) external;
}

/// @dev The Era session validator behind an account stand-in (chain 260, a TimestampAsserter stand-in at the
/// chain's asserter address): every creation, revocation and validation rule with its named error, the views,
/// the period arithmetic and the approval-based paymaster rule.
contract EraSessionKeyValidatorTest {
    VmEraSessions private constant VM = VmEraSessions(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    address private constant ASSERTER = 0x0000000000000000000000000000000000808012;
    uint256 private constant T0 = 1_750_000_000;
    address private constant R1 = 0x1111111111111111111111111111111111111111;
    address private constant R2 = 0x2222222222222222222222222222222222222222;
    address private constant TOKEN = 0x1d1499e622D69689cdf9004d05Ec547d650Ff211;
    address private constant PAYMASTER = 0x3333333333333333333333333333333333333333;
    bytes32 private constant TX_HASH = keccak256("a 0x71 signed hash");
    uint256 private constant GAS = 1_000_000;
    uint256 private constant PRICE = 25_000_000;

    event SessionCreated(address indexed account, bytes32 indexed sessionHash, EraSessionLib.SessionSpec sessionSpec);
    event SessionRevoked(address indexed account, bytes32 indexed sessionHash);

    EraSessionKeyValidator private skv;
    EraTestAccount private account;
    uint256 private nextKey = 0x5E55;

    function setUp() public {
        VM.warp(T0);
        VM.chainId(260);
        VM.etch(ASSERTER, address(new EraTestTimestampAsserter()).code);
        skv = new EraSessionKeyValidator();
        account = new EraTestAccount();
        account.addModuleValidator(address(skv), "");
    }

    // ------------------------------------------------------------ helpers

    function check(bool condition, string memory what) internal pure {
        require(condition, what);
    }

    function _limit(SessionPolicy.LimitType t, uint256 limit, uint256 period)
        private
        pure
        returns (EraSessionLib.UsageLimit memory)
    {
        return EraSessionLib.UsageLimit({limitType: t, limit: limit, period: period});
    }

    function _unlimited() private pure returns (EraSessionLib.UsageLimit memory) {
        return _limit(SessionPolicy.LimitType.Unlimited, 0, 0);
    }

    function _newKey() private returns (uint256) {
        return ++nextKey;
    }

    /// @dev One capped transfer policy to R1 (0.01 per use, 0.015 in all), fee limit 1 ether lifetime.
    function _transferSpec(uint256 key) private view returns (EraSessionLib.SessionSpec memory spec) {
        spec.signer = VM.addr(key);
        spec.expiresAt = block.timestamp + 1 days;
        spec.feeLimit = _limit(SessionPolicy.LimitType.Lifetime, 1 ether, 0);
        spec.transferPolicies = new EraSessionLib.TransferSpec[](1);
        spec.transferPolicies[0] = EraSessionLib.TransferSpec({
            target: R1, maxValuePerUse: 0.01 ether, valueLimit: _limit(SessionPolicy.LimitType.Lifetime, 0.015 ether, 0)
        });
    }

    /// @dev A call policy on f with one constraint per condition (ref 10); argument 0 (which must equal 10) has an
    /// hourly allowance of 25, so two calls an hour pass and a third does not. Daily fee and value allowances.
    function _callSpec(uint256 key) private view returns (EraSessionLib.SessionSpec memory spec) {
        spec.signer = VM.addr(key);
        spec.expiresAt = block.timestamp + 1 days;
        spec.feeLimit = _limit(SessionPolicy.LimitType.Allowance, 1 ether, 1 days);
        spec.callPolicies = new EraSessionLib.CallSpec[](1);
        EraSessionLib.Constraint[] memory constraints = new EraSessionLib.Constraint[](6);
        for (uint256 i = 0; i < 6; ++i) {
            constraints[i] = EraSessionLib.Constraint({
                condition: SessionPolicy.Condition(i + 1),
                index: uint64(i),
                refValue: bytes32(uint256(10)),
                limit: _unlimited()
            });
        }
        constraints[0].limit = _limit(SessionPolicy.LimitType.Allowance, 25, 3600);
        spec.callPolicies[0] = EraSessionLib.CallSpec({
            target: TOKEN,
            selector: IConstrainedEra.f.selector,
            maxValuePerUse: 1 ether,
            valueLimit: _limit(SessionPolicy.LimitType.Allowance, 1.5 ether, 1 days),
            constraints: constraints
        });
    }

    function _create(EraSessionLib.SessionSpec memory spec) private {
        account.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.createSession, (spec)));
    }

    function _goodArgs() private pure returns (uint256[6] memory) {
        return [uint256(10), 11, 9, 10, 10, 11];
    }

    function _fCall(uint256[6] memory a) private pure returns (bytes memory) {
        return abi.encodeCall(IConstrainedEra.f, (a[0], a[1], a[2], a[3], a[4], a[5]));
    }

    /// @dev The period ids the call spec needs now: [fee day, value day, hour, 0 x5].
    function _callIds() private view returns (uint64[] memory ids) {
        ids = new uint64[](8);
        ids[0] = uint64(block.timestamp / 1 days);
        ids[1] = uint64(block.timestamp / 1 days);
        ids[2] = uint64(block.timestamp / 3600);
    }

    function _transferIds() private pure returns (uint64[] memory) {
        return new uint64[](2);
    }

    function _tx(
        uint256 key,
        EraSessionLib.SessionSpec memory spec,
        address to,
        uint256 value,
        bytes memory data,
        uint64[] memory ids
    ) private view returns (Transaction memory t) {
        t.txType = 113;
        t.from = uint256(uint160(address(account)));
        t.to = uint256(uint160(to));
        t.gasLimit = GAS;
        t.gasPerPubdataByteLimit = 50_000;
        t.maxFeePerGas = PRICE;
        t.maxPriorityFeePerGas = 1_000_000;
        t.value = value;
        t.data = data;
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, TX_HASH);
        t.signature = abi.encode(abi.encodePacked(r, s, v), address(skv), abi.encode(spec, ids));
    }

    function _validate(Transaction memory t) private returns (bool) {
        return account.validateTransaction(TX_HASH, t);
    }

    function _state(EraSessionLib.SessionSpec memory spec) private view returns (SessionPolicy.SessionState memory) {
        return skv.sessionState(address(account), spec);
    }

    // ------------------------------------------------------------ interface

    function testSelectorsTopicsAndInterfacesMatchTheOfficialOnes() public view {
        check(skv.createSession.selector == 0x5a0694d2, "createSession selector");
        check(skv.sessionState.selector == 0xb6d75019, "sessionState selector");
        check(skv.revokeKey.selector == 0x572f2210 && skv.revokeKeys.selector == 0x3ec59279, "revoke selectors");
        check(skv.sessionStatus.selector == 0x59130708 && skv.sessionSigner.selector == 0x5dd48d06, "views");
        check(skv.validateTransaction.selector == 0xbf1733f9, "validateTransaction selector");
        check(skv.validateSignature.selector == 0x333daf92, "validateSignature selector");
        check(
            EraSessionKeyValidator.SessionCreated.selector
                == 0x225b7c57a9711566a3a2dabe5ba5d2c5965272461cd8af89883376ecb2f69ac4,
            "SessionCreated topic"
        );
        check(
            EraSessionKeyValidator.SessionRevoked.selector
                == 0x006be5f629d8df9f032986474cfc3bfc82c9b1cd74dcb2fcb5b3d48f98a50024,
            "SessionRevoked topic"
        );
        check(skv.supportsInterface(0x01ffc9a7) && skv.supportsInterface(0x8c2a9c6b), "IERC165, IModuleValidator");
        check(skv.supportsInterface(0xe7f04e93) && !skv.supportsInterface(0xffffffff), "IModule");
        check(type(IEraModuleValidator).interfaceId == 0x8c2a9c6b && type(IEraModule).interfaceId == 0xe7f04e93, "ids");
        check(!skv.validateSignature(TX_HASH, hex"00"), "sessions sign no 1271");
        check(skv.isInitialized(address(account)), "installed");
    }

    // ------------------------------------------------------------ creation

    function testCreateSessionEmitsAndRecordsStatusAndSigner() public {
        EraSessionLib.SessionSpec memory spec = _transferSpec(_newKey());
        bytes32 hash = keccak256(abi.encode(spec));
        VM.expectEmit(true, true, false, true, address(skv));
        emit SessionCreated(address(account), hash, spec);
        _create(spec);
        check(skv.sessionStatus(address(account), hash) == SessionPolicy.Status.Active, "status");
        check(skv.sessionSigner(spec.signer) == hash, "signer index");
        check(skv.sessionStatus(address(0xBEEF), hash) == SessionPolicy.Status.NotInitialized, "other account");
    }

    function testInstallingWithASpecCreatesTheSession() public {
        EraTestAccount other = new EraTestAccount();
        EraSessionLib.SessionSpec memory spec = _transferSpec(_newKey());
        other.addModuleValidator(address(skv), abi.encode(spec));
        check(skv.sessionStatus(address(other), keccak256(abi.encode(spec))) == SessionPolicy.Status.Active, "open");
    }

    function testCreationNeedsTheValidatorInstalled() public {
        EraTestAccount other = new EraTestAccount();
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.NOT_FROM_INITIALIZED_ACCOUNT.selector, address(other))
        );
        other.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.createSession, (_transferSpec(1))));
    }

    function testCallPoliciesOnTheValidatorTheAccountItsModulesAndHooksAreBanned() public {
        address otherValidator = address(new EraSessionKeyValidator());
        account.addModuleValidator(otherValidator, "");
        address hook = address(0xB00C);
        account.addHook(hook);
        address[4] memory banned = [address(skv), address(account), otherValidator, hook];
        EraSessionLib.SessionSpec memory spec = _callSpec(_newKey());
        for (uint256 i = 0; i < banned.length; ++i) {
            spec.callPolicies[0].target = banned[i];
            VM.expectRevert(
                abi.encodeWithSelector(
                    EraSessionKeyValidator.SESSION_CALL_POLICY_BANNED.selector, banned[i], IConstrainedEra.f.selector
                )
            );
            _create(spec);
        }
    }

    function testCreationRefusals() public {
        EraSessionLib.SessionSpec memory spec = _transferSpec(_newKey());
        spec.signer = address(0);
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_ZERO_SIGNER.selector));
        _create(spec);

        spec = _transferSpec(_newKey());
        spec.feeLimit = _unlimited();
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_UNLIMITED_FEES.selector));
        _create(spec);

        // Expiry must be strictly more than a minute away (the ERC-4337 generation accepts exactly +60).
        spec = _transferSpec(_newKey());
        spec.expiresAt = block.timestamp + 60;
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.SESSION_EXPIRES_TOO_SOON.selector, block.timestamp + 60)
        );
        _create(spec);
        spec.expiresAt = block.timestamp + 61;
        _create(spec);

        // Creating the same spec again: the signer check comes before the exists check.
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_SIGNER_USED.selector, spec.signer));
        _create(spec);
    }

    function testAllowancePeriodsBelowTwoAreRefusedWhereverTheyAre() public {
        for (uint256 period = 0; period < 2; ++period) {
            EraSessionLib.SessionSpec memory spec = _callSpec(_newKey());
            spec.feeLimit.period = period;
            VM.expectRevert(
                abi.encodeWithSelector(EraSessionKeyValidator.SESSION_INVALID_ALLOWANCE_PERIOD.selector, period)
            );
            _create(spec);
            spec = _callSpec(_newKey());
            spec.callPolicies[0].valueLimit.period = period;
            VM.expectRevert(
                abi.encodeWithSelector(EraSessionKeyValidator.SESSION_INVALID_ALLOWANCE_PERIOD.selector, period)
            );
            _create(spec);
            spec = _callSpec(_newKey());
            spec.callPolicies[0].constraints[0].limit.period = period;
            VM.expectRevert(
                abi.encodeWithSelector(EraSessionKeyValidator.SESSION_INVALID_ALLOWANCE_PERIOD.selector, period)
            );
            _create(spec);
            spec = _transferSpec(_newKey());
            spec.transferPolicies[0].valueLimit = _limit(SessionPolicy.LimitType.Allowance, 1, period);
            VM.expectRevert(
                abi.encodeWithSelector(EraSessionKeyValidator.SESSION_INVALID_ALLOWANCE_PERIOD.selector, period)
            );
            _create(spec);
        }
    }

    // ------------------------------------------------------------ revocation

    function testRevokeClosesForGoodAndKeepsTheSignerUsed() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        bytes32 hash = keccak256(abi.encode(spec));
        VM.expectEmit(true, true, false, true, address(skv));
        emit SessionRevoked(address(account), hash);
        account.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.revokeKey, (hash)));
        check(skv.sessionStatus(address(account), hash) == SessionPolicy.Status.Closed, "closed");
        check(skv.sessionSigner(spec.signer) == hash, "signer stays used");
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_NOT_ACTIVE.selector));
        account.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.revokeKey, (hash)));
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_NOT_ACTIVE.selector));
        _validate(_tx(key, spec, R1, 1, "", _transferIds()));
    }

    function testRevokeKeysIsAllOrNothingAndUninstallRevokesTheListed() public {
        EraSessionLib.SessionSpec memory a = _transferSpec(_newKey());
        EraSessionLib.SessionSpec memory b = _transferSpec(_newKey());
        _create(a);
        _create(b);
        bytes32[] memory hashes = new bytes32[](2);
        hashes[0] = keccak256(abi.encode(a));
        hashes[1] = keccak256("never created");
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_NOT_ACTIVE.selector));
        account.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.revokeKeys, (hashes)));
        check(skv.sessionStatus(address(account), hashes[0]) == SessionPolicy.Status.Active, "batch rolled back");
        hashes[1] = keccak256(abi.encode(b));
        account.execute(address(skv), 0, abi.encodeCall(EraSessionKeyValidator.revokeKeys, (hashes)));
        check(skv.sessionStatus(address(account), hashes[1]) == SessionPolicy.Status.Closed, "b closed");

        EraSessionLib.SessionSpec memory c = _transferSpec(_newKey());
        _create(c);
        bytes32[] memory only = new bytes32[](1);
        only[0] = keccak256(abi.encode(c));
        account.removeModuleValidator(address(skv), abi.encode(only));
        check(skv.sessionStatus(address(account), only[0]) == SessionPolicy.Status.Closed, "c closed");
        check(!skv.isInitialized(address(account)), "uninstalled");
    }

    // ------------------------------------------------------------ transfers

    function testTransferWithinLimitsRecordsValueAndTheMaximumFee() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        check(_validate(_tx(key, spec, R1, 0.005 ether, "", _transferIds())), "accepted");
        SessionPolicy.SessionState memory state = _state(spec);
        check(state.status == SessionPolicy.Status.Active, "status");
        check(state.feesRemaining == 1 ether - GAS * PRICE, "fee = maxFeePerGas x gasLimit");
        check(state.transferValue[0].remaining == 0.01 ether && state.transferValue[0].target == R1, "value");
    }

    function testTransferRefusals() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_TRANSFER_POLICY_VIOLATED.selector, R2));
        _validate(_tx(key, spec, R2, 1, "", _transferIds()));
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.SESSION_MAX_VALUE_EXCEEDED.selector, 0.011 ether, 0.01 ether)
        );
        _validate(_tx(key, spec, R1, 0.011 ether, "", _transferIds()));
        check(_validate(_tx(key, spec, R1, 0.01 ether, "", _transferIds())), "first");
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_LIFETIME_USAGE_EXCEEDED.selector, 0.01 ether, 0.015 ether
            )
        );
        _validate(_tx(key, spec, R1, 0.01 ether, "", _transferIds()));
        // 1-3 bytes of calldata count as a transfer (the ERC-4337 generation refuses them).
        check(_validate(_tx(key, spec, R1, 0.001 ether, hex"0102", _transferIds())), "2-byte transfer");
    }

    function testTimeIsAssertedSessionExpiryAndTheChainsAsserter() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        VM.warp(spec.expiresAt + 1);
        VM.expectRevert(
            abi.encodeWithSelector(
                EraTestTimestampAsserter.TimestampOutOfRange.selector, spec.expiresAt + 1, 0, spec.expiresAt
            )
        );
        _validate(_tx(key, spec, R1, 1, "", _transferIds()));
        VM.warp(spec.expiresAt);
        check(_validate(_tx(key, spec, R1, 1, "", _transferIds())), "valid up to expiresAt included");
        VM.chainId(31337);
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.NO_TIMESTAMP_ASSERTER.selector, 31337));
        _validate(_tx(key, spec, R1, 1, "", _transferIds()));
    }

    function testAToFieldWiderThanAnAddressIsRefused() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        Transaction memory t = _tx(key, spec, R1, 1, "", _transferIds());
        t.to = uint256(1) << 160 | uint160(R1);
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.ADDRESS_CAST_OVERFLOW.selector, t.to));
        _validate(t);
    }

    // ------------------------------------------------------------ signatures and fees

    function testAnotherKeysSignatureRevertsAndAnUnrecoverableOneIsFalse() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        _create(spec);
        uint256 intruder = _newKey();
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_INVALID_SIGNER.selector, VM.addr(intruder), spec.signer
            )
        );
        _validate(_tx(intruder, spec, R1, 1, "", _transferIds()));
        Transaction memory t = _tx(key, spec, R1, 1, "", _transferIds());
        t.signature = abi.encode(new bytes(65), address(skv), abi.encode(spec, _transferIds()));
        check(!_validate(t), "zero signature");
        t.signature = abi.encode(hex"0102", address(skv), abi.encode(spec, _transferIds()));
        check(!_validate(t), "short signature");
    }

    function testTheFeeLimitIsCheckedLastAndNotWithAPaymaster() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _transferSpec(key);
        spec.feeLimit = _limit(SessionPolicy.LimitType.Lifetime, GAS * PRICE * 3 / 2, 0);
        _create(spec);
        check(_validate(_tx(key, spec, R1, 1, "", _transferIds())), "first fee");
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_LIFETIME_USAGE_EXCEEDED.selector, GAS * PRICE, GAS * PRICE * 3 / 2
            )
        );
        _validate(_tx(key, spec, R1, 1, "", _transferIds()));
        Transaction memory t = _tx(key, spec, R1, 1, "", _transferIds());
        t.paymaster = uint160(PAYMASTER);
        t.paymasterInput = abi.encodeWithSelector(0x8c5a3445, bytes("")); // general(bytes)
        check(_validate(t), "a paymaster pays: no fee counted");
        check(_state(spec).feesRemaining == GAS * PRICE / 2, "one fee counted");
    }

    // ------------------------------------------------------------ calls

    function testCallWithinLimitsAndTheHourlyConstraintAllowance() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _callSpec(key);
        _create(spec);
        bytes memory good = _fCall(_goodArgs());
        check(_validate(_tx(key, spec, TOKEN, 0.5 ether, good, _callIds())), "first");
        check(_validate(_tx(key, spec, TOKEN, 0.5 ether, good, _callIds())), "second");
        SessionPolicy.SessionState memory state = _state(spec);
        check(state.callValue[0].remaining == 0.5 ether, "value allowance left");
        check(state.callParams.length == 1 && state.callParams[0].remaining == 5, "constraint allowance left");
        check(state.callParams[0].index == 0 && state.callParams[0].selector == IConstrainedEra.f.selector, "entry");
        uint64 hour = uint64(block.timestamp / 3600);
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.SESSION_ALLOWANCE_EXCEEDED.selector, 20, 25, hour)
        );
        _validate(_tx(key, spec, TOKEN, 0, good, _callIds()));
        VM.warp(block.timestamp + 3600);
        check(_validate(_tx(key, spec, TOKEN, 0, good, _callIds())), "next hour");
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_ALLOWANCE_EXCEEDED.selector, 1 ether, 1.5 ether, block.timestamp / 1 days
            )
        );
        _validate(_tx(key, spec, TOKEN, 0.6 ether, good, _callIds()));
    }

    function testEveryConditionNamesItsFailure() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _callSpec(key);
        _create(spec);
        uint256[6] memory bad = [uint256(11), 10, 10, 9, 11, 10];
        for (uint256 i = 0; i < 6; ++i) {
            uint256[6] memory args = _goodArgs();
            args[i] = bad[i];
            VM.expectRevert(
                abi.encodeWithSelector(
                    EraSessionKeyValidator.SESSION_CONDITION_FAILED.selector,
                    bytes32(bad[i]),
                    bytes32(uint256(10)),
                    uint8(i + 1)
                )
            );
            _validate(_tx(key, spec, TOKEN, 0, _fCall(args), _callIds()));
        }
    }

    function testCallRefusals() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _callSpec(key);
        _create(spec);
        bytes memory good = _fCall(_goodArgs());
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_CALL_POLICY_VIOLATED.selector, TOKEN, IERC20.transfer.selector
            )
        );
        _validate(_tx(key, spec, TOKEN, 0, abi.encodeCall(IERC20.transfer, (R1, 1)), _callIds()));
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_CALL_POLICY_VIOLATED.selector, R2, IConstrainedEra.f.selector
            )
        );
        _validate(_tx(key, spec, R2, 0, good, _callIds()));
        bytes memory shortCall = new bytes(100);
        for (uint256 i = 0; i < 100; ++i) {
            shortCall[i] = good[i];
        }
        VM.expectRevert(abi.encodeWithSelector(EraSessionKeyValidator.SESSION_INVALID_DATA_LENGTH.selector, 100, 132));
        _validate(_tx(key, spec, TOKEN, 0, shortCall, _callIds()));
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.SESSION_MAX_VALUE_EXCEEDED.selector, 1 ether + 1, 1 ether)
        );
        _validate(_tx(key, spec, TOKEN, 1 ether + 1, good, _callIds()));
        // Constraints are checked before the value (the ERC-4337 generation checks the value first).
        uint256[6] memory args = _goodArgs();
        args[0] = 11;
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_CONDITION_FAILED.selector, bytes32(uint256(11)), bytes32(uint256(10)), 1
            )
        );
        _validate(_tx(key, spec, TOKEN, 1 ether + 1, _fCall(args), _callIds()));
    }

    function testPeriodIdsMustBeTheCurrentPeriodsAndComplete() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _callSpec(key);
        _create(spec);
        bytes memory good = _fCall(_goodArgs());
        uint64[] memory ids = _callIds();
        ids[2] -= 1; // the previous hour
        uint256 start = uint256(ids[2]) * 3600;
        VM.expectRevert(
            abi.encodeWithSelector(
                EraTestTimestampAsserter.TimestampOutOfRange.selector, block.timestamp, start, start + 3599
            )
        );
        _validate(_tx(key, spec, TOKEN, 0, good, ids));
        // Two ids, as the official ERC-4337 SDKs send: the first constraint reads past the array.
        uint64[] memory two = new uint64[](2);
        two[0] = _callIds()[0];
        two[1] = _callIds()[1];
        VM.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        _validate(_tx(key, spec, TOKEN, 0, good, two));
    }

    // ------------------------------------------------------------ approval-based paymaster

    function _approvalSpec(uint256 key) private view returns (EraSessionLib.SessionSpec memory spec) {
        spec = _callSpec(key);
        EraSessionLib.CallSpec[] memory policies = new EraSessionLib.CallSpec[](2);
        policies[0] = spec.callPolicies[0];
        EraSessionLib.Constraint[] memory spender = new EraSessionLib.Constraint[](1);
        spender[0] = EraSessionLib.Constraint({
            condition: SessionPolicy.Condition.Equal,
            index: 0,
            refValue: bytes32(uint256(uint160(PAYMASTER))),
            limit: _unlimited()
        });
        policies[1] = EraSessionLib.CallSpec({
            target: R2,
            selector: IERC20.approve.selector,
            maxValuePerUse: 0,
            valueLimit: _unlimited(),
            constraints: spender
        });
        spec.callPolicies = policies;
    }

    function _withApproval(Transaction memory t, address paymaster) private pure returns (Transaction memory) {
        t.paymaster = uint160(paymaster);
        t.paymasterInput = abi.encodeWithSelector(0x949431dc, R2, 7, bytes(""));
        return t;
    }

    function testAnApprovalBasedPaymasterNeedsAnApprovePolicyWhoseConstraintsComeFirst() public {
        uint256 key = _newKey();
        EraSessionLib.SessionSpec memory spec = _approvalSpec(key);
        _create(spec);
        bytes memory good = _fCall(_goodArgs());
        // The approve constraint takes period id 2; f's six constraints follow at 3..8.
        uint64[] memory ids = new uint64[](9);
        ids[0] = uint64(block.timestamp / 1 days);
        ids[1] = ids[0];
        ids[3] = uint64(block.timestamp / 3600);
        check(_validate(_withApproval(_tx(key, spec, TOKEN, 0, good, ids), PAYMASTER)), "approved paymaster");
        // The f ids at their plain positions do not fit any more: f's hourly allowance now reads id 3 = 0.
        VM.expectRevert(
            abi.encodeWithSelector(EraTestTimestampAsserter.TimestampOutOfRange.selector, block.timestamp, 0, 3599)
        );
        _validate(_withApproval(_tx(key, spec, TOKEN, 0, good, _padded(_callIds(), 9)), PAYMASTER));
        // Another spender breaks the approve constraint.
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_CONDITION_FAILED.selector,
                bytes32(uint256(uint160(R1))),
                bytes32(uint256(uint160(PAYMASTER))),
                1
            )
        );
        _validate(_withApproval(_tx(key, spec, TOKEN, 0, good, ids), R1));
        // Without an approve policy for the token.
        EraSessionLib.SessionSpec memory plain = _callSpec(_newKey());
        _create(plain);
        VM.expectRevert(
            abi.encodeWithSelector(
                EraSessionKeyValidator.SESSION_CALL_POLICY_VIOLATED.selector, R2, IERC20.approve.selector
            )
        );
        _validate(_withApproval(_tx(key, plain, TOKEN, 0, good, ids), PAYMASTER));
        // A truncated paymaster input.
        Transaction memory t = _tx(key, spec, TOKEN, 0, good, ids);
        t.paymaster = uint160(PAYMASTER);
        t.paymasterInput = abi.encodePacked(bytes4(0x949431dc), bytes32(uint256(uint160(R2))));
        VM.expectRevert(
            abi.encodeWithSelector(EraSessionKeyValidator.INVALID_PAYMASTER_INPUT.selector, t.paymasterInput)
        );
        _validate(t);
    }

    function _padded(uint64[] memory ids, uint256 n) private pure returns (uint64[] memory out) {
        out = new uint64[](n);
        for (uint256 i = 0; i < ids.length; ++i) {
            out[i] = ids[i];
        }
    }
}
