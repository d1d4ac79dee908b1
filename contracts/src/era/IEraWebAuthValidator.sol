// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEraModuleValidator} from "./IEraModuleValidator.sol";

/// @title IEraWebAuthValidator
/// @notice Passkey (P-256 / WebAuthn) validator for SSO accounts on ZKsync Era, call- and event-compatible with
///         the official WebAuthValidator: same selectors, same event topics, same custom errors.
interface IEraWebAuthValidator is IEraModuleValidator {
    /// @notice A passkey, named by the web origin it signs for and its raw credential id.
    struct PasskeyId {
        string domain;
        bytes credentialId;
    }

    /// @notice Why a signature was accepted or rejected, in the order the checks run (see `checkSignature`).
    enum Rule {
        Valid, //                0: every check passed
        SignatureOutOfRange, //  1: r or s is zero or not below the curve order n
        HighS, //                2: s > n / 2 (the client must normalise s to n - s)
        MissingUserFlags, //     3: authenticatorData flags lack user presence (0x01) or user verification (0x04)
        ChallengeLength, //      4: the base64url challenge does not decode to exactly 32 bytes
        ChallengeMismatch, //    5: the challenge is not the signed hash
        WrongType, //            6: clientDataJSON.type is not "webauthn.get"
        UnknownKey, //           7: no key for (clientDataJSON.origin, credential id, account)
        CrossOrigin, //          8: clientDataJSON.crossOrigin is present and not `false`
        BadSignature, //         9: the P-256 precompile did not answer "valid"
        Malformed //            10: the fat signature, authenticatorData or clientDataJSON cannot be decoded
    }

    /// @notice Emitted when an account registers a passkey. Same topic as the official validator.
    event PasskeyCreated(address indexed keyOwner, string originDomain, bytes credentialId);

    /// @notice Emitted when an account removes a passkey. Same topic as the official validator.
    event PasskeyRemoved(address indexed keyOwner, string originDomain, bytes credentialId);

    /// @notice The caller is not the account the passkey is registered to.
    error WEBAUTHN_NOT_KEY_OWNER(address account);
    /// @notice The caller already holds a key for this (origin, credential id).
    error WEBAUTHN_KEY_EXISTS();
    /// @notice Another account already holds this (origin, credential id).
    error WEBAUTHN_ACCOUNT_EXISTS();
    /// @notice The public key is (0, 0).
    error WEBAUTHN_EMPTY_KEY();
    /// @notice The public key is not a point of the P-256 curve (not checked by the official validator).
    error WEBAUTHN_KEY_NOT_ON_CURVE();
    /// @notice The origin is empty or longer than 253 bytes.
    error WEBAUTHN_BAD_DOMAIN_LENGTH();
    /// @notice The credential id is shorter than 16 bytes.
    error WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH();
    /// @notice authenticatorData is too short to hold its flags byte.
    error WEBAUTHN_BAD_AUTH_DATA_LENGTH();

    /// @notice Registers a passkey for the calling account.
    /// @param credentialId The raw credential id (at least 16 bytes).
    /// @param rawPublicKey The public key as [x, y], 32-byte big-endian coordinates.
    /// @param originDomain The web origin exactly as the browser writes it in clientDataJSON.origin.
    function addValidationKey(bytes memory credentialId, bytes32[2] memory rawPublicKey, string memory originDomain)
        external;

    /// @notice Removes a passkey of the calling account.
    /// @param credentialId The raw credential id.
    /// @param domain The origin the key was registered under.
    function removeValidationKey(bytes memory credentialId, string memory domain) external;

    /// @notice Reads the key an account holds for (origin, credential id); [0, 0] if none.
    function getAccountKey(string calldata originDomain, bytes calldata credentialId, address accountAddress)
        external
        view
        returns (bytes32[2] memory);

    /// @notice The account that owns (origin, credential id), or the zero address.
    function registeredAddress(string calldata originDomain, bytes calldata credentialId)
        external
        view
        returns (address);

    /// @notice Diagnostic: runs the same checks as `validateSignature` for `account` and names the first that fails.
    /// @dev Never reverts on bad signature data: undecodable input is reported as `Rule.Malformed`.
    function checkSignature(bytes32 signedHash, bytes calldata fatSignature, address account)
        external
        view
        returns (Rule);
}
