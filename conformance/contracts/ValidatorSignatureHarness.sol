// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {P256 as SoladyP256} from "solady/utils/P256.sol";

/// @title ValidatorSignatureHarness
/// @notice Conformance harness: the signature step of contracts/src/era/WebAuthValidator.sol (its rule 1, range
///         and low-s, then rules 8-9, the precompile's exact "valid" word) and the call the ERC-4337
///         contracts/src/erc4337/WebAuthnValidator.sol makes (solady's P256.verifySignature), applied to many
///         (hash, r, s, x, y) cases in one eth_call. Public vectors (Wycheproof, NIST) sign arbitrary messages, not a WebAuthn
///         challenge, so they cannot pass through the validator's clientDataJSON steps; this is the part of the
///         validator that decides their verdict, kept byte-for-byte in the validator's order.
contract ValidatorSignatureHarness {
    address private constant P256_VERIFIER = address(0x100);
    uint256 private constant HALF_N = P256.N / 2;

    // The validator's Rule numbers for the verdicts this step can reach.
    uint8 private constant VALID = 0;
    uint8 private constant SIGNATURE_OUT_OF_RANGE = 1;
    uint8 private constant HIGH_S = 2;
    uint8 private constant BAD_SIGNATURE = 12;

    /// @notice The validator's verdict for each case.
    /// @param cases abi-encoded rows [hash, r, s, x, y].
    /// @return rules One Rule number per case.
    function check(bytes32[5][] calldata cases) external view returns (uint8[] memory rules) {
        rules = new uint8[](cases.length);
        for (uint256 i = 0; i < cases.length; ++i) {
            bytes32[5] calldata c = cases[i];
            uint256 r = uint256(c[1]);
            uint256 s = uint256(c[2]);
            if (r == 0 || r > P256.N || s == 0 || s >= P256.N) {
                rules[i] = SIGNATURE_OUT_OF_RANGE;
            } else if (s > HALF_N) {
                rules[i] = HIGH_S;
            } else {
                rules[i] = _p256Verify(c[0], c[1], c[2], c[3], c[4]) ? VALID : BAD_SIGNATURE;
            }
        }
    }

    /// @notice The ERC-4337 validator's signature verdict for each case: solady's P256.verifySignature, the
    ///         exact library call of contracts/src/erc4337/WebAuthnValidator.sol.
    /// @param cases abi-encoded rows [hash, r, s, x, y].
    /// @return valid One verdict per case.
    function checkErc4337(bytes32[5][] calldata cases) external view returns (bool[] memory valid) {
        valid = new bool[](cases.length);
        for (uint256 i = 0; i < cases.length; ++i) {
            bytes32[5] calldata c = cases[i];
            valid[i] = SoladyP256.verifySignature(c[0], c[1], c[2], c[3], c[4]);
        }
    }

    /// @notice The precompile's raw answer for each input (no policy): 1 for the 32-byte word 1, 0 for empty
    ///         return data, 2 for any other answer shape, 3 for a failed call.
    /// @param inputs Raw precompile inputs (any length).
    /// @return answers One code per input.
    function raw(bytes[] calldata inputs) external view returns (uint8[] memory answers) {
        answers = new uint8[](inputs.length);
        for (uint256 i = 0; i < inputs.length; ++i) {
            (bool success, bytes memory answer) = P256_VERIFIER.staticcall(inputs[i]);
            if (!success) answers[i] = 3;
            else if (answer.length == 0) answers[i] = 0;
            else if (answer.length == 32 && abi.decode(answer, (uint256)) == 1) answers[i] = 1;
            else answers[i] = 2;
        }
    }

    function _p256Verify(bytes32 message, bytes32 r, bytes32 s, bytes32 x, bytes32 y)
        private
        view
        returns (bool)
    {
        (bool success, bytes memory answer) = P256_VERIFIER.staticcall(abi.encodePacked(message, r, s, x, y));
        return success && answer.length == 32 && abi.decode(answer, (uint256)) == 1;
    }
}
