// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {WebAuthnValidator} from "../../src/erc4337/WebAuthnValidator.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev The validator rules of spec sso-4337 §3.1: which inputs revert and which return failure. The test
/// contract itself plays the account (the validator keys everything by msg.sender).
contract WebAuthnValidatorTest is PasskeyTestBase {
    bytes4 private constant MAGIC = 0x1626ba7e;
    bytes4 private constant INVALID = 0xffffffff;
    bytes32 private constant HASH = keccak256("a userOpHash");

    WebAuthnValidator private validator;

    function setUp() public {
        validator = new WebAuthnValidator();
        validator.onInstall(installData(PASSKEY));
    }

    function _valid(bytes memory sig) private view returns (bool) {
        return validator.isValidSignatureWithSender(address(this), HASH, sig) == MAGIC;
    }

    function testValidAssertionIsAccepted() public view {
        bytes memory sig = fatSignature(PASSKEY, HASH);
        check(_valid(sig), "valid assertion rejected");
        PackedUserOperation memory op;
        op.signature = sig;
        check(validator.validateUserOp(op, HASH) == 0, "validateUserOp != 0");
    }

    function testInstallStoresKeyAndAccountList() public view {
        bytes32[2] memory key = validator.getAccountKey(ORIGIN, CREDENTIAL_ID, address(this));
        bytes32[2] memory expected = passkeyXY(PASSKEY);
        check(key[0] == expected[0] && key[1] == expected[1], "stored key differs");
        address[] memory accounts = validator.getAccountList(ORIGIN, CREDENTIAL_ID);
        check(accounts.length == 1 && accounts[0] == address(this), "account list");
        check(validator.isInitialized(address(this)), "not initialized");
        check(validator.keyCount(address(this)) == 1, "key count");
    }

    function testSameCredentialMayServeSeveralAccounts() public {
        VM.prank(address(0xB0B));
        validator.onInstall(installData(PASSKEY));
        check(validator.getAccountList(ORIGIN, CREDENTIAL_ID).length == 2, "second account not listed");
    }

    function testHighSIsRejected() public view {
        AssertionKnobs memory k = defaultKnobs();
        k.highS = true;
        check(!_valid(fatSignature(PASSKEY, HASH, k)), "high-s accepted");
    }

    function testWrongChallengeReturnsFalse() public view {
        bytes memory sig = fatSignature(PASSKEY, keccak256("something else"));
        check(validator.isValidSignatureWithSender(address(this), HASH, sig) == INVALID, "wrong challenge accepted");
    }

    function testWrongKeyReturnsFalse() public view {
        check(!_valid(fatSignature(PASSKEY + 1, HASH)), "foreign key accepted");
    }

    function testUnknownOriginReturnsFalse() public view {
        AssertionKnobs memory k = defaultKnobs();
        k.origin = "https://evil.example.org";
        check(!_valid(fatSignature(PASSKEY, HASH, k)), "wrong origin accepted");
    }

    function testOtherAccountHasNoKey() public {
        bytes memory sig = fatSignature(PASSKEY, HASH);
        VM.prank(address(0xCAFE));
        bytes4 result = validator.isValidSignatureWithSender(address(0xCAFE), HASH, sig);
        check(result == INVALID, "signature valid for an account without the key");
    }

    function testMissingCrossOriginIsAccepted() public view {
        AssertionKnobs memory k = defaultKnobs();
        k.crossOrigin = "";
        check(_valid(fatSignature(PASSKEY, HASH, k)), "absent crossOrigin rejected");
    }

    function testUserVerificationMissingReverts() public {
        AssertionKnobs memory k = defaultKnobs();
        k.flags = 0x01;
        bytes memory sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.InvalidAuthDataFlags.selector, bytes1(0x01)));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
    }

    function testCreateTypeReverts() public {
        AssertionKnobs memory k = defaultKnobs();
        k.clientType = "webauthn.create";
        bytes memory sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.InvalidClientData.selector, "type"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
    }

    function testCrossOriginTrueReverts() public {
        AssertionKnobs memory k = defaultKnobs();
        k.crossOrigin = "true";
        bytes memory sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.InvalidClientData.selector, "crossOrigin"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
    }

    function testReadMemberNameSpelledWithEscapesReverts() public {
        // The official validator looks members up by their raw name: `"cross\u004frigin"` is not crossOrigin
        // there, so it must not be read as one here either; the reader refuses the whole clientDataJSON.
        AssertionKnobs memory k = defaultKnobs();
        k.crossOrigin = ""; // only the escaped spelling is present
        k.origin = string.concat(ORIGIN, '","cross\\u004frigin":"true');
        bytes memory sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSignature("ParsingFailed()"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
        k = defaultKnobs();
        k.crossOrigin = 'false,"cross\\u004frigin":true';
        sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSignature("ParsingFailed()"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
        k.crossOrigin = 'false,"\\u0074ype":"webauthn.get"';
        sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSignature("ParsingFailed()"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
    }

    function testOriginWithLoneHighSurrogateReverts() public {
        AssertionKnobs memory k = defaultKnobs();
        k.origin = string.concat(ORIGIN, "\\ud800");
        bytes memory sig = fatSignature(PASSKEY, HASH, k);
        VM.expectRevert(abi.encodeWithSignature("ParsingFailed()"));
        validator.isValidSignatureWithSender(address(this), HASH, sig);
    }

    function testAddKeyNeedsInstall() public {
        VM.prank(address(0xD00D));
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.NotInitialized.selector, address(0xD00D)));
        validator.addValidationKey(CREDENTIAL_ID, passkeyXY(PASSKEY), ORIGIN);
    }

    function testDuplicateKeyReverts() public {
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.KeyAlreadyExists.selector));
        validator.addValidationKey(CREDENTIAL_ID, passkeyXY(PASSKEY), ORIGIN);
    }

    function testKeyChecks() public {
        bytes32[2] memory zero;
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.EmptyKey.selector));
        validator.addValidationKey(hex"00112233445566778899aabbccddeeff", zero, ORIGIN);
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.BadCredentialIDLength.selector));
        validator.addValidationKey(hex"00112233445566778899aabbccddee", passkeyXY(PASSKEY), ORIGIN);
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.BadDomainLength.selector));
        validator.addValidationKey(CREDENTIAL_ID, passkeyXY(PASSKEY), "");
        VM.expectRevert(abi.encodeWithSelector(WebAuthnValidator.BadDomainLength.selector));
        validator.addValidationKey(CREDENTIAL_ID, passkeyXY(PASSKEY), string(new bytes(256)));
    }

    function testSecondKeyOnAnotherOriginWorks() public {
        validator.addValidationKey(CREDENTIAL_ID, passkeyXY(PASSKEY + 7), "https://other.example.org");
        AssertionKnobs memory k = defaultKnobs();
        k.origin = "https://other.example.org";
        check(_valid(fatSignature(PASSKEY + 7, HASH, k)), "second key rejected");
        check(validator.keyCount(address(this)) == 2, "key count");
    }

    function testUninstallRemovesKeys() public {
        WebAuthnValidator.PasskeyId[] memory ids = new WebAuthnValidator.PasskeyId[](1);
        ids[0] = WebAuthnValidator.PasskeyId({domain: ORIGIN, credentialId: CREDENTIAL_ID});
        validator.onUninstall(abi.encode(ids));
        check(!validator.isInitialized(address(this)), "still initialized");
        check(validator.getAccountList(ORIGIN, CREDENTIAL_ID).length == 0, "still listed");
        check(!_valid(fatSignature(PASSKEY, HASH)), "removed key still valid");
    }

    function testMalformedSignatureReverts() public {
        VM.expectRevert();
        validator.isValidSignatureWithSender(address(this), HASH, hex"1234");
    }

    function testModuleType() public view {
        check(validator.isModuleType(1), "not a validator");
        check(!validator.isModuleType(2), "claims executor");
    }
}
