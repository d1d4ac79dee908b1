// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {WebAuthnValidator} from "../../src/erc4337/WebAuthnValidator.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev A real authenticator's assertion (vector1 of the shared sso-era vectors: Chrome, localhost:5173) checked
/// by the ERC-4337 validator: the fat-signature format and rules are the same as Era's, so the low-s form must
/// pass and the authenticator's original high-s form must fail.
contract RealAuthenticatorTest is PasskeyTestBase {
    bytes private constant AUTH_DATA = hex"49960de5880e8c687434170f6476605b8fe4aeb9a28632c7995cf3ba831d97630500000004";
    string private constant CLIENT_DATA =
        '{"type":"webauthn.get","challenge":"iBBiiOGt1aSBy1WAuRGxqU7YzRM5oWpMA9g8MKydjPI","origin":"http://localhost:5173","crossOrigin":false}';
    bytes32 private constant CHALLENGE = 0x88106288e1add5a481cb5580b911b1a94ed8cd1339a16a4c03d83c30ac9d8cf2;
    bytes private constant CRED_ID =
        hex"956230fc96ca82fb712932c062d364183bb9e65bedbd368112f78155e893a9a4dfdf091a8c6a1c28d9df913feb93aafb";
    bytes32 private constant X = 0x956230fc96ca82fb712932c062cc4b1d8c8bf6772a8a6a15aff9613b224fd006;
    bytes32 private constant Y = 0xbfe1d2856829221e83958ee24a5a135c46d8ef7e8157b0ed6fa0e01a8017a00d;
    bytes32 private constant R = 0x304a9083b75baa4ad2f92cc3608e91c4569adb5f8d2cd7380214b103c39369af;
    bytes32 private constant S_HIGH = 0x9f06bc16dc45c1dbb8203ed7c7d71535a4e1f5784d794341d7b854295c4af964;
    bytes32 private constant S_LOW = 0x60f943e823ba3e2547dfc1283828eaca18050535599e5b431c017699a0182bed;
    /// @dev The onInstall data the published SDK produces for this passkey (vector1 initData).
    bytes private constant SDK_INIT_DATA =
        hex"0000000000000000000000000000000000000000000000000000000000000080956230fc96ca82fb712932c062cc4b1d8c8bf6772a8a6a15aff9613b224fd006bfe1d2856829221e83958ee24a5a135c46d8ef7e8157b0ed6fa0e01a8017a00d00000000000000000000000000000000000000000000000000000000000000e00000000000000000000000000000000000000000000000000000000000000030956230fc96ca82fb712932c062d364183bb9e65bedbd368112f78155e893a9a4dfdf091a8c6a1c28d9df913feb93aafb000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000015687474703a2f2f6c6f63616c686f73743a353137330000000000000000000000";

    WebAuthnValidator private validator;

    function setUp() public {
        validator = new WebAuthnValidator();
        validator.onInstall(SDK_INIT_DATA);
    }

    function _fat(bytes32 s) private pure returns (bytes memory) {
        bytes32[2] memory rs = [R, s];
        return abi.encode(AUTH_DATA, CLIENT_DATA, rs, CRED_ID);
    }

    function testSdkInitDataInstallsTheKey() public view {
        bytes32[2] memory key = validator.getAccountKey("http://localhost:5173", CRED_ID, address(this));
        check(key[0] == X && key[1] == Y, "installed key differs");
    }

    function testLowSFormIsAccepted() public view {
        check(validator.webAuthVerify(CHALLENGE, _fat(S_LOW)), "real assertion (low-s) rejected");
    }

    function testAuthenticatorHighSFormIsRejected() public view {
        check(uint256(S_HIGH) == N - uint256(S_LOW), "vector inconsistent");
        check(!validator.webAuthVerify(CHALLENGE, _fat(S_HIGH)), "high-s accepted");
    }

    function testOtherChallengeIsRejected() public view {
        check(!validator.webAuthVerify(bytes32(uint256(CHALLENGE) ^ 1), _fat(S_LOW)), "wrong hash accepted");
    }
}
