// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Base64} from "solady/utils/Base64.sol";

/// @dev The Foundry cheatcodes the ERC-4337 tests use (forge-std is not available here).
interface Vm4337 {
    function prank(address sender) external;
    function deal(address account, uint256 newBalance) external;
    function txGasPrice(uint256 newGasPrice) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert() external;
    function signP256(uint256 privateKey, bytes32 digest) external pure returns (bytes32 r, bytes32 s);
    function publicKeyP256(uint256 privateKey) external pure returns (uint256 x, uint256 y);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
}

/// @dev Builds WebAuthn assertions the way a platform authenticator does (UP+UV, webauthn.get, low-s after
/// normalisation), with knobs to break each rule. A failed check reverts, which forge reports as a failure.
abstract contract PasskeyTestBase {
    Vm4337 internal constant VM = Vm4337(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    uint256 internal constant PASSKEY = 0x6f3c2a9b8e7d6c5b4a392817060f5e4d3c2b1a09f8e7d6c5b4a3928170605040;
    string internal constant ORIGIN = "https://sso.example.org";
    bytes internal constant CREDENTIAL_ID = hex"a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4";

    struct AssertionKnobs {
        bytes1 flags;
        string clientType;
        string origin;
        string crossOrigin; // raw JSON value, "" to omit the member
        bool highS;
    }

    function defaultKnobs() internal pure returns (AssertionKnobs memory) {
        return AssertionKnobs({flags: 0x05, clientType: "webauthn.get", origin: ORIGIN, crossOrigin: "false", highS: false});
    }

    function passkeyXY(uint256 privateKey) internal pure returns (bytes32[2] memory key) {
        (uint256 x, uint256 y) = VM.publicKeyP256(privateKey);
        key[0] = bytes32(x);
        key[1] = bytes32(y);
    }

    function installData(uint256 privateKey) internal pure returns (bytes memory) {
        return abi.encode(CREDENTIAL_ID, passkeyXY(privateKey), ORIGIN);
    }

    /// @dev `abi.encode(authenticatorData, clientDataJSON, [r, s], credentialId)` over challenge `hash`.
    function fatSignature(uint256 privateKey, bytes32 hash, AssertionKnobs memory k)
        internal
        pure
        returns (bytes memory)
    {
        bytes memory authData = abi.encodePacked(sha256("sso.example.org"), k.flags, uint32(1));
        string memory challenge = Base64.encode(abi.encodePacked(hash), true, true);
        bytes memory json = abi.encodePacked(
            '{"type":"', k.clientType, '","challenge":"', challenge, '","origin":"', k.origin, '"'
        );
        if (bytes(k.crossOrigin).length > 0) json = abi.encodePacked(json, ',"crossOrigin":', k.crossOrigin);
        json = abi.encodePacked(json, "}");
        bytes32 message = sha256(abi.encodePacked(authData, sha256(json)));
        (bytes32 r, bytes32 s) = VM.signP256(privateKey, message);
        bool isHigh = uint256(s) > N / 2;
        if (isHigh != k.highS) s = bytes32(N - uint256(s));
        bytes32[2] memory rs = [r, s];
        return abi.encode(authData, string(json), rs, CREDENTIAL_ID);
    }

    function fatSignature(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        return fatSignature(privateKey, hash, defaultKnobs());
    }

    function check(bool condition, string memory what) internal pure {
        require(condition, what);
    }
}
