// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {EOAKeyValidator} from "../../src/erc4337/EOAKeyValidator.sol";
import {IMSA} from "../../src/erc4337/IMSA.sol";
import {MSABeacon} from "../../src/erc4337/MSABeacon.sol";
import {MSAFactory} from "../../src/erc4337/MSAFactory.sol";
import {ModularSmartAccount} from "../../src/erc4337/ModularSmartAccount.sol";
import {WebAuthnValidator} from "../../src/erc4337/WebAuthnValidator.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev The EOA validator alone (the test contract plays the account) and next to the passkey validator in an
/// account: `validator ‖ r ‖ s ‖ v` over the raw hash.
contract EOAKeyValidatorTest is PasskeyTestBase {
    address private constant EP = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    uint256 private constant OWNER_KEY = 0xA11CE;
    bytes32 private constant HASH = keccak256("a userOpHash");
    uint256 private constant HALF_N_K1 = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 private constant N_K1 = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    EOAKeyValidator private validator;

    function setUp() public {
        validator = new EOAKeyValidator();
        address[] memory owners = new address[](1);
        owners[0] = VM.addr(OWNER_KEY);
        validator.onInstall(abi.encode(owners));
    }

    function _sig(uint256 key, bytes32 hash) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    function testOwnerSignatureIsAccepted() public view {
        PackedUserOperation memory op;
        op.signature = _sig(OWNER_KEY, HASH);
        check(validator.validateUserOp(op, HASH) == 0, "owner signature rejected");
        check(validator.isValidSignatureWithSender(address(0), HASH, op.signature) == 0x1626ba7e, "1271");
    }

    function testOtherKeyOrHashFails() public view {
        PackedUserOperation memory op;
        op.signature = _sig(OWNER_KEY + 1, HASH);
        check(validator.validateUserOp(op, HASH) == 1, "stranger accepted");
        op.signature = _sig(OWNER_KEY, keccak256("other"));
        check(validator.validateUserOp(op, HASH) == 1, "wrong hash accepted");
        op.signature = hex"1234";
        check(validator.validateUserOp(op, HASH) == 1, "malformed accepted");
    }

    function testHighSFails() public view {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(OWNER_KEY, HASH);
        check(uint256(s) <= HALF_N_K1, "cheatcode returned high s");
        bytes memory high = abi.encodePacked(r, bytes32(N_K1 - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        PackedUserOperation memory op;
        op.signature = high;
        check(validator.validateUserOp(op, HASH) == 1, "malleated signature accepted");
    }

    function testOwnerManagement() public {
        address second = VM.addr(OWNER_KEY + 2);
        validator.addOwner(second);
        check(validator.getOwners(address(this)).length == 2, "owner list");
        validator.removeOwner(second);
        check(!validator.isOwnerOf(address(this), second), "owner not removed");
        VM.expectRevert(abi.encodeWithSelector(EOAKeyValidator.OwnerAlreadyExists.selector, VM.addr(OWNER_KEY)));
        validator.addOwner(VM.addr(OWNER_KEY));
        VM.prank(address(0xD00D));
        VM.expectRevert(abi.encodeWithSelector(EOAKeyValidator.NotInitialized.selector, address(0xD00D)));
        validator.addOwner(second);
    }

    function testOwnerListOrderRemovalAndUninstall() public {
        address first = VM.addr(OWNER_KEY);
        address b = VM.addr(OWNER_KEY + 2);
        address c = VM.addr(OWNER_KEY + 3);
        validator.addOwner(b);
        validator.addOwner(c);
        address[] memory owners = validator.getOwners(address(this));
        check(owners.length == 3 && owners[0] == c && owners[1] == b && owners[2] == first, "newest first");
        validator.removeOwner(b); // from the middle of the list
        owners = validator.getOwners(address(this));
        check(owners.length == 2 && owners[0] == c && owners[1] == first, "middle removal");
        check(validator.isOwnerOf(address(this), first) && !validator.isOwnerOf(address(this), b), "membership");
        VM.expectRevert(abi.encodeWithSelector(EOAKeyValidator.OwnerNotFound.selector, b));
        validator.removeOwner(b);
        // address(1) marks the list's ends: never an owner, never removable.
        check(!validator.isOwnerOf(address(this), address(1)), "sentinel is an owner");
        VM.expectRevert(abi.encodeWithSelector(EOAKeyValidator.OwnerNotFound.selector, address(1)));
        validator.removeOwner(address(1));
        VM.expectRevert(abi.encodeWithSelector(EOAKeyValidator.ZeroOwner.selector));
        validator.addOwner(address(1));
        validator.addOwner(b); // re-added after removal
        check(validator.getOwners(address(this)).length == 3, "re-added");

        validator.onUninstall("");
        check(!validator.isInitialized(address(this)), "still initialized");
        check(validator.getOwners(address(this)).length == 0, "owners left");
        check(!validator.isOwnerOf(address(this), first), "owner left");
        // Installed without owners: initialized, empty, and owners can be added.
        validator.onInstall("");
        check(validator.isInitialized(address(this)), "not initialized");
        check(validator.getOwners(address(this)).length == 0, "phantom owner");
        validator.addOwner(first);
        check(validator.isOwnerOf(address(this), first), "owner after empty install");
        // Installing again keeps the owners and adds the new ones.
        address[] memory more = new address[](1);
        more[0] = c;
        validator.onInstall(abi.encode(more));
        check(validator.getOwners(address(this)).length == 2, "reinstall");
    }

    function testAccountDispatchesToTheEoaValidator() public {
        WebAuthnValidator passkeyValidator = new WebAuthnValidator();
        EOAKeyValidator eoa = new EOAKeyValidator();
        MSAFactory factory =
            new MSAFactory(address(new MSABeacon(address(new ModularSmartAccount()), address(this))));
        address[] memory modules = new address[](2);
        modules[0] = address(eoa);
        modules[1] = address(passkeyValidator);
        address[] memory owners = new address[](1);
        owners[0] = VM.addr(OWNER_KEY);
        bytes[] memory data = new bytes[](2);
        data[0] = abi.encode(owners);
        data[1] = installData(PASSKEY);
        ModularSmartAccount account = ModularSmartAccount(
            payable(factory.deployAccount(bytes32(0), abi.encodeCall(IMSA.initializeAccount, (modules, data))))
        );
        PackedUserOperation memory op;
        op.sender = address(account);
        op.signature = abi.encodePacked(address(eoa), _sig(OWNER_KEY, HASH));
        check(op.signature.length == 85, "EOA userOp signature is 85 bytes");
        VM.prank(EP);
        check(account.validateUserOp(op, HASH, 0) == 0, "EOA path rejected");
        op.signature = abi.encodePacked(address(passkeyValidator), fatSignature(PASSKEY, HASH));
        VM.prank(EP);
        check(account.validateUserOp(op, HASH, 0) == 0, "passkey path rejected");
    }
}
