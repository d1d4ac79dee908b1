// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {SponsorPaymaster} from "../../src/erc4337/SponsorPaymaster.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev The verifying paymaster alone; the test contract plays the EntryPoint.
contract SponsorPaymasterTest is PasskeyTestBase {
    uint256 private constant SIGNER_KEY = 0x5B0A5;
    uint48 private constant UNTIL = 2_000_000_000;
    uint48 private constant AFTER = 1_000;

    SponsorPaymaster private paymaster;

    function setUp() public {
        paymaster = new SponsorPaymaster(IEntryPoint(address(this)), VM.addr(SIGNER_KEY), address(0xB0B));
    }

    function _op() private view returns (PackedUserOperation memory op) {
        op.sender = address(0xA11CE);
        op.nonce = 7;
        op.initCode = hex"1234";
        op.callData = hex"e9ae5c53";
        op.accountGasLimits = bytes32(uint256(100_000) << 128 | 50_000);
        op.preVerificationGas = 60_000;
        op.gasFees = bytes32(uint256(1 gwei) << 128 | 2 gwei);
        op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(40_000), uint128(0));
    }

    function _signed(PackedUserOperation memory op, uint256 key, uint48 until, uint48 afterTime)
        private
        view
        returns (PackedUserOperation memory)
    {
        // The hash reads paymasterAndData[20:52] only, so a placeholder signature does not change it.
        op.paymasterAndData = abi.encodePacked(op.paymasterAndData, until, afterTime, new bytes(65));
        bytes32 digest = this.hashOf(op, until, afterTime);
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, digest);
        op.paymasterAndData = abi.encodePacked(_head(op.paymasterAndData), until, afterTime, r, s, v);
        return op;
    }

    function _head(bytes memory pad) private pure returns (bytes memory head) {
        head = new bytes(52);
        for (uint256 i = 0; i < 52; ++i) {
            head[i] = pad[i];
        }
    }

    function hashOf(PackedUserOperation calldata op, uint48 until, uint48 afterTime) external view returns (bytes32) {
        return paymaster.sponsorshipHash(op, until, afterTime);
    }

    function _validate(PackedUserOperation memory op) private view returns (uint256 validationData) {
        bytes memory context;
        (context, validationData) = paymaster.validatePaymasterUserOp(op, bytes32(0), 0);
        check(context.length == 0, "context must be empty (no postOp)");
    }

    function _packed(uint256 sigFailed, uint48 until, uint48 afterTime) private pure returns (uint256) {
        return sigFailed | uint256(until) << 160 | uint256(afterTime) << 208;
    }

    function testSignedOperationIsSponsoredWithItsWindow() public view {
        PackedUserOperation memory op = _signed(_op(), SIGNER_KEY, UNTIL, AFTER);
        check(_validate(op) == _packed(0, UNTIL, AFTER), "signed op refused or window lost");
    }

    function testOtherSignerFails() public view {
        PackedUserOperation memory op = _signed(_op(), SIGNER_KEY + 1, UNTIL, AFTER);
        check(_validate(op) == _packed(1, UNTIL, AFTER), "stranger's approval accepted");
    }

    function testEveryCoveredFieldIsBound() public view {
        for (uint256 field = 0; field < 9; ++field) {
            PackedUserOperation memory op = _signed(_op(), SIGNER_KEY, UNTIL, AFTER);
            if (field == 0) op.sender = address(0xBEEF);
            if (field == 1) op.nonce += 1;
            if (field == 2) op.initCode = hex"";
            if (field == 3) op.callData = hex"e9ae5c5300";
            if (field == 4) op.accountGasLimits = bytes32(uint256(op.accountGasLimits) + 1);
            if (field == 5) op.preVerificationGas += 1;
            if (field == 6) op.gasFees = bytes32(uint256(op.gasFees) + 1);
            if (field == 7) op.paymasterAndData[35] = 0x01; // paymaster verification gas
            if (field == 8) op.paymasterAndData[57] = 0x01; // validUntil, signed
            check(_validate(op) & 1 == 1, "a changed field kept the approval");
        }
    }

    function testStubSignatureFailsWithoutReverting() public view {
        PackedUserOperation memory op = _op();
        op.paymasterAndData = abi.encodePacked(op.paymasterAndData, UNTIL, uint48(0), new bytes(65));
        check(_validate(op) & 1 == 1, "zero signature accepted");
    }

    function testOnlyTheEntryPointValidates() public {
        PackedUserOperation memory op = _signed(_op(), SIGNER_KEY, UNTIL, AFTER);
        VM.prank(address(0xCAFE));
        VM.expectRevert(abi.encodeWithSelector(SponsorPaymaster.NotEntryPoint.selector, address(0xCAFE)));
        paymaster.validatePaymasterUserOp(op, bytes32(0), 0);
    }

    function testWrongDataLengthReverts() public {
        PackedUserOperation memory op = _op();
        op.paymasterAndData = abi.encodePacked(op.paymasterAndData, hex"01");
        VM.expectRevert(abi.encodeWithSelector(SponsorPaymaster.BadPaymasterDataLength.selector, uint256(1)));
        paymaster.validatePaymasterUserOp(op, bytes32(0), 0);
    }

    function testOnlyTheOwnerWithdraws() public {
        VM.expectRevert(abi.encodeWithSelector(SponsorPaymaster.NotOwner.selector, address(this)));
        paymaster.withdrawTo(payable(address(this)), 1);
    }
}
