// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";
import {Base64} from "solady/utils/Base64.sol";

import {ClientDataJSON} from "../common/ClientDataJSON.sol";
import {IEraWebAuthValidator} from "./IEraWebAuthValidator.sol";

/// @title WebAuthValidationGasProbe
/// @notice Benchmark harness (not for production): it acts as the account of a passkey and measures, with
///         gasleft(), what one `validateSignature` costs and what its main parts cost when run alone on the
///         same input. Used by benchmarks/gas_era_validation.py through eth_call.
contract WebAuthValidationGasProbe {
    /// @notice Gas figures of one validation, all measured inside one call frame.
    struct Figures {
        uint256 validateSignature; // the external call validator.validateSignature(hash, fat), all included
        uint256 abiDecode; //        abi.decode of the fat signature
        uint256 jsonParse; //        ClientDataJSON.read: strict one-pass check locating the four members
        uint256 jsonFields; //       copying/unescaping challenge and origin, checking type and crossOrigin
        uint256 base64; //           Base64.decode of the challenge
        uint256 sha256; //           sha256(authenticatorData || sha256(clientDataJSON))
        uint256 precompile; //       the P-256 precompile call alone (160 bytes in, one word out)
    }

    error ValidationFailed();

    /// @notice Registers a passkey with this probe as the account.
    function register(address validator, bytes calldata credentialId, bytes32[2] calldata key, string calldata origin)
        external
    {
        IEraWebAuthValidator(validator).addValidationKey(credentialId, key, origin);
    }

    /// @notice Gas of `validator.validateTransaction(signedHash, transaction)` as the account makes it (reverts
    ///         unless valid).
    function measureTransaction(address validator, bytes32 signedHash, Transaction calldata transaction)
        external
        returns (uint256 gasUsed)
    {
        uint256 start = gasleft();
        bool valid = IEraWebAuthValidator(validator).validateTransaction(signedHash, transaction);
        gasUsed = start - gasleft();
        if (!valid) revert ValidationFailed();
    }

    /// @notice Validates through `validator` (reverting unless valid) and measures the parts on the same input.
    /// @param validator The WebAuthValidator where this probe registered the key.
    /// @param signedHash The hash that is the WebAuthn challenge.
    /// @param fatSignature The fat signature.
    /// @param publicKey The registered key (for the stand-alone precompile call).
    /// @return figures The gas figures.
    function measure(address validator, bytes32 signedHash, bytes calldata fatSignature, bytes32[2] calldata publicKey)
        external
        view
        returns (Figures memory figures)
    {
        uint256 start = gasleft();
        bool valid = IEraWebAuthValidator(validator).validateSignature(signedHash, fatSignature);
        figures.validateSignature = start - gasleft();
        if (!valid) revert ValidationFailed();

        start = gasleft();
        (bytes memory authenticatorData, string memory clientDataJSON, bytes32[2] memory rs,) =
            abi.decode(fatSignature, (bytes, string, bytes32[2], bytes));
        figures.abiDecode = start - gasleft();

        _measureJson(bytes(clientDataJSON), figures);

        start = gasleft();
        bytes32 message = sha256(bytes.concat(authenticatorData, sha256(bytes(clientDataJSON))));
        figures.sha256 = start - gasleft();

        bytes memory input = abi.encodePacked(message, rs[0], rs[1], publicKey[0], publicKey[1]);
        start = gasleft();
        (bool success, bytes memory answer) = address(0x100).staticcall(input);
        figures.precompile = start - gasleft();
        if (!success || answer.length != 32) revert ValidationFailed();
    }

    /// @dev The clientDataJSON parts: the reader, the member reads, the base64 decoding of the challenge.
    function _measureJson(bytes memory json, Figures memory figures) private view {
        uint256 start = gasleft();
        (uint256 challengeAt, uint256 typeAt, uint256 originAt, uint256 crossOriginAt) = ClientDataJSON.read(json);
        figures.jsonParse = start - gasleft();

        start = gasleft();
        string memory challenge = string(ClientDataJSON.stringValue(json, challengeAt));
        ClientDataJSON.isWebauthnGet(json, typeAt);
        ClientDataJSON.stringValue(json, originAt);
        if (crossOriginAt != 0) ClientDataJSON.isFalse(json, crossOriginAt);
        figures.jsonFields = start - gasleft();

        start = gasleft();
        Base64.decode(challenge);
        figures.base64 = start - gasleft();
    }
}
